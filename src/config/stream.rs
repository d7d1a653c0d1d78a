//! Reads a JSON hooks file hook by hook, each handed on before the next is read. The usual
//! way, `each_hook`, reads each element of the top-level list straight into a `RawHook`, with
//! no tree in between (building one cost more than the rest of a load); `each_element` parses
//! each into a tree, for the exact reading of a file that `each_hook` cannot read. Either holds
//! one hook at a time instead of the whole document (5,000 hooks: a few KiB instead of
//! megabytes that the allocator keeps after the load).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::raw::RawHook;
use super::unknown_keys::{read_hook, Seen};

/// Calls `each(index, hook, seen)` for every element of `text`'s top-level JSON list, in order,
/// with what `Seen` says of it. `None` when any element cannot be read this way (any error, or
/// a construct only a tree reads exactly: see `unknown_keys`), or when `text` is not one JSON
/// list: the caller then reads it with `each_element`, and discards what `each` did.
pub(super) fn each_hook(text: &str, each: impl FnMut(usize, RawHook, Seen)) -> Option<()> {
    let mut de = serde_json::Deserializer::from_str(text);
    Hooks(each).deserialize(&mut de).ok()?;
    de.end().ok()
}

struct Hooks<F>(F);

impl<'de, F: FnMut(usize, RawHook, Seen)> DeserializeSeed<'de> for Hooks<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, RawHook, Seen)> Visitor<'de> for Hooks<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of hooks")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let mut seen = Seen::default();
            let Some(hook) = seq.next_element_seed(OneHook(&mut seen))? else {
                return Ok(());
            };
            (self.0)(index, hook, seen);
            index += 1;
        }
    }
}

/// One element of the list, read as a `RawHook` with its unknown keys noted.
struct OneHook<'s>(&'s mut Seen);

impl<'de> DeserializeSeed<'de> for OneHook<'_> {
    type Value = RawHook;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawHook, D::Error> {
        read_hook(PhantomData::<RawHook>, deserializer, self.0)
    }
}

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
