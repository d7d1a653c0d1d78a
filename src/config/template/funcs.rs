//! The functions a template can call: webhook's `getenv`, `cat` and `credential`, and Go's
//! builtins. Only this file reaches the outside world, and only through [`TemplateEnv`].

use std::path::Path;

use super::value::{self, Value};
use super::{Pos, TemplateEnv, TemplateError};
use Arity::{AtLeast, Exactly};

/// How many arguments a function takes, counting a piped-in value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

/// A function's signature as Go's reflection sees it.
pub(super) struct Func {
    pub(super) name: &'static str,
    pub(super) arity: Arity,
    /// How many leading parameters are Go `string`s (and so refuse ints, bools and nil).
    pub(super) strings: usize,
}

const fn func(name: &'static str, arity: Arity, strings: usize) -> Func {
    Func {
        name,
        arity,
        strings,
    }
}

static FUNCS: [Func; 22] = [
    func("and", AtLeast(1), 0),
    func("call", AtLeast(1), 0),
    func("cat", Exactly(1), 1),
    func("credential", Exactly(1), 1),
    func("eq", AtLeast(1), 0),
    func("ge", Exactly(2), 0),
    func("getenv", Exactly(1), 1),
    func("gt", Exactly(2), 0),
    func("html", AtLeast(0), 0),
    func("index", AtLeast(1), 0),
    func("js", AtLeast(0), 0),
    func("le", Exactly(2), 0),
    func("len", Exactly(1), 0),
    func("lt", Exactly(2), 0),
    func("ne", Exactly(2), 0),
    func("not", Exactly(1), 0),
    func("or", AtLeast(1), 0),
    func("print", AtLeast(0), 0),
    func("printf", AtLeast(1), 1),
    func("println", AtLeast(0), 0),
    func("slice", AtLeast(1), 0),
    func("urlquery", AtLeast(0), 0),
];

pub(super) fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.iter().find(|f| f.name == name)
}

/// For `and` (`Some(false)`) and `or` (`Some(true)`): the truth that stops evaluation. Go 1.18+
/// evaluates their arguments lazily, so `and $ok (cat "/x")` reads nothing when `$ok` is false.
pub(super) fn short_circuit(name: &str) -> Option<bool> {
    match name {
        "and" => Some(false),
        "or" => Some(true),
        _ => None,
    }
}

/// Calls `name` with evaluated arguments whose count and string types were already checked;
/// `and` and `or` are evaluated by the caller (see [`short_circuit`]).
pub(super) fn call(
    name: &str,
    args: &[Value],
    env: &dyn TemplateEnv,
    pos: Pos,
) -> Result<Value, TemplateError> {
    use Value::{Bool, Str};
    let builtin = |result: Result<Value, String>| {
        result.map_err(|e| pos.exec(format!("error calling {name}: {e}")))
    };
    match (name, args) {
        ("getenv", [Str(var)]) => Ok(Str(env.getenv(var).unwrap_or_default())),
        ("cat", [Str(path)]) => cat(env, path, pos),
        ("credential", [Str(id)]) => credential(env, id, pos),
        ("html", args) => Ok(Str(value::html_escape(&value::eval_args(args)))),
        ("js", args) => Ok(Str(value::js_escape(&value::eval_args(args)))),
        ("urlquery", args) => Ok(Str(value::url_query_escape(&value::eval_args(args)))),
        ("print", args) => Ok(Str(value::sprint(args))),
        ("println", args) => Ok(Str(value::sprintln(args))),
        ("printf", [Str(format), args @ ..]) => value::sprintf(format, args)
            .map(Str)
            .map_err(|d| pos.unsupported(format!("printf directive {}", value::quote(&d)))),
        ("not", [v]) => Ok(Bool(!v.truth())),
        ("len", [v]) => builtin(length(v)),
        ("index", [item, indexes @ ..]) => builtin(index(item, indexes)),
        ("slice", [item, indexes @ ..]) => builtin(slice(item, indexes)),
        ("eq", [a, rest @ ..]) => builtin(eq(a, rest).map(Bool)),
        ("ne", [a, b]) => builtin(equal(a, b).map(|e| Bool(!e))),
        ("lt", [a, b]) => builtin(less(a, b).map(Bool)),
        ("le", [a, b]) => builtin(less_or_equal(a, b).map(Bool)),
        ("gt", [a, b]) => builtin(less_or_equal(a, b).map(|le| Bool(!le))),
        ("ge", [a, b]) => builtin(less(a, b).map(|lt| Bool(!lt))),
        ("call", [Value::Nil, ..]) => builtin(Err("call of nil".into())),
        ("call", [f, ..]) => builtin(Err(format!("non-function of type {}", f.type_name()))),
        _ => Err(pos.exec(format!("wrong arguments for {name}"))),
    }
}

/// `cat "PATH"`: the whole file, trailing newline included (what Go's `os.ReadFile` gives).
fn cat(env: &dyn TemplateEnv, path: &str, pos: Pos) -> Result<Value, TemplateError> {
    env.read_file(Path::new(path))
        .map(Value::Str)
        .map_err(|cause| TemplateError::Cat {
            line: pos.line,
            col: pos.col,
            path: path.into(),
            cause,
        })
}

/// `credential "NAME"`: systemd's `$CREDENTIALS_DIRECTORY/NAME`, read like `cat` (a trailing
/// newline is kept). NAME must be a plain file name.
fn credential(env: &dyn TemplateEnv, name: &str, pos: Pos) -> Result<Value, TemplateError> {
    let unavailable = |reason| TemplateError::CredentialUnavailable {
        line: pos.line,
        col: pos.col,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(unavailable(
            "not a credential name (a file name without '/')",
        ));
    }
    let Some(dir) = env.credentials_dir() else {
        return Err(unavailable(
            "$CREDENTIALS_DIRECTORY is not set (give the service LoadCredential= in its unit)",
        ));
    };
    let path = dir.join(name);
    env.read_file(&path)
        .map(Value::Str)
        .map_err(|cause| TemplateError::CredentialRead {
            line: pos.line,
            col: pos.col,
            name: name.to_string(),
            path,
            cause,
        })
}

fn length(v: &Value) -> Result<Value, String> {
    match v {
        Value::Str(s) => Ok(Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))),
        Value::Nil => Err("len of nil".into()),
        v => Err(format!("len of type {}", v.type_name())),
    }
}

/// An index into a string of `len` bytes; `len` itself is allowed (a slice end).
fn index_arg(v: &Value, len: usize) -> Result<usize, String> {
    match v {
        Value::Int(x) => usize::try_from(*x)
            .ok()
            .filter(|x| *x <= len)
            .ok_or_else(|| format!("index out of range: {x}")),
        Value::Nil => Err("cannot index slice/array with nil".into()),
        v => Err(format!(
            "cannot index slice/array with type {}",
            v.type_name()
        )),
    }
}

/// `index "abc" 1` is the byte 98, as in Go.
fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for i in indexes {
        let Value::Str(s) = &item else {
            return Err(format!("can't index item of type {}", item.type_name()));
        };
        let at = index_arg(i, s.len())?;
        let byte = s
            .as_bytes()
            .get(at)
            .ok_or(format!("index out of range: {at}"))?;
        item = Value::Int(i64::from(*byte));
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let Value::Str(s) = item else {
        return Err(format!("can't slice item of type {}", item.type_name()));
    };
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".into());
    }
    let mut bounds = [0, s.len()];
    for (bound, i) in bounds.iter_mut().zip(indexes) {
        *bound = index_arg(i, s.len())?;
    }
    let [from, to] = bounds;
    if from > to {
        return Err(format!("invalid slice index: {from} > {to}"));
    }
    // Go would cut inside a UTF-8 sequence; refuse rather than emit broken text.
    s.get(from..to)
        .map(|t| Value::Str(t.to_string()))
        .ok_or_else(|| format!("slice {from}:{to} splits a UTF-8 character"))
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    use Value::{Bool, Int, Nil, Str};
    match (a, b) {
        (Nil, Nil) => Ok(true),
        (Nil, _) | (_, Nil) => Ok(false),
        (Str(x), Str(y)) => Ok(x == y),
        (Int(x), Int(y)) => Ok(x == y),
        (Bool(x), Bool(y)) => Ok(x == y),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// `eq a b c…`: a equals any of the others.
fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
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

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    use Value::{Bool, Int, Nil, Str};
    match (a, b) {
        (Int(x), Int(y)) => Ok(x < y),
        (Str(x), Str(y)) => Ok(x < y),
        (Nil, _) | (_, Nil) | (Bool(_), Bool(_)) => Err("invalid type for comparison".into()),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn less_or_equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(less(a, b)? || equal(a, b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::{Bool, Int, Nil, Str};

    fn s(text: &str) -> Value {
        Str(text.to_string())
    }

    #[test]
    fn comparisons() {
        let cases = [
            (equal(&s("a"), &s("a")), Ok(true)),
            (equal(&Int(1), &Int(2)), Ok(false)),
            (equal(&Nil, &Nil), Ok(true)),
            (equal(&Nil, &s("")), Ok(false)),
            (
                equal(&s("1"), &Int(1)),
                Err("incompatible types for comparison"),
            ),
            (eq(&s("b"), &[s("a"), s("b")]), Ok(true)),
            (eq(&s("b"), &[]), Err("missing argument for comparison")),
            (less(&s("a"), &s("b")), Ok(true)),
            (less(&Int(2), &Int(1)), Ok(false)),
            (
                less(&Bool(true), &Bool(false)),
                Err("invalid type for comparison"),
            ),
            (less(&Nil, &Int(1)), Err("invalid type for comparison")),
            (
                less(&Int(1), &s("1")),
                Err("incompatible types for comparison"),
            ),
            (less_or_equal(&Int(1), &Int(1)), Ok(true)),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want.map_err(String::from), "case {i}");
        }
    }

    #[test]
    fn strings_as_go_sees_them() {
        let cases = [
            (length(&s("héllo")), Ok(Int(6))),
            (length(&Int(1)), Err("len of type int")),
            (index(&s("abc"), &[Int(1)]), Ok(Int(98))),
            (index(&s("abc"), &[]), Ok(s("abc"))),
            (index(&s("abc"), &[Int(3)]), Err("index out of range: 3")),
            (index(&s("abc"), &[Int(-1)]), Err("index out of range: -1")),
            (
                index(&s("abc"), &[s("0")]),
                Err("cannot index slice/array with type string"),
            ),
            (index(&Nil, &[Int(0)]), Err("index of untyped nil")),
            (
                index(&s("abc"), &[Int(0), Int(0)]),
                Err("can't index item of type int"),
            ),
            (slice(&s("abcd"), &[Int(1), Int(3)]), Ok(s("bc"))),
            (slice(&s("abcd"), &[Int(2)]), Ok(s("cd"))),
            (
                slice(&s("abcd"), &[Int(3), Int(1)]),
                Err("invalid slice index: 3 > 1"),
            ),
            (
                slice(&s("ab"), &[Int(0), Int(1), Int(2)]),
                Err("cannot 3-index slice a string"),
            ),
            (
                slice(&s("é"), &[Int(1)]),
                Err("slice 1:2 splits a UTF-8 character"),
            ),
            (
                slice(&Bool(true), &[]),
                Err("can't slice item of type bool"),
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want.map_err(String::from), "case {i}");
        }
    }
}
