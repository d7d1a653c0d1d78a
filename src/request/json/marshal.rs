//! Rendering document values: Go's `%v` for what a rule compares or a command receives,
//! `json.Marshal` for objects and arrays (keys sorted byte-wise, the last of duplicate keys
//! kept, numbers as their literal text), and what a rendering will cost before it is made.
//! Rendering is iterative: a document 10,000 levels deep does not deepen the stack.

use super::scan::{self, Elements};
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

enum Frame<'t> {
    Object {
        keys: Vec<Key>,
        side: Vec<u8>,
        next: usize,
    },
    Array {
        items: Elements<'t>,
        first: bool,
    },
}

impl Document {
    /// The value as the string a rule compares or a command receives (Go's `%v` for
    /// scalars, `json.Marshal` for objects and arrays, `null` for a nil map).
    pub fn render(&self, place: Place) -> String {
        let t: &[u8] = &self.text;
        let at = match place {
            Place::At(at) if !matches!(t[at], b'{' | b'[') => at,
            _ => {
                let mut out = Vec::new();
                self.write(place, &mut out, Style::Marshal);
                return into_string(out);
            }
        };
        match t[at] {
            b'"' => {
                let end = scan::skip_string(t, at);
                text::decode(&t[at + 1..end - 1]).into_owned()
            }
            b'n' if self.is_nil_map(at) => "null".to_string(),
            b'n' => "<nil>".to_string(),
            _ => String::from_utf8_lossy(&t[at..scan::skip(t, at)]).into_owned(),
        }
    }

    /// The whole payload as `json.Marshal` writes it (`entire-payload`).
    pub fn marshal(&self) -> String {
        let mut out = Vec::new();
        self.write(self.top(), &mut out, Style::Marshal);
        into_string(out)
    }

    /// Writes the value at `place` in `style`.
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
        let mut stack: Vec<Frame> = Vec::new();
        self.open(at, out, style, &mut stack);
        while let Some(frame) = stack.last_mut() {
            let value = match frame {
                Frame::Object { keys, side, next } => {
                    let Some(key) = keys.get(*next) else {
                        out.push(b'}');
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
                Frame::Array { items, first } => {
                    let Some(item) = items.next() else {
                        out.push(b']');
                        stack.pop();
                        continue;
                    };
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    item
                }
            };
            self.open(value, out, style, &mut stack);
        }
    }

    /// Writes a scalar, or the opening of a container (pushing its frame).
    fn open<'t>(&'t self, at: usize, out: &mut Vec<u8>, style: Style, stack: &mut Vec<Frame<'t>>) {
        let t: &[u8] = &self.text;
        match t[at] {
            b'{' => {
                out.push(b'{');
                let (keys, side) = self.sorted_keys(at);
                stack.push(Frame::Object {
                    keys,
                    side,
                    next: 0,
                });
            }
            b'[' => {
                out.push(b'[');
                stack.push(Frame::Array {
                    items: scan::elements(t, at),
                    first: true,
                });
            }
            b'"' => {
                let end = scan::skip_string(t, at);
                write_raw(out, &t[at + 1..end - 1], style, self.raw_strings);
            }
            _ => out.extend_from_slice(&t[at..scan::skip(t, at)]),
        }
    }

    /// The object's keys sorted as Go sorts map keys, the last of duplicates kept.
    fn sorted_keys(&self, at: usize) -> (Vec<Key>, Vec<u8>) {
        let t: &[u8] = &self.text;
        let mut side = Vec::new();
        let mut keys: Vec<Key> = scan::members(t, at)
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
        (kept, side)
    }

    /// What rendering the value at `place` costs at most: the bytes written and the object
    /// members held while sorting.
    pub fn render_cost(&self, place: Place) -> usize {
        let (start, end, extra) = match place {
            Place::Wrapper => (self.root, scan::skip(&self.text, self.root), 9),
            Place::At(at) => (at, scan::skip(&self.text, at), 0),
        };
        let t = &self.text[start..end];
        let mut bytes = extra;
        let mut members = 0;
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
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => bytes += 1,
            }
            i += 1;
        }
        bytes + members * std::mem::size_of::<Key>()
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
