//! JSON string contents as Go reads and writes them. Reading (`decode`): escapes resolved, a
//! `\u` surrogate that is not half of a pair becomes U+FFFD, and every byte of invalid UTF-8
//! becomes one U+FFFD. Writing (`write_marshal`): Go's `json.Marshal` escaping (`<`, `>`, `&`,
//! U+2028 and U+2029 as `\u` escapes, control characters as `\u00XX` except `\n`, `\r`, `\t`).
//! Documents hookrun builds from forms and multipart bodies hold Go's raw strings: there an
//! invalid byte is written as the escape `\ufffd`, as `Marshal` writes the byte it cannot encode,
//! while a JSON body's invalid byte was already read as the character U+FFFD.

use std::borrow::Cow;

/// One unit of a string's content: a character, or a byte that is not valid UTF-8.
enum Unit {
    Char(char),
    Invalid,
}

/// The units of the (still escaped) content `raw`, in order.
fn units(raw: &[u8]) -> impl Iterator<Item = Unit> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *raw.get(i)?;
        if b == b'\\' {
            let (c, len) = escape(raw, i);
            i += len;
            return Some(Unit::Char(c));
        }
        if b < 0x80 {
            i += 1;
            return Some(Unit::Char(b as char));
        }
        let width = utf8_width(b);
        let char = raw
            .get(i..i + width)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next());
        Some(match char {
            Some(c) if width > 1 => {
                i += width;
                Unit::Char(c)
            }
            _ => {
                i += 1;
                Unit::Invalid
            }
        })
    })
}

fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// The escape at `raw[i]` (a backslash): the character and the escape's length.
fn escape(raw: &[u8], i: usize) -> (char, usize) {
    match raw.get(i + 1) {
        Some(b'b') => ('\u{8}', 2),
        Some(b'f') => ('\u{c}', 2),
        Some(b'n') => ('\n', 2),
        Some(b'r') => ('\r', 2),
        Some(b't') => ('\t', 2),
        Some(b'u') => {
            let Some(first) = hex4(raw, i + 2) else {
                return ('\u{fffd}', 2);
            };
            if !(0xD800..0xE000).contains(&first) {
                return (char::from_u32(first).unwrap_or('\u{fffd}'), 6);
            }
            // A high surrogate followed by a low one is a pair; anything else is U+FFFD and
            // the next escape is read on its own.
            if (0xD800..0xDC00).contains(&first) && raw.get(i + 6) == Some(&b'\\') {
                if let Some(second @ 0xDC00..=0xDFFF) =
                    hex4(raw, i + 8).filter(|_| raw.get(i + 7) == Some(&b'u'))
                {
                    let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return (char::from_u32(c).unwrap_or('\u{fffd}'), 12);
                }
            }
            ('\u{fffd}', 6)
        }
        Some(&other) => (other as char, 2),
        None => ('\\', 1),
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(raw.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// The string a content decodes to (Go's reading); borrowed when nothing needed decoding.
pub fn decode(raw: &[u8]) -> Cow<'_, str> {
    if !raw.contains(&b'\\') {
        if let Ok(text) = std::str::from_utf8(raw) {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(raw.len());
    for unit in units(raw) {
        out.push(match unit {
            Unit::Char(c) => c,
            Unit::Invalid => '\u{fffd}',
        });
    }
    Cow::Owned(out)
}

/// Whether the content decodes to exactly `name`, without allocating for plain contents.
/// Inlined: a lookup asks this of every key it passes, and most differ at their first byte.
#[inline(always)]
pub fn decodes_to(raw: &[u8], name: &str) -> bool {
    // An ASCII first byte other than a backslash decodes to itself: the keys a lookup passes
    // over mostly differ from the name there, which tells without reading them.
    if let Some(&first) = raw.first() {
        if first != b'\\' && first.is_ascii() && name.as_bytes().first() != Some(&first) {
            return false;
        }
    }
    decodes_to_rest(raw, name)
}

/// [`decodes_to`] once the first byte did not tell.
#[inline(never)]
fn decodes_to_rest(raw: &[u8], name: &str) -> bool {
    // Plain content (ASCII, no escape) decodes to itself: one pass tells.
    if raw.iter().all(|&b| b != b'\\' && b.is_ascii()) {
        return raw == name.as_bytes();
    }
    decode(raw) == name
}

/// Writes `raw` (a string's escaped content) as Go's `json.Marshal` writes the decoded string,
/// quotes included. `raw_strings`: invalid bytes are Go raw-string bytes (see the module doc).
pub fn write_marshal(out: &mut Vec<u8>, raw: &[u8], raw_strings: bool) {
    out.push(b'"');
    // Every byte before the first one needing care is a one-byte unit written as it is.
    let plain = raw
        .iter()
        .position(|&b| b >= 0x80 || needs_escape(b))
        .unwrap_or(raw.len());
    out.extend_from_slice(&raw[..plain]);
    for unit in units(&raw[plain..]) {
        match unit {
            Unit::Char(c) => push_marshal_char(out, c),
            Unit::Invalid if raw_strings => out.extend_from_slice(b"\\ufffd"),
            Unit::Invalid => push_marshal_char(out, '\u{fffd}'),
        }
    }
    out.push(b'"');
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&') || b < 0x20
}

fn push_marshal_char(out: &mut Vec<u8>, c: char) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => push_u_escape(out, c),
        c if (c as u32) < 0x20 => push_u_escape(out, c),
        c => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

fn push_u_escape(out: &mut Vec<u8>, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = c as u32;
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((v >> shift) & 0xf) as usize]);
    }
}

/// The length `write_marshal` would write (quotes included): what a rendering will cost.
pub fn marshal_len(raw: &[u8], raw_strings: bool) -> usize {
    if raw.iter().all(|&b| b < 0x80 && !needs_escape(b)) {
        return raw.len() + 2;
    }
    let mut n = 2;
    for unit in units(raw) {
        n += match unit {
            Unit::Invalid if raw_strings => 6,
            Unit::Invalid => 3,
            Unit::Char('"' | '\\' | '\n' | '\r' | '\t') => 2,
            Unit::Char('<' | '>' | '&' | '\u{2028}' | '\u{2029}') => 6,
            Unit::Char(c) if (c as u32) < 0x20 => 6,
            Unit::Char(c) => c.len_utf8(),
        };
    }
    n
}

/// Writes `text` as the content of a JSON string in a document hookrun builds: only `"` and
/// `\` are escaped; control characters and invalid bytes stay as they are (such documents are
/// read only by this module, which accepts them).
pub fn write_internal(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    let mut from = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'"' || b == b'\\' {
            out.extend_from_slice(&text[from..i]);
            out.push(b'\\');
            out.push(b);
            from = i + 1;
        }
    }
    out.extend_from_slice(&text[from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marshal(raw: &[u8], raw_strings: bool) -> String {
        let mut out = Vec::new();
        write_marshal(&mut out, raw, raw_strings);
        assert_eq!(out.len(), marshal_len(raw, raw_strings), "{raw:?}");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decodes_like_go() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"a\xffb", "a\u{fffd}b"),
            (b"\xe2\x82b", "\u{fffd}\u{fffd}b"),
            (br"\ud800x", "\u{fffd}x"),
            (br"\udc00\ud800", "\u{fffd}\u{fffd}"),
            (br"\ud83d\ude00", "\u{1f600}"),
            (br"\ud800\u0041", "\u{fffd}A"),
            (br"\\ud800", "\\ud800"),
            (br#"\"\/\b\f\n\r\t\u00e9"#, "\"/\u{8}\u{c}\n\r\t\u{e9}"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode(raw), *want, "{}", String::from_utf8_lossy(raw));
        }
        assert!(decodes_to(b"a\\u002eb", "a.b"));
        assert!(!decodes_to(b"a\\\\b", "a\\\\b"));
    }

    #[test]
    fn decodes_to_agrees_with_decode() {
        let raws: &[&[u8]] = &[
            b"",
            b"a",
            b"ab",
            b"ba",
            b"\\u0061b",
            b"\\u0062a",
            br"\\a",
            b"\xffb",
            b"\xe2\x82b",
            "\u{e9}t\u{e9}".as_bytes(),
            br"\n",
            b"a\\u002eb",
        ];
        let names = [
            "",
            "a",
            "ab",
            "ba",
            "b",
            "\u{fffd}b",
            "\u{fffd}\u{fffd}b",
            "\\a",
            "\u{e9}t\u{e9}",
            "\n",
            "a.b",
            "\u{e9}",
        ];
        for raw in raws {
            for name in names {
                assert_eq!(
                    decodes_to(raw, name),
                    decode(raw) == name,
                    "{} against {name:?}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
    }

    #[test]
    fn marshals_like_go() {
        assert_eq!(marshal(b"plain", false), "\"plain\"");
        assert_eq!(
            marshal(br"<&>\u2028", false),
            r#""\u003c\u0026\u003e\u2028""#
        );
        assert_eq!(
            marshal(br"\b\f\u0001\n", false),
            r#""\u0008\u000c\u0001\n""#
        );
        assert_eq!(marshal(b"a\xffb", false), "\"a\u{fffd}b\"");
        assert_eq!(marshal(b"a\xffb", true), r#""a\ufffdb""#);
        assert_eq!(marshal("é\u{1}\"".as_bytes(), true), "\"é\\u0001\\\"\"");
        let mut out = Vec::new();
        write_internal(&mut out, b"q\"\\\x01");
        assert_eq!(out, b"\"q\\\"\\\\\x01\"");
    }
}
