//! Documents hookrun writes itself: the payload of a form, a multipart body or an XML body as
//! one compact JSON object (strings escaped only where JSON requires it, see `text`). A later
//! member wins over an earlier one with the same key, as in any document; writers use that
//! instead of keeping a map of what they already wrote.

use bytes::Bytes;

use super::marshal::Style;
use super::{scan, text, Document, Located};

/// Writes one JSON object, member by member.
#[derive(Debug)]
pub struct ObjectWriter {
    out: Vec<u8>,
    members: usize,
    values: usize,
    nil_maps: Vec<usize>,
    raw_strings: bool,
}

impl ObjectWriter {
    /// `raw_strings`: the values are Go raw strings (forms, multipart), see `text`.
    pub fn new(raw_strings: bool) -> Self {
        ObjectWriter {
            out: vec![b'{'],
            members: 0,
            values: 1,
            nil_maps: Vec::new(),
            raw_strings,
        }
    }

    fn key(&mut self, key: &[u8]) {
        if self.members > 0 {
            self.out.push(b',');
        }
        self.members += 1;
        self.values += 1;
        text::write_internal(&mut self.out, key);
        self.out.push(b':');
    }

    /// A member holding a string.
    pub fn string(&mut self, key: &[u8], value: &[u8]) {
        self.key(key);
        text::write_internal(&mut self.out, value);
    }

    /// A member holding a JSON document's payload (which has no nil maps: only documents
    /// decoded from JSON text are embedded).
    pub fn document(&mut self, key: &[u8], doc: &Document) {
        self.key(key);
        doc.write(doc.top(), &mut self.out, Style::Compact);
        self.values += doc.values();
    }

    /// A member holding the reference's nil map.
    pub fn nil_map(&mut self, key: &[u8]) {
        self.key(key);
        self.nil_maps.push(self.out.len());
        self.out.extend_from_slice(b"null");
    }

    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    pub fn finish(mut self) -> Document {
        self.out.push(b'}');
        Document::built(
            Bytes::from(self.out),
            self.values,
            self.raw_strings,
            self.nil_maps,
        )
    }
}

impl Document {
    /// A document hookrun wrote: `text` is one object, valid JSON except that strings may
    /// hold raw control characters and invalid UTF-8.
    pub(crate) fn built(
        text: Bytes,
        values: usize,
        raw_strings: bool,
        mut nil_maps: Vec<usize>,
    ) -> Document {
        nil_maps.sort_unstable();
        Document {
            text,
            root: 0,
            wrapped: false,
            raw_strings,
            nil_maps,
            values,
            member_index: scan::MemberIndex::default(),
            found: super::lookup::Memo::default(),
        }
    }

    /// This document with the value at `slot` replaced by `replacement`'s payload (or by a nil
    /// map when `None`): `parse-parameters-as-json`.
    pub fn replaced(&self, slot: Located, replacement: Option<&Document>) -> Document {
        let t: &[u8] = &self.text;
        let mut out = Vec::with_capacity(t.len());
        out.extend_from_slice(&t[..slot.start]);
        let mut nil_maps: Vec<usize> = self
            .nil_maps
            .iter()
            .copied()
            .filter(|&at| at < slot.start)
            .collect();
        let mut values = self.values;
        match replacement {
            Some(doc) => {
                doc.write(doc.top(), &mut out, Style::Compact);
                values += doc.values();
            }
            None => {
                nil_maps.push(out.len());
                out.extend_from_slice(b"null");
            }
        }
        // Nil maps after the slot move by the difference in length.
        let (old_end, new_end) = (slot.end, out.len());
        nil_maps.extend(
            self.nil_maps
                .iter()
                .filter(|&&at| at >= old_end)
                .map(|&at| at + new_end - old_end),
        );
        out.extend_from_slice(&t[slot.end..]);
        // The slot lies inside the payload: the payload still starts where it did.
        let mut doc = Document::built(Bytes::from(out), values, self.raw_strings, nil_maps);
        doc.root = self.root;
        doc.wrapped = self.wrapped;
        doc
    }
}
