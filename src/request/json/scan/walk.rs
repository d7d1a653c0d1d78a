//! Walking text that is known to be valid: skipping a value, the members of an object, the
//! elements of an array, and the ends of a value's containers found in one pass ([`Ends`]).

use super::runs::{is_ws, skip_string, skip_ws};

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
        self.i = next_item(t, value, self.ends);
        Some(member)
    }
}

/// Where the item after the value at `value` of an object or array starts, or the text's
/// length when that value is the last: its end (from `ends` when given, else scanned), then
/// past the whitespace and the comma.
#[inline(always)]
fn next_item(t: &[u8], value: usize, ends: Option<&Ends>) -> usize {
    let end = match ends {
        Some(ends) => ends.skip(t, value),
        None => skip(t, value),
    };
    let after = skip_ws(t, end);
    if t.get(after) == Some(&b',') {
        skip_ws(t, after + 1)
    } else {
        t.len()
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
        self.i = next_item(t, at, self.ends);
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
