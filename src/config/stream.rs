//! Reads a JSON hooks file hook by hook: each element of the top-level list is parsed into a
//! tree and handed on before the next is read, so loading a big file holds one hook's tree at
//! a time instead of the whole document's (5,000 hooks: a few KiB instead of megabytes that
//! the allocator keeps after the load).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

/// Calls `each(index, element)` for every element of `text`'s top-level JSON list, in order.
/// `None` when `text` is not one JSON list (another JSON value, YAML, a syntax error anywhere,
/// even after elements were handed on): the caller then reads it as a whole document, and
/// discards what `each` did.
pub(super) fn each_element(text: &str, each: impl FnMut(usize, &Value)) -> Option<()> {
    // As serde_json::from_str: the same parser, recursion limit and trailing-input check.
    let mut de = serde_json::Deserializer::from_str(text);
    Elements(each).deserialize(&mut de).ok()?;
    de.end().ok()
}

struct Elements<F>(F);

impl<'de, F: FnMut(usize, &Value)> DeserializeSeed<'de> for Elements<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, &Value)> Visitor<'de> for Elements<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of hooks")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(element) = seq.next_element::<Value>()? {
            (self.0)(index, &element);
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(text: &str) -> Option<Vec<(usize, Value)>> {
        let mut seen = Vec::new();
        each_element(text, |i, v| seen.push((i, v.clone())))?;
        Some(seen)
    }

    #[test]
    fn hands_on_each_element_of_a_list_in_order() {
        let seen = elements(r#" [ {"id": "a", "n": 1.50}, 7, [1, {"x": null}] ] "#).unwrap();
        let want: Vec<Value> =
            serde_json::from_str(r#"[{"id": "a", "n": 1.50}, 7, [1, {"x": null}]]"#).unwrap();
        assert_eq!(seen, want.into_iter().enumerate().collect::<Vec<_>>());
        assert_eq!(elements("[]"), Some(vec![]));
    }

    #[test]
    fn anything_but_one_json_list_is_left_to_the_whole_document_reader() {
        for text in [
            "",
            "null",
            r#"{"id": "a"}"#,
            "- id: a\n  execute-command: /bin/true\n",
            r#"[{"id": "a"}, {"id": "b""#,
            r#"[{"id": "a"}] [{"id": "b"}]"#,
            r#"[{"id": "a"},]"#,
        ] {
            assert_eq!(elements(text), None, "{text:?}");
        }
    }
}
