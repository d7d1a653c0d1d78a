//! The keys of a map read through the `Tracked` adapter: each key is borrowed from the text
//! where the parser allows (copied otherwise), recorded as the path's last step while its value
//! is read, and reported when the hook's `Deserialize` impl ignores its value (`Skip`).

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Path, Seen, TrackedSeed};

/// The last key read in a map: borrowed from the text when the parser can (a key without
/// escapes), else copied into a buffer the map keeps for its keys.
pub(super) enum Key<'de> {
    None,
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Key::None => "",
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

pub(super) struct TrackedMap<'a, 'de, A> {
    pub(super) map: A,
    pub(super) path: &'a Path<'a>,
    pub(super) seen: &'a mut Seen,
    pub(super) key: Key<'de>,
    /// The first key was read already (to tell a map from a number), not yet handed on.
    pub(super) key_pending: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TrackedMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if std::mem::take(&mut self.key_pending) {
            return match &self.key {
                Key::Borrowed(text) => seed.deserialize(BorrowedStrDeserializer::new(text)),
                key => seed.deserialize(StrDeserializer::new(key.as_str())),
            }
            .map(Some);
        }
        self.map.next_key_seed(KeySeed {
            seed,
            key: &mut self.key,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let path = Path::Key {
            parent: self.path,
            key: self.key.as_str(),
        };
        self.map.next_value_seed(TrackedSeed {
            seed,
            path: &path,
            seen: self.seen,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A key's seed: the key is read as `seed` reads it, and its text kept in `key`.
pub(super) struct KeySeed<'k, 'de, S> {
    pub(super) seed: S,
    pub(super) key: &'k mut Key<'de>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(KeyDeserializer { de, key: self.key })
    }
}

struct KeyDeserializer<'k, 'de, D> {
    de: D,
    key: &'k mut Key<'de>,
}

impl<'k, 'de, D> KeyDeserializer<'k, 'de, D> {
    fn split<V>(self, visitor: V) -> (D, KeyVisitor<'k, 'de, V>) {
        let wrap = KeyVisitor {
            visitor,
            key: self.key,
        };
        (self.de, wrap)
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<'_, 'de, D> {
    type Error = D::Error;

    deserializer_methods!();

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_ignored_any(KeyVisitor {
            visitor,
            key: self.key,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A key's visitor: keeps the key's text, then passes it on.
struct KeyVisitor<'k, 'de, V> {
    visitor: V,
    key: &'k mut Key<'de>,
}

impl<'de, V: Visitor<'de>> KeyVisitor<'_, 'de, V> {
    fn keep(&mut self, text: &str) {
        match self.key {
            Key::Owned(buffer) => {
                buffer.clear();
                buffer.push_str(text);
            }
            _ => *self.key = Key::Owned(text.to_string()),
        }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<V::Value, E> {
        self.keep(v);
        self.visitor.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        *self.key = Key::Borrowed(v);
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<V::Value, E> {
        self.keep(&v);
        self.visitor.visit_string(v)
    }

    // A JSON key is always text: any other kind of key is read the exact way.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        Err(E::custom("a key that is not text"))
    }
}

/// A key read only for its text, which `KeySeed` keeps.
pub(super) struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(Skip)
    }
}

/// Reads and drops any value through `deserialize_any`, as a tree is built.
pub(super) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}
