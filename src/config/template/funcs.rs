//! The functions a template can call: webhook's `getenv`, `cat` and `credential`, and Go's
//! builtins. Only this file reaches the outside world, and only through [`TemplateEnv`].

use std::path::{Path, PathBuf};

use super::compare::{eq, less, less_or_equal};
use super::escape;
use super::exec::State;
use super::gofmt::{self, TooLong};
use super::value::Value;
use super::{Functions, Pos, TemplateEnv, TemplateError};
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

/// Go's builtins, then webhook's functions (only for `-template` hooks files).
static FUNCS: [Func; 22] = [
    func("and", AtLeast(1), 0),
    func("call", AtLeast(1), 0),
    func("eq", AtLeast(1), 0),
    func("ge", Exactly(2), 0),
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
    func("cat", Exactly(1), 1),
    func("credential", Exactly(1), 1),
    func("getenv", Exactly(1), 1),
];

/// How many of [`FUNCS`] are Go's builtins.
const BUILTINS: usize = 19;

/// The function called `name`, if the template has it.
pub(super) fn lookup(name: &str, webhook: bool) -> Option<&'static Func> {
    let available = if webhook {
        &FUNCS[..]
    } else {
        &FUNCS[..BUILTINS]
    };
    available.iter().find(|f| f.name == name)
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
/// `and` and `or` are evaluated by the caller (see [`short_circuit`]). Text a function builds
/// is counted against the render's limit.
pub(super) fn call(
    state: &mut State<'_>,
    name: &str,
    args: &[Value],
    pos: Pos,
) -> Result<Value, TemplateError> {
    use Value::{Bool, Str};
    let builtin = |result: Result<Value, String>| {
        result.map_err(|e| pos.exec(format!("error calling {name}: {e}")))
    };
    let room = state.room();
    let text = |result: Result<String, TooLong>| result.map(Str).map_err(|_| state.too_much(pos));
    let value = match (name, args) {
        ("getenv" | "cat" | "credential", [Str(arg)]) => webhook(state, name, arg, pos)?,
        ("html", args) => text(eval_args(args, room).map(|s| escape::html_escape(&s)))?,
        ("js", args) => text(eval_args(args, room).map(|s| escape::js_escape(&s)))?,
        ("urlquery", args) => text(eval_args(args, room).map(|s| escape::url_query_escape(&s)))?,
        ("print", args) => text(gofmt::sprint(args, room))?,
        ("println", args) => text(gofmt::sprintln(args, room))?,
        ("printf", [Str(format), args @ ..]) => text(gofmt::sprintf(format, args, room))?,
        ("not", [v]) => Bool(!v.truth()),
        ("len", [v]) => builtin(length(v))?,
        ("index", [item, indexes @ ..]) => builtin(index(item, indexes))?,
        ("slice", [item, indexes @ ..]) => builtin(slice(item, indexes))?,
        ("eq", [a, rest @ ..]) => builtin(eq(a, rest).map(Bool))?,
        ("ne", [a, b]) => builtin(eq(a, std::slice::from_ref(b)).map(|e| Bool(!e)))?,
        ("lt", [a, b]) => builtin(less(a, b).map(Bool))?,
        ("le", [a, b]) => builtin(less_or_equal(a, b).map(Bool))?,
        ("gt", [a, b]) => builtin(less_or_equal(a, b).map(|le| Bool(!le)))?,
        ("ge", [a, b]) => builtin(less(a, b).map(|lt| Bool(!lt)))?,
        ("call", [Value::Nil, ..]) => builtin(Err("call of nil".into()))?,
        ("call", [f, ..]) => builtin(Err(format!("non-function of type {}", f.type_name())))?,
        _ => return Err(pos.exec(format!("wrong arguments for {name}"))),
    };
    if let Str(s) = &value {
        state.produce(s.len(), pos)?;
    }
    Ok(value)
}

/// The text that `html`, `js` and `urlquery` escape: Go's `evalArgs`, which prints a nil
/// argument as `<no value>`.
fn eval_args(args: &[Value], room: usize) -> Result<String, TooLong> {
    if let [Value::Str(s)] = args {
        return Ok(s.clone());
    }
    let args: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::Str("<no value>".into()),
            a => a.clone(),
        })
        .collect();
    gofmt::sprint(&args, room)
}

/// `getenv`, `cat` and `credential`, which only hooks files rendered with `-template` have.
fn webhook(state: &mut State<'_>, name: &str, arg: &str, pos: Pos) -> Result<Value, TemplateError> {
    let Functions::Webhook(env) = state.functions else {
        let (line, col, name) = (pos.line, pos.col, name.to_string());
        return Err(TemplateError::UndefinedFunction { line, col, name });
    };
    let env = *env;
    match name {
        "getenv" => Ok(Value::Str(env.getenv(arg).unwrap_or_default())),
        "cat" => {
            state.files_read.push(PathBuf::from(arg));
            cat(env, arg, pos)
        }
        _ => credential(state, env, arg, pos),
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

/// `credential "NAME"`: the file NAME in `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`,
/// or a folder a container mounts its secrets in), read like `cat`. NAME must be a plain file
/// name.
fn credential(
    state: &mut State<'_>,
    env: &dyn TemplateEnv,
    name: &str,
    pos: Pos,
) -> Result<Value, TemplateError> {
    let unavailable = |reason: String| TemplateError::CredentialUnavailable {
        line: pos.line,
        col: pos.col,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(unavailable(
            "not a credential name (a file name without '/')".into(),
        ));
    }
    let Some(dir) = env.credentials_dir() else {
        return Err(unavailable(format!(
            "$CREDENTIALS_DIRECTORY is not set, so there is no folder to read it from; under \
             systemd give the unit LoadCredential={name}:/path/to/secret, in a container set \
             CREDENTIALS_DIRECTORY to the folder holding a file named {name} (e.g. a mounted \
             Kubernetes Secret)"
        )));
    };
    let path = dir.join(name);
    state.files_read.push(path.clone());
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
    let n = match v {
        Value::Str(s) => s.len(),
        Value::List(items) => items.len(),
        Value::Map(map) => map.len(),
        // Go 1.19 asks the type of the missing value and reports reflect's complaint.
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        v => return Err(format!("len of type {}", v.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Go's `indexArg`: an index into something of length `len`; `len` itself is allowed (a slice
/// end).
fn index_arg(v: &Value, len: usize) -> Result<usize, String> {
    let x = match v {
        Value::Int(x) => *x,
        Value::Byte(b) => i64::from(*b),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ))
        }
    };
    usize::try_from(x)
        .ok()
        .filter(|x| *x <= len)
        .ok_or_else(|| format!("index out of range: {x}"))
}

/// `index "abc" 1` is the byte 98 (a `uint8`), as in Go; a missing map key gives nil.
fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for i in indexes {
        item = match &item {
            Value::Str(s) => Value::Byte(s.as_bytes()[checked_index(i, s.len())?]),
            Value::List(items) => items[checked_index(i, items.len())?].clone(),
            Value::Map(map) => match i {
                Value::Str(key) => map.get(key).cloned().unwrap_or(Value::Nil),
                Value::Nil => Value::Nil,
                i => {
                    return Err(format!(
                        "value has type {}; should be string",
                        i.type_name()
                    ))
                }
            },
            Value::Nil => return Err("index of nil pointer".into()),
            item => return Err(format!("can't index item of type {}", item.type_name())),
        };
    }
    Ok(item)
}

/// An index that must name an element (not the end).
fn checked_index(i: &Value, len: usize) -> Result<usize, String> {
    let at = index_arg(i, len)?;
    if at == len {
        return Err(format!("index out of range: {at}"));
    }
    Ok(at)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(_) if indexes.len() == 3 => return Err("cannot 3-index slice a string".into()),
        Value::Str(s) => s.len(),
        Value::List(items) => items.len(),
        item => return Err(format!("can't slice item of type {}", item.type_name())),
    };
    let mut idx = [0, len, len];
    for (bound, i) in idx.iter_mut().zip(indexes) {
        *bound = index_arg(i, len)?;
    }
    for w in idx[..indexes.len().max(2)].windows(2) {
        if w[0] > w[1] {
            return Err(format!("invalid slice index: {} > {}", w[0], w[1]));
        }
    }
    let [from, to, _] = idx;
    match item {
        // Go would cut inside a UTF-8 sequence; refuse rather than emit broken text.
        Value::Str(s) => s
            .get(from..to)
            .map(|t| Value::Str(t.to_string()))
            .ok_or_else(|| format!("slice {from}:{to} splits a UTF-8 character")),
        Value::List(items) => Ok(Value::List(std::rc::Rc::new(items[from..to].to_vec()))),
        _ => unreachable!("only strings and lists get here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use Value::{Bool, Byte, Int, Nil, Str};

    fn s(text: &str) -> Value {
        Str(text.to_string())
    }

    #[test]
    fn collections_as_go_sees_them() {
        let list = Value::List(Rc::new(vec![Int(1), s("b"), Nil]));
        let map = Value::Map(Rc::new([("k".to_string(), Int(7))].into_iter().collect()));
        let cases = [
            (length(&s("héllo")), Ok(Int(6))),
            (length(&list), Ok(Int(3))),
            (length(&map), Ok(Int(1))),
            (length(&Int(1)), Err("len of type int")),
            (index(&s("abc"), &[Int(1)]), Ok(Byte(98))),
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
                Err("can't index item of type uint8"),
            ),
            (index(&list, &[Byte(1)]), Ok(s("b"))),
            (index(&map, &[s("k")]), Ok(Int(7))),
            (index(&map, &[s("x")]), Ok(Nil)),
            (
                index(&map, &[Int(1)]),
                Err("value has type int; should be string"),
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
                slice(&list, &[Int(0), Int(2), Int(1)]),
                Err("invalid slice index: 2 > 1"),
            ),
            (
                slice(&list, &[Int(1), Int(2), Int(3)]),
                Ok(Value::List(Rc::new(vec![s("b")]))),
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
