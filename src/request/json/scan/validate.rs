//! The validator: Go's scanner over a whole value (grammar, numbers, literals, the 10,000-level
//! depth limit; bytes of invalid UTF-8 are accepted, as Go accepts them), with Go's error texts
//! at Go's offsets. It counts values and records members in a [`MemberIndex`] on the way;
//! strings and whitespace are read by `runs`.

use super::index::MemberIndex;
use super::runs::{skip_ws, string};

/// Go's `maxNestingDepth`: deeper documents are a syntax error.
pub const MAX_DEPTH: usize = 10_000;

/// Why text is not JSON, in Go's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("unexpected EOF")]
    Eof,
    #[error("invalid character {} {context}", quoted(*.found))]
    Char { found: u8, context: &'static str },
    #[error("exceeded max depth")]
    Depth,
}

fn quoted(b: u8) -> String {
    match b {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x20..=0x7e => format!("'{}'", b as char),
        _ => format!("{:?}", b as char),
    }
}

/// What validation counted: enough to price a tree built from the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Values of every kind, containers included.
    pub values: usize,
}

pub(super) fn char_error(t: &[u8], i: usize, context: &'static str) -> SyntaxError {
    match t.get(i) {
        Some(&found) => SyntaxError::Char { found, context },
        None => SyntaxError::Eof,
    }
}

/// Validates the value starting at `start` (after whitespace); returns where it ends.
pub fn validate(t: &[u8], start: usize) -> Result<(usize, Counts), SyntaxError> {
    validate_indexed(t, start, &mut MemberIndex::default())
}

/// [`validate`], recording the members of objects in `index` on the way.
pub fn validate_indexed(
    t: &[u8],
    start: usize,
    index: &mut MemberIndex,
) -> Result<(usize, Counts), SyntaxError> {
    let mut stack = Nesting::default();
    // Whether the innermost open container is an object: what comes after a value depends
    // on it, and it changes only where a container opens or closes.
    let mut in_object = false;
    // Where the objects open around the validator start, by depth, as deep as objects are
    // indexed.
    let mut objects = [0usize; MemberIndex::DEPTH];
    index.start(t);
    let mut counts = Counts::default();
    let mut i = start;
    'value: loop {
        i = skip_ws(t, i);
        let Some(&c) = t.get(i) else {
            return Err(SyntaxError::Eof);
        };
        counts.values += 1;
        match c {
            b'"' => i = string(t, i)?,
            b'{' | b'[' => {
                in_object = c == b'{';
                stack.push(in_object);
                let depth = stack.depth();
                if depth > MAX_DEPTH {
                    return Err(SyntaxError::Depth);
                }
                if in_object {
                    if let Some(slot) = objects.get_mut(depth - 1) {
                        *slot = i;
                    }
                }
                i = skip_ws(t, i + 1);
                let close = if in_object { b'}' } else { b']' };
                if t.get(i) != Some(&close) {
                    if in_object {
                        i = member(t, i, depth, &objects, index)?;
                    }
                    continue 'value;
                }
                in_object = stack.pop();
                i += 1;
            }
            b'-' | b'0'..=b'9' => i = number(t, i)?,
            b't' => i = literal(t, i, b"true")?,
            b'f' => i = literal(t, i, b"false")?,
            b'n' => i = literal(t, i, b"null")?,
            _ => return Err(char_error(t, i, "looking for beginning of value")),
        }
        // After a value: close containers or move to the next member or element.
        loop {
            if stack.depth() == 0 {
                index.finish();
                return Ok((i, counts));
            }
            i = skip_ws(t, i);
            match t.get(i) {
                Some(b',') if in_object => {
                    i = member(t, skip_ws(t, i + 1), stack.depth(), &objects, index)?;
                    continue 'value;
                }
                Some(b',') => {
                    i += 1;
                    continue 'value;
                }
                Some(b'}') if in_object => {
                    in_object = stack.pop();
                    i += 1;
                }
                Some(b']') if !in_object => {
                    in_object = stack.pop();
                    i += 1;
                }
                None => return Err(SyntaxError::Eof),
                Some(_) if in_object => {
                    return Err(char_error(t, i, "after object key:value pair"));
                }
                Some(_) => return Err(char_error(t, i, "after array element")),
            }
        }
    }
}

/// A member's key at `at` (its colon too), recorded in `index` as a member of the object open
/// at `depth`; returns where its value starts.
#[inline(always)]
fn member(
    t: &[u8],
    at: usize,
    depth: usize,
    objects: &[usize; MemberIndex::DEPTH],
    index: &mut MemberIndex,
) -> Result<usize, SyntaxError> {
    let (value, key) = key(t, at)?;
    index.record(depth, objects.get(depth - 1).copied(), key, value);
    Ok(value)
}

/// The containers open around the validator, innermost last: whether each is an object. The
/// first 64 levels are bits of one word, so most documents allocate nothing; deeper levels
/// (up to [`MAX_DEPTH`]) go to a vector.
#[derive(Default)]
struct Nesting {
    depth: usize,
    /// Bit `k`: level `k + 1` is an object.
    shallow: u64,
    /// Levels 65 and deeper.
    deep: Vec<bool>,
}

impl Nesting {
    fn depth(&self) -> usize {
        self.depth
    }

    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            let bit = 1u64 << self.depth;
            self.shallow = if object {
                self.shallow | bit
            } else {
                self.shallow & !bit
            };
        } else {
            self.deep.push(object);
        }
        self.depth += 1;
    }

    /// Closes the innermost container; returns whether the one around it is an object (false
    /// when none is open).
    fn pop(&mut self) -> bool {
        if self.depth > 64 {
            self.deep.pop();
        }
        self.depth -= 1;
        match self.depth {
            0 => false,
            1..=64 => self.shallow >> (self.depth - 1) & 1 == 1,
            _ => self.deep.last().copied().unwrap_or(false),
        }
    }
}

/// An object key and its colon; returns where the value starts (after whitespace) and the
/// key's content (between the quotes).
#[inline(always)]
fn key(t: &[u8], start: usize) -> Result<(usize, std::ops::Range<usize>), SyntaxError> {
    if t.get(start) != Some(&b'"') {
        return Err(char_error(
            t,
            start,
            "looking for beginning of object key string",
        ));
    }
    let end = string(t, start)?;
    let i = skip_ws(t, end);
    if t.get(i) != Some(&b':') {
        return Err(char_error(t, i, "after object key"));
    }
    Ok((skip_ws(t, i + 1), start + 1..end - 1))
}

fn digits(t: &[u8], mut i: usize) -> usize {
    while t.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn number(t: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let mut i = start;
    if t[i] == b'-' {
        i += 1;
    }
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(t, i + 1),
        _ => return Err(char_error(t, i, "in numeric literal")),
    }
    if t.get(i) == Some(&b'.') {
        if !t.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return Err(char_error(
                t,
                i + 1,
                "after decimal point in numeric literal",
            ));
        }
        i = digits(t, i + 1);
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !t.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(char_error(t, i, "in exponent of numeric literal"));
        }
        i = digits(t, i);
    }
    Ok(i)
}

#[inline(always)]
fn literal(t: &[u8], start: usize, word: &'static [u8]) -> Result<usize, SyntaxError> {
    if t.get(start..start + word.len()) == Some(word) {
        return Ok(start + word.len());
    }
    literal_error(t, start, word)
}

/// Where [`literal`] fails, in Go's words.
#[cold]
fn literal_error(t: &[u8], start: usize, word: &'static [u8]) -> Result<usize, SyntaxError> {
    for (k, &want) in word.iter().enumerate() {
        if t.get(start + k) != Some(&want) {
            return Err(char_error(t, start + k, "in literal"));
        }
    }
    Ok(start + word.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::json::scan::runs::skip_ws;

    fn check(text: &str) -> Result<usize, SyntaxError> {
        validate(text.as_bytes(), 0).map(|(end, _)| end)
    }

    #[test]
    fn validates_like_go() {
        let whole = r#"{"a":[1,-0.5e+3,"x\u00e9\n",true,false,null,{}]}"#;
        let ok = [
            ("{}", 2),
            ("[]", 2),
            (whole, whole.len()),
            ("1e3 ", 3),
            ("[0] trailing", 3),
            ("\"\u{ff}\"", 4),
        ];
        for (text, end) in ok {
            assert_eq!(check(text), Ok(end), "{text}");
        }
        let bad = [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01x",
            "[01]",
            "-",
            "1.",
            "1e",
            "[1e+]",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "tru",
            "nul",
            "{a:1}",
            "[1 2]",
            "\u{feff}{}",
        ];
        for text in bad {
            if text == "01x" {
                // A top-level value ends where a non-number starts: Go reads "0".
                assert_eq!(check(text), Ok(1));
                continue;
            }
            assert!(check(text).is_err(), "{text:?}");
        }
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(check(&deep(MAX_DEPTH)).is_ok());
        assert_eq!(check(&deep(MAX_DEPTH + 1)), Err(SyntaxError::Depth));
    }

    #[test]
    fn accepts_what_a_strict_parser_accepts_after_any_one_byte_edit() {
        // Every deletion, replacement and insertion of a byte from a set that matters to the
        // grammar, in a document with every kind of value, strings long and short (across
        // the 8- and 16-byte reads) and escapes: the validator and serde_json agree on
        // whether the first value is JSON. (ASCII only: Go and this validator accept invalid
        // UTF-8, serde_json does not; no `\u`: serde_json checks surrogate pairs, Go does
        // not.)
        let doc = br#"{"ref":"refs/heads/main","n":-1.5e+3,"ok":true,"no":false,"z":null,"a":[0,{"k\"\\":"0123456789abcdefghijklmnopqrstuvwxyz\n"}],"e":{},"l":[]}"#;
        let bytes = b"{}[]:,\" \\/nt0159-+.eE\t\n\x01\x1fa";
        let agree = |t: &[u8]| {
            if t.windows(2).any(|w| w == b"\\u") {
                return;
            }
            let ours = validate(t, skip_ws(t, 0)).is_ok();
            let strict = serde_json::Deserializer::from_slice(t)
                .into_iter::<serde::de::IgnoredAny>()
                .next()
                .is_some_and(|r| r.is_ok());
            assert_eq!(ours, strict, "{:?}", String::from_utf8_lossy(t));
        };
        agree(doc);
        for at in 0..=doc.len() {
            if at < doc.len() {
                agree(&[&doc[..at], &doc[at + 1..]].concat());
            }
            for &b in bytes {
                if at < doc.len() {
                    agree(&[&doc[..at], &[b], &doc[at + 1..]].concat());
                }
                agree(&[&doc[..at], &[b], &doc[at..]].concat());
            }
        }
    }

    #[test]
    fn objects_and_arrays_close_in_order_at_every_depth() {
        // Levels alternate between objects and arrays in an irregular pattern.
        let is_object = |level: usize| (level * 7 + level / 3) % 5 < 2;
        for depth in [1, 2, 63, 64, 65, 127, 128, 129, 300, MAX_DEPTH] {
            let mut open = String::new();
            let mut close = String::new();
            for level in 0..depth {
                if is_object(level) {
                    open.push_str("{\"k\":");
                    close.insert(0, '}');
                } else {
                    open.push('[');
                    close.insert(0, ']');
                }
            }
            let text = format!("{open}1{close}");
            assert_eq!(check(&text), Ok(text.len()), "depth {depth}");
            // The same document with one closing bracket of the other kind, at every depth:
            // an error, wherever it is.
            for wrong in (0..depth).step_by((depth / 40).max(1)) {
                let mut bytes = text.clone().into_bytes();
                let at = text.len() - depth + wrong;
                bytes[at] = if bytes[at] == b'}' { b']' } else { b'}' };
                let text = String::from_utf8(bytes).expect("ASCII");
                assert!(check(&text).is_err(), "depth {depth}, wrong close {wrong}");
            }
        }
    }
}
