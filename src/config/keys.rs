//! The keys a hooks file may use, read from the serde structs in `raw` rather than listed by
//! hand. Unknown keys are the ones serde ignores while deserializing (`unknown_keys` reports
//! each with its path as a hook is read from the parser, `serde_ignored` as it is read from a
//! tree); the "did you mean" hint compares one with the keys of the struct that ignored it,
//! which a probe learns once from the structs' own `Deserialize` impls.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::problem::did_you_mean;
use super::raw::{RawHook, RawRegistryEventOptions};
use crate::notify::config::{EmailConfig, TargetConfig, WebhookConfig};

/// One step of a path into a hook: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A key serde ignored: where it is (the object holding it) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    pub at: Vec<Step>,
    pub key: String,
}

impl UnknownKey {
    /// From `serde_ignored`'s path of the ignored key.
    pub fn from_ignored(path: &serde_ignored::Path) -> Option<UnknownKey> {
        let mut steps = Vec::new();
        collect(path, &mut steps);
        match steps.pop() {
            Some(Step::Key(key)) => Some(UnknownKey { at: steps, key }),
            _ => None,
        }
    }

    /// The problem's text: the key, and the closest known key of the same object if it looks
    /// like a typo of it.
    pub fn message(&self) -> String {
        let known = schema().keys_at(&self.at);
        format!(
            "unknown key {:?}{}",
            self.key,
            did_you_mean(&self.key, known)
        )
    }

    /// The field path of the object holding the key (`trigger-rule.and[1].match`).
    pub fn object_path(&self) -> String {
        let mut out = String::new();
        for step in &self.at {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

fn collect(path: &serde_ignored::Path, steps: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            collect(parent, steps);
            steps.push(Step::Index(*index));
        }
        Path::Map { parent, key } => {
            collect(parent, steps);
            steps.push(Step::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => collect(parent, steps),
    }
}

/// What the raw structs declare: each struct's keys, and which struct a key holds.
#[derive(Debug, Default)]
struct Schema {
    keys: HashMap<&'static str, &'static [&'static str]>,
    nested: HashMap<(&'static str, &'static str), &'static str>,
}

const ROOT: &str = "RawHook";

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = Schema::default();
        // The probe reads every field; what it feeds a field is never a valid hook, so the
        // result is always discarded.
        let _ = RawHook::deserialize(Probe::root(&mut schema));
        // `registry-event` is a provider name or an object; the probe offers no object to a
        // field that takes either, so the object's struct is probed on its own.
        let _ = RawRegistryEventOptions::deserialize(Probe::root(&mut schema));
        schema
            .nested
            .insert((ROOT, "registry-event"), "RawRegistryEventOptions");
        // A target's `on` takes a word or a list, which the probe cannot offer: a failed field
        // ends a struct's probe, so the channels are probed on their own too.
        let _ = TargetConfig::deserialize(Probe::root(&mut schema));
        let _ = EmailConfig::deserialize(Probe::root(&mut schema));
        let _ = WebhookConfig::deserialize(Probe::root(&mut schema));
        for (at, nested) in [
            ((ROOT, "notify"), "TargetConfig"),
            (("TargetConfig", "email"), "EmailConfig"),
            (("TargetConfig", "webhook"), "WebhookConfig"),
        ] {
            schema.nested.insert(at, nested);
        }
        schema
    })
}

impl Schema {
    /// The keys of the object at `at` (a path from the hook).
    fn keys_at(&self, at: &[Step]) -> &'static [&'static str] {
        let mut current = ROOT;
        for step in at {
            if let Step::Key(key) = step {
                match self.nested.get(&(current, key.as_str())) {
                    Some(next) => current = next,
                    None => return &[],
                }
            }
        }
        self.keys.get(current).copied().unwrap_or(&[])
    }
}

/// A deserializer that offers every struct a value for each of its fields and records the
/// field names (and, per field, the struct it holds), recursing once into each struct.
struct Probe<'s> {
    schema: &'s mut Schema,
    /// The struct and field this value is for.
    field: Option<(&'static str, &'static str)>,
}

impl<'s> Probe<'s> {
    fn root(schema: &'s mut Schema) -> Self {
        Probe {
            schema,
            field: None,
        }
    }
}

#[derive(Debug)]
struct ProbeError;

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        ProbeError
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    /// Text fields read any scalar through `serde_json::Value`: null is the empty text.
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_bool(false)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u16(0)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u64(0)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_string(String::new())
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_seq(OneItem(Some(self)))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ProbeError> {
        if let Some(field) = self.field {
            self.schema.nested.insert(field, name);
        }
        if self.schema.keys.contains_key(name) {
            // Seen already (a rule inside a rule): its fields are known.
            return v.visit_map(Fields {
                schema: self.schema,
                name,
                fields: [].iter(),
                current: "",
            });
        }
        self.schema.keys.insert(name, fields);
        v.visit_map(Fields {
            schema: self.schema,
            name,
            fields: fields.iter(),
            current: "",
        })
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u32 u128 f32 f64 char str bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// A sequence of one probed item.
struct OneItem<'s>(Option<Probe<'s>>);

impl<'de> SeqAccess<'de> for OneItem<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        self.0
            .take()
            .map(|probe| seed.deserialize(probe))
            .transpose()
    }
}

/// Every field of a struct, each with a probed value.
struct Fields<'s> {
    schema: &'s mut Schema,
    name: &'static str,
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = field;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        seed.deserialize(Probe {
            schema: self.schema,
            field: Some((self.name, self.current)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Step {
        Step::Key(name.to_string())
    }

    #[test]
    fn every_struct_of_the_hooks_file_is_known() {
        let rule = [key("trigger-rule"), key("and"), Step::Index(1), key("not")];
        let target = [key("notify"), Step::Index(0)];
        let webhook = [key("notify"), Step::Index(1), key("webhook")];
        let email = [key("notify"), Step::Index(0), key("email")];
        let cases: [(&[Step], &str); 10] = [
            (&[], "execute-command"),
            (
                &[key("pass-arguments-to-command"), Step::Index(0)],
                "envname",
            ),
            (&[key("response-headers"), Step::Index(2)], "value"),
            (&rule, "match"),
            (&[key("trigger-rule"), key("match")], "ip-range"),
            (
                &[key("trigger-rule"), key("match"), key("parameter")],
                "source",
            ),
            (&[key("registry-event")], "aliyun-instance-host"),
            (&target, "on"),
            (&webhook, "secret-file"),
            (&email, "subject"),
        ];
        for (at, expected) in cases {
            assert!(schema().keys_at(at).contains(&expected), "{at:?}");
        }
    }

    #[test]
    fn unknown_keys_are_found_with_their_object_and_a_hint() {
        let hook = serde_json::json!({
            "id": "x",
            "trigger-rules": {},
            "trigger-rule": {"or": [{"match": {"type": "value", "valeu": "1"}}]},
            "registry-event": {"provider": "auto", "registry-hots": "r"},
            "response-headers": [{"name": "a", "value": "b", "vale": "c"}],
            "notify": [{"on": "failure", "emial": {}}, {"webhook": {"url": "x", "secert": "s"}}]
        });
        let mut found = Vec::new();
        let _: RawHook = serde_ignored::deserialize(&hook, |path| {
            found.extend(UnknownKey::from_ignored(&path));
        })
        .unwrap();
        let shown: Vec<(String, String)> = found
            .iter()
            .map(|u| (u.object_path(), u.message()))
            .collect();
        let want = [
            (
                "",
                r#"unknown key "trigger-rules" (did you mean "trigger-rule"?)"#,
            ),
            (
                "trigger-rule.or[0].match",
                r#"unknown key "valeu" (did you mean "value"?)"#,
            ),
            (
                "registry-event",
                r#"unknown key "registry-hots" (did you mean "registry-host"?)"#,
            ),
            (
                "response-headers[0]",
                r#"unknown key "vale" (did you mean "value"?)"#,
            ),
            (
                "notify[0]",
                r#"unknown key "emial" (did you mean "email"?)"#,
            ),
            (
                "notify[1].webhook",
                r#"unknown key "secert" (did you mean "secret"?)"#,
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(shown.len(), want.len(), "{shown:#?}");
        for w in &want {
            assert!(shown.contains(w), "{w:?} not in {shown:#?}");
        }
    }
}
