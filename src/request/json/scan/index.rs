//! The member index: the members of objects, recorded by the validator as it passes them, so
//! that a lookup finds a key without walking the objects on its path.

use super::walk::Member;

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
    pub(super) fn start(&mut self, t: &[u8]) {
        if u32::try_from(t.len()).is_err() {
            self.top_seen = Self::MAX_MEMBERS + 1;
            self.nested_seen = Self::MAX_NESTED + 1;
        }
    }

    /// Records a member at `depth` of the object starting at `object` (`None`: too deep to
    /// index), whose key is `key` and whose value starts at `value`.
    #[inline(always)]
    pub(super) fn record(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::json::scan::{members, skip_string, skip_ws, validate_indexed};

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
}
