//! XML bodies as the reference sees them (github.com/clbanning/mxj `NewMapXmlReader`): the
//! root element becomes the only key; attributes are `-name` (the last of duplicates wins), text
//! beside children is `#text`, repeated children become arrays, leaf values are strings. Text
//! is taken per run of character data (a CDATA section or a comment starts a new run), trimmed,
//! and the last run wins; text that comes before any attribute or child makes the element a
//! plain string, dropping the children that follow — mxj's quirks, kept because hooks read
//! these values.
//!
//! The payload is written as a JSON document while the XML is read: each element's members are
//! written as they come, and only an element whose children repeat a name is rewritten once, at
//! its end, to group them. Work and memory are linear in the body (attributes are not checked
//! for duplicates one against all the others, which made 200,000 of them take minutes).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::json::{scan, text, Document};

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("invalid XML: {0}")]
    Syntax(String),
    #[error("XML body has no root element")]
    Empty,
    #[error("XML nested too deeply")]
    TooDeep,
}

const MAX_DEPTH: usize = 256;

fn syntax(e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(e.to_string())
}

/// One open element.
struct Element {
    /// Where its value starts in the output (just after `"name":`).
    value_at: usize,
    /// Where each member written inside it starts, and whether the member is a child element.
    members: Vec<(usize, bool)>,
    /// Text read while it had no attributes or children: the element is then this string.
    text: Option<String>,
    /// The run of character data being read.
    run: String,
}

struct Writer {
    out: Vec<u8>,
    values: usize,
    stack: Vec<Element>,
}

impl Writer {
    /// Starts a member of the innermost element (or of the document object).
    fn member(&mut self, key: &[u8], child: bool) {
        let start = self.out.len();
        match self.stack.last_mut() {
            Some(parent) => {
                if !parent.members.is_empty() {
                    self.out.push(b',');
                }
                parent.members.push((self.out.len(), child));
            }
            None if start > 1 => self.out.push(b','),
            None => {}
        }
        self.values += 1;
        text::write_internal(&mut self.out, key);
        self.out.push(b':');
    }

    fn open(&mut self, start: &BytesStart) -> Result<(), XmlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(XmlError::TooDeep);
        }
        self.member(local_name(start.name().as_ref()).as_bytes(), true);
        self.out.push(b'{');
        self.stack.push(Element {
            value_at: self.out.len() - 1,
            members: Vec::new(),
            text: None,
            run: String::new(),
        });
        for attr in start.attributes().with_checks(false) {
            let attr = attr.map_err(syntax)?;
            let key = format!("-{}", local_name(attr.key.as_ref()));
            let value = attr.unescape_value().map_err(syntax)?;
            self.member(key.as_bytes(), false);
            text::write_internal(&mut self.out, value.as_bytes());
        }
        Ok(())
    }

    /// Ends the current run of character data of the innermost element.
    fn flush(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            let run = std::mem::take(&mut top.run);
            self.chardata(&run);
        }
    }

    /// One run of character data (mxj's handling of one `xml.CharData`).
    fn chardata(&mut self, data: &str) {
        let text = data.trim_matches(['\t', '\r', '\u{8}', '\n', ' ']);
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        if text.is_empty() {
            return;
        }
        if top.members.is_empty() {
            top.text = Some(text.to_string());
        } else {
            self.member(b"#text", false);
            text::write_internal(&mut self.out, text.as_bytes());
        }
    }

    /// Finishes the innermost element; `true` when it was the root.
    fn close(&mut self) -> Result<bool, XmlError> {
        self.flush();
        let element = self
            .stack
            .pop()
            .ok_or_else(|| syntax("unexpected end tag"))?;
        if let Some(text) = element.text {
            self.out.truncate(element.value_at);
            text::write_internal(&mut self.out, text.as_bytes());
        } else if element.members.is_empty() {
            self.out.truncate(element.value_at);
            self.out.extend_from_slice(b"\"\"");
        } else if let Some(grouped) = self.grouped(&element) {
            self.out.truncate(element.value_at);
            self.out.extend_from_slice(&grouped);
        } else {
            self.out.push(b'}');
        }
        Ok(self.stack.is_empty())
    }

    /// The element's object rewritten with repeated children grouped into arrays (in document
    /// order); `None` when no child name repeats.
    fn grouped(&self, element: &Element) -> Option<Vec<u8>> {
        if element.members.iter().filter(|(_, child)| *child).count() < 2 {
            return None;
        }
        let out = &self.out;
        let end = out.len();
        // Each member: (key, value range), in document order.
        let spans: Vec<(&[u8], usize, usize, bool)> = element
            .members
            .iter()
            .enumerate()
            .map(|(i, &(start, child))| {
                let key_end = scan::skip_string(out, start);
                let next = element.members.get(i + 1).map_or(end, |m| m.0 - 1);
                (&out[start + 1..key_end - 1], key_end + 1, next, child)
            })
            .collect();
        let mut children: Vec<usize> = (0..spans.len()).filter(|&i| spans[i].3).collect();
        children.sort_by(|&a, &b| spans[a].0.cmp(spans[b].0));
        if !children.windows(2).any(|w| spans[w[0]].0 == spans[w[1]].0) {
            return None;
        }
        let mut grouped = Vec::with_capacity(end - element.value_at);
        grouped.push(b'{');
        let mut first = true;
        let mut sep = |g: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                g.push(b',');
            }
        };
        for (key, from, to, child) in &spans {
            if !child {
                sep(&mut grouped);
                grouped.extend_from_slice(&out[from - key.len() - 3..*to]);
            }
        }
        for group in children.chunk_by(|&a, &b| spans[a].0 == spans[b].0) {
            let (key, from, to, _) = spans[group[0]];
            sep(&mut grouped);
            if group.len() == 1 {
                grouped.extend_from_slice(&out[from - key.len() - 3..to]);
                continue;
            }
            grouped.extend_from_slice(&out[from - key.len() - 3..from]);
            grouped.push(b'[');
            for (n, &i) in group.iter().enumerate() {
                if n > 0 {
                    grouped.push(b',');
                }
                grouped.extend_from_slice(&out[spans[i].1..spans[i].2]);
            }
            grouped.push(b']');
        }
        grouped.push(b'}');
        Some(grouped)
    }
}

/// Parses an XML body into the payload document.
pub fn parse(body: &[u8]) -> Result<Document, XmlError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut w = Writer {
        out: Vec::from(*b"{"),
        values: 1,
        stack: Vec::new(),
    };
    loop {
        let event = reader.read_event().map_err(syntax)?;
        if !matches!(event, Event::Text(_) | Event::GeneralRef(_)) {
            w.flush();
        }
        let root_done = match event {
            Event::Start(start) => {
                w.open(&start)?;
                false
            }
            Event::Empty(start) => {
                w.open(&start)?;
                w.close()?
            }
            Event::End(_) => w.close()?,
            Event::Text(t) => {
                if let Some(top) = w.stack.last_mut() {
                    let text = t.decode().map_err(syntax)?;
                    top.run
                        .push_str(&quick_xml::escape::unescape(&text).map_err(syntax)?);
                }
                false
            }
            Event::CData(t) => {
                w.chardata(&String::from_utf8_lossy(&t));
                false
            }
            Event::GeneralRef(r) => {
                if let Some(top) = w.stack.last_mut() {
                    let entity = format!("&{};", String::from_utf8_lossy(&r));
                    top.run
                        .push_str(&quick_xml::escape::unescape(&entity).map_err(syntax)?);
                }
                false
            }
            Event::Eof if w.stack.is_empty() => return Err(XmlError::Empty),
            Event::Eof => return Err(syntax("unexpected end of document")),
            _ => false,
        };
        if root_done {
            w.out.push(b'}');
            return Ok(Document::built(w.out.into(), w.values, false, Vec::new()));
        }
    }
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.split_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mxj_shapes() {
        let cases = [
            (
                r#"<root a="1"><b>x</b><b>y</b><c><d>z</d></c>t</root>"#,
                r##"{"root":{"#text":"t","-a":"1","b":["x","y"],"c":{"d":"z"}}}"##,
            ),
            ("<a>1</a><b>2</b>", r#"{"a":"1"}"#),
            (
                "<?xml version=\"1.0\"?>\n<a>\n  <b>&amp;&lt;</b>\n</a>",
                r#"{"a":{"b":"\u0026\u003c"}}"#,
            ),
            ("<a><b/></a>", r#"{"a":{"b":""}}"#),
            ("<a><![CDATA[<x>]]></a>", r#"{"a":"\u003cx\u003e"}"#),
            // Text first makes the element a string; later children are dropped.
            ("<a>t<b>x</b>u</a>", r#"{"a":"t"}"#),
            // The last run of text wins; CDATA and comments split runs.
            (
                "<a><b>x</b>t<![CDATA[c]]>u</a>",
                r##"{"a":{"#text":"u","b":"x"}}"##,
            ),
            ("<a>x<!-- c -->y</a>", r#"{"a":"y"}"#),
            ("<a> x &amp; y </a>", r#"{"a":"x \u0026 y"}"#),
            // Repeated children anywhere among their siblings, nested groups.
            (
                r#"<a><b i="1"/><c/><b><d>1</d><d>2</d></b><b/></a>"#,
                r#"{"a":{"b":[{"-i":"1"},{"d":["1","2"]},""],"c":""}}"#,
            ),
            // The last of duplicate attributes wins.
            (r#"<a x="1" x="2"/>"#, r#"{"a":{"-x":"2"}}"#),
        ];
        for (input, want) in cases {
            let doc = parse(input.as_bytes()).unwrap();
            assert_eq!(doc.marshal(), want, "{input}");
        }
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"").is_err());
    }

    /// The CPU time this thread has used: unlike the wall clock, it does not grow while the
    /// thread waits for a core on a loaded machine.
    fn thread_cpu() -> std::time::Duration {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
        std::time::Duration::from(now)
    }

    /// One element with `n` attributes; the CPU time it takes to parse it.
    fn attributes(n: usize) -> std::time::Duration {
        let mut body = String::from("<a");
        for i in 0..n {
            body.push_str(&format!(" k{i}=\"v\""));
        }
        body.push_str("/>");
        let started = thread_cpu();
        let doc = parse(body.as_bytes()).unwrap();
        let took = thread_cpu() - started;
        let last = format!("a.-k{}", n - 1);
        assert_eq!(doc.lookup(&last).map(|p| doc.render(p)).as_deref(), Ok("v"));
        took
    }

    #[test]
    fn many_attributes_parse_in_linear_time() {
        // The duplicate check of every attribute against all the others took 20 s of CPU for
        // 200,000 attributes (2.3 MB). Linear work takes a few milliseconds optimised; this
        // test runs unoptimised on a machine shared with other tests, so it measures the
        // thread's CPU time and checks the growth with a wide margin on both sides: 16 times the input is 16 times the work when
        // linear and 256 times when quadratic; the bound is 64.
        let small = (0..3).map(|_| attributes(20_000)).min().unwrap_or_default();
        let large = (0..2)
            .map(|_| attributes(320_000))
            .min()
            .unwrap_or_default();
        assert!(large < small * 64, "20k: {small:?}, 320k: {large:?}");
        assert!(large < std::time::Duration::from_secs(10), "took {large:?}");
    }
}
