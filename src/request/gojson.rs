//! JSON as Go's `encoding/json` handles it. Writing: exactly as `Marshal` writes a decoded
//! payload (sorted keys, `<`, `>`, `&`, U+2028 and U+2029 escaped, numbers as their literal
//! text); scripts written for the reference compare these strings, so the bytes matter.
//! Reading: Go's decoder accepts invalid UTF-8 and lone surrogate escapes inside strings,
//! reading each as U+FFFD, where serde_json refuses the whole document.

use std::borrow::Cow;

use serde_json::Value;

/// The first JSON value in `body`, read with Go's leniency; `None` when there is none.
pub fn decode_first(body: &[u8]) -> Option<Result<Value, serde_json::Error>> {
    let text = go_lossy(body);
    let first = |t: &str| {
        serde_json::Deserializer::from_str(t)
            .into_iter::<Value>()
            .next()
    };
    match first(&text) {
        Some(Err(e)) => match fix_surrogates(&text) {
            Some(fixed) => first(&fixed),
            None => Some(Err(e)),
        },
        other => other,
    }
}

/// Go's reading of invalid UTF-8: each byte of an invalid sequence becomes one U+FFFD.
fn go_lossy(bytes: &[u8]) -> Cow<'_, str> {
    let mut err = match std::str::from_utf8(bytes) {
        Ok(text) => return Cow::Borrowed(text),
        Err(e) => e,
    };
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    loop {
        let (valid, after) = rest.split_at(err.valid_up_to());
        out.push_str(std::str::from_utf8(valid).unwrap_or_default());
        let bad = err.error_len().unwrap_or(after.len());
        out.extend(std::iter::repeat_n('\u{fffd}', bad));
        rest = &after[bad..];
        match std::str::from_utf8(rest) {
            Ok(tail) => {
                out.push_str(tail);
                return Cow::Owned(out);
            }
            Err(e) => err = e,
        }
    }
}

/// Rewrites `\uD800`-`\uDFFF` escapes that are not a high+low pair as `\ufffd`, as Go reads
/// them; `None` when there is none.
fn fix_surrogates(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let surrogate = |at: usize| -> Option<u16> {
        let hex = text.get(at + 2..at + 6)?;
        let v = u16::from_str_radix(hex, 16).ok()?;
        (bytes.get(at + 1) == Some(&b'u') && (0xD800..=0xDFFF).contains(&v)).then_some(v)
    };
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match surrogate(i) {
            // A high surrogate followed by a low one is a valid pair.
            Some(0xD800..=0xDBFF)
                if bytes.get(i + 6) == Some(&b'\\')
                    && surrogate(i + 6).is_some_and(|low| low >= 0xDC00) =>
            {
                i += 12;
            }
            Some(_) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                i += 6;
                copied = i;
                changed = true;
            }
            None => i += 2,
        }
    }
    out.push_str(&text[copied..]);
    changed.then_some(out)
}

pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's default map is a BTreeMap: byte-wise sorted keys, as Go sorts.
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let decoded = |body: &[u8]| {
            decode_first(body)
                .and_then(Result::ok)
                .map(|v| to_string(&v))
        };
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"{\"s\":\"a\xffb\"}", Some("{\"s\":\"a\u{fffd}b\"}")),
            (
                b"{\"s\":\"\xe2\x82b\"}",
                Some("{\"s\":\"\u{fffd}\u{fffd}b\"}"),
            ),
            (br#"{"s":"\ud800x"}"#, Some("{\"s\":\"\u{fffd}x\"}")),
            (
                br#"{"s":"\udc00\ud800"}"#,
                Some("{\"s\":\"\u{fffd}\u{fffd}\"}"),
            ),
            (br#"{"s":"\ud83d\ude00"}"#, Some("{\"s\":\"\u{1f600}\"}")),
            (br#"{"s":"\\ud800"}"#, Some(r#"{"s":"\\ud800"}"#)),
            (b"{\"s\":\"ok\"} \xff", Some(r#"{"s":"ok"}"#)),
            (b"\xff", None),
        ];
        for (body, want) in cases {
            assert_eq!(
                decoded(body).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn matches_go_marshal() {
        let cases = [
            (
                r#"{"x":{"y":"<&>"},"n":1.50}"#,
                r#"{"n":1.50,"x":{"y":"\u003c\u0026\u003e"}}"#,
            ),
            (
                r#"{"b":1,"a":[true,null,"q\"\\"]}"#,
                r#"{"a":[true,null,"q\"\\"],"b":1}"#,
            ),
            (
                r#"{"s":"\u2028é\b\f\u0001\n"}"#,
                r#"{"s":"\u2028é\u0008\u000c\u0001\n"}"#,
            ),
            // serde_json writes an exponent's sign ("1e3" → "1e+3"); Go keeps the literal.
            // A documented difference: exponents are rare in webhook payloads.
            (
                r#"{"big":123456789012345678901234567890,"e":1e3}"#,
                r#"{"big":123456789012345678901234567890,"e":1e+3}"#,
            ),
        ];
        for (input, want) in cases {
            let v: Value = serde_json::from_str(input).unwrap();
            assert_eq!(to_string(&v), want);
        }
    }
}
