//! Rendering document values: Go's `%v` for what a rule compares or a command receives,
//! `json.Marshal` for objects and arrays (keys sorted byte-wise, the last of duplicate keys
//! kept, numbers as their literal text), and what a rendering will cost before it is made.
//! Rendering is iterative, and linear in the value's bytes however deep it is: a document
//! 10,000 levels deep neither deepens the stack nor is read 10,000 times (see `write`).

use std::borrow::Cow;

use super::scan::{self, Ends, Indexed};
use super::{text, Document, Place};

/// How strings are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Go's `json.Marshal` (HTML-safe).
    Marshal,
    /// Only what JSON requires, for documents hookrun builds and reads itself.
    Compact,
}

/// An object member in sorted order: its key (in the text, or decoded into the frame's side
/// buffer) and where its value starts.
struct Key {
    start: u32,
    len: u32,
    decoded: bool,
    value: u32,
}

enum Frame {
    /// An object, written member by member in key order; `end` is where its text ends.
    Object {
        keys: Vec<Key>,
        side: Vec<u8>,
        next: usize,
        end: usize,
    },
    /// An array, written element by element in document order: `cursor` is where the text
    /// after the element last written (or after `[`) starts.
    Array { cursor: usize, first: bool },
}

impl Document {
    /// The value as the string a rule compares or a command receives (Go's `%v` for
    /// scalars, `json.Marshal` for objects and arrays, `null` for a nil map).
    pub fn render(&self, place: Place) -> String {
        self.render_text(place).into_owned()
    }

    /// [`Document::render`], borrowing the text where the value is written as it is (a string
    /// without escapes, a number, a boolean): a rule compares it without a copy.
    pub fn render_text(&self, place: Place) -> Cow<'_, str> {
        let t: &[u8] = &self.text;
        let at = match place {
            Place::At(at) if !matches!(t[at], b'{' | b'[') => at,
            _ => {
                let mut out = Vec::new();
                self.write(place, &mut out, Style::Marshal);
                return Cow::Owned(into_string(out));
            }
        };
        match t[at] {
            b'"' => {
                let end = scan::skip_string(t, at);
                text::decode(&t[at + 1..end - 1])
            }
            b'n' if self.is_nil_map(at) => Cow::Borrowed("null"),
            b'n' => Cow::Borrowed("<nil>"),
            _ => String::from_utf8_lossy(&t[at..scan::skip(t, at)]),
        }
    }

    /// The whole payload as `json.Marshal` writes it (`entire-payload`).
    pub fn marshal(&self) -> String {
        let mut out = Vec::new();
        self.write(self.top(), &mut out, Style::Marshal);
        into_string(out)
    }

    /// Writes the value at `place` in `style`.
    ///
    /// Arrays are written in document order, each element starting where the one before it
    /// ended. An object's members are written in key order, so where each value starts is found
    /// first by skipping the values before it: for values that are objects or arrays, `ends`
    /// (one pass over the value) says where they end, so no byte is read once per object
    /// around it.
    pub fn write(&self, place: Place, out: &mut Vec<u8>, style: Style) {
        let at = match place {
            Place::Wrapper => {
                out.extend_from_slice(b"{\"root\":");
                self.write(Place::At(self.root), out, style);
                out.push(b'}');
                return;
            }
            Place::At(at) => at,
        };
        let t: &[u8] = &self.text;
        let ends = Ends::of(t, at, Indexed::MemberValues);
        let mut stack: Vec<Frame> = Vec::new();
        // Where the value just written whole ends: an array around it continues there.
        let mut written = self.open(at, out, style, &ends, &mut stack);
        loop {
            if let (Some(end), Some(Frame::Array { cursor, .. })) = (written, stack.last_mut()) {
                *cursor = end;
            }
            let Some(frame) = stack.last_mut() else {
                return;
            };
            let value = match frame {
                Frame::Object {
                    keys,
                    side,
                    next,
                    end,
                } => {
                    let Some(key) = keys.get(*next) else {
                        out.push(b'}');
                        written = Some(*end);
                        stack.pop();
                        continue;
                    };
                    if *next > 0 {
                        out.push(b',');
                    }
                    *next += 1;
                    let (start, end) = (key.start as usize, (key.start + key.len) as usize);
                    if key.decoded {
                        write_str(out, &side[start..end], style);
                    } else {
                        write_raw(out, &t[start..end], style, self.raw_strings);
                    }
                    out.push(b':');
                    key.value as usize
                }
                Frame::Array { cursor, first } => {
                    let mut item = scan::skip_ws(t, *cursor);
                    if t[item] == b']' {
                        out.push(b']');
                        written = Some(item + 1);
                        stack.pop();
                        continue;
                    }
                    if !*first {
                        out.push(b',');
                        item = scan::skip_ws(t, item + 1);
                    }
                    *first = false;
                    item
                }
            };
            written = self.open(value, out, style, &ends, &mut stack);
        }
    }

    /// Writes a scalar and returns where it ends, or writes the opening of a container and
    /// pushes its frame.
    fn open(
        &self,
        at: usize,
        out: &mut Vec<u8>,
        style: Style,
        ends: &Ends,
        stack: &mut Vec<Frame>,
    ) -> Option<usize> {
        let t: &[u8] = &self.text;
        match t[at] {
            b'{' => {
                out.push(b'{');
                let (keys, side, end) = self.sorted_keys(at, ends);
                stack.push(Frame::Object {
                    keys,
                    side,
                    next: 0,
                    end,
                });
                None
            }
            b'[' => {
                out.push(b'[');
                stack.push(Frame::Array {
                    cursor: at + 1,
                    first: true,
                });
                None
            }
            b'"' => {
                let end = scan::skip_string(t, at);
                write_raw(out, &t[at + 1..end - 1], style, self.raw_strings);
                Some(end)
            }
            _ => {
                let end = scan::skip(t, at);
                out.extend_from_slice(&t[at..end]);
                Some(end)
            }
        }
    }

    /// The object's keys sorted as Go sorts map keys, the last of duplicates kept, and where
    /// the object's text ends.
    fn sorted_keys(&self, at: usize, ends: &Ends) -> (Vec<Key>, Vec<u8>, usize) {
        let t: &[u8] = &self.text;
        let mut side = Vec::new();
        let mut last = None;
        let mut keys: Vec<Key> = scan::members_with(t, at, ends)
            .inspect(|m| last = Some(m.value))
            .map(|m| {
                let raw = &t[m.key_start..m.key_end];
                let plain =
                    !raw.contains(&b'\\') && (self.raw_strings || std::str::from_utf8(raw).is_ok());
                let value = m.value as u32;
                if plain {
                    return Key {
                        start: m.key_start as u32,
                        len: raw.len() as u32,
                        decoded: false,
                        value,
                    };
                }
                let decoded = text::decode(raw);
                let start = side.len() as u32;
                side.extend_from_slice(decoded.as_bytes());
                Key {
                    start,
                    len: decoded.len() as u32,
                    decoded: true,
                    value,
                }
            })
            .collect();
        let bytes = |k: &Key| -> &[u8] {
            let range = k.start as usize..(k.start + k.len) as usize;
            if k.decoded {
                &side[range]
            } else {
                &t[range]
            }
        };
        keys.sort_by(|a, b| bytes(a).cmp(bytes(b)));
        // Stable sort: among equal keys the last in the document is last; keep only it.
        let mut kept: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if kept.last().is_some_and(|last| bytes(last) == bytes(&key)) {
                kept.pop();
            }
            kept.push(key);
        }
        let last_end = last.map_or(at + 1, |value| ends.skip(t, value));
        (kept, side, scan::skip_ws(t, last_end) + 1)
    }

    /// What rendering the value at `place` costs at most: the bytes written, the object
    /// members held while sorting, and where the members' objects and arrays end.
    pub fn render_cost(&self, place: Place) -> usize {
        // A string (what rules read most) is what the walk below finds for it, without
        // finding its end twice.
        if let Place::At(at) = place {
            if self.text[at] == b'"' {
                let close = scan::skip_string(&self.text, at);
                return text::marshal_len(&self.text[at + 1..close - 1], self.raw_strings);
            }
        }
        let (start, end, extra) = match place {
            Place::Wrapper => (self.root, scan::skip(&self.text, self.root), 9),
            Place::At(at) => (at, scan::skip(&self.text, at), 0),
        };
        let t = &self.text[start..end];
        let mut bytes = extra;
        let mut members = 0;
        let mut nested = 0;
        let mut i = 0;
        while i < t.len() {
            match t[i] {
                b'"' => {
                    let close = scan::skip_string(t, i);
                    bytes += text::marshal_len(&t[i + 1..close - 1], self.raw_strings);
                    i = close;
                    continue;
                }
                b':' => {
                    members += 1;
                    bytes += 1;
                    if matches!(t.get(scan::skip_ws(t, i + 1)), Some(b'{' | b'[')) {
                        nested += 1;
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => bytes += 1,
            }
            i += 1;
        }
        bytes + members * std::mem::size_of::<Key>() + nested * Ends::SPAN_COST
    }
}

/// A string's escaped content from a document.
fn write_raw(out: &mut Vec<u8>, raw: &[u8], style: Style, raw_strings: bool) {
    match style {
        Style::Marshal => text::write_marshal(out, raw, raw_strings),
        Style::Compact => {
            let decoded = text::decode(raw);
            text::write_internal(out, decoded.as_bytes());
        }
    }
}

/// A decoded string.
fn write_str(out: &mut Vec<u8>, decoded: &[u8], style: Style) {
    match style {
        Style::Marshal => {
            let mut escaped = Vec::with_capacity(decoded.len() + 2);
            text::write_internal(&mut escaped, decoded);
            text::write_marshal(out, &escaped[1..escaped.len() - 1], false);
        }
        Style::Compact => text::write_internal(out, decoded),
    }
}

fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::super::test_doc as doc;

    #[test]
    fn a_string_costs_its_marshalled_length() {
        // Quotes, `<` as `\u003c`, the escaped newline as `\n`: what `json.Marshal` writes.
        let doc = doc(r#"{"plain":"refs/heads/main","html":"a<b","nl":"x\ny","n":12}"#);
        for (name, cost) in [("plain", 17), ("html", 10), ("nl", 6), ("n", 2)] {
            let place = doc.lookup(name).unwrap();
            assert_eq!(doc.render_cost(place), cost, "{name}");
            assert!(doc.render(place).len() <= cost, "{name}");
        }
    }

    #[test]
    fn marshals_nested_values_like_go() {
        // serde_json's map sorts keys and keeps the last duplicate, as Go's does; these
        // strings need no HTML escaping, so its rendering is Go's.
        let cases = [
            r#"{"b":[1,{"z":[],"a":{}},[[2],[]]],"a":{"y":{"k":[{"q":1,"p":2}]},"x":0}}"#,
            r#" { "d" : [ [ ] , { } , [ { "b" : 1 , "a" : [ 2 , 3 ] } ] ] , "d" : { "c" : 1 } } "#,
            r#"[[{"b":{"b":1,"a":2},"a":[{"y":[],"x":{}}]}],{"":""},"s",true,null]"#,
            r#"{"k\"]":"}","a":[{"}":"]"},"[{"]}"#,
        ];
        for text in cases {
            let want: serde_json::Value = serde_json::from_str(text).unwrap();
            let want = match want {
                serde_json::Value::Array(_) => serde_json::json!({ "root": want }),
                other => other,
            };
            let doc = doc(text);
            assert_eq!(doc.marshal(), want.to_string(), "{text}");
            assert!(doc.render_cost(doc.top()) >= doc.marshal().len(), "{text}");
        }
    }

    /// A value nested `depth` levels deep, objects and arrays taking turns, each object with a
    /// second member before and after the nested one; the time to marshal it.
    fn nested(depth: usize) -> std::time::Duration {
        let mut text = String::new();
        for level in 0..depth {
            text.push_str(if level % 2 == 0 {
                r#"{"b":0,"a":"#
            } else {
                "[1,"
            });
        }
        text.push_str("[1,2,3]");
        for level in (0..depth).rev() {
            text.push_str(if level % 2 == 0 { r#","c":[]}"# } else { "]" });
        }
        let doc = doc(&text);
        let started = std::time::Instant::now();
        let out = doc.marshal();
        let took = started.elapsed();
        assert_eq!(out.len(), text.len());
        took
    }

    #[test]
    fn deep_values_marshal_in_linear_time() {
        // Skipping each member's value to find the next one read the innermost bytes once per
        // level around them: 10,000 levels took seconds for 60 KB. 32 times the depth (and the
        // bytes) is 32 times the work when linear, 1,024 times when quadratic; the bound is
        // their geometric mean, 181, which leaves room for the deeper document's cache misses
        // (a debug build on a loaded machine measured up to 66 times for 16 times the depth).
        // The fastest of several runs each: on a loaded machine any single run can be preempted.
        let small = (0..7).map(|_| nested(300)).min().unwrap_or_default();
        let large = (0..7).map(|_| nested(9_600)).min().unwrap_or_default();
        assert!(large < small * 181, "300: {small:?}, 9,600: {large:?}");
    }
}
