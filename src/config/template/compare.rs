//! The comparison builtins `eq`, `ne`, `lt`, `le`, `gt`, `ge` with Go 1.19's rules: values of
//! one basic kind compare, signed and unsigned integers compare with each other, nil equals
//! only nil, and anything else is an error.

use super::gofmt;
use super::value::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    Str,
    /// Nil, lists and maps: not a basic kind.
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Byte(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Complex(..) => Kind::Complex,
        Value::Str(_) => Kind::Str,
        Value::Nil | Value::List(_) | Value::Map(_) => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_TYPE: &str = "invalid type for comparison";

/// `eq a b c…`: a equals any of the others.
pub(super) fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if matches!(a, Value::List(_) | Value::Map(_)) {
        let text = gofmt::print_v(a, 4096).unwrap_or_default();
        return Err(format!("uncomparable type {}: {text}", a.type_name()));
    }
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for b in others {
        if equal(a, b)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    use Value::{Bool, Byte, Complex, Float, Int, Nil, Str};
    Ok(match (a, b) {
        (Int(x), Byte(y)) | (Byte(y), Int(x)) => *x >= 0 && *x == i64::from(*y),
        (Bool(x), Bool(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        (Byte(x), Byte(y)) => x == y,
        (Float(x), Float(y)) => x == y,
        (Complex(a, b), Complex(c, d)) => a == c && b == d,
        (Str(x), Str(y)) => x == y,
        (Nil, Nil) => true,
        (Nil, _) | (_, Nil) => false,
        (a, b) if kind(a) == kind(b) => {
            let text = gofmt::print_v(b, 4096).unwrap_or_default();
            return Err(format!("uncomparable type {}: {text}", b.type_name()));
        }
        _ => return Err(BAD_COMPARISON.into()),
    })
}

pub(super) fn less(a: &Value, b: &Value) -> Result<bool, String> {
    use Value::{Byte, Float, Int, Str};
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Other || kb == Kind::Other {
        return Err(BAD_TYPE.into());
    }
    Ok(match (a, b) {
        (Int(x), Byte(y)) => *x < i64::from(*y),
        (Byte(x), Int(y)) => i64::from(*x) < *y,
        _ if ka != kb => return Err(BAD_COMPARISON.into()),
        (Int(x), Int(y)) => x < y,
        (Byte(x), Byte(y)) => x < y,
        (Float(x), Float(y)) => x < y,
        (Str(x), Str(y)) => x < y,
        _ => return Err(BAD_TYPE.into()),
    })
}

/// `le`: less, or else equal.
pub(super) fn less_or_equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(less(a, b)? || eq(a, std::slice::from_ref(b))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use Value::{Bool, Byte, Complex, Float, Int, Nil, Str};

    fn s(text: &str) -> Value {
        Str(text.to_string())
    }

    #[test]
    fn comparisons() {
        let list = Value::List(Rc::new(vec![Int(1)]));
        let cases = [
            (eq(&s("a"), &[s("a")]), Ok(true)),
            (eq(&Int(1), &[Int(2)]), Ok(false)),
            (eq(&Nil, &[Nil]), Ok(true)),
            (eq(&Nil, &[s("")]), Ok(false)),
            (eq(&Int(98), &[Byte(98)]), Ok(true)),
            (eq(&Int(-1), &[Byte(255)]), Ok(false)),
            (eq(&Float(1.0), &[Float(1.0)]), Ok(true)),
            (eq(&Complex(0.0, 1.0), &[Complex(0.0, 1.0)]), Ok(true)),
            (eq(&s("1"), &[Int(1)]), Err(BAD_COMPARISON)),
            (eq(&Float(1.0), &[Int(1)]), Err(BAD_COMPARISON)),
            (eq(&s("b"), &[s("a"), s("b")]), Ok(true)),
            (eq(&s("b"), &[]), Err("missing argument for comparison")),
            (
                eq(&list, std::slice::from_ref(&list)),
                Err("uncomparable type []interface {}: [1]"),
            ),
            (less(&s("a"), &s("b")), Ok(true)),
            (less(&Int(2), &Int(1)), Ok(false)),
            (less(&Int(-1), &Byte(0)), Ok(true)),
            (less(&Float(1.5), &Float(2.5)), Ok(true)),
            (less(&Bool(true), &Bool(false)), Err(BAD_TYPE)),
            (less(&Complex(1.0, 0.0), &Complex(2.0, 0.0)), Err(BAD_TYPE)),
            (less(&Nil, &Int(1)), Err(BAD_TYPE)),
            (less(&Int(1), &s("1")), Err(BAD_COMPARISON)),
            (less_or_equal(&Int(1), &Int(1)), Ok(true)),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want.map_err(String::from), "case {i}");
        }
    }
}
