//! Path-tracking read access to a parsed payload: every failed lookup names the provider and the
//! JSON path (`events[2].target.tag`). Reads only; knows no provider's format.

use serde_json::Value;

use super::image_ref::shown;
use super::{EventError, Provider};

/// A value read from the payload together with the JSON path it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced {
    pub value: String,
    pub path: String,
}

impl Sourced {
    pub fn new(value: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            path: path.into(),
        }
    }
}

/// A JSON value and its path in the payload.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub value: &'a Value,
    pub path: String,
    pub provider: Provider,
}

impl<'a> Node<'a> {
    pub fn root(provider: Provider, value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
            provider,
        }
    }

    fn child(&self, value: &'a Value, path: String) -> Node<'a> {
        Node {
            value,
            path,
            provider: self.provider,
        }
    }

    /// The path of `key` below this node.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// `key` when present and not null.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(self.child(value, self.path_of(key))),
        }
    }

    /// `key`, which must be present and not null.
    pub fn field(&self, key: &str) -> Result<Node<'a>, EventError> {
        self.get(key).ok_or_else(|| EventError::Missing {
            provider: self.provider,
            path: self.path_of(key),
        })
    }

    /// Whether `key` is present (even if null).
    pub fn has(&self, key: &str) -> bool {
        self.value.get(key).is_some()
    }

    /// An error saying this node should have been `expected`.
    pub fn wrong_type(&self, expected: &'static str) -> EventError {
        EventError::WrongType {
            provider: self.provider,
            path: self.path.clone(),
            expected,
        }
    }

    /// This node as a string.
    pub fn as_str(&self) -> Result<&'a str, EventError> {
        self.value
            .as_str()
            .ok_or_else(|| self.wrong_type("a string"))
    }

    /// `key` as a string, which must be present.
    pub fn string(&self, key: &str) -> Result<Sourced, EventError> {
        let node = self.field(key)?;
        Ok(Sourced::new(node.as_str()?, node.path))
    }

    /// `key` as a string; missing, null and empty all mean `None`.
    pub fn opt_string(&self, key: &str) -> Result<Option<Sourced>, EventError> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        let value = node.as_str()?;
        Ok((!value.is_empty()).then(|| Sourced::new(value, node.path)))
    }

    /// `key` as a string when it is one; anything else is `None`. For informational fields
    /// (actor, ids) whose absence or odd type must not fail a delivery.
    pub fn lenient_str(&self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// The elements of this node, which must be an array, with their paths.
    pub fn items(&self) -> Result<Vec<Node<'a>>, EventError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong_type("an array"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| self.child(value, format!("{}[{i}]", self.path)))
            .collect())
    }

    /// The keys of this node, which must be an object, with each key's path. Keys come from the
    /// sender, so their paths quote them escaped: `updated_tags["latest"]`.
    pub fn keys(&self) -> Result<Vec<(&'a str, String)>, EventError> {
        let object = self
            .value
            .as_object()
            .ok_or_else(|| self.wrong_type("an object"))?;
        Ok(object
            .keys()
            .map(|key| (key.as_str(), format!("{}[{}]", self.path, shown(key))))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_nested_fields_and_indexes() {
        let value = json!({"events": [{"target": {"tag": 5}}, {"target": {"tag": ""}}]});
        let root = Node::root(Provider::Distribution, &value);
        let events = root
            .field("events")
            .expect("present")
            .items()
            .expect("array");
        let target = events[0].field("target").expect("present");
        let err = target.string("tag").expect_err("not a string");
        assert_eq!(
            err.to_string(),
            "distribution event: field events[0].target.tag must be a string"
        );
        let empty = events[1].field("target").expect("present");
        assert_eq!(empty.opt_string("tag").expect("string"), None);
        let err = empty.string("digest").expect_err("missing");
        assert_eq!(
            err.to_string(),
            "distribution event: missing field events[1].target.digest"
        );
    }

    #[test]
    fn null_counts_as_missing() {
        let value = json!({"repository": null});
        let root = Node::root(Provider::Gitea, &value);
        assert!(root.get("repository").is_none());
        assert!(root.has("repository"));
        assert!(root.field("repository").is_err());
        assert_eq!(root.lenient_str("repository"), None);
    }

    #[test]
    fn wrong_container_types_are_reported() {
        let value = json!({"a": "x"});
        let node = Node::root(Provider::Quay, &value)
            .field("a")
            .expect("present");
        assert!(node.items().is_err());
        assert!(node.keys().is_err());
    }
}
