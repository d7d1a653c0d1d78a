//! JSONPath payload names (`$...`, a hookrun extension) over a document. jsonpath-rust queries
//! a tree, so one is built for the query: strings and numbers borrow the document's text where
//! they can, every node remembers where it came from, and a result is rendered from the
//! document itself, so numbers reach commands as the text the client sent, as everywhere else.

use std::borrow::Cow;

use jsonpath_rust::query::queryable::Queryable;

use super::json::scan::{self, Ends, Indexed};
use super::json::{text, Document, Place};

/// Trees deeper than this are not built (jsonpath-rust and dropping a tree recurse).
const MAX_DEPTH: usize = 128;

/// What a tree node costs in memory, for pricing a query before it runs (with where it ends, if
/// it is an object or an array).
pub const NODE_COST: usize =
    std::mem::size_of::<Node>() + std::mem::size_of::<Cow<str>>() + Ends::SPAN_COST;

/// One value of the tree, and where it starts in the document (`None` for values a query
/// makes up, such as the literals it compares with).
#[derive(Debug, Clone, Default)]
pub struct Node<'a> {
    value: Kind<'a>,
    at: Option<usize>,
}

#[derive(Debug, Clone, Default)]
enum Kind<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Sorted by key, the last of duplicates kept (how the payload's objects read).
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Why a query found nothing to return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("payload nested deeper than {MAX_DEPTH} levels cannot be queried with JSONPath")]
    TooDeep,
    #[error("no value matches")]
    NoMatch,
}

/// The values `query` selects in `doc`, rendered: one value as the reference renders a payload
/// value, several as a JSON array.
pub fn select(
    query: &jsonpath_rust::parser::model::JpQuery,
    doc: &Document,
) -> Result<String, QueryError> {
    // Where every object and array ends, so that building reads each byte once.
    let payload = match doc.top() {
        Place::Wrapper => doc.lookup("root").ok(),
        top => Some(top),
    };
    let ends = match payload {
        Some(Place::At(at)) => Ends::of(doc.text(), at, Indexed::All),
        _ => Ends::default(),
    };
    let tree = build(doc, &ends, doc.top(), 0).ok_or(QueryError::TooDeep)?;
    let found =
        jsonpath_rust::query::js_path_process(query, &tree).map_err(|_| QueryError::NoMatch)?;
    let places: Vec<Place> = found
        .iter()
        .map(|r| r.val.at.map_or(Place::Wrapper, Place::At))
        .collect();
    match places.as_slice() {
        [] => Err(QueryError::NoMatch),
        [one] => Ok(doc.render(*one)),
        many => {
            let mut out = Vec::from(*b"[");
            for (i, place) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                doc.write(*place, &mut out, super::json::Style::Marshal);
            }
            out.push(b']');
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

fn build<'a>(doc: &'a Document, ends: &Ends, place: Place, depth: usize) -> Option<Node<'a>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let t = doc.text();
    let at = match place {
        Place::Wrapper => {
            let root = doc.lookup("root").ok()?;
            let inner = build(doc, ends, root, depth + 1)?;
            return Some(Node {
                value: Kind::Object(vec![(Cow::Borrowed("root"), inner)]),
                at: None,
            });
        }
        Place::At(at) => at,
    };
    let value = match t[at] {
        b'{' => {
            let mut members = Vec::new();
            for m in scan::members_with(t, at, ends) {
                let key = text::decode(&t[m.key_start..m.key_end]);
                members.push((key, build(doc, ends, Place::At(m.value), depth + 1)?));
            }
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(Cow<str>, Node)> = Vec::with_capacity(members.len());
            for member in members {
                if kept.last().is_some_and(|last| last.0 == member.0) {
                    kept.pop();
                }
                kept.push(member);
            }
            Kind::Object(kept)
        }
        b'[' => Kind::Array(
            scan::elements_with(t, at, ends)
                .map(|item| build(doc, ends, Place::At(item), depth + 1))
                .collect::<Option<_>>()?,
        ),
        b'"' => Kind::String(text::decode(&t[at + 1..scan::skip_string(t, at) - 1])),
        b't' => Kind::Bool(true),
        b'f' => Kind::Bool(false),
        b'n' => Kind::Null,
        _ => Kind::Number(
            std::str::from_utf8(&t[at..scan::skip(t, at)])
                .map(Cow::Borrowed)
                .unwrap_or_default(),
        ),
    };
    Some(Node {
        value,
        at: Some(at),
    })
}

fn made(value: Kind<'static>) -> Node<'static> {
    Node { value, at: None }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (&self.value, &other.value) {
            (Kind::Null, Kind::Null) => true,
            (Kind::Bool(a), Kind::Bool(b)) => a == b,
            (Kind::Number(a), Kind::Number(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            },
            (Kind::String(a), Kind::String(b)) => a == b,
            (Kind::Array(a), Kind::Array(b)) => a == b,
            (Kind::Object(a), Kind::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl From<&str> for Node<'_> {
    fn from(s: &str) -> Self {
        made(Kind::String(Cow::Owned(s.to_string())))
    }
}

impl From<String> for Node<'_> {
    fn from(s: String) -> Self {
        made(Kind::String(Cow::Owned(s)))
    }
}

impl From<bool> for Node<'_> {
    fn from(b: bool) -> Self {
        made(Kind::Bool(b))
    }
}

impl From<i64> for Node<'_> {
    fn from(n: i64) -> Self {
        made(Kind::Number(Cow::Owned(n.to_string())))
    }
}

impl From<f64> for Node<'_> {
    fn from(n: f64) -> Self {
        made(Kind::Number(Cow::Owned(n.to_string())))
    }
}

impl<'a> From<Vec<Node<'a>>> for Node<'a> {
    fn from(items: Vec<Node<'a>>) -> Self {
        Node {
            value: Kind::Array(items),
            at: None,
        }
    }
}

impl<'a> Queryable for Node<'a> {
    fn get(&self, key: &str) -> Option<&Self> {
        match &self.value {
            Kind::Object(members) => members
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &members[i].1),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&Vec<Self>> {
        match &self.value {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<Vec<(&str, &Self)>> {
        match &self.value {
            Kind::Object(members) => Some(members.iter().map(|(k, v)| (k.as_ref(), v)).collect()),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match &self.value {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Kind::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Kind::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Kind::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn null() -> Self {
        Node::default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::request::json::Decoded;

    fn query(body: &str, path: &str) -> Result<String, QueryError> {
        let Ok(Decoded::Payload(doc)) = Document::decode_body(Bytes::from(body.to_string())) else {
            panic!("not a payload: {body}");
        };
        let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
        select(&query, &doc)
    }

    #[test]
    fn selects_and_renders_from_the_document() {
        let body = r#"{"events":[{"action":"push","tag":"v1","n":1e3},{"action":"pull","tag":"v0"},{"action":"push","tag":"v2","n":1.50}]}"#;
        let cases = [
            ("$.events[?(@.action=='push')].tag", r#"["v1","v2"]"#),
            ("$.events[0].tag", "v1"),
            ("$.events[0].n", "1e3"),
            ("$.events[?(@.n > 100)].tag", "v1"),
            ("$.events[?(@.n == 1.5)].n", "1.50"),
            ("$.events[1]", r#"{"action":"pull","tag":"v0"}"#),
        ];
        for (path, want) in cases {
            assert_eq!(query(body, path).as_deref(), Ok(want), "{path}");
        }
        assert_eq!(query(body, "$.nothing"), Err(QueryError::NoMatch));
        assert_eq!(
            query(r#"[{"a":"<x>"}]"#, "$.root[0]").as_deref(),
            Ok(r#"{"a":"\u003cx\u003e"}"#)
        );
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            query(&format!("{{\"d\":{deep}}}"), "$.d"),
            Err(QueryError::TooDeep)
        );
    }
}
