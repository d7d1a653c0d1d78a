//! One event written as a line: `key=value` text or a flat JSON object, every value passed
//! through [`escape`].

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::Value;
use tracing::Level;

use super::fields::{FieldValue, Fields};
use super::MAX_VALUE_CHARS;

/// An event ready to be written.
pub(super) struct Line {
    pub(super) time: SystemTime,
    pub(super) level: Level,
    pub(super) fields: Fields,
}

impl Line {
    fn message(&self) -> String {
        escape(self.fields.message.as_deref().unwrap_or_default())
    }

    /// `2026-01-01T10:00:00.000Z WARN  job failed hook=deploy exit_code=3`
    pub(super) fn text(&self) -> String {
        let mut line = format!(
            "{} {:<5} {}",
            humantime::format_rfc3339_millis(self.time),
            self.level,
            self.message()
        );
        for (name, value) in &self.fields.list {
            let _ = write!(line, " {name}=");
            match value {
                FieldValue::Text(text) => push_text_value(&mut line, &escape(text)),
                FieldValue::Int(n) => line.push_str(&n.to_string()),
                FieldValue::Uint(n) => line.push_str(&n.to_string()),
                FieldValue::Float(n) => line.push_str(&n.to_string()),
                FieldValue::Bool(b) => line.push_str(if *b { "true" } else { "false" }),
            }
        }
        line.push('\n');
        line
    }

    /// `{"time":"…","level":"WARN","message":"job failed","hook":"deploy","exit_code":3}`,
    /// keys in that order.
    pub(super) fn json(&self) -> String {
        let mut line = String::from("{");
        let time = humantime::format_rfc3339_millis(self.time).to_string();
        push_json_pair(&mut line, "time", &Value::String(time));
        push_json_pair(&mut line, "level", &Value::String(self.level.to_string()));
        push_json_pair(&mut line, "message", &Value::String(self.message()));
        for (name, value) in &self.fields.list {
            let value = match value {
                FieldValue::Text(text) => Value::String(escape(text)),
                FieldValue::Int(n) => Value::from(*n),
                FieldValue::Uint(n) => Value::from(*n),
                FieldValue::Float(n) => Value::from(*n),
                FieldValue::Bool(b) => Value::Bool(*b),
            };
            // `time`, `level` and `message` are the line's own: a field of that name is kept
            // apart rather than written twice.
            if matches!(*name, "time" | "level" | "message") {
                push_json_pair(&mut line, &format!("field_{name}"), &value);
            } else {
                push_json_pair(&mut line, name, &value);
            }
        }
        line.push_str("}\n");
        line
    }
}

/// Appends `"key":value` to a JSON object being written.
fn push_json_pair(line: &mut String, key: &str, value: &Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    line.push_str(&Value::String(key.to_string()).to_string());
    line.push(':');
    line.push_str(&value.to_string());
}

/// Writes an escaped value, in double quotes when it is empty or holds a space, a quote, an
/// equals sign or an escape, so that `key=value` pairs always split unambiguously.
fn push_text_value(line: &mut String, escaped: &str) {
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\');
    if plain {
        line.push_str(escaped);
        return;
    }
    line.push('"');
    for c in escaped.chars() {
        if c == '"' {
            line.push('\\');
        }
        line.push(c);
    }
    line.push('"');
}

/// `text` as it may appear in a log line: backslashes doubled, control characters and
/// bidirectional-formatting characters written as escapes, at most [`MAX_VALUE_CHARS`]
/// characters followed by a note of what was cut.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_VALUE_CHARS + 32));
    let mut chars = text.chars();
    for c in chars.by_ref().take(MAX_VALUE_CHARS) {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    let rest = chars.count();
    if rest > 0 {
        let _ = write!(out, "…[{rest} more characters]");
    }
    out
}

/// Characters that reorder the text around them on a terminal or in a viewer (the
/// "Trojan Source" characters) and invisible marks that change how text reads.
pub(super) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}
