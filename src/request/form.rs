//! Go's `url.ParseQuery`, used for query strings and urlencoded bodies: `&`-separated pairs,
//! `+` as space, pairs with a `;` or a bad `%` escape dropped (and reported), first value wins.

use serde_json::{Map, Value};

/// Parses `text`; returns the map of first values and whether any pair was malformed.
pub fn parse_query(text: &str) -> (Map<String, Value>, bool) {
    let mut map = Map::new();
    let mut malformed = false;
    for pair in text.split('&') {
        if pair.contains(';') {
            malformed = true;
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (unescape(key), unescape(value)) {
            (Some(k), Some(v)) => {
                map.entry(k).or_insert(Value::String(v));
            }
            _ => malformed = true,
        }
    }
    (map, malformed)
}

/// Go's `QueryUnescape`: `+` → space, `%XX` required to be valid hex.
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
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
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_semantics() {
        let (m, bad) = parse_query("q=1&q=2&r=%zz&s=a+b;c&t=%41+b&u&=v&&w=x=y");
        assert!(bad);
        assert_eq!(m.get("q"), Some(&Value::from("1")));
        assert_eq!(m.get("r"), None);
        assert_eq!(m.get("s"), None);
        assert_eq!(m.get("t"), Some(&Value::from("A b")));
        assert_eq!(m.get("u"), Some(&Value::from("")));
        assert_eq!(m.get(""), Some(&Value::from("v")));
        assert_eq!(m.get("w"), Some(&Value::from("x=y")));
        let (_, bad) = parse_query("a=1&b=2");
        assert!(!bad);
    }
}
