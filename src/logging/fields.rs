//! The fields of a span or an event as `tracing` records them, kept with their types so that
//! JSON lines get numbers and booleans.

use std::fmt;

use tracing::field::{Field, Visit};

/// One value of a field, kept with its type so that JSON gets numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FieldValue {
    Text(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

/// The fields of a span or an event, in the order they were first set; a later value of the
/// same name (an event's field over its span's) replaces the earlier one in place.
#[derive(Debug, Default)]
pub(super) struct Fields {
    pub(super) message: Option<String>,
    pub(super) list: Vec<(&'static str, FieldValue)>,
}

impl Fields {
    pub(super) fn set(&mut self, name: &'static str, value: FieldValue) {
        if name == "message" {
            if let FieldValue::Text(text) = value {
                self.message = Some(text);
            }
            return;
        }
        match self.list.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.list.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here as their `Display` text.
        self.set(field.name(), FieldValue::Text(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), FieldValue::Text(value.to_string()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), FieldValue::Text(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), FieldValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), FieldValue::Uint(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), FieldValue::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), FieldValue::Bool(value));
    }
}
