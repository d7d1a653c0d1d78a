//! Go's `url.ParseQuery`, used for query strings and urlencoded bodies: `&`-separated pairs,
//! `+` as space, pairs with a `;` or a bad `%` escape dropped (and reported), first value wins.

use super::fields::Fields;
use super::json::{Document, ObjectWriter};

/// The pairs of `text`, each as (key, value) still escaped; `Err` for a malformed pair.
fn pairs(text: &[u8]) -> impl DoubleEndedIterator<Item = Result<(&[u8], &[u8]), ()>> {
    text.split(|&b| b == b'&').filter_map(|pair| {
        if pair.contains(&b';') {
            return Some(Err(()));
        }
        if pair.is_empty() {
            return None;
        }
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        Some(if valid_escapes(key) && valid_escapes(value) {
            Ok((key, value))
        } else {
            Err(())
        })
    })
}

/// Parses a query string; returns the map of first values and whether any pair was malformed.
pub fn parse_query(text: &str) -> (Fields, bool) {
    let mut fields = Fields::default();
    let mut malformed = false;
    let mut key = Vec::new();
    let mut value = Vec::new();
    for pair in pairs(text.as_bytes()) {
        let Ok((k, v)) = pair else {
            malformed = true;
            continue;
        };
        key.clear();
        value.clear();
        unescape_into(k, &mut key);
        unescape_into(v, &mut value);
        fields.insert_first(
            String::from_utf8_lossy(&key).into_owned(),
            String::from_utf8_lossy(&value).into_owned(),
        );
    }
    (fields, malformed)
}

/// An urlencoded body as the payload document; `None` when a pair is malformed (the reference
/// then keeps no payload). Pairs are written last to first, so that the first value of a key,
/// written last, is the one the document holds.
pub fn parse_body(body: &[u8]) -> Option<Document> {
    if pairs(body).any(|p| p.is_err()) {
        return None;
    }
    let mut doc = ObjectWriter::new(true);
    let mut key = Vec::new();
    let mut value = Vec::new();
    for (k, v) in pairs(body).rev().flatten() {
        key.clear();
        value.clear();
        unescape_into(k, &mut key);
        unescape_into(v, &mut value);
        doc.string(&key, &value);
    }
    Some(doc.finish())
}

/// Whether every `%` in `s` starts a valid escape (what `unescape_into` checks, without
/// writing anything).
fn valid_escapes(s: &[u8]) -> bool {
    let mut rest = s;
    while let Some(i) = memchr::memchr(b'%', rest) {
        let hex = |at: usize| rest.get(at).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return false;
        }
        rest = &rest[i + 3..];
    }
    true
}

/// Go's `QueryUnescape` into `out`: `+` → space, `%XX` required to be valid hex; `None` for a
/// bad escape.
fn unescape_into(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                let (hi, lo) = (hex(s.get(i + 1))?, hex(s.get(i + 2))?);
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_semantics() {
        let (m, bad) = parse_query("q=1&q=2&r=%zz&s=a+b;c&t=%41+b&u&=v&&w=x=y");
        assert!(bad);
        assert_eq!(m.text("q"), Some("1"));
        assert_eq!(m.text("r"), None);
        assert_eq!(m.text("s"), None);
        assert_eq!(m.text("t"), Some("A b"));
        assert_eq!(m.text("u"), Some(""));
        assert_eq!(m.text(""), Some("v"));
        assert_eq!(m.text("w"), Some("x=y"));
        let (_, bad) = parse_query("a=1&b=2");
        assert!(!bad);
    }

    #[test]
    fn bodies_keep_first_values_and_raw_bytes() {
        let doc = parse_body(b"a=1&b=%3C%22&a=2&c=%ff").unwrap();
        let get = |name: &str| doc.lookup(name).map(|p| doc.render(p)).ok();
        assert_eq!(get("a").as_deref(), Some("1"));
        assert_eq!(get("b").as_deref(), Some("<\""));
        assert_eq!(get("c").as_deref(), Some("\u{fffd}"));
        assert_eq!(doc.marshal(), r#"{"a":"1","b":"\u003c\"","c":"\ufffd"}"#);
        assert!(parse_body(b"a=1&b=%zz").is_none());
        assert_eq!(parse_body(b"").unwrap().marshal(), "{}");
    }
}
