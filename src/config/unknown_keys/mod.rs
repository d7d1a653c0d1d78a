//! Finds the keys a hook's `Deserialize` impls ignore while they read straight from the parser,
//! without a tree: a deserializer adapter (`Tracked`) that passes every call on and keeps the
//! path of the value being read as a chain of borrowed steps on the stack, so that it allocates
//! only for a key it reports. `serde_ignored`, which the exact reading of a hook that cannot be
//! read uses (`validate`), copies every key of the file into a `String` to the same end.
//!
//! Anything this adapter cannot follow exactly is an error, so that the caller reads the file
//! the exact way instead: a value read as an enum, a JSON number read as a map by a visitor that
//! expects an object (a tree hands such a visitor a number), a list where a hook should be.
//!
//! Maps' keys (borrowed or copied, and the values skipped under them) are in `tracked_map`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

use super::keys::{Step, UnknownKey};
use tracked_map::{Key, KeySeed, KeyText, Skip, TrackedMap};

/// What reading one hook saw, besides the hook.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// The keys no struct knows, in the order of their paths (as a tree's sorted maps give
    /// them), each once.
    pub unknown: Vec<UnknownKey>,
    /// Whether the hook's `id` was written as a string: only then does it name the hook in
    /// problems (`"id": 42` reads as "42", but the hook is `#3` there, as in a tree's reading).
    pub id_is_text: bool,
}

impl Seen {
    /// Orders the unknown keys as a tree's reading reports them, without repeats (a key written
    /// twice in one object is one key of the tree).
    pub fn finish(&mut self) {
        self.unknown.sort_by(|a, b| full_path(a).cmp(full_path(b)));
        self.unknown.dedup();
    }
}

/// A key's path from the hook, the key included, in an order that compares like the paths.
fn full_path(key: &UnknownKey) -> impl Iterator<Item = StepOrd<'_>> {
    key.at
        .iter()
        .map(|step| match step {
            Step::Key(k) => StepOrd::Key(k),
            Step::Index(i) => StepOrd::Index(*i),
        })
        .chain([StepOrd::Key(&key.key)])
}

/// One step, ordered as a tree visits it: keys as `String`s sort, items by index.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum StepOrd<'a> {
    Key(&'a str),
    Index(usize),
}

/// serde_json's key for a number read as a map (`arbitrary_precision`).
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Where the value being read is, from the hook.
#[derive(Clone, Copy)]
enum Path<'a> {
    Hook,
    Key { parent: &'a Path<'a>, key: &'a str },
    Index { parent: &'a Path<'a>, index: usize },
}

impl Path<'_> {
    fn steps(&self, out: &mut Vec<Step>) {
        match *self {
            Path::Hook => {}
            Path::Key { parent, key } => {
                parent.steps(out);
                out.push(Step::Key(key.to_string()));
            }
            Path::Index { parent, index } => {
                parent.steps(out);
                out.push(Step::Index(index));
            }
        }
    }

    fn is_hook_id(&self) -> bool {
        matches!(
            self,
            Path::Key {
                parent: Path::Hook,
                key: "id"
            }
        )
    }
}

/// Reads one hook with `seed` from `de`, noting in `seen` what `Seen` describes.
pub(super) fn read_hook<'de, T, D>(seed: T, de: D, seen: &mut Seen) -> Result<T::Value, D::Error>
where
    T: DeserializeSeed<'de>,
    D: Deserializer<'de>,
{
    let value = seed.deserialize(Tracked {
        de,
        path: &Path::Hook,
        seen: &mut *seen,
    })?;
    seen.finish();
    Ok(value)
}

/// A deserializer that reports the keys its visitors ignore.
struct Tracked<'a, D> {
    de: D,
    path: &'a Path<'a>,
    seen: &'a mut Seen,
}

/// A visitor whose maps and lists are read through `Tracked` too.
struct Wrap<'a, V> {
    visitor: V,
    path: &'a Path<'a>,
    seen: &'a mut Seen,
}

/// A seed whose value is read through `Tracked`.
struct TrackedSeed<'a, S> {
    seed: S,
    path: &'a Path<'a>,
    seen: &'a mut Seen,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TrackedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Tracked {
            de,
            path: self.path,
            seen: self.seen,
        })
    }
}

/// The methods of `Deserializer` that hand the inner deserializer the visitor as `split` wraps
/// it.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            let (de, visitor) = self.split(visitor);
            de.$method($($arg,)* visitor)
        }
    )*};
}

/// Every method of `Deserializer` but `deserialize_ignored_any` and `is_human_readable`.
macro_rules! deserializer_methods {
    () => {
        forward_deserialize! {
            deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16()
            deserialize_i32() deserialize_i64() deserialize_i128() deserialize_u8()
            deserialize_u16() deserialize_u32() deserialize_u64() deserialize_u128()
            deserialize_f32() deserialize_f64() deserialize_char() deserialize_str()
            deserialize_string() deserialize_bytes() deserialize_byte_buf()
            deserialize_option() deserialize_unit() deserialize_seq() deserialize_map()
            deserialize_identifier()
            deserialize_unit_struct(name: &'static str)
            deserialize_newtype_struct(name: &'static str)
            deserialize_tuple(len: usize)
            deserialize_tuple_struct(name: &'static str, len: usize)
            deserialize_struct(name: &'static str, fields: &'static [&'static str])
            deserialize_enum(name: &'static str, variants: &'static [&'static str])
        }
    };
}

impl<'a, D> Tracked<'a, D> {
    fn split<V>(self, visitor: V) -> (D, Wrap<'a, V>) {
        let wrap = Wrap {
            visitor,
            path: self.path,
            seen: self.seen,
        };
        (self.de, wrap)
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tracked<'_, D> {
    type Error = D::Error;

    deserializer_methods!();

    /// An ignored value: reported when it is a key's, then read as a tree reads it (with the
    /// parser's nesting limit, which `deserialize_ignored_any` skips past).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        if let Path::Key { parent, key } = *self.path {
            if key == JSON_NUMBER_TOKEN {
                return Err(de::Error::custom("a number where an object was expected"));
            }
            let mut at = Vec::new();
            parent.steps(&mut at);
            self.seen.unknown.push(UnknownKey {
                at,
                key: key.to_string(),
            });
        }
        self.de.deserialize_any(Skip)?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Visits every `visit_*` method of `Visitor` that only passes its argument on.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.visitor.$method(v)
        }
    )*};
}

// Declared after the macros it uses (`deserializer_methods!`).
mod tracked_map;

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_bytes(&[u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.seen.id_is_text |= self.path.is_hook_id();
        self.visitor.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.seen.id_is_text |= self.path.is_hook_id();
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.seen.id_is_text |= self.path.is_hook_id();
        self.visitor.visit_string(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.visitor.visit_borrowed_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Tracked {
            de,
            path: self.path,
            seen: self.seen,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Tracked {
            de,
            path: self.path,
            seen: self.seen,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        // A struct also reads from a list (its fields in order); a tree's reading refuses a
        // hook that is not an object before that.
        if matches!(self.path, Path::Hook) {
            return Err(de::Error::custom("a hook must be an object"));
        }
        self.visitor.visit_seq(TrackedSeq {
            seq,
            path: self.path,
            seen: self.seen,
            index: 0,
        })
    }

    /// A map, or a number that `deserialize_any` hands on as a map of one key
    /// (`arbitrary_precision`). A tree holds that number as a `Number` and hands it on as
    /// `Number` does, `-0` as the integer 0, `1.5` as a float: the number is handed on the same
    /// way here.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V::Value, A::Error> {
        let mut key = Key::None;
        let first = map.next_key_seed(KeySeed {
            seed: KeyText,
            key: &mut key,
        })?;
        if first.is_some() && key.as_str() == JSON_NUMBER_TOKEN {
            let literal: String = map.next_value()?;
            let number: serde_json::Number = literal.parse().map_err(de::Error::custom)?;
            return number
                .deserialize_any(self.visitor)
                .map_err(de::Error::custom);
        }
        self.visitor.visit_map(TrackedMap {
            map,
            path: self.path,
            seen: self.seen,
            key,
            key_pending: first.is_some(),
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("enums are read the exact way"))
    }
}

struct TrackedSeq<'a, A> {
    seq: A,
    path: &'a Path<'a>,
    seen: &'a mut Seen,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for TrackedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let path = Path::Index {
            parent: self.path,
            index: self.index,
        };
        self.index += 1;
        self.seq.next_element_seed(TrackedSeed {
            seed,
            path: &path,
            seen: self.seen,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::super::reading_check::same_both_ways as same_as_tree;

    #[test]
    fn the_straight_reading_gives_what_the_tree_gives() {
        let rule = r#"{"and": [{"match": {"type": "value", "value": 42,
            "parameter": {"source": "url", "name": "token"}}},
            {"not": {"match": {"type": "regex", "regex": "^refs/heads/(main|release/[0-9.]+)$",
            "parameter": {"source": "payload", "name": "ref"}}}},
            {"or": [{"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8"}},
                    {"match": {"type": "payload-hmac-sha256", "secret": 1.50,
                     "parameter": {"source": "header", "name": "X-Sig"}}}]}]}"#;
        let taken = [
            "[]".to_string(),
            " [ ] ".to_string(),
            format!(
                r#"[{{"id": "full", "execute-command": "/bin/true",
                "command-working-directory": "/tmp", "response-message": null,
                "response-headers": [{{"name": "X-A", "value": "b"}}],
                "include-command-output-in-response": "yes",
                "include-command-output-in-response-on-error": "Off",
                "pass-environment-to-command": [{{"source": "payload", "name": "a.b",
                    "envname": "AB"}}],
                "pass-arguments-to-command": [{{"source": "string", "name": 1e3}},
                    {{"source": "header", "name": true}}, {{"source": "url", "name": -0}}],
                "pass-file-to-command": [{{"source": "payload", "name": "f",
                    "base64decode": "y"}}],
                "parse-parameters-as-json": [{{"source": "payload", "name": "j"}}],
                "trigger-rule": {rule},
                "trigger-rule-mismatch-http-response-code": 400,
                "success-http-response-code": 299,
                "trigger-signature-soft-failures": null,
                "incoming-payload-content-type": "application/json",
                "http-methods": ["post", " Get "],
                "command-timeout": "90s", "concurrency": "serial", "max-queue": 0,
                "stream-command-output": true, "delivery-id-header": "X-Delivery",
                "registry-event": {{"provider": "harbor", "registry-host": "r.example"}},
                "notify": [{{"on": "failure", "webhook": {{"url": "http://127.0.0.1:9/x",
                    "format": "slack"}}}}]}}]"#
            ),
            // Unknown keys: in the order of their paths, once each, with their hints.
            r#"[{"zeta": 1, "id": "u", "execute-command": "/bin/true", "colour": "red",
                "colour": "blue", "col\u006four": 3, "aaa": {"deep": [[[{"x": 1}]]]},
                "trigger-rule": {"match": {"type": "value", "valeu": "1",
                    "parameter": {"source": "url", "name": "n", "nmae": 2}}},
                "response-headers": [{"name": "a", "value": "b", "vale": "c"},
                    {"name": "c", "value": "d", "a": 1}],
                "registry-event": {"provider": "auto", "registry-hots": "r"},
                "notify": [{"on": ["success", "timeout"], "emial": {}},
                    {"webhook": {"url": "http://127.0.0.1:9/", "secert": "s"}}]}]"#
                .to_string(),
            // Numbers as text, as a tree hands them on (`-0` as 0, `0.0000001` as a float).
            r#"[{"id": "n", "execute-command": "/bin/true",
                "pass-arguments-to-command": [{"source": "string", "name": -0},
                    {"source": "string", "name": 0.0000001}, {"source": "string", "name": -1.5e-7},
                    {"source": "string", "name": 123456789012345678901234567890},
                    {"source": "string", "name": -9223372036854775809},
                    {"source": "string", "name": 3.14159265358979}, {"source": "string", "name": 1.0}],
                "http-methods": [-0, 1.50],
                "registry-event": {"provider": "custom", "registry-host": 0.0000001}}]"#
                .to_string(),
            // A hook is named by its id only when the id is text.
            r#"[{"id": 42, "execute-command": "/bin/true", "x": 1},
                {"id": "", "execute-command": "/bin/true", "x": 1},
                {"id": null, "execute-command": "/bin/true", "x": 1},
                {"id": true, "execute-command": "/bin/true", "x": 1},
                {"id": "a\"b", "execute-command": "/bin/true", "x": 1},
                {"execute-command": "/bin/true", "x": 1}]"#
                .to_string(),
            // Errors found when a hook is built, not read.
            r#"[{"id": "b", "execute-command": "/bin/true", "http-methods": ["NO METHOD"],
                "trigger-rule": {"match": {"type": "regex", "regex": "(",
                    "parameter": {"source": "url", "name": "x"}}},
                "concurrency": "sometimes", "command-timeout": "soon",
                "registry-event": "nowhere",
                "pass-environment-to-command": [{"source": "string", "name": "v",
                    "envname": "A=B"}]},
                {"id": "b", "execute-command": "/bin/true"}]"#
                .to_string(),
        ];
        for text in &taken {
            assert!(same_as_tree(text), "not read straight: {text}");
        }
        // Every file one edit away from these: each the tree reads, the same.
        let tokens = [
            "\"",
            ",",
            ":",
            "{",
            "}",
            "[",
            "]",
            "1",
            "-0",
            "1.0",
            "null",
            "true",
            "\"x\"",
            "",
            "\"id\"",
            "\"id\": 1, \"id\"",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut read_straight = 0;
        for text in &taken[2..] {
            for _ in 0..150 {
                let at = (0..=next(text.len()))
                    .rev()
                    .find(|&i| text.is_char_boundary(i));
                let (head, tail) = text.split_at(at.unwrap_or(0));
                let cut = (0..=next(4).min(tail.len()))
                    .rev()
                    .find(|&i| tail.is_char_boundary(i))
                    .unwrap_or(0);
                let edited = format!("{head}{}{}", tokens[next(tokens.len())], &tail[cut..]);
                read_straight += usize::from(same_as_tree(&edited));
            }
        }
        assert!(
            read_straight > 100,
            "{read_straight} edited files read straight"
        );
        let deep = format!(
            r#"[{{"id": "d", "x": {}1{}}}]"#,
            "[".repeat(140),
            "]".repeat(140)
        );
        let left_to_the_tree = [
            // Errors, which the tree places.
            r#"[{"id": "a", "trigger-rule": {"match": {"parameter": {"name": ["x"]}}}}]"#,
            r#"[{"id": "a", "success-http-response-code": 200.0}]"#,
            r#"[{"id": "a", "max-queue": -1}]"#,
            r#"[{"id": "a", "include-command-output-in-response": 1}]"#,
            r#"[{"id": "a", "response-headers": null}]"#,
            r#"[{"id": "a"}, 7]"#,
            r#"[["a", "/bin/true"]]"#,
            // A key twice: the tree keeps the last.
            r#"[{"id": "a", "id": "b"}]"#,
            // A number where the registry event's object may be.
            r#"[{"id": "a", "registry-event": 5}]"#,
            // Not one JSON list.
            r#"{"id": "a"}"#,
            "- id: a\n",
            r#"[{"id": "a"},]"#,
            r#"[{"id": "a"}] []"#,
            "",
            &deep,
        ];
        for text in left_to_the_tree {
            assert!(!same_as_tree(text), "read straight: {text}");
        }
    }
}
