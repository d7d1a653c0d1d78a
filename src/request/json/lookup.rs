//! Finding values in a document: the reference's `GetParameter` (an exact key first, then
//! `head.rest`; arrays take a decimal index; looking inside a JSON `null` is an error, inside
//! anything else that has no such value "not found"), and the slot `parse-parameters-as-json`
//! replaces. A lookup reads only the objects and arrays on its path.

use std::sync::Mutex;

use super::{scan, text, Document};
use crate::request::params::{ParamError, ParamErrorKind};

/// Where a value of a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The virtual object `{"root": ...}` around a top-level array.
    Wrapper,
    /// The value starting at this offset.
    At(usize),
}

/// The bytes a value spans, for replacing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub start: usize,
    pub end: usize,
}

/// The names a document's lookups found, and where: every value a request reads is looked up
/// twice, once to reserve the memory it takes and once to use it, and a lookup walks the
/// members of each object on the path (a few thousand instructions for a push event's
/// `repository.full_name`). A document never changes once built, so a place found stays right.
/// Holds at most [`Memo::MAX`] names (hooks read a handful) of at most [`Memo::LONGEST`]
/// bytes, each written with its place into one buffer (one allocation however many names); a
/// clone starts empty. Never waits: a memo another thread holds at that moment is skipped.
#[derive(Default)]
pub(super) struct Memo(Mutex<Found>);

#[derive(Default)]
struct Found {
    /// One record per name: its length (a byte), its place (8 bytes: the offset, or
    /// [`Found::WRAPPER`]), then the name.
    records: Vec<u8>,
    count: usize,
}

impl Found {
    const WRAPPER: u64 = u64::MAX;
    const HEAD: usize = 9;

    /// The record after the one at `at`, and the place of this one when its name is `name`.
    fn read(&self, at: usize, name: &[u8]) -> (usize, Option<Place>) {
        let len = usize::from(self.records[at]);
        let start = at + Self::HEAD;
        let next = start + len;
        if len != name.len() || self.records[start..next] != *name {
            return (next, None);
        }
        let mut place = [0u8; 8];
        place.copy_from_slice(&self.records[at + 1..start]);
        let place = match u64::from_le_bytes(place) {
            Self::WRAPPER => Place::Wrapper,
            at => Place::At(at as usize),
        };
        (next, Some(place))
    }
}

impl Memo {
    const MAX: usize = 16;
    /// The longest name remembered (the names hooks read are far shorter).
    const LONGEST: usize = u8::MAX as usize;
    /// Bytes of records the first one makes room for: a few names of usual length.
    const RECORDS: usize = 96;

    fn get(&self, name: &str) -> Option<Place> {
        let found = self.0.try_lock().ok()?;
        let mut at = 0;
        while at < found.records.len() {
            let (next, place) = found.read(at, name.as_bytes());
            if place.is_some() {
                return place;
            }
            at = next;
        }
        None
    }

    fn put(&self, name: &str, place: Place) {
        if name.len() > Self::LONGEST {
            return;
        }
        if let Ok(mut found) = self.0.try_lock() {
            if found.count < Self::MAX {
                let need = Found::HEAD + name.len();
                if found.records.capacity() == 0 {
                    // Room for the names a hook usually reads, so that they are not moved.
                    found.records.reserve(need.max(Self::RECORDS));
                }
                let place = match place {
                    Place::Wrapper => Found::WRAPPER,
                    Place::At(at) => at as u64,
                };
                found.records.push(name.len() as u8);
                found.records.extend_from_slice(&place.to_le_bytes());
                found.records.extend_from_slice(name.as_bytes());
                found.count += 1;
            }
        }
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

fn error(kind: ParamErrorKind, name: &str) -> ParamError {
    ParamError {
        kind,
        name: name.to_string(),
    }
}

/// `name` at its first dot. Found with `memchr`: `split_once('.')` sets up a char searcher per
/// call, and a lookup splits its name at every level.
fn split(name: &str) -> (&str, Option<&str>) {
    match memchr::memchr(b'.', name.as_bytes()) {
        Some(dot) => (&name[..dot], Some(&name[dot + 1..])),
        None => (name, None),
    }
}

/// [`Document::find_member`] over `members`.
fn find_key(
    t: &[u8],
    members: impl Iterator<Item = scan::Member>,
    name: &str,
    head: &str,
    by_head: bool,
) -> (Option<usize>, Option<usize>) {
    let mut exact = None;
    let mut head_value = None;
    for m in members {
        let key = &t[m.key_start..m.key_end];
        if text::decodes_to(key, name) {
            exact = Some(m.value);
        } else if by_head && text::decodes_to(key, head) {
            head_value = Some(m.value);
        }
    }
    (exact, head_value)
}

/// Go's `strconv.ParseUint(s, 10, 64)`: digits only.
pub fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Document {
    /// The payload itself.
    pub fn top(&self) -> Place {
        if self.wrapped {
            Place::Wrapper
        } else {
            Place::At(self.root)
        }
    }

    /// The value `name` names below the payload, by the reference's rules. A name found once
    /// is not searched for again (see [`Memo`]).
    pub fn lookup(&self, name: &str) -> Result<Place, ParamError> {
        if let Some(place) = self.found.get(name) {
            return Ok(place);
        }
        let place = self.lookup_from(self.top(), name)?;
        self.found.put(name, place);
        Ok(place)
    }

    /// The value `name` names below `place`.
    pub fn lookup_from(&self, mut place: Place, name: &str) -> Result<Place, ParamError> {
        let t: &[u8] = &self.text;
        let mut name = name;
        loop {
            let at = match place {
                Place::Wrapper => {
                    if name == "root" {
                        return Ok(Place::At(self.root));
                    }
                    match split(name) {
                        ("root", Some(rest)) => {
                            place = Place::At(self.root);
                            name = rest;
                            continue;
                        }
                        _ => return Err(error(ParamErrorKind::NotFound, name)),
                    }
                }
                Place::At(at) => at,
            };
            let (head, rest) = split(name);
            match t[at] {
                b'{' => {
                    let (exact, by_head) = self.find_member(at, name, head, rest.is_some());
                    match (exact, by_head, rest) {
                        (Some(v), _, _) => return Ok(Place::At(v)),
                        (None, Some(v), Some(rest)) => {
                            place = Place::At(v);
                            name = rest;
                        }
                        _ => return Err(error(ParamErrorKind::NotFound, name)),
                    }
                }
                b'[' => {
                    let item = parse_index(head)
                        .and_then(|i| scan::elements(t, at).nth(i))
                        .ok_or_else(|| error(ParamErrorKind::NotFound, name))?;
                    match rest {
                        Some(rest) => {
                            place = Place::At(item);
                            name = rest;
                        }
                        None => return Ok(Place::At(item)),
                    }
                }
                b'n' if !self.is_nil_map(at) => {
                    return Err(error(ParamErrorKind::NoParameters, name));
                }
                _ => return Err(error(ParamErrorKind::NotFound, name)),
            }
        }
    }

    /// The slot `parse-parameters-as-json` replaces for `name`: an existing key at each level
    /// (the exact name first), or an array index. `None` when there is none.
    pub fn locate_slot(&self, name: &str) -> Option<Located> {
        let t: &[u8] = &self.text;
        let mut object = self.top();
        let mut name = name;
        loop {
            let members: Vec<(bool, bool, usize)> = match object {
                Place::Wrapper => vec![(name == "root", split(name).0 == "root", self.root)],
                Place::At(at) if t[at] == b'{' => scan::members(t, at)
                    .map(|m| {
                        let key = &t[m.key_start..m.key_end];
                        let head = split(name).0;
                        (
                            text::decodes_to(key, name),
                            text::decodes_to(key, head),
                            m.value,
                        )
                    })
                    .filter(|(exact, head, _)| *exact || *head)
                    .collect(),
                Place::At(_) => return None,
            };
            if let Some(&(_, _, v)) = members.iter().rev().find(|(exact, _, _)| *exact) {
                return Some(self.span(v));
            }
            let (_, rest) = split(name);
            let rest = rest?;
            let &(_, _, v) = members.iter().rev().find(|(_, head, _)| *head)?;
            match t[v] {
                b'{' => {
                    object = Place::At(v);
                    name = rest;
                }
                b'[' => {
                    let (index, after) = split(rest);
                    let item = scan::elements(t, v).nth(parse_index(index)?)?;
                    match after {
                        None => return Some(self.span(item)),
                        Some(after) if t[item] == b'{' => {
                            object = Place::At(item);
                            name = after;
                        }
                        Some(_) => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// The values of the last member of the object at `at` whose key is `name`, and of the
    /// last whose key is `head` when `by_head` (Go keeps the last of duplicate keys). The
    /// members come from the index validation made when it holds them, from the text
    /// otherwise: one loop for each, rather than one loop over a chain of both, which costs
    /// a few instructions more per member.
    fn find_member(
        &self,
        at: usize,
        name: &str,
        head: &str,
        by_head: bool,
    ) -> (Option<usize>, Option<usize>) {
        match self.member_index.members_of(at, at == self.root) {
            Some(members) => find_key(&self.text, members, name, head, by_head),
            None => find_key(
                &self.text,
                scan::members(&self.text, at),
                name,
                head,
                by_head,
            ),
        }
    }

    fn span(&self, start: usize) -> Located {
        Located {
            start,
            end: scan::skip(&self.text, start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{test_doc as doc, Document};
    use super::{Memo, Place};

    fn remembered(doc: &Document) -> usize {
        doc.found.0.lock().unwrap().count
    }

    #[test]
    fn a_name_looked_up_again_finds_the_same_place() {
        let doc = doc(r#"{"a":{"b":1,"c":[2,{"d":3}]},"a.b":4,"e\u0066":5,"x":null,"a":{"b":6}}"#);
        let names = [
            "a", "a.b", "a.c", "a.c.1.d", "a.c.0", "ef", "x", "x.y", "nope", "a.zz", "a.b.c",
        ];
        let first: Vec<_> = names.iter().map(|n| doc.lookup(n)).collect();
        for _ in 0..3 {
            for (name, want) in names.iter().zip(&first) {
                assert_eq!(&doc.lookup(name), want, "{name}");
                assert_eq!(
                    &doc.lookup_from(doc.top(), name),
                    want,
                    "{name}: not what a walk finds"
                );
            }
        }
        // Only names that were found are remembered: "a" (its last duplicate, which has no
        // "c"), "a.b" (the exact key, not the last "a"'s 6), "ef" and "x".
        assert_eq!(remembered(&doc), 4);
        let exact = doc.lookup("a.b").unwrap();
        let Place::At(at) = exact else {
            panic!("a.b is in the object")
        };
        assert_eq!(doc.text()[at], b'4');
    }

    #[test]
    fn the_memo_keeps_places_of_any_kind_and_skips_long_names() {
        let long = "k".repeat(Memo::LONGEST + 1);
        let doc = doc(&format!(r#"[{{"{long}":1,"k":2}}]"#));
        assert_eq!(doc.lookup("root"), Ok(Place::At(0)));
        for _ in 0..2 {
            let name = format!("root.0.{long}");
            let Place::At(at) = doc.lookup(&name).unwrap() else {
                panic!("{name} is in the object")
            };
            assert_eq!(doc.text()[at], b'1');
            let Place::At(at) = doc.lookup("root.0.k").unwrap() else {
                panic!("root.0.k is in the object")
            };
            assert_eq!(doc.text()[at], b'2');
        }
        // "root" and "root.0.k"; the long name is found each time, not remembered.
        assert_eq!(remembered(&doc), 2);
    }

    #[test]
    fn the_memo_is_bounded_and_a_clone_starts_empty() {
        let members: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let doc = doc(&format!("{{{}}}", members.join(",")));
        for round in 0..2 {
            for i in 0..40 {
                let Place::At(at) = doc.lookup(&format!("k{i}")).unwrap() else {
                    panic!("k{i} is in the object")
                };
                let end = at + i.to_string().len();
                assert_eq!(
                    &doc.text()[at..end],
                    i.to_string().as_bytes(),
                    "round {round}"
                );
            }
        }
        assert_eq!(remembered(&doc), Memo::MAX);
        assert_eq!(remembered(&doc.clone()), 0);
    }
}
