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

/// The index of the first byte at or after `i` that is not whitespace (or the end of `t`).
/// Most keys and values follow their `,` or `:` directly or after one space (what most
/// encoders write): those two cases are read in place, without a loop or a call.
#[inline(always)]
pub fn skip_ws(t: &[u8], i: usize) -> usize {
    // Every whitespace byte is at most b' ': a byte above it ends the run.
    match t.get(i) {
        Some(&b) if b > b' ' => i,
        Some(b' ') if t.get(i + 1).is_some_and(|&b| b > b' ') => i + 1,
        _ => skip_ws_run(t, i),
    }
}

/// [`skip_ws`] over a longer run (indentation): eight spaces at a time, then byte by byte.
#[inline(never)]
fn skip_ws_run(t: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    while let Some(word) = t.get(i..i + 8) {
        if u64::from_ne_bytes(word.try_into().expect("an 8-byte slice")) != SPACES {
            break;
        }
        i += 8;
    }
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

/// A string starting at its opening quote; returns the index after the closing quote. Most
/// strings (keys above all) end within their first eight bytes: that case is read in place,
/// without a call.
#[inline(always)]
fn string(t: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let i = start + 1;
    let end = match word_run_end(t, i, true) {
        Some(end) => end,
        // Keys up to sixteen bytes long are common too: a second word, still in place.
        None if t.len() >= i + 8 => match word_run_end(t, i + 8, true) {
            Some(end) => end,
            None => return string_rest(t, past_plain_word(t, i + 8)),
        },
        None => return string_rest(t, i),
    };
    if t[end] == b'"' {
        Ok(end + 1)
    } else {
        // At a backslash or a control byte.
        string_rest(t, end)
    }
}

/// Where a string goes on after the eight bytes at `i`, all plain (or fewer than eight left,
/// none of them read yet).
fn past_plain_word(t: &[u8], i: usize) -> usize {
    if t.len() >= i + 8 {
        i + 8
    } else {
        i
    }
}

/// The rest of a [`string`] from `i`, inside it: longer strings and escapes.
#[inline(never)]
fn string_rest(t: &[u8], mut i: usize) -> Result<usize, SyntaxError> {
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

// ---- Walking text that is known to be valid ------------------------------------------------

/// The index after the closing quote of the string whose opening quote is at `start`. A
/// string that ends within its first eight bytes is read in place, as in [`string`].
#[inline(always)]
pub fn skip_string(t: &[u8], start: usize) -> usize {
    let i = start + 1;
    match word_run_end(t, i, false) {
        Some(end) if t[end] == b'"' => end + 1,
        Some(end) => skip_string_rest(t, end),
        None => skip_string_rest(t, past_plain_word(t, i)),
    }
}

/// The rest of a [`skip_string`] from `i`, inside it.
#[inline(never)]
fn skip_string_rest(t: &[u8], mut i: usize) -> usize {
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
/// (with `controls`) control character, or the end of `t`. Most strings are short, which a
/// search with a set-up cost (`memchr`) is slow on, and some are long, which a byte-at-a-time
/// loop is slow on: the first eight bytes are read as one word, then sixteen at a time (a loop
/// over a fixed block, which the compiler turns into vector compares), and the block that
/// holds the end as words again, which tell where in it the end is.
#[inline(always)]
fn plain_run_end(t: &[u8], mut i: usize, controls: bool) -> usize {
    let needs_care = |b: u8| (b == b'"') | (b == b'\\') | (controls & (b < 0x20));
    if let Some(end) = word_run_end(t, i, controls) {
        return end;
    }
    if t.len() >= i + 8 {
        i += 8;
        while let Some(block) = t.get(i..i + 16) {
            let block: &[u8; 16] = block.try_into().expect("a 16-byte slice");
            // `|`, not `any`: every byte is tested, without a branch per byte.
            if block.iter().fold(false, |stop, &b| stop | needs_care(b)) {
                break;
            }
            i += 16;
        }
        while t.len() >= i + 8 {
            if let Some(end) = word_run_end(t, i, controls) {
                return end;
            }
            i += 8;
        }
    }
    while i < t.len() && !needs_care(t[i]) {
        i += 1;
    }
    i
}

/// [`plain_run_end`] within the eight bytes at `i`: `None` when all of them are plain or
/// fewer than eight are left.
#[inline(always)]
fn word_run_end(t: &[u8], i: usize, controls: bool) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `x` that is zero. A borrow can also mark a byte above a
    // zero byte, never one below the first: the lowest mark is exact.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let word = t.get(i..i + 8)?;
    let x = u64::from_le_bytes(word.try_into().expect("an 8-byte slice"));
    let mut hits =
        zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\')));
    if controls {
        // Bytes below 0x20, by the same borrow argument.
        hits |= x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    }
    (hits != 0).then(|| i + (hits.trailing_zeros() / 8) as usize)
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

/// The members of a document's objects, recorded while it is validated, so that a lookup
/// finds a key without skipping every value before it (a push event's `ref` comes after its
/// commits) and walks no object on its path. Bounded: the first [`MemberIndex::MAX_MEMBERS`]
/// members of the top-level object, and the first [`MemberIndex::MAX_NESTED`] members of
/// nested objects (as deep as [`MemberIndex::DEPTH`]) together. When the top-level object
/// has more, it is not indexed; when nested objects have more, none of them is: lookups read
/// what is not indexed from the text.
#[derive(Debug, Clone, Default)]
pub struct MemberIndex {
    /// (object start, key start, key end, value start), in document order.
    members: Vec<[u32; 4]>,
    /// Members seen, of the top-level object and of nested objects: more than their maximum
    /// when some were left out.
    top_seen: usize,
    nested_seen: usize,
    /// Validation reached the end of the document.
    complete: bool,
}

impl MemberIndex {
    /// Members of the top-level object indexed at most.
    pub const MAX_MEMBERS: usize = 64;
    /// Members of nested objects indexed at most, together. With the top-level ones, this
    /// bounds the index to 2 KiB.
    pub const MAX_NESTED: usize = 64;
    /// Objects nested deeper than this (the top-level object is at depth 1) are not indexed.
    pub const DEPTH: usize = 16;

    /// Prepares to index `t`: a text too long for `u32` offsets is not indexed (documents
    /// are shorter).
    fn start(&mut self, t: &[u8]) {
        if u32::try_from(t.len()).is_err() {
            self.top_seen = Self::MAX_MEMBERS + 1;
            self.nested_seen = Self::MAX_NESTED + 1;
        }
    }

    /// Records a member at `depth` of the object starting at `object` (`None`: too deep to
    /// index), whose key is `key` and whose value starts at `value`.
    #[inline(always)]
    fn record(
        &mut self,
        depth: usize,
        object: Option<usize>,
        key: std::ops::Range<usize>,
        value: usize,
    ) {
        let (seen, max) = if depth == 1 {
            (&mut self.top_seen, Self::MAX_MEMBERS)
        } else {
            (&mut self.nested_seen, Self::MAX_NESTED)
        };
        let Some(object) = object else {
            *seen = max + 1;
            return;
        };
        if *seen > max {
            return;
        }
        *seen += 1;
        if *seen > max {
            return;
        }
        if self.members.capacity() == 0 {
            // Most events have a few dozen members: room for 32 at once, not a vector grown
            // from 4 and copied on the way.
            self.members.reserve(32);
        }
        // Offsets fit: see `start`.
        self.members
            .push([object, key.start, key.end, value].map(|at| at as u32));
    }

    fn overflowed(&self, top: bool) -> bool {
        if top {
            self.top_seen > Self::MAX_MEMBERS
        } else {
            self.nested_seen > Self::MAX_NESTED
        }
    }

    /// Marks the index as covering the whole document (validation reached its end).
    pub fn finish(&mut self) {
        self.complete = true;
    }

    /// The members of the object starting at `object` (the top-level object when `top`), in
    /// document order, when they are indexed.
    pub fn members_of(
        &self,
        object: usize,
        top: bool,
    ) -> Option<impl Iterator<Item = Member> + '_> {
        if !self.complete || self.overflowed(top) {
            return None;
        }
        let object = u32::try_from(object).ok()?;
        Some(self.members.iter().filter(move |m| m[0] == object).map(
            |&[_, key_start, key_end, value]| Member {
                key_start: key_start as usize,
                key_end: key_end as usize,
                value: value as usize,
            },
        ))
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

    /// Every object of `t` (valid JSON), by where it starts.
    fn objects(t: &[u8]) -> Vec<usize> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < t.len() {
            match t[i] {
                b'"' => {
                    i = skip_string(t, i);
                    continue;
                }
                b'{' => found.push(i),
                _ => {}
            }
            i += 1;
        }
        found
    }

    fn indexed(t: &[u8]) -> MemberIndex {
        let mut index = MemberIndex::default();
        validate_indexed(t, skip_ws(t, 0), &mut index).expect("valid");
        index
    }

    /// What the index holds for each object of `t`: `None` where it holds nothing, or where
    /// it agrees with the text (the members, in document order, duplicates included).
    fn indexed_objects(t: &[u8]) -> Vec<Option<usize>> {
        let index = indexed(t);
        let top = skip_ws(t, 0);
        objects(t)
            .into_iter()
            .map(|at| {
                let from_index: Vec<Member> = index.members_of(at, at == top)?.collect();
                assert_eq!(
                    from_index,
                    members(t, at).collect::<Vec<_>>(),
                    "object at {at} of {}",
                    String::from_utf8_lossy(t)
                );
                Some(from_index.len())
            })
            .collect()
    }

    #[test]
    fn indexes_the_members_of_objects() {
        let t = br#" { "a" : [1,{"x":2, "x" : {}}], "b\"" :"}", "a": {"y":3,"z":{"w":[{}]}} } "#;
        assert_eq!(
            indexed_objects(t),
            [Some(3), Some(2), Some(0), Some(2), Some(1), Some(0)],
            "every object, duplicates kept, in document order"
        );
        let doc = |top: usize, nested: usize| {
            let inner: Vec<String> = (0..nested).map(|k| format!("\"n{k}\":{k}")).collect();
            let mut members: Vec<String> = (0..top).map(|k| format!("\"k{k}\":{k}")).collect();
            members.push(format!("\"o\":{{{}}}", inner.join(",")));
            format!("{{{}}}", members.join(","))
        };
        let (top, nested) = (MemberIndex::MAX_MEMBERS - 1, MemberIndex::MAX_NESTED);
        assert_eq!(
            indexed_objects(doc(top, nested).as_bytes()),
            [Some(top + 1), Some(nested)]
        );
        assert_eq!(
            indexed_objects(doc(top + 1, nested).as_bytes()),
            [None, Some(nested)],
            "too many top-level members: the top-level object is not indexed"
        );
        assert_eq!(
            indexed_objects(doc(top, nested + 1).as_bytes()),
            [Some(top + 1), None],
            "too many nested members: no nested object is indexed"
        );
        // Objects as deep as indexed, and one level deeper (with and without members).
        let deep = |levels: usize, inner: &str| {
            let mut text = inner.to_string();
            for _ in 1..levels {
                text = format!("{{\"k\":[{text}]}}");
            }
            text
        };
        let depth = MemberIndex::DEPTH;
        let levels = depth.div_ceil(2); // each level is an object in an array
        assert!(indexed_objects(deep(levels, r#"{"z":1}"#).as_bytes())
            .iter()
            .all(Option::is_some));
        assert!(indexed_objects(deep(levels + 1, "{}").as_bytes())
            .iter()
            .all(Option::is_some));
        assert_eq!(
            indexed_objects(deep(levels + 1, r#"{"z":1}"#).as_bytes())[1],
            None,
            "a member too deep to index: no nested object is indexed"
        );
        let mut index = MemberIndex::default();
        assert!(validate_indexed(br#"{"a":{"b":1},"b":"#, 0, &mut index).is_err());
        assert!(
            index.members_of(0, true).is_none() && index.members_of(5, false).is_none(),
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
