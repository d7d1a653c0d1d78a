//! Header and query values as hooks see them: canonical name → first value, or the JSON
//! object `parse-parameters-as-json` read from it.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use http::{header, HeaderMap};

use crate::config::canonical_header_key;

use super::json::{text, Document};
use super::params::{ParamError, ParamErrorKind};

/// One header or query value.
#[derive(Debug, Clone)]
pub enum Field {
    Text(String),
    /// Replaced by the JSON object it held.
    Json(Document),
    /// Replaced by the JSON `null` it held: the reference's nil map.
    NilMap,
}

/// Names to values, sorted byte-wise as Go's `json.Marshal` sorts map keys.
#[derive(Debug, Clone, Default)]
pub struct Fields(BTreeMap<String, Field>);

impl Fields {
    /// Adds `value` under `name` unless the name already has one (the first value wins).
    pub fn insert_first(&mut self, name: String, value: String) {
        self.0.entry(name).or_insert(Field::Text(value));
    }

    /// The text of `name`, if it is plain text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Field::Text(t)) => Some(t),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Field)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The reference's `GetParameter` on a map of values: the exact name first, then
    /// `head.rest` into a value that was parsed as JSON.
    pub fn get(&self, name: &str) -> Result<String, ParamError> {
        if let Some(field) = self.0.get(name) {
            return Ok(match field {
                Field::Text(t) => t.clone(),
                Field::Json(doc) => doc.marshal(),
                Field::NilMap => "null".to_string(),
            });
        }
        let not_found = || ParamError {
            kind: ParamErrorKind::NotFound,
            name: name.to_string(),
        };
        let (head, rest) = name.split_once('.').ok_or_else(not_found)?;
        match self.0.get(head) {
            Some(Field::Json(doc)) => doc.lookup(rest).map(|place| doc.render(place)),
            _ => Err(not_found()),
        }
    }

    /// The slot `name` names for `parse-parameters-as-json`: a whole value, or one inside a
    /// value already parsed. Returns whether something was replaced.
    pub fn replace(&mut self, name: &str, parsed: Option<&Document>) -> bool {
        let new = || parsed.map_or(Field::NilMap, |doc| Field::Json(doc.clone()));
        if let Some(slot) = self.0.get_mut(name) {
            *slot = new();
            return true;
        }
        let Some((head, rest)) = name.split_once('.') else {
            return false;
        };
        match self.0.get_mut(head) {
            Some(Field::Json(doc)) => match doc.locate_slot(rest) {
                Some(slot) => {
                    *doc = doc.replaced(slot, parsed);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// The map as `json.Marshal` writes it (`entire-headers`, `entire-query`).
    pub fn marshal(&self) -> String {
        let mut out = Vec::from(*b"{");
        for (i, (name, field)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, name.as_bytes());
            out.push(b':');
            match field {
                Field::Text(t) => write_str(&mut out, t.as_bytes()),
                Field::Json(doc) => out.extend_from_slice(doc.marshal().as_bytes()),
                Field::NilMap => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A request's headers as hooks see them ([`Fields`] of canonical names, Go's header map),
/// built from the request's own header map the first time something reads them. Most hooks'
/// rules read only the payload, or nothing: building the map of canonical names and their
/// values took a dozen allocations per request.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    raw: HeaderMap,
    fields: OnceLock<Fields>,
}

impl Headers {
    /// The headers of a request, as hyper parsed them (lower-case names).
    pub fn new(raw: HeaderMap) -> Self {
        Headers {
            raw,
            fields: OnceLock::new(),
        }
    }

    /// The request's own header map, emptied, with its room kept. hyper hands the header map of
    /// a response to the next request on its connection, so a response whose headers are
    /// written into this one allocates none, and the map goes round the connection.
    pub fn into_empty_map(self) -> HeaderMap {
        let mut raw = self.raw;
        raw.clear();
        raw
    }

    fn fields(&self) -> &Fields {
        self.fields.get_or_init(|| {
            let mut fields = Fields::default();
            for (name, value) in &self.raw {
                if name == header::HOST || name == header::TRANSFER_ENCODING {
                    continue; // Go moves Host and Transfer-Encoding out of the header map.
                }
                fields.insert_first(
                    canonical_header_key(name.as_str()),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                );
            }
            fields
        })
    }
}

/// Headers given as they are read (tests, requests built by hand).
impl From<Fields> for Headers {
    fn from(fields: Fields) -> Self {
        Headers {
            raw: HeaderMap::new(),
            fields: OnceLock::from(fields),
        }
    }
}

impl Deref for Headers {
    type Target = Fields;

    fn deref(&self) -> &Fields {
        self.fields()
    }
}

impl DerefMut for Headers {
    fn deref_mut(&mut self) -> &mut Fields {
        self.fields();
        self.fields.get_mut().expect("the fields were just built")
    }
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let mut escaped = Vec::with_capacity(s.len() + 2);
    text::write_internal(&mut escaped, s);
    text::write_marshal(out, &escaped[1..escaped.len() - 1], false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_header_map_keeps_its_room_and_nothing_else() {
        let mut raw = HeaderMap::new();
        raw.insert(header::HOST, "example.org".parse().expect("a value"));
        raw.insert("x-token", "secret".parse().expect("a value"));
        let headers = Headers::new(raw);
        assert_eq!(headers.text("X-Token"), Some("secret"));
        let room = headers.raw.capacity();
        let map = headers.into_empty_map();
        assert!(map.is_empty());
        assert_eq!(map.capacity(), room);
    }
}
