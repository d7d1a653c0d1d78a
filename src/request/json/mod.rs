//! Payloads as JSON documents read in place. A JSON body is validated once and then read
//! where it lies: a lookup walks only the path it names, numbers stay the text the client sent,
//! and nothing is allocated per value, so a parse costs nothing beyond the body however many
//! values it holds (a `serde_json::Value` tree costs up to 40 times the body). Forms, multipart
//! bodies and XML are converted into a compact document of the same kind (`build`), so every
//! payload is read, rendered and priced by the same code.
//!
//! The reference's semantics: Go's decoder (`UseNumber`, last duplicate key wins, lenient
//! strings, depth 10,000), `GetParameter` lookups (`lookup`), `json.Marshal` rendering
//! (`marshal`), and the nil maps a multipart JSON file or a `null` parsed as JSON leave behind.

mod build;
#[cfg(test)]
mod differential;
mod lookup;
mod marshal;
pub(crate) mod scan;
pub(crate) mod text;

use bytes::Bytes;

pub use build::ObjectWriter;
pub use lookup::{Located, Place};
pub use marshal::Style;
pub use scan::SyntaxError;

/// A validated JSON document whose payload is an object (or, for a top-level array, the
/// reference's `{"root": [...]}`).
#[derive(Debug, Clone)]
pub struct Document {
    text: Bytes,
    /// Where the payload value starts.
    root: usize,
    /// A top-level array, read as the only member `root` of an object.
    wrapped: bool,
    /// Strings hold Go raw strings (forms, multipart values): see `text`.
    raw_strings: bool,
    /// Offsets of `null`s that stand for the reference's nil maps: rendered as `null`, holding
    /// nothing, and (unlike a JSON `null`) not an error to look inside.
    nil_maps: Vec<usize>,
    /// Values in the document, for pricing trees built from it.
    values: usize,
    /// The members of objects, as far as validation recorded them.
    member_index: scan::MemberIndex,
    /// Names found before: a request reads a value at least twice (to price it, then to use it).
    found: lookup::Memo,
}

/// Why a body is not a JSON payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("cannot use a JSON {0} as the payload")]
    NotAnObject(&'static str),
    #[error("a JSON document over 4 GiB is not read")]
    TooLarge,
}

/// What the first JSON value of a text is.
#[derive(Debug)]
pub enum Decoded {
    /// An object (or a top-level array, when arrays are wrapped).
    Payload(Document),
    /// `null`: the reference's nil map.
    Null,
}

impl Document {
    /// A JSON body, as the reference decodes it: the first value (trailing data ignored); a
    /// top-level array becomes `{"root": [...]}`; `null` is no payload; other values fail.
    pub fn decode_body(body: Bytes) -> Result<Decoded, JsonError> {
        Self::decode(body, true)
    }

    /// The first JSON value of `text`, which must be an object (or `null`): a multipart JSON
    /// file, a value named by `parse-parameters-as-json`.
    pub fn decode_object(text: Bytes) -> Result<Decoded, JsonError> {
        Self::decode(text, false)
    }

    fn decode(text: Bytes, wrap_arrays: bool) -> Result<Decoded, JsonError> {
        if u32::try_from(text.len()).is_err() {
            return Err(JsonError::TooLarge);
        }
        let root = scan::skip_ws(&text, 0);
        let mut member_index = scan::MemberIndex::default();
        let (_, counts) = scan::validate_indexed(&text, root, &mut member_index)?;
        let kind = match text[root] {
            b'{' => None,
            b'[' if wrap_arrays => None,
            b'n' => return Ok(Decoded::Null),
            b'[' => Some("array"),
            b'"' => Some("string"),
            b't' | b'f' => Some("boolean"),
            _ => Some("number"),
        };
        if let Some(kind) = kind {
            return Err(JsonError::NotAnObject(kind));
        }
        Ok(Decoded::Payload(Document {
            wrapped: text[root] == b'[',
            text,
            root,
            raw_strings: false,
            nil_maps: Vec::new(),
            values: counts.values,
            member_index,
            found: lookup::Memo::default(),
        }))
    }

    /// The document's text (for a wrapped array, without the virtual wrapper).
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// How many values the document holds.
    pub fn values(&self) -> usize {
        self.values
    }

    fn is_nil_map(&self, at: usize) -> bool {
        self.nil_maps.binary_search(&at).is_ok()
    }
}

/// The document of a JSON payload `text`, for tests.
#[cfg(test)]
fn test_doc(text: &str) -> Document {
    match Document::decode_body(Bytes::from(text.to_string())) {
        Ok(Decoded::Payload(doc)) => doc,
        other => panic!("not a payload: {text}: {other:?}"),
    }
}
