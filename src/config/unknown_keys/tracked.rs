//! The `Tracked` adapter: a deserializer that passes every call on, a visitor (`Wrap`) whose
//! maps and lists are read through the adapter too, and those lists (`TrackedSeq`); each keeps
//! the path of the value being read and reports the keys ignored under it in [`Seen`].

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

use super::super::keys::UnknownKey;
use super::tracked_map::{Key, KeySeed, KeyText, Skip, TrackedMap};
use super::{Path, Seen, JSON_NUMBER_TOKEN};

/// A deserializer that reports the keys its visitors ignore.
pub(super) struct Tracked<'a, D> {
    pub(super) de: D,
    pub(super) path: &'a Path<'a>,
    pub(super) seen: &'a mut Seen,
}

/// A visitor whose maps and lists are read through `Tracked` too.
struct Wrap<'a, V> {
    visitor: V,
    path: &'a Path<'a>,
    seen: &'a mut Seen,
}

/// A seed whose value is read through `Tracked`.
pub(super) struct TrackedSeed<'a, S> {
    pub(super) seed: S,
    pub(super) path: &'a Path<'a>,
    pub(super) seen: &'a mut Seen,
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
