//! Reading JSON text without building anything: the validator (Go's scanner: grammar, escapes,
//! the 10,000-level depth limit; bytes of invalid UTF-8 are accepted, as Go accepts them) and,
//! for text already validated, skipping a value and walking the members of an object or the
//! elements of an array. Every function here is linear in the bytes it reads and allocates at
//! most the depth stack.

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

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub fn skip_ws(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && is_ws(t[i]) {
        i += 1;
    }
    i
}

fn char_error(t: &[u8], i: usize, context: &'static str) -> SyntaxError {
    match t.get(i) {
        Some(&found) => SyntaxError::Char { found, context },
        None => SyntaxError::Eof,
    }
}

/// Validates the value starting at `start` (after whitespace); returns where it ends.
pub fn validate(t: &[u8], start: usize) -> Result<(usize, Counts), SyntaxError> {
    validate_indexed(t, start, &mut RootIndex::default())
}

/// [`validate`], recording the members of a top-level object in `index` on the way.
pub fn validate_indexed(
    t: &[u8],
    start: usize,
    index: &mut RootIndex,
) -> Result<(usize, Counts), SyntaxError> {
    let mut stack: Vec<u8> = Vec::new();
    let mut counts = Counts::default();
    let mut i = start;
    'value: loop {
        i = skip_ws(t, i);
        let Some(&c) = t.get(i) else {
            return Err(SyntaxError::Eof);
        };
        counts.values += 1;
        match c {
            b'{' | b'[' => {
                stack.push(c);
                if stack.len() > MAX_DEPTH {
                    return Err(SyntaxError::Depth);
                }
                i = skip_ws(t, i + 1);
                let close = if c == b'{' { b'}' } else { b']' };
                if t.get(i) == Some(&close) {
                    stack.pop();
                    i += 1;
                } else if c == b'{' {
                    let (value, key) = key(t, i)?;
                    if stack.len() == 1 {
                        index.record(t, key, value);
                    }
                    i = value;
                    continue 'value;
                } else {
                    continue 'value;
                }
            }
            b'"' => i = string(t, i)?,
            b'-' | b'0'..=b'9' => i = number(t, i)?,
            b't' => i = literal(t, i, b"true")?,
            b'f' => i = literal(t, i, b"false")?,
            b'n' => i = literal(t, i, b"null")?,
            _ => return Err(char_error(t, i, "looking for beginning of value")),
        }
        // After a value: close containers or move to the next member or element.
        loop {
            let Some(&top) = stack.last() else {
                index.finish();
                return Ok((i, counts));
            };
            i = skip_ws(t, i);
            match (top, t.get(i)) {
                (_, None) => return Err(SyntaxError::Eof),
                (b'{', Some(b',')) => {
                    let (value, key) = key(t, skip_ws(t, i + 1))?;
                    if stack.len() == 1 {
                        index.record(t, key, value);
                    }
                    i = value;
                    continue 'value;
                }
                (b'[', Some(b',')) => {
                    i += 1;
                    continue 'value;
                }
                (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                    stack.pop();
                    i += 1;
                }
                (b'{', Some(_)) => {
                    return Err(char_error(t, i, "after object key:value pair"));
                }
                (_, Some(_)) => return Err(char_error(t, i, "after array element")),
            }
        }
    }
}

/// An object key and its colon; returns where the value may start and the key's content
/// (between the quotes).
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
    Ok((i + 1, start + 1..end - 1))
}

/// A string starting at its opening quote; returns the index after the closing quote.
fn string(t: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let mut i = start + 1;
    loop {
        i = plain_run_end(t, i, true);
        match t.get(i) {
            None => return Err(SyntaxError::Eof),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match t.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    for k in i + 2..i + 6 {
                        if !t.get(k).is_some_and(u8::is_ascii_hexdigit) {
                            return Err(char_error(t, k, "in \\u hexadecimal character escape"));
                        }
                    }
                    i += 6;
                }
                _ => return Err(char_error(t, i + 1, "in string escape code")),
            },
            Some(_) => return Err(char_error(t, i, "in string literal")),
        }
    }
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

fn literal(t: &[u8], start: usize, word: &'static [u8]) -> Result<usize, SyntaxError> {
    for (k, &want) in word.iter().enumerate() {
        if t.get(start + k) != Some(&want) {
            return Err(char_error(t, start + k, "in literal"));
        }
    }
    Ok(start + word.len())
}

// ---- Walking text that is known to be valid ------------------------------------------------

/// The index after the closing quote of the string whose opening quote is at `start`.
pub fn skip_string(t: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    loop {
        i = plain_run_end(t, i, false);
        match t.get(i) {
            Some(b'"') => return i + 1,
            Some(_) => i += 2,
            None => return t.len(),
        }
    }
}

/// Where the run of plain string bytes starting at `i` ends: the first quote, backslash or
/// (with `controls`) control character, or the end of `t`. Reads eight bytes at a time: most
/// strings are short, which a search with a set-up cost (`memchr`) is slow on, and some are
/// long, which a byte-at-a-time loop is slow on.
fn plain_run_end(t: &[u8], mut i: usize, controls: bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `x` that is zero. A borrow can also mark a byte above a
    // zero byte, never one below the first: the lowest mark is exact.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = t.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("an 8-byte slice"));
        let mut hits =
            zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\')));
        if controls {
            // Bytes below 0x20, by the same borrow argument.
            hits |= x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        }
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < t.len() && t[i] != b'"' && t[i] != b'\\' && !(controls && t[i] < 0x20) {
        i += 1;
    }
    i
}

/// The index after the value starting at `start`.
pub fn skip(t: &[u8], start: usize) -> usize {
    match t[start] {
        b'"' => skip_string(t, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < t.len() {
                match t[i] {
                    b'"' => {
                        i = skip_string(t, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            t.len()
        }
        _ => {
            let mut i = start;
            while i < t.len() && !matches!(t[i], b',' | b'}' | b']') && !is_ws(t[i]) {
                i += 1;
            }
            i
        }
    }
}

/// Where containers end, found in one pass over a value, so that walking the members of
/// nested objects does not skip the same bytes again at every level: `skip` alone costs the
/// bytes it passes, and a walk that skips each value of every object on a path 10,000 levels
/// deep passes the innermost bytes 10,000 times.
#[derive(Debug, Default)]
pub struct Ends {
    /// (start, end) of each container indexed, in the order they start.
    spans: Vec<(u32, u32)>,
}

/// Which containers an [`Ends`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    /// Every container.
    All,
    /// Containers that are the value of an object member (what ordering members needs).
    MemberValues,
}

impl Ends {
    /// What one indexed container costs.
    pub const SPAN_COST: usize = std::mem::size_of::<(u32, u32)>();

    /// The ends of the containers inside the value at `start` (itself included when `All`).
    /// The text must be valid, and shorter than 4 GiB (documents are).
    pub fn of(t: &[u8], start: usize, which: Indexed) -> Ends {
        let mut spans = Vec::new();
        if !matches!(t[start], b'{' | b'[') {
            return Ends { spans };
        }
        // Per open container: its index in `spans`, if indexed.
        let mut open: Vec<Option<usize>> = Vec::new();
        let mut after_colon = false;
        let mut i = start;
        while i < t.len() {
            match t[i] {
                b'"' => {
                    i = skip_string(t, i);
                    after_colon = false;
                    if open.is_empty() {
                        break;
                    }
                    continue;
                }
                b':' => after_colon = true,
                b'{' | b'[' => {
                    let indexed = which == Indexed::All || after_colon;
                    open.push(indexed.then(|| {
                        spans.push((i as u32, 0));
                        spans.len() - 1
                    }));
                    after_colon = false;
                }
                b'}' | b']' => {
                    if let Some(Some(k)) = open.pop() {
                        spans[k].1 = (i + 1) as u32;
                    }
                    if open.is_empty() {
                        break;
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => after_colon = false,
            }
            i += 1;
        }
        Ends { spans }
    }

    /// The index after the value starting at `start`: looked up for an indexed container,
    /// [`skip`]ped otherwise.
    pub fn skip(&self, t: &[u8], start: usize) -> usize {
        if matches!(t[start], b'{' | b'[') {
            if let Ok(k) = self.spans.binary_search_by_key(&(start as u32), |s| s.0) {
                return self.spans[k].1 as usize;
            }
        }
        skip(t, start)
    }
}

/// One member of an object: the key's content (between the quotes, still escaped) and where
/// its value starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub key_start: usize,
    pub key_end: usize,
    pub value: usize,
}

/// The members of a document's top-level object, recorded while it is validated, so that a
/// lookup finds a top-level key without skipping every value before it (a push event's
/// `ref` comes after its commits). Only the first [`RootIndex::MAX_MEMBERS`] are kept: an
/// object with more is not indexed, and lookups read it from the text.
#[derive(Debug, Clone, Default)]
pub struct RootIndex {
    /// (key start, key end, value start), in document order; `u32` as documents are < 4 GiB.
    members: Vec<[u32; 3]>,
    complete: bool,
    overflowed: bool,
}

impl RootIndex {
    /// Members of a top-level object indexed at most; bounds the index to 768 bytes.
    pub const MAX_MEMBERS: usize = 64;

    /// Records a member whose key is `key` and whose value starts at `value` or after
    /// whitespace; a document too large for `u32` offsets is not indexed.
    fn record(&mut self, t: &[u8], key: std::ops::Range<usize>, value: usize) {
        if self.overflowed {
            return;
        }
        let value = skip_ws(t, value);
        let offsets = [key.start, key.end, value].map(u32::try_from);
        match offsets {
            [Ok(key_start), Ok(key_end), Ok(value)] if self.members.len() < Self::MAX_MEMBERS => {
                if self.members.is_empty() {
                    // Most events have a few to a few dozen members: room for 16 at once, not
                    // a vector grown from 4 and copied on the way.
                    self.members.reserve(16);
                }
                self.members.push([key_start, key_end, value]);
            }
            _ => {
                self.overflowed = true;
                self.members = Vec::new();
            }
        }
    }

    /// Marks the index as covering the whole object (validation reached its end).
    pub fn finish(&mut self) {
        self.complete = !self.overflowed;
    }

    /// The members, when the whole object is indexed.
    pub fn members(&self) -> Option<impl Iterator<Item = Member> + '_> {
        self.complete.then(|| {
            self.members
                .iter()
                .map(|&[key_start, key_end, value]| Member {
                    key_start: key_start as usize,
                    key_end: key_end as usize,
                    value: value as usize,
                })
        })
    }
}

/// The members of the object at `start`, in document order (duplicates included).
pub fn members(t: &[u8], start: usize) -> Members<'_> {
    Members {
        t,
        i: skip_ws(t, start + 1),
        ends: None,
    }
}

/// [`members`], skipping the values `ends` holds by looking their ends up.
pub fn members_with<'t>(t: &'t [u8], start: usize, ends: &'t Ends) -> Members<'t> {
    Members {
        ends: Some(ends),
        ..members(t, start)
    }
}

pub struct Members<'t> {
    t: &'t [u8],
    i: usize,
    ends: Option<&'t Ends>,
}

impl Iterator for Members<'_> {
    type Item = Member;

    fn next(&mut self) -> Option<Member> {
        let t = self.t;
        if t.get(self.i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(t, self.i);
        let colon = skip_ws(t, key_end);
        let value = skip_ws(t, colon + 1);
        let member = Member {
            key_start: self.i + 1,
            key_end: key_end - 1,
            value,
        };
        let end = match self.ends {
            Some(ends) => ends.skip(t, value),
            None => skip(t, value),
        };
        let after = skip_ws(t, end);
        self.i = if t.get(after) == Some(&b',') {
            skip_ws(t, after + 1)
        } else {
            t.len()
        };
        Some(member)
    }
}

/// Where each element of the array at `start` begins.
pub fn elements(t: &[u8], start: usize) -> Elements<'_> {
    let i = skip_ws(t, start + 1);
    Elements {
        t,
        i: if t.get(i) == Some(&b']') { t.len() } else { i },
        ends: None,
    }
}

/// [`elements`], skipping the values `ends` holds by looking their ends up.
pub fn elements_with<'t>(t: &'t [u8], start: usize, ends: &'t Ends) -> Elements<'t> {
    Elements {
        ends: Some(ends),
        ..elements(t, start)
    }
}

pub struct Elements<'t> {
    t: &'t [u8],
    i: usize,
    ends: Option<&'t Ends>,
}

impl Iterator for Elements<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let t = self.t;
        if self.i >= t.len() {
            return None;
        }
        let at = self.i;
        let end = match self.ends {
            Some(ends) => ends.skip(t, at),
            None => skip(t, at),
        };
        let after = skip_ws(t, end);
        self.i = if t.get(after) == Some(&b',') {
            skip_ws(t, after + 1)
        } else {
            t.len()
        };
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn plain_runs_end_at_the_first_byte_needing_care_wherever_it_is() {
        // Every position in and around the 8-byte words, every kind of stop, and the bytes
        // that must not stop a run (0x20, 0x7f, high bytes, a byte after a stop).
        for len in 0..40 {
            for stop in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                for at in 0..=len {
                    let mut t: Vec<u8> = (0..len)
                        .map(|k| [b'a', 0x20, 0x7f, 0xe9, 0xff][k % 5])
                        .collect();
                    if at < len {
                        t[at] = stop;
                        if at + 1 < len {
                            t[at + 1] = 0x00;
                        }
                    }
                    let controls_end = if at < len { at } else { len };
                    assert_eq!(plain_run_end(&t, 0, true), controls_end, "{t:?}");
                    let quote_end = if at < len && matches!(stop, b'"' | b'\\') {
                        at
                    } else {
                        t.iter()
                            .position(|&b| b == b'"' || b == b'\\')
                            .unwrap_or(len)
                    };
                    assert_eq!(plain_run_end(&t, 0, false), quote_end, "{t:?}");
                }
            }
        }
    }

    #[test]
    fn indexes_the_members_of_a_top_level_object() {
        let t = br#" { "a" : [1,{"x":2}], "b\"" :"}", "a": {"y":3} } "#;
        let mut index = RootIndex::default();
        validate_indexed(t, 1, &mut index).unwrap();
        let indexed: Vec<Member> = index.members().expect("indexed").collect();
        assert_eq!(indexed, members(t, 1).collect::<Vec<_>>());
        assert_eq!(indexed.len(), 3, "duplicates are kept, in document order");

        let wide = |n: usize| {
            let body: Vec<String> = (0..n).map(|k| format!("\"k{k}\":{k}")).collect();
            format!("{{{}}}", body.join(","))
        };
        let fits = wide(RootIndex::MAX_MEMBERS);
        let mut index = RootIndex::default();
        validate_indexed(fits.as_bytes(), 0, &mut index).unwrap();
        assert_eq!(
            index.members().map(Iterator::count),
            Some(RootIndex::MAX_MEMBERS)
        );
        let over = wide(RootIndex::MAX_MEMBERS + 1);
        let mut index = RootIndex::default();
        validate_indexed(over.as_bytes(), 0, &mut index).unwrap();
        assert!(index.members().is_none(), "too many members: not indexed");

        let mut index = RootIndex::default();
        assert!(validate_indexed(br#"{"a":1,"b":"#, 0, &mut index).is_err());
        assert!(
            index.members().is_none(),
            "an invalid document has no index"
        );
    }

    #[test]
    fn walks_members_and_elements() {
        let t = br#"{ "a" : [1, {"x":"]"}] , "b\"":"}" ,"c":{}}"#;
        let keys: Vec<&[u8]> = members(t, 0).map(|m| &t[m.key_start..m.key_end]).collect();
        assert_eq!(keys, [&b"a"[..], b"b\\\"", b"c"]);
        let first = members(t, 0).next().unwrap().value;
        let items: Vec<usize> = elements(t, first).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(skip(t, items[1]), items[1] + 9);
        assert_eq!(elements(b"[ ]", 0).count(), 0);
        assert_eq!(members(b"{ }", 0).count(), 0);
    }
}
