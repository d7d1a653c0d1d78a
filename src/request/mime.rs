//! Go's `mime.ParseMediaType`, for the boundary of a multipart body and the names in its
//! parts' `Content-Disposition`: a lower-cased type, then `; key=value` parameters (keys
//! lower-cased, values tokens or quoted strings), a duplicate key an error, RFC 2231 extended
//! (`key*=utf-8''%..`) and continued (`key*0=`, `key*1*=`) values joined.

use std::collections::HashMap;

/// The media type (or disposition) and its parameters; `None` where Go returns an error.
pub fn parse_media_type(v: &str) -> Option<(String, HashMap<String, String>)> {
    let base = v.split(';').next().unwrap_or_default();
    let media_type = base.to_lowercase().trim().to_string();
    check_type(&media_type)?;
    let mut params: HashMap<String, String> = HashMap::new();
    // Parameters with a `*`, by base name, for RFC 2231 joining.
    let mut starred: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut rest = &v[base.len()..];
    loop {
        rest = rest.trim_start_matches(char::is_whitespace);
        if rest.is_empty() {
            break;
        }
        let Some((key, value, after)) = consume_param(rest) else {
            if rest.trim() == ";" {
                break; // A trailing semicolon is not an error.
            }
            return None;
        };
        let map = match key.split_once('*') {
            Some((base, _)) => starred.entry(base.to_string()).or_default(),
            None => &mut params,
        };
        if map.insert(key, value).is_some() {
            return None;
        }
        rest = after;
    }
    for (key, pieces) in starred {
        if let Some(v) = pieces.get(&format!("{key}*")) {
            if let Some(decoded) = decode_2231(v) {
                params.insert(key, decoded);
            }
            continue;
        }
        let mut joined = String::new();
        let mut any = false;
        for n in 0.. {
            if let Some(v) = pieces.get(&format!("{key}*{n}")) {
                joined.push_str(v);
                any = true;
                continue;
            }
            let Some(v) = pieces.get(&format!("{key}*{n}*")) else {
                break;
            };
            any = true;
            if n == 0 {
                joined.push_str(&decode_2231(v).unwrap_or_default());
            } else {
                joined.push_str(&percent_unescape(v).unwrap_or_default());
            }
        }
        if any {
            params.insert(key, joined);
        }
    }
    Some((media_type, params))
}

/// `type` or `type/subtype`, each a token.
fn check_type(s: &str) -> Option<()> {
    let (first, rest) = consume_token(s);
    if first.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some(());
    }
    let (sub, rest) = consume_token(rest.strip_prefix('/')?);
    (!sub.is_empty() && rest.is_empty()).then_some(())
}

fn is_tspecial(c: char) -> bool {
    "()<>@,;:\\\"/[]?=".contains(c)
}

fn is_token_char(c: char) -> bool {
    ('\u{21}'..'\u{7f}').contains(&c) && !is_tspecial(c)
}

fn consume_token(v: &str) -> (&str, &str) {
    let end = v.find(|c| !is_token_char(c)).unwrap_or(v.len());
    v.split_at(end)
}

/// `; key=value`, returning the lower-cased key, the value and the rest.
fn consume_param(v: &str) -> Option<(String, String, &str)> {
    let rest = v
        .trim_start_matches(char::is_whitespace)
        .strip_prefix(';')?;
    let (key, rest) = consume_token(rest.trim_start_matches(char::is_whitespace));
    if key.is_empty() {
        return None;
    }
    let rest = rest
        .trim_start_matches(char::is_whitespace)
        .strip_prefix('=')?;
    let rest = rest.trim_start_matches(char::is_whitespace);
    let (value, after) = consume_value(rest)?;
    Some((key.to_lowercase(), value, after))
}

/// A token or a quoted string. Like Go, a backslash before a character that is not special
/// is kept (MSIE sends `C:\dir\file` unescaped).
fn consume_value(v: &str) -> Option<(String, &str)> {
    let Some(quoted) = v.strip_prefix('"') else {
        let (token, rest) = consume_token(v);
        return (!token.is_empty()).then(|| (token.to_string(), rest));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &quoted[i + 1..])),
            '\\' if quoted[i + 1..].starts_with(is_tspecial) => {
                let (_, next) = chars.next()?;
                out.push(next);
            }
            '\r' | '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// `charset'language'percent-encoded`, for UTF-8 and US-ASCII only.
fn decode_2231(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let (charset, _, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    let charset = charset.to_lowercase();
    if charset != "us-ascii" && charset != "utf-8" {
        return None;
    }
    percent_unescape(encoded)
}

fn percent_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &str) -> Option<Vec<(String, String)>> {
        let (_, p) = parse_media_type(v)?;
        let mut p: Vec<_> = p.into_iter().collect();
        p.sort();
        Some(p)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_like_go() {
        assert_eq!(
            parse_media_type("Multipart/Form-Data; boundary=xxx").map(|(t, _)| t),
            Some("multipart/form-data".to_string())
        );
        assert_eq!(
            params(r#"form-data; name="a b"; FILENAME="C:\dir\f.txt""#),
            Some(pairs(&[("filename", r"C:\dir\f.txt"), ("name", "a b")]))
        );
        assert_eq!(
            params(r#"form-data; name="q\"x""#),
            Some(pairs(&[("name", "q\"x")]))
        );
        assert_eq!(params("form-data; name=a;"), Some(pairs(&[("name", "a")])));
        assert_eq!(
            params("form-data; name*=utf-8''%C3%A9; x*0=a; x*1*=%41"),
            Some(pairs(&[("name", "é"), ("x", "aA")]))
        );
        assert_eq!(params("form-data; name=a; name=b"), None);
        assert_eq!(params("form-data; name"), None);
        assert_eq!(params(""), None);
        assert_eq!(params("a/b/c"), None);
        assert_eq!(params("form-data; name=\"open"), None);
    }
}
