//! The validator's fast path: Go's grammar checked at the structural positions
//! (`structurals`) instead of at every byte. Strings cost two positions whatever their length
//! (their content was checked as blocks were classified), whitespace costs nothing, numbers
//! and literals are read from their first byte. It decides what the byte-at-a-time validator
//! decides and records the same members, but does not say why a text is not JSON: where it
//! finds a text wrong, or cannot tell, it gives up and `validate` runs the other, which does.

use std::ops::Range;

use super::blocks::Classify;
use super::index::MemberIndex;
use super::runs::is_ws;
use super::structurals::Structurals;
use super::validate::{literal, number, Counts, Nesting, MAX_DEPTH};

/// The object or array at `start` validated (where it ends, what it holds) and its members
/// recorded in `index`; `None` when the text is not JSON there, or may not be (a control byte
/// or an invalid escape in a string of a block read, which may come after the value).
#[inline(never)]
pub fn validate<K: Classify>(
    t: &[u8],
    start: usize,
    index: &mut MemberIndex,
    k: K,
) -> Option<(usize, Counts)> {
    let mut s = Structurals::new(t, start, k);
    let mut stack = Nesting::default();
    // As in `validate`: whether the innermost open container is an object, and where the
    // objects open around the walk start, as deep as objects are indexed.
    let mut in_object = false;
    let mut objects = [0usize; MemberIndex::DEPTH];
    let mut values = 0;
    index.start(t);
    let mut at = s.next().ok()?;
    'value: loop {
        values += 1;
        // The position after the value, or the value's first member or element.
        let mut after = match t[at] {
            b'"' => {
                s.next().ok()?;
                s.next().ok()?
            }
            open @ (b'{' | b'[') => {
                in_object = open == b'{';
                stack.push(in_object);
                let depth = stack.depth();
                if depth > MAX_DEPTH {
                    return None;
                }
                if in_object {
                    if let Some(slot) = objects.get_mut(depth - 1) {
                        *slot = at;
                    }
                }
                let first = s.next().ok()?;
                let close = if in_object { b'}' } else { b']' };
                if t[first] != close {
                    at = if in_object {
                        let key = key(t, &mut s, first)?;
                        let value = s.next().ok()?;
                        index.record(depth, objects.get(depth - 1).copied(), key, value);
                        value
                    } else {
                        first
                    };
                    continue 'value;
                }
                first
            }
            b'-' | b'0'..=b'9' => scalar_end(t, &mut s, number(t, at).ok()?)?,
            b't' => scalar_end(t, &mut s, literal(t, at, b"true").ok()?)?,
            b'f' => scalar_end(t, &mut s, literal(t, at, b"false").ok()?)?,
            b'n' => scalar_end(t, &mut s, literal(t, at, b"null").ok()?)?,
            _ => return None,
        };
        // After a value (or at an empty container's end): close containers or move to the
        // next member or element.
        loop {
            match t[after] {
                b',' if in_object => {
                    let first = s.next().ok()?;
                    let key = key(t, &mut s, first)?;
                    at = s.next().ok()?;
                    let depth = stack.depth();
                    index.record(depth, objects.get(depth - 1).copied(), key, at);
                    continue 'value;
                }
                b',' => {
                    at = s.next().ok()?;
                    continue 'value;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            in_object = stack.pop();
            if stack.depth() == 0 {
                index.finish();
                return Some((after + 1, Counts { values }));
            }
            after = s.next().ok()?;
        }
    }
}

/// The key whose opening quote should be at `at`, and its colon: the key's content.
#[inline(always)]
fn key<K: Classify>(t: &[u8], s: &mut Structurals<'_, K>, at: usize) -> Option<Range<usize>> {
    if t[at] != b'"' {
        return None;
    }
    // The position after an opening quote is its closing quote.
    let close = s.next().ok()?;
    let colon = s.next().ok()?;
    (t[colon] == b':').then_some(at + 1..close)
}

/// The position after a number or literal that ends at `end`. Only whitespace may come
/// between: a byte that is neither whitespace nor structural right after whitespace is a
/// position itself, so whitespace at `end` means whitespace up to the position; what is not
/// whitespace at `end` is more of the same run (`12x`, `truex`), not JSON.
#[inline(always)]
fn scalar_end<K: Classify>(t: &[u8], s: &mut Structurals<'_, K>, end: usize) -> Option<usize> {
    let after = s.next().ok()?;
    (after == end || (end < after && is_ws(t[end]))).then_some(after)
}
