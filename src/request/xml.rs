//! XML bodies as the reference sees them (github.com/clbanning/mxj `NewMapXmlReader`): the
//! root element becomes the only key; attributes are `-name`, text beside children is `#text`,
//! repeated children become arrays, leaf values are strings. Text is taken per run of character
//! data (a CDATA section or a comment starts a new run), trimmed, and the last run wins; text
//! that comes before any attribute or child makes the element a plain string, dropping the
//! children that follow — mxj's quirks, kept because hooks read these values.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value};

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

/// One element being built: its name, attributes/children, its text value, and the run of
/// character data being read.
struct Node {
    name: String,
    map: Map<String, Value>,
    /// Set by text read while `map` was empty: the element is then this string.
    text: Option<String>,
    run: String,
}

impl Node {
    /// Ends the current run of character data (mxj's handling of one `xml.CharData`).
    fn flush(&mut self) {
        let run = std::mem::take(&mut self.run);
        self.chardata(&run);
    }

    fn chardata(&mut self, data: &str) {
        let text = data.trim_matches(['\t', '\r', '\u{8}', '\n', ' ']);
        if text.is_empty() {
            return;
        }
        if self.map.is_empty() {
            self.text = Some(text.to_string());
        } else {
            self.map
                .insert("#text".into(), Value::String(text.to_string()));
        }
    }
}

pub fn parse(body: &[u8]) -> Result<Value, XmlError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        let is_text = matches!(event, Event::Text(_) | Event::GeneralRef(_));
        if let (false, Some(top)) = (is_text, stack.last_mut()) {
            top.flush();
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                let node = open(&start)?;
                if let Some(done) = close(&mut stack, node) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| XmlError::Syntax("unexpected end tag".into()))?;
                if let Some(done) = close(&mut stack, node) {
                    return Ok(done);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let text = t.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
                    let text = quick_xml::escape::unescape(&text)
                        .map_err(|e| XmlError::Syntax(e.to_string()))?;
                    top.run.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.chardata(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let name = String::from_utf8_lossy(&r);
                    let entity = format!("&{name};");
                    let text = quick_xml::escape::unescape(&entity)
                        .map_err(|e| XmlError::Syntax(e.to_string()))?;
                    top.run.push_str(&text);
                }
            }
            Event::Eof => {
                return Err(if stack.is_empty() {
                    XmlError::Empty
                } else {
                    XmlError::Syntax("unexpected end of document".into())
                })
            }
            _ => {}
        }
        buf.clear();
    }
}

fn open(start: &BytesStart) -> Result<Node, XmlError> {
    let name = local_name(start.name().as_ref());
    let mut map = Map::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Syntax(e.to_string()))?;
        let key = format!("-{}", local_name(attr.key.as_ref()));
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        map.insert(key, Value::String(value.into_owned()));
    }
    Ok(Node {
        name,
        map,
        text: None,
        run: String::new(),
    })
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.split_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.into_owned(),
    }
}

/// Finishes `node` and attaches it to its parent; returns the document when it was the root.
fn close(stack: &mut [Node], mut node: Node) -> Option<Value> {
    node.flush();
    let value = match node.text {
        Some(text) => Value::String(text),
        None if node.map.is_empty() => Value::String(String::new()),
        None => Value::Object(node.map),
    };
    match stack.last_mut() {
        Some(parent) => {
            match parent.map.get_mut(&node.name) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    parent.map.insert(node.name, value);
                }
            }
            None
        }
        None => {
            let mut root = Map::new();
            root.insert(node.name, value);
            Some(Value::Object(root))
        }
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
                r#"{"a":{"b":"&<"}}"#,
            ),
            ("<a><b/></a>", r#"{"a":{"b":""}}"#),
            ("<a><![CDATA[<x>]]></a>", r#"{"a":"<x>"}"#),
            // Text first makes the element a string; later children are dropped.
            ("<a>t<b>x</b>u</a>", r#"{"a":"t"}"#),
            // The last run of text wins; CDATA and comments split runs.
            (
                "<a><b>x</b>t<![CDATA[c]]>u</a>",
                r##"{"a":{"#text":"u","b":"x"}}"##,
            ),
            ("<a>x<!-- c -->y</a>", r#"{"a":"y"}"#),
            ("<a> x &amp; y </a>", r#"{"a":"x & y"}"#),
        ];
        for (input, want) in cases {
            let v = parse(input.as_bytes()).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), want, "{input}");
        }
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"").is_err());
    }
}
