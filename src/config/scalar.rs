//! Scalars as the reference reads them. It reads every hooks file (JSON too) through
//! ghodss/yaml over a YAML 1.1 parser:
//! - text fields written as other scalars become that text: `value: 42` is "42", `name: 1.50`
//!   is "1.5", `name: true` is "true", `name: ~` is "". hookrun accepts the same; floats are
//!   written as Go's `strconv.FormatFloat(f, 'g', -1, ..)` writes them, but from the full 64-bit
//!   value (the reference rounds to 32 bits and so turns `3.14159265358979` into "3.1415927").
//!   Words that YAML 1.1 reads as booleans (`name: n`) stay the text written (YAML 1.2).
//! - boolean fields take every YAML 1.1 boolean spelling (`yes`, `On`, `n`, `FALSE`...), and
//!   null as false, as the reference does.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, Error, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// `deserialize_with` for a `String` field.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(Text)
}

/// Reads a text field: a string as it is, without a `Value` in between (most fields of every
/// hook are strings, and the detour cost a copy and two allocations each); any other value as
/// a `Value` first, then as [`text`] makes it.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<String, E> {
        Ok(s.to_owned())
    }

    fn visit_string<E: Error>(self, s: String) -> Result<String, E> {
        Ok(s)
    }

    // Scalars become the `Value` that `Value`'s own visitor makes of them.
    fn visit_bool<E: Error>(self, b: bool) -> Result<String, E> {
        non_string(Value::deserialize(b.into_deserializer())?)
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<String, E> {
        non_string(Value::deserialize(n.into_deserializer())?)
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<String, E> {
        non_string(Value::deserialize(n.into_deserializer())?)
    }

    fn visit_i128<E: Error>(self, n: i128) -> Result<String, E> {
        non_string(Value::deserialize(n.into_deserializer())?)
    }

    fn visit_u128<E: Error>(self, n: u128) -> Result<String, E> {
        non_string(Value::deserialize(n.into_deserializer())?)
    }

    fn visit_f64<E: Error>(self, n: f64) -> Result<String, E> {
        non_string(Value::deserialize(n.into_deserializer())?)
    }

    fn visit_unit<E: Error>(self) -> Result<String, E> {
        non_string(Value::Null)
    }

    fn visit_none<E: Error>(self) -> Result<String, E> {
        non_string(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        non_string(Value::deserialize(d)?)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<String, A::Error> {
        non_string(Value::deserialize(SeqAccessDeserializer::new(seq))?)
    }

    // Also where `arbitrary_precision` numbers arrive (as a one-key map), which `Value` reads.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
        non_string(Value::deserialize(MapAccessDeserializer::new(map))?)
    }
}

/// The text of a value that is not a string, or the error for one that has none.
fn non_string<E: Error>(value: Value) -> Result<String, E> {
    text(&value).ok_or_else(|| E::invalid_type(unexpected(&value), &"a string"))
}

/// `deserialize_with` for an `Option<String>` field: null is `None`, like an absent key.
pub fn optional_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Ok(None);
    }
    text(&value)
        .map(Some)
        .ok_or_else(|| D::Error::invalid_type(unexpected(&value), &"a string"))
}

/// `deserialize_with` for a `Vec<String>` field.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| text(v).ok_or_else(|| D::Error::invalid_type(unexpected(v), &"a string")))
            .collect(),
        other => Err(D::Error::invalid_type(
            unexpected(other),
            &"a list of strings",
        )),
    }
}

/// `deserialize_with` for a `bool` field: `true`/`false`, every spelling YAML 1.1 reads as a
/// boolean (`y Y yes Yes YES on On ON true True TRUE` and `n N no No NO off Off OFF false False
/// FALSE`, go-yaml v2's list), and null or an empty value as false (Go leaves the field unset).
/// Anything else (`1`, `"enabled"`) is an error, as in the reference.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::String(s) => yaml11_bool(s).ok_or_else(|| {
            D::Error::invalid_value(
                Unexpected::Str(s),
                &"a boolean (true/false, yes/no, on/off)",
            )
        }),
        other => Err(D::Error::invalid_type(
            unexpected(other),
            &"a boolean (true/false, yes/no, on/off)",
        )),
    }
}

/// The boolean a YAML 1.1 plain scalar stands for, if it is one.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(false)
        }
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number(&n.to_string())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
        Value::Number(_) => Unexpected::Other("number"),
        _ => Unexpected::Other("scalar"),
    }
}

/// A number's text as the reference writes it: integers as written, YAML 1.1 floats (a `.`
/// and, if any, a signed exponent) in Go's shortest `%g`, anything else (`1e3`, not a float in
/// YAML 1.1) as written.
fn number(literal: &str) -> String {
    let is_float = literal.contains('.')
        && literal
            .find(['e', 'E'])
            .is_none_or(|i| matches!(literal.as_bytes().get(i + 1), Some(b'+' | b'-')));
    match literal.parse::<f64>() {
        Ok(f) if is_float && f.is_finite() => go_shortest_g(f),
        _ => literal.to_string(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, `%e` form when the exponent is
/// below -4 or at least 6 (with at least two exponent digits), `%f` form otherwise.
fn go_shortest_g(f: f64) -> String {
    let sci = format!("{f:e}"); // shortest digits: "-1.2345e8", "5e-7", "0e0"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_written_like_the_reference() {
        for (literal, want) in [
            ("42", "42"),
            ("12345678901234567890", "12345678901234567890"),
            ("-7", "-7"),
            ("1.50", "1.5"),
            ("4.0", "4"),
            ("100000.0", "100000"),
            ("1000000.0", "1e+06"),
            ("0.00001", "1e-05"),
            ("0.0001", "0.0001"),
            ("123456789.5", "1.234567895e+08"),
            ("-0.0", "-0"),
            ("0.1", "0.1"),
            ("1.5e+3", "1500"),
            ("1e3", "1e3"),
            ("1.0e3", "1.0e3"),
        ] {
            assert_eq!(number(literal), want, "{literal}");
        }
    }

    #[test]
    fn booleans_in_every_yaml_1_1_spelling() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "boolean")]
            b: bool,
        }
        let read = |yaml: &str| serde_yaml_ng::from_str::<T>(yaml).map(|t| t.b);
        for word in [
            "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
        ] {
            assert_eq!(read(&format!("b: {word}")).ok(), Some(true), "{word}");
        }
        for word in [
            "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE", "~", "",
        ] {
            assert_eq!(read(&format!("b: {word}")).ok(), Some(false), "{word}");
        }
        assert_eq!(read("{}").ok(), Some(false));
        for bad in ["yEs", "1", "0", "enabled", "[true]", "1.0", "t"] {
            assert!(read(&format!("b: {bad}")).is_err(), "{bad}");
        }
        let json = |text: &str| serde_json::from_str::<T>(text).map(|t| t.b);
        assert_eq!(json(r#"{"b": true}"#).ok(), Some(true));
        assert_eq!(json(r#"{"b": null}"#).ok(), Some(false));
        assert!(json(r#"{"b": 1}"#).is_err());
    }

    #[test]
    fn scalars_become_text() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "string")]
            s: String,
            #[serde(deserialize_with = "strings")]
            l: Vec<String>,
        }
        let t: T = serde_json::from_str(r#"{"s": 1.50, "l": [true, null, "x", 7]}"#).unwrap();
        assert_eq!(t.s, "1.5");
        assert_eq!(t.l, ["true", "", "x", "7"]);
        assert!(serde_json::from_str::<T>(r#"{"s": [1], "l": []}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"s": "", "l": "x"}"#).is_err());
    }

    /// Hooks are read from a parsed tree (`&Value`): a text field reads there exactly what,
    /// and fails with exactly the message that, reading it as a `Value` first gave.
    #[test]
    fn text_fields_read_a_tree_as_a_value_would() {
        #[derive(Debug, Deserialize)]
        struct T {
            #[serde(deserialize_with = "string")]
            s: String,
        }
        let through_value = |v: &Value| -> Result<String, String> {
            let inner = Value::deserialize(&v["s"]).map_err(|e| e.to_string())?;
            text(&inner).ok_or_else(|| {
                serde_json::Error::invalid_type(unexpected(&inner), &"a string").to_string()
            })
        };
        for json in [
            r#""plain""#,
            r#""esc\"aped\n""#,
            r#""""#,
            "null",
            "true",
            "false",
            "0",
            "-0",
            "42",
            "-7",
            "1.50",
            "3.14159265358979",
            "1e3",
            "1.5e+10",
            "123456789012345678901234567890",
            "[1]",
            "[]",
            r#"{"a": 1}"#,
            "{}",
        ] {
            let v: Value = serde_json::from_str(&format!(r#"{{"s": {json}}}"#)).unwrap();
            let got = T::deserialize(&v).map(|t| t.s).map_err(|e| e.to_string());
            assert_eq!(got, through_value(&v), "{json}");
        }
    }
}
