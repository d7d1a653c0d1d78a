//! Literals with Go's rules: the lexer's loose number scan, `strconv.Unquote` for strings and
//! character constants, `strconv.ParseInt(s, 0, 64)` for integers.

use super::escape::quote;

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
    let invalid = || LiteralError::Syntax("invalid syntax".to_string());
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

/// What a number constant evaluates to where no type is known (Go's `idealConstant`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Constant {
    Int(i64),
    Float(f64),
    Complex(f64, f64),
    /// Fits a `uint64` but not an `int`: an error only when evaluated ("overflows int").
    Overflow,
}

/// A number literal as Go's template parser reads it (`parse.newNumber`), then typed as
/// `idealConstant` types it: complex, else float when written like one, else int.
pub(super) fn parse_number(text: &str) -> Result<Constant, LiteralError> {
    let illegal = || LiteralError::Syntax(format!("illegal number syntax: {}", quote(text, false)));
    if let Some((re, im)) = split_complex(text) {
        let re = parse_float(re).ok_or_else(illegal)?;
        let im = parse_float(im).ok_or_else(illegal)?;
        return Ok(Constant::Complex(re, im));
    }
    if let Some(im) = text.strip_suffix('i').and_then(parse_float) {
        return Ok(Constant::Complex(0.0, im));
    }
    let looks_float = text.contains(['.', 'e', 'E', 'p', 'P']);
    let is_hex_int = text.len() > 2
        && (text.starts_with("0x") || text.starts_with("0X"))
        && !text.contains(['p', 'P']);
    if let Some(n) = parse_int(text) {
        if looks_float && !is_hex_int {
            #[allow(clippy::cast_precision_loss)] // Go converts the same way.
            return Ok(Constant::Float(n as f64));
        }
        return Ok(Constant::Int(n));
    }
    if parse_uint(text).is_some() {
        return Ok(Constant::Overflow);
    }
    match parse_float(text) {
        Some(_) if !looks_float => Err(LiteralError::Syntax(format!(
            "integer overflow: {}",
            quote(text, false)
        ))),
        Some(f) => Ok(Constant::Float(f)),
        None => Err(illegal()),
    }
}

/// `1+2i` → ("1", "+2"): a complex constant's two parts, as the lexer lets them through.
fn split_complex(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_suffix('i')?;
    let bytes = body.as_bytes();
    let at = (1..bytes.len()).rev().find(|&i| {
        matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E' | b'p' | b'P')
    })?;
    Some((&body[..at], &body[at..]))
}

/// Go's `strconv.ParseFloat(text, 64)`: decimal or hexadecimal (`0x1.8p3`), `_` between
/// digits; out of range is an error.
fn parse_float(text: &str) -> Option<f64> {
    if text.contains('_') && !underscores_ok(text.trim_start_matches(['+', '-'])) {
        return None;
    }
    let clean = text.replace('_', "");
    let (negative, body) = match clean.as_bytes().first()? {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let value = match body.get(..2) {
        Some("0x" | "0X") => parse_hex_float(&body[2..])?,
        _ if body
            .bytes()
            .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) =>
        {
            body.parse::<f64>().ok()?
        }
        _ => return None,
    };
    if value.is_infinite() {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// The part after `0x` of a hexadecimal float: mantissa digits, an optional point, and the
/// `p` exponent Go requires.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let frac_bits = i32::try_from(frac.len()).ok()?.checked_mul(4)?;
    Some(value * 2f64.powi(exp - frac_bits))
}

/// Go's `strconv.ParseUint(text, 0, 64)`: no sign.
fn parse_uint(text: &str) -> Option<u64> {
    if text.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = parse_magnitude(text)?;
    Some(magnitude)
}

/// Go's `strconv.ParseInt(text, 0, 64)`: sign, base prefix, `_` between digits.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = i128::from(parse_magnitude(body)?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// An unsigned integer with Go's base prefixes (`0x`, `0o`, `0b`, `0`) and underscores.
fn parse_magnitude(body: &str) -> Option<u64> {
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
    u64::from_str_radix(&digits, radix).ok()
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
        use Constant::{Complex, Float, Int, Overflow};
        let syntax = |m: &str| Err(LiteralError::Syntax(m.to_string()));
        let cases = [
            ("42", Ok(Int(42))),
            ("-7", Ok(Int(-7))),
            ("+7", Ok(Int(7))),
            ("0x1F", Ok(Int(31))),
            ("0X_1f", Ok(Int(31))),
            ("0x1E3", Ok(Int(0x1e3))),
            ("-0x1E", Ok(Float(-30.0))),
            ("017", Ok(Int(15))),
            ("0o17", Ok(Int(15))),
            ("0b101", Ok(Int(5))),
            ("1_000", Ok(Int(1000))),
            ("0", Ok(Int(0))),
            ("-9223372036854775808", Ok(Int(i64::MIN))),
            ("9223372036854775808", Ok(Overflow)),
            (
                "18446744073709551616",
                syntax("integer overflow: \"18446744073709551616\""),
            ),
            ("08", syntax("integer overflow: \"08\"")),
            ("1__0", syntax("illegal number syntax: \"1__0\"")),
            ("+.", syntax("illegal number syntax: \"+.\"")),
            ("-", syntax("illegal number syntax: \"-\"")),
            ("0x", syntax("illegal number syntax: \"0x\"")),
            ("1e400", syntax("illegal number syntax: \"1e400\"")),
            ("1.5", Ok(Float(1.5))),
            ("1e3", Ok(Float(1000.0))),
            ("1_0.5", Ok(Float(10.5))),
            (".5", Ok(Float(0.5))),
            ("0x1p-2", Ok(Float(0.25))),
            ("0x1.8P1", Ok(Float(3.0))),
            ("1i", Ok(Complex(0.0, 1.0))),
            ("0i", Ok(Complex(0.0, 0.0))),
            ("1+2i", Ok(Complex(1.0, 2.0))),
            ("1e3-2.5i", Ok(Complex(1000.0, -2.5))),
            ("0x10i", syntax("illegal number syntax: \"0x10i\"")),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number(text), want, "{text}");
        }
    }
}
