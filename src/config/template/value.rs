//! Template values: what an expression evaluates to, with Go's truth and type names, and the
//! conversion of JSON-like data (the `.` of a render) into values.
//!
//! Data is what Go's `encoding/json` would give a template as `map[string]interface{}`, except
//! that a number written as an integer that fits 64 bits is an `int` (so `%d` prints it); other
//! numbers are `float64`.

use std::collections::BTreeMap;
use std::rc::Rc;

/// A value a template can hold. Lists and maps are shared, so `.` and variables are cheap to copy.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    /// An untyped nil (Go's nil `interface{}`); a pipeline giving it prints `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    /// A `uint8`: what `index` gives for a string.
    Byte(u8),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    List(Rc<Vec<Value>>),
    /// Keys in Go's sorted order (byte order), as `range` and `fmt` visit them.
    Map(Rc<BTreeMap<String, Value>>),
}

impl Value {
    /// Go's `isTrue`: the zero value of its type, and empty lists, maps and strings, are false.
    pub(super) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Byte(b) => *b != 0,
            Value::Float(x) => *x != 0.0,
            Value::Complex(re, im) => *re != 0.0 || *im != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(items) => !items.is_empty(),
            Value::Map(map) => !map.is_empty(),
        }
    }

    /// The Go type name, as `%T` and error messages print it.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Complex(..) => "complex128",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// The value of JSON-like data.
    pub(super) fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as Json;
        match json {
            Json::Null => Value::Nil,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(items) => {
                Value::List(Rc::new(items.iter().map(Value::from_json).collect()))
            }
            Json::Object(map) => Value::Map(Rc::new(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::{Bool, Byte, Complex, Float, Int, Nil, Str};

    #[test]
    fn truth_like_go() {
        let empty_list = Value::List(Rc::new(Vec::new()));
        let list = Value::List(Rc::new(vec![Nil]));
        for (v, want) in [
            (Nil, false),
            (Str(String::new()), false),
            (Str("0".into()), true),
            (Int(0), false),
            (Int(-1), true),
            (Byte(0), false),
            (Float(0.0), false),
            (Float(-0.0), false),
            (Float(0.5), true),
            (Complex(0.0, 1.0), true),
            (Bool(false), false),
            (empty_list, false),
            (list, true),
        ] {
            assert_eq!(v.truth(), want, "{v:?}");
        }
    }

    #[test]
    fn json_data() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"b": [1, 2.5, "x", null, true], "a": {"n": 18446744073709551615}}"#,
        )
        .expect("valid JSON");
        let Value::Map(map) = Value::from_json(&json) else {
            panic!("an object is a map");
        };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            map["b"],
            Value::List(Rc::new(vec![
                Int(1),
                Float(2.5),
                Str("x".into()),
                Nil,
                Bool(true)
            ]))
        );
        let Value::Map(a) = &map["a"] else {
            panic!("nested map");
        };
        assert_eq!(a["n"], Float(18446744073709551615.0));
        assert_eq!(map["a"].type_name(), "map[string]interface {}");
    }
}
