//! The bytes the scanner passes over: whitespace between tokens, and strings read as runs of
//! plain bytes between escapes, either validated (escapes and control bytes checked) or
//! skipped in text already valid.

use super::validate::{char_error, SyntaxError};

pub(super) fn is_ws(b: u8) -> bool {
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

/// A string starting at its opening quote; returns the index after the closing quote. Most
/// strings (keys above all) end within their first eight bytes: that case is read in place,
/// without a call.
#[inline(always)]
pub(super) fn string(t: &[u8], start: usize) -> Result<usize, SyntaxError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs_end_at_the_first_byte_needing_care_wherever_it_is() {
        // Every position in and around the 8-byte words and the 16-byte blocks (three of
        // them, then the words and bytes at the end), every kind of stop, and the bytes that
        // must not stop a run (0x20, 0x7f, high bytes, a byte after a stop).
        for len in 0..72 {
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
}
