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
//! # Layout
//! - this file: what reading a hook saw ([`Seen`]), the path being read, and `read_hook`;
//! - `tracked`: the adapter: the deserializer, its visitor and its lists;
//! - `tracked_map`: maps' keys (borrowed or copied, and the values skipped under them).

use serde::de::{DeserializeSeed, Deserializer};

use super::keys::{Step, UnknownKey};
use tracked::{Tracked, TrackedSeed};

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

// Declared after the macros they use (`deserializer_methods!`).
mod tracked;
mod tracked_map;

#[cfg(test)]
mod tests;
