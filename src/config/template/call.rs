//! Evaluator, continued: calling a function the way Go's `evalCall` does — the argument count,
//! Go's checks for `string` parameters, a piped-in value as the last argument, and the
//! short-circuit of `and` and `or`.

use super::ast::{Arg, ArgKind};
use super::exec::{Slot, State};
use super::funcs::{self, Arity};
use super::value::Value;
use super::{Functions, Pos, TemplateError};

type Result<T> = std::result::Result<T, TemplateError>;

impl State<'_> {
    /// An argument for a Go `string` parameter, with Go's complaints about the others.
    fn string_arg(&mut self, dot: &Slot, arg: &Arg) -> Result<String> {
        self.at = arg.pos;
        match &arg.kind {
            ArgKind::Str { value, .. } => Ok(value.clone()),
            ArgKind::Number { .. } | ArgKind::Bool(_) => {
                Err(arg.pos.exec(format!("expected string; found {arg}")))
            }
            ArgKind::Nil => Err(arg.pos.exec("cannot assign nil to string")),
            _ => {
                let slot = self.slot(dot, arg)?;
                expect_string(slot, arg.pos)
            }
        }
    }

    pub(super) fn call(
        &mut self,
        dot: &Slot,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        pos: Pos,
    ) -> Result<Value> {
        let webhook = matches!(self.functions, Functions::Webhook(_));
        let Some(func) = funcs::lookup(name, webhook) else {
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
                Value::Str(expect_string(Slot::plain(last), pos)?)
            } else {
                last
            });
        }
        funcs::call(self, name, &values, pos)
    }

    /// `and`/`or`: evaluate arguments until one's truth is `stop`; that one, or the last, wins.
    fn short_circuit(
        &mut self,
        dot: &Slot,
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
}

/// Go's check for a `string` parameter given a computed value.
fn expect_string(slot: Slot, pos: Pos) -> Result<String> {
    match slot.value {
        Value::Str(s) => Ok(s),
        Value::Nil if !slot.boxed => Err(pos.exec("invalid value; expected string")),
        _ => Err(pos.exec(format!(
            "wrong type for value; expected string; got {}",
            if slot.value == Value::Nil {
                "interface {}"
            } else {
                slot.value.type_name()
            }
        ))),
    }
}
