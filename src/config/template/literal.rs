//! Literals with Go's rules: the lexer's loose number scan, `strconv.Unquote` for strings and
//! character constants, `strconv.ParseInt(s, 0, 64)` for integers.

/// Go's lexer scan of a number at the start of `s`, loose on purpose (`parse_number` checks
/// it): the length scanned, and false if a letter or digit follows, or a complex is malformed.
pub(super) fn scan_number(s: &str) -> (usize, bool) {
    let mut at = 0;
    let ok = scan_one(s, &mut at);
    if ok && s[at..].starts_with(['+', '-']) {
        // A complex constant such as 1+2i: no spaces, must end in 'i'.
        let ok = scan_one(s, &mut at) && s[..at].ends_with('i');
        return (at, ok);
    }
    (at, ok)
}

fn scan_one(s: &str, at: &mut usize) -> bool {
    let accept = |at: &mut usize, valid: &str| match s[*at..].chars().next() {
        Some(c) if valid.contains(c) => {
            *at += c.len_utf8();
            true
        }
        _ => false,
    };
    accept(at, "+-");
    let mut digits = "0123456789_";
    if accept(at, "0") {
        if accept(at, "xX") {
            digits = "0123456789abcdefABCDEF_";
        } else if accept(at, "oO") {
            digits = "01234567_";
        } else if accept(at, "bB") {
            digits = "01_";
        }
    }
    while accept(at, digits) {}
    if accept(at, ".") {
        while accept(at, digits) {}
    }
    let exponent = match digits.len() {
        11 => "eE",
        23 => "pP",
        _ => "",
    };
    if !exponent.is_empty() && accept(at, exponent) {
        accept(at, "+-");
        while accept(at, "0123456789_") {}
    }
    accept(at, "i");
    match s[*at..].chars().next() {
        Some(c) if c == '_' || c.is_alphanumeric() => {
            *at += c.len_utf8();
            false
        }
        _ => true,
    }
}

/// Why a literal could not be decoded; the parser adds the position.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LiteralError {
    Syntax(String),
    Unsupported(String),
}

/// The value of a `"…"` or `` `…` `` literal, quotes included in `raw`.
pub(super) fn unquote_string(raw: &str) -> Result<String, LiteralError> {
    let invalid = || LiteralError::Syntax(format!("invalid syntax in string literal {raw}"));
    if let Some(inner) = raw.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        // Go drops carriage returns from raw strings.
        return Ok(inner.replace('\r', ""));
    }
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(invalid)?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        let (unit, tail) = unquote_one(rest, '"').ok_or_else(invalid)?;
        match unit {
            Unit::Char(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Unit::Byte(b) => bytes.push(b),
        }
        rest = tail;
    }
    String::from_utf8(bytes).map_err(|_| {
        LiteralError::Unsupported(format!("string literal {raw} that is not valid UTF-8"))
    })
}

/// The code point of a `'…'` constant, quotes included in `raw`.
pub(super) fn unquote_char(raw: &str) -> Result<i64, LiteralError> {
    let invalid = || LiteralError::Syntax(format!("malformed character constant: {raw}"));
    let inner = raw
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .ok_or_else(invalid)?;
    match unquote_one(inner, '\'') {
        Some((Unit::Char(c), "")) => Ok(i64::from(u32::from(c))),
        Some((Unit::Byte(b), "")) => Ok(i64::from(b)),
        _ => Err(invalid()),
    }
}

enum Unit {
    Char(char),
    Byte(u8),
}

/// One character or escape from the front of `s` (Go's `strconv.UnquoteChar`).
fn unquote_one(s: &str, quote: char) -> Option<(Unit, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote || c == '\n' {
        return None;
    }
    if c != '\\' {
        return Some((Unit::Char(c), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        e if e == quote => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((Unit::Char(c), rest));
    }
    let (digits, radix) = match e {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (2, 8),
        _ => return None,
    };
    let text = rest
        .get(..digits)
        .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let tail = &rest[digits..];
    match e {
        'x' => Some((Unit::Byte(u8::from_str_radix(text, 16).ok()?), tail)),
        '0'..='7' => {
            let value = u32::from_str_radix(&format!("{e}{text}"), radix).ok()?;
            Some((Unit::Byte(u8::try_from(value).ok()?), tail))
        }
        _ => {
            let value = u32::from_str_radix(text, radix).ok()?;
            Some((Unit::Char(char::from_u32(value)?), tail))
        }
    }
}

/// A number literal as Go's template parser reads it; only integers that fit in an `int`.
pub(super) fn parse_number(text: &str) -> Result<i64, LiteralError> {
    if text.ends_with('i') {
        return Err(LiteralError::Unsupported(format!(
            "complex constant {text}"
        )));
    }
    if let Some(n) = parse_int(text) {
        return Ok(n);
    }
    let body = text.trim_start_matches(['+', '-']);
    let is_hex = body.starts_with("0x") || body.starts_with("0X");
    let has_digit = body.bytes().any(|b| b.is_ascii_digit());
    if has_digit && (text.contains(['.', 'p', 'P']) || (!is_hex && text.contains(['e', 'E']))) {
        return Err(LiteralError::Unsupported(format!(
            "floating-point constant {text}"
        )));
    }
    let quoted = super::value::quote(text);
    if has_digit && underscores_ok(body) && body.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(LiteralError::Syntax(format!("integer overflow: {quoted}")));
    }
    Err(LiteralError::Syntax(format!(
        "illegal number syntax: {quoted}"
    )))
}

/// Go's `strconv.ParseInt(text, 0, 64)`: sign, base prefix, `_` between digits.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if !underscores_ok(body) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = match lower.as_bytes() {
        [b'0', b'x', ..] => (16, &lower[2..]),
        [b'0', b'o', ..] => (8, &lower[2..]),
        [b'0', b'b', ..] => (2, &lower[2..]),
        [b'0', _, ..] => (8, &lower[1..]),
        _ => (10, lower.as_str()),
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from(u64::from_str_radix(&digits, radix).ok()?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Go's `underscoreOK`: `_` only between digits, or between a base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let cases = [
            (r#""plain""#, Ok("plain")),
            (r#""a\n\t\"\\b""#, Ok("a\n\t\"\\b")),
            (r#""\a\b\f\r\v""#, Ok("\u{7}\u{8}\u{c}\r\u{b}")),
            (r#""\u00e9\U0001F600\x41\101""#, Ok("é😀AA")),
            (r#""\xc3\xa9""#, Ok("é")),
            ("`raw \\n\r\n`", Ok("raw \\n\n")),
            (r#""\'""#, Err(())),
            (r#""\q""#, Err(())),
            (r#""\u12""#, Err(())),
            (r#""\ud800""#, Err(())),
            (r#""\400""#, Err(())),
            (r#""\xff""#, Err(())),
        ];
        for (raw, want) in cases {
            let got = unquote_string(raw).ok();
            assert_eq!(got.as_deref(), want.ok(), "{raw}");
        }
    }

    #[test]
    fn chars() {
        let cases = [
            ("'a'", Some(97)),
            ("'é'", Some(233)),
            (r"'\''", Some(39)),
            (r"'\n'", Some(10)),
            (r"'\xff'", Some(255)),
            (r"'\u263A'", Some(0x263A)),
            ("'ab'", None),
            ("''", None),
            (r#"'\"'"#, None),
        ];
        for (raw, want) in cases {
            assert_eq!(unquote_char(raw).ok(), want, "{raw}");
        }
    }

    #[test]
    fn numbers() {
        use LiteralError::{Syntax, Unsupported};
        let cases = [
            ("42", Ok(42)),
            ("-7", Ok(-7)),
            ("+7", Ok(7)),
            ("0x1F", Ok(31)),
            ("0X_1f", Ok(31)),
            ("017", Ok(15)),
            ("0o17", Ok(15)),
            ("0b101", Ok(5)),
            ("1_000", Ok(1000)),
            ("0", Ok(0)),
            ("-9223372036854775808", Ok(i64::MIN)),
            (
                "9223372036854775808",
                Err(Syntax("integer overflow: \"9223372036854775808\"".into())),
            ),
            ("08", Err(Syntax("integer overflow: \"08\"".into()))),
            (
                "1__0",
                Err(Syntax("illegal number syntax: \"1__0\"".into())),
            ),
            ("+.", Err(Syntax("illegal number syntax: \"+.\"".into()))),
            ("-", Err(Syntax("illegal number syntax: \"-\"".into()))),
            ("0x", Err(Syntax("illegal number syntax: \"0x\"".into()))),
            (
                "1.5",
                Err(Unsupported("floating-point constant 1.5".into())),
            ),
            (
                "1e3",
                Err(Unsupported("floating-point constant 1e3".into())),
            ),
            ("1i", Err(Unsupported("complex constant 1i".into()))),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number(text), want, "{text}");
        }
    }
}
