//! Evaluator: walks the parsed tree with Go's run-time rules (argument counts and types,
//! truthiness, `.` and variable scopes) and calls `funcs` for every function.

use super::ast::{Arg, ArgKind, Command, Node, Pipe};
use super::funcs::{self, Arity};
use super::value::Value;
use super::{Pos, TemplateEnv, TemplateError};

type Result<T> = std::result::Result<T, TemplateError>;

/// Runs the tree with nil data (`.` and `$` are nil, as in the reference).
pub(super) fn execute(nodes: &[Node], env: &dyn TemplateEnv) -> Result<String> {
    let mut state = State {
        env,
        out: String::new(),
        vars: vec![("$".to_string(), Value::Nil)],
    };
    state.walk(nodes, &Value::Nil)?;
    Ok(state.out)
}

struct State<'a> {
    env: &'a dyn TemplateEnv,
    out: String,
    /// Variables in scope, innermost last; an `{{if}}`/`{{with}}` drops its own at `{{end}}`.
    vars: Vec<(String, Value)>,
}

/// Go's check for a `string` parameter given a computed value.
fn expect_string(value: Value, pos: Pos) -> Result<String> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Nil => Err(pos.exec("invalid value; expected string")),
        v => Err(pos.exec(format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        ))),
    }
}

/// `.Field` on a value: nil gives nil (Go's answer for nil data), anything else has no fields.
fn fields(receiver: Value, names: &[String], pos: Pos) -> Result<Value> {
    match (receiver, names.first()) {
        (receiver, None) => Ok(receiver),
        (Value::Nil, Some(_)) => Ok(Value::Nil),
        (v, Some(name)) => Err(pos.exec(format!(
            "can't evaluate field {name} in type {}",
            v.type_name()
        ))),
    }
}

impl State<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<()> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(dot, pipe)?;
                    // A declaration or assignment prints nothing.
                    if pipe.decl.is_none() {
                        self.out.push_str(&value.printed());
                    }
                }
                Node::Branch {
                    with,
                    pipe,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let result = self.branch(*with, pipe, (then, otherwise), dot);
                    self.vars.truncate(mark);
                    result?;
                }
            }
        }
        Ok(())
    }

    fn branch(
        &mut self,
        with: bool,
        pipe: &Pipe,
        (then, otherwise): (&[Node], &[Node]),
        dot: &Value,
    ) -> Result<()> {
        let value = self.pipeline(dot, pipe)?;
        match (value.truth(), with) {
            (true, true) => self.walk(then, &value),
            (true, false) => self.walk(then, dot),
            (false, _) => self.walk(otherwise, dot),
        }
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        if let Some(decl) = &pipe.decl {
            if decl.assign {
                self.set_var(&decl.name, value.clone(), pipe.pos)?;
            } else {
                self.vars.push((decl.name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// One stage of a pipeline; `last` is the previous stage's value, passed as the last
    /// argument.
    fn command(&mut self, dot: &Value, cmd: &Command, last: Option<Value>) -> Result<Value> {
        let Some((first, args)) = cmd.args.split_first() else {
            return Ok(Value::Nil);
        };
        let pos = first.pos;
        match &first.kind {
            ArgKind::Ident(name) => self.call(dot, name, args, last, pos),
            ArgKind::Field(names) => fields(dot.clone(), names, pos),
            ArgKind::Chain {
                base,
                fields: names,
            } => {
                let receiver = self.value(dot, base)?;
                fields(receiver, names, pos)
            }
            ArgKind::Var {
                name,
                fields: names,
            } if !names.is_empty() => fields(self.var(name, pos)?, names, pos),
            kind => {
                if !args.is_empty() || last.is_some() {
                    let message = format!("can't give argument to non-function {first}");
                    return Err(pos.exec(message));
                }
                if matches!(kind, ArgKind::Nil) {
                    return Err(pos.exec("nil is not a command"));
                }
                self.value(dot, first)
            }
        }
    }

    /// An argument's value (Go's `evalEmptyInterface`); a bare function name is called.
    fn value(&mut self, dot: &Value, arg: &Arg) -> Result<Value> {
        let pos = arg.pos;
        match &arg.kind {
            ArgKind::Str { value, .. } => Ok(Value::Str(value.clone())),
            ArgKind::Int { value, .. } => Ok(Value::Int(*value)),
            ArgKind::Bool(b) => Ok(Value::Bool(*b)),
            ArgKind::Nil => Ok(Value::Nil),
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Ident(name) => self.call(dot, name, &[], None, pos),
            ArgKind::Var {
                name,
                fields: names,
            } => fields(self.var(name, pos)?, names, pos),
            ArgKind::Field(names) => fields(dot.clone(), names, pos),
            ArgKind::Pipe(pipe) => self.pipeline(dot, pipe),
            ArgKind::Chain {
                base,
                fields: names,
            } => {
                let receiver = self.value(dot, base)?;
                fields(receiver, names, pos)
            }
        }
    }

    /// An argument for a Go `string` parameter, with Go's complaints about the others.
    fn string_arg(&mut self, dot: &Value, arg: &Arg) -> Result<String> {
        match &arg.kind {
            ArgKind::Str { value, .. } => Ok(value.clone()),
            ArgKind::Int { .. } | ArgKind::Bool(_) => {
                Err(arg.pos.exec(format!("expected string; found {arg}")))
            }
            ArgKind::Nil => Err(arg.pos.exec("cannot assign nil to string")),
            _ => {
                let value = self.value(dot, arg)?;
                expect_string(value, arg.pos)
            }
        }
    }

    fn call(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        pos: Pos,
    ) -> Result<Value> {
        let Some(func) = funcs::lookup(name) else {
            let (line, col, name) = (pos.line, pos.col, name.to_string());
            return Err(TemplateError::UndefinedFunction { line, col, name });
        };
        let given = args.len() + usize::from(last.is_some());
        match func.arity {
            Arity::Exactly(n) if given != n => {
                let message = format!("wrong number of args for {name}: want {n} got {given}");
                return Err(pos.exec(message));
            }
            Arity::AtLeast(n) if given < n => {
                let got = args.len();
                let message =
                    format!("wrong number of args for {name}: want at least {n} got {got}");
                return Err(pos.exec(message));
            }
            _ => {}
        }
        if let Some(stop) = funcs::short_circuit(name) {
            return self.short_circuit(dot, args, last, stop);
        }
        let mut values = Vec::with_capacity(given);
        for (i, arg) in args.iter().enumerate() {
            values.push(if i < func.strings {
                Value::Str(self.string_arg(dot, arg)?)
            } else {
                self.value(dot, arg)?
            });
        }
        if let Some(last) = last {
            values.push(if values.len() < func.strings {
                Value::Str(expect_string(last, pos)?)
            } else {
                last
            });
        }
        funcs::call(name, &values, self.env, pos)
    }

    /// `and`/`or`: evaluate arguments until one's truth is `stop`; that one, or the last, wins.
    fn short_circuit(
        &mut self,
        dot: &Value,
        args: &[Arg],
        last: Option<Value>,
        stop: bool,
    ) -> Result<Value> {
        let mut value = Value::Nil;
        for arg in args {
            value = self.value(dot, arg)?;
            if value.truth() == stop {
                return Ok(value);
            }
        }
        Ok(last.unwrap_or(value))
    }

    fn var(&self, name: &str, pos: Pos) -> Result<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Ok(value.clone()),
            None => Err(pos.exec(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Value, pos: Pos) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some((_, slot)) => {
                *slot = value;
                Ok(())
            }
            None => Err(pos.exec(format!("undefined variable: {name}"))),
        }
    }
}
