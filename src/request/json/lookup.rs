//! Finding values in a document: the reference's `GetParameter` (an exact key first, then
//! `head.rest`; arrays take a decimal index; looking inside a JSON `null` is an error, inside
//! anything else that has no such value "not found"), and the slot `parse-parameters-as-json`
//! replaces. A lookup reads only the objects and arrays on its path.

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

fn error(kind: ParamErrorKind, name: &str) -> ParamError {
    ParamError {
        kind,
        name: name.to_string(),
    }
}

fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    }
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

    /// The value `name` names below the payload, by the reference's rules.
    pub fn lookup(&self, name: &str) -> Result<Place, ParamError> {
        self.lookup_from(self.top(), name)
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
                    let mut exact = None;
                    let mut by_head = None;
                    for m in self.members(at) {
                        let key = &t[m.key_start..m.key_end];
                        if text::decodes_to(key, name) {
                            exact = Some(m.value);
                        } else if rest.is_some() && text::decodes_to(key, head) {
                            by_head = Some(m.value);
                        }
                    }
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

    /// The members of the object at `at`: the top-level object's from the index validation
    /// made, others read from the text.
    fn members(&self, at: usize) -> impl Iterator<Item = scan::Member> + '_ {
        let indexed = if at == self.root {
            self.root_index.members()
        } else {
            None
        };
        let (indexed, scanned) = match indexed {
            Some(members) => (Some(members), None),
            None => (None, Some(scan::members(&self.text, at))),
        };
        indexed
            .into_iter()
            .flatten()
            .chain(scanned.into_iter().flatten())
    }

    fn span(&self, start: usize) -> Located {
        Located {
            start,
            end: scan::skip(&self.text, start),
        }
    }
}
