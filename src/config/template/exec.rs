//! Evaluator: walks the parsed tree with Go's run-time rules (argument counts and types,
//! truthiness, `.` and variable scopes, `range`, template calls) and calls `funcs` for every
//! function, within the render's [`Limits`].
//!
//! Go keeps the elements of a list or map, and `.` inside a `range`, as `interface{}` values;
//! that only shows in error messages (`can't evaluate field x in type interface {}`), and a
//! [`Slot`] keeps track of it.

use std::path::PathBuf;

use super::ast::{Arg, ArgKind, Command, Node, Pipe, Tree};
use super::literal::Constant;
use super::value::Value;
use super::{gofmt, Functions, Limits, Pos, TemplateError};

type Result<T> = std::result::Result<T, TemplateError>;

/// How deep template calls and nested blocks may go at run time.
pub(super) const MAX_EXEC_DEPTH: usize = 200;

/// A value with whether Go would hold it in an `interface{}` (an element of a list or map).
#[derive(Clone, Debug)]
pub(super) struct Slot {
    pub(super) value: Value,
    pub(super) boxed: bool,
}

impl Slot {
    pub(super) fn plain(value: Value) -> Slot {
        Slot {
            value,
            boxed: false,
        }
    }

    fn type_name(&self) -> &'static str {
        if self.boxed {
            "interface {}"
        } else {
            self.value.type_name()
        }
    }
}

/// How a list of nodes ended: normally, or at a `{{break}}`/`{{continue}}`.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// What a render produced: the text and the files `cat` and `credential` read.
pub(super) struct Output {
    pub(super) text: String,
    pub(super) files_read: Vec<PathBuf>,
}

pub(super) fn execute(
    tree: &Tree,
    data: Value,
    functions: &Functions<'_>,
    limits: &Limits,
) -> Result<Output> {
    let dot = Slot::plain(data);
    let mut state = State {
        tree,
        functions,
        limits,
        out: String::new(),
        vars: vec![("$".to_string(), dot.clone())],
        steps: 0,
        at: tree.root.first().map_or(Pos { line: 1, col: 1 }, node_pos),
        produced: 0,
        depth: 0,
        files_read: Vec::new(),
    };
    state.walk(&tree.root, &dot)?;
    Ok(Output {
        text: state.out,
        files_read: state.files_read,
    })
}

pub(super) struct State<'a> {
    tree: &'a Tree,
    pub(super) functions: &'a Functions<'a>,
    limits: &'a Limits,
    out: String,
    /// Variables in scope, innermost last; a control action drops its own at `{{end}}`.
    vars: Vec<(String, Slot)>,
    steps: u64,
    /// The node being evaluated, where an error is reported (Go's `state.at`).
    pub(super) at: Pos,
    /// Bytes of text built so far (output and every string a function returned).
    produced: usize,
    depth: usize,
    pub(super) files_read: Vec<PathBuf>,
}

/// `.Field` on a value, with Go's answers: nothing on a missing value or map key, an error on
/// a nil held in an interface or on anything but a map.
fn field(receiver: Slot, name: &str, has_args: bool, pos: Pos) -> Result<Slot> {
    match &receiver.value {
        Value::Nil if receiver.boxed => {
            Err(pos.exec(format!("nil pointer evaluating interface {{}}.{name}")))
        }
        Value::Nil => Ok(Slot::plain(Value::Nil)),
        Value::Map(_) if has_args => {
            Err(pos.exec(format!("{name} is not a method but has arguments")))
        }
        Value::Map(map) => Ok(match map.get(name) {
            Some(v) => Slot {
                value: v.clone(),
                boxed: true,
            },
            None => Slot::plain(Value::Nil),
        }),
        _ => Err(pos.exec(format!(
            "can't evaluate field {name} in type {}",
            receiver.type_name()
        ))),
    }
}

fn field_chain(mut receiver: Slot, names: &[String], has_args: bool, pos: Pos) -> Result<Slot> {
    for (i, name) in names.iter().enumerate() {
        receiver = field(receiver, name, has_args && i + 1 == names.len(), pos)?;
    }
    Ok(receiver)
}

fn node_pos(node: &Node) -> Pos {
    match node {
        Node::Text(_, pos) | Node::Template { pos, .. } => *pos,
        Node::Action(pipe) | Node::Branch { pipe, .. } | Node::Range { pipe, .. } => pipe.pos,
        Node::Break | Node::Continue => Pos { line: 1, col: 1 },
    }
}

/// Go's `idealConstant`: a number constant where no type is known.
fn constant(value: Constant, raw: &str, pos: Pos) -> Result<Value> {
    match value {
        Constant::Int(n) => Ok(Value::Int(n)),
        Constant::Float(x) => Ok(Value::Float(x)),
        Constant::Complex(re, im) => Ok(Value::Complex(re, im)),
        Constant::Overflow => Err(pos.exec(format!("{raw} overflows int"))),
    }
}

impl State<'_> {
    /// Counts one step of work; fails past the limit.
    fn step(&mut self, pos: Pos) -> Result<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            let limit = self.limits.max_steps;
            return Err(pos.exec(format!("render stopped after {limit} steps (the limit)")));
        }
        Ok(())
    }

    /// Counts `bytes` more of built text; fails past the limit.
    pub(super) fn produce(&mut self, bytes: usize, pos: Pos) -> Result<()> {
        self.produced = self.produced.saturating_add(bytes);
        if self.produced > self.limits.max_bytes {
            return Err(self.too_much(pos));
        }
        Ok(())
    }

    pub(super) fn too_much(&self, pos: Pos) -> TemplateError {
        let limit = self.limits.max_bytes;
        pos.exec(format!(
            "render stopped: more than {limit} bytes of text built (the limit)"
        ))
    }

    /// What a function may still build before the limit.
    pub(super) fn room(&self) -> usize {
        self.limits.max_bytes.saturating_sub(self.produced)
    }

    fn write(&mut self, text: &str, pos: Pos) -> Result<()> {
        self.produce(text.len(), pos)?;
        self.out.push_str(text);
        Ok(())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Slot) -> Result<Flow> {
        for node in nodes {
            let flow = self.node(node, dot)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// A nested list of nodes, counted against the run-time depth limit.
    fn nested(&mut self, nodes: &[Node], dot: &Slot, pos: Pos) -> Result<Flow> {
        self.depth += 1;
        if self.depth > MAX_EXEC_DEPTH {
            return Err(pos.exec(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            )));
        }
        let flow = self.walk(nodes, dot);
        self.depth -= 1;
        flow
    }

    fn node(&mut self, node: &Node, dot: &Slot) -> Result<Flow> {
        match node {
            Node::Text(text, pos) => {
                self.step(*pos)?;
                self.write(text, *pos)?;
            }
            Node::Action(pipe) => {
                self.step(pipe.pos)?;
                let value = self.pipeline(dot, pipe)?;
                // A declaration or assignment prints nothing.
                if pipe.decl.is_none() {
                    self.print(&value, pipe.pos)?;
                }
            }
            Node::Branch {
                with,
                pipe,
                then,
                otherwise,
            } => {
                self.step(pipe.pos)?;
                let mark = self.vars.len();
                let result = self.branch(*with, pipe, (then, otherwise), dot);
                self.vars.truncate(mark);
                return result;
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                self.step(pipe.pos)?;
                let mark = self.vars.len();
                let result = self.range(pipe, body, otherwise, dot);
                self.vars.truncate(mark);
                return result.map(|()| Flow::Normal);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                self.step(*pos)?;
                self.call_template(*pos, name, pipe.as_ref(), dot)?;
            }
        }
        Ok(Flow::Normal)
    }

    /// What `{{ … }}` writes: `%v`, except that nil is `<no value>`.
    fn print(&mut self, value: &Value, pos: Pos) -> Result<()> {
        if *value == Value::Nil {
            return self.write("<no value>", pos);
        }
        let text = gofmt::print_v(value, self.room()).map_err(|_| self.too_much(pos))?;
        self.write(&text, pos)
    }

    fn branch(
        &mut self,
        with: bool,
        pipe: &Pipe,
        (then, otherwise): (&[Node], &[Node]),
        dot: &Slot,
    ) -> Result<Flow> {
        let value = self.pipeline(dot, pipe)?;
        match (value.truth(), with) {
            (true, true) => self.nested(then, &Slot::plain(value), pipe.pos),
            (true, false) => self.nested(then, dot, pipe.pos),
            (false, _) => self.nested(otherwise, dot, pipe.pos),
        }
    }

    fn range(&mut self, pipe: &Pipe, body: &[Node], otherwise: &[Node], dot: &Slot) -> Result<()> {
        let value = self.pipeline(dot, pipe)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => (0..).map(Value::Int).zip(items.iter().cloned()).collect(),
            Value::Map(map) => map
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                .collect(),
            Value::Nil => Vec::new(),
            v => {
                let text = gofmt::print_v(v, self.room()).map_err(|_| self.too_much(pipe.pos))?;
                return Err(self.at.exec(format!("range can't iterate over {text}")));
            }
        };
        if items.is_empty() {
            self.nested(otherwise, dot, pipe.pos)?;
            return Ok(());
        }
        let names = pipe.decl.as_ref().map_or(&[][..], |d| &d.names[..]);
        let mark = self.vars.len();
        for (key, elem) in items {
            self.step(pipe.pos)?;
            let elem = Slot {
                value: elem,
                boxed: true,
            };
            // The last declared variable gets the element, the first (of two) the key.
            let len = self.vars.len();
            if let Some(slot) = self
                .vars
                .get_mut(len.wrapping_sub(1))
                .filter(|_| !names.is_empty())
            {
                slot.1 = elem.clone();
            }
            if names.len() > 1 {
                if let Some(slot) = self.vars.get_mut(len.wrapping_sub(2)) {
                    slot.1 = Slot::plain(key);
                }
            }
            let flow = self.nested(body, &elem, pipe.pos)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        Ok(())
    }

    fn call_template(
        &mut self,
        pos: Pos,
        name: &str,
        pipe: Option<&Pipe>,
        dot: &Slot,
    ) -> Result<()> {
        let Some(body) = self.tree.defined.get(name) else {
            let name = super::escape::quote(name, false);
            return Err(pos.exec(format!("template {name} not defined")));
        };
        let new_dot = match pipe {
            Some(pipe) => Slot::plain(self.pipeline(dot, pipe)?),
            None => Slot::plain(Value::Nil),
        };
        // No dynamic scoping: a template sees only `$`, its own dot.
        let outer = std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let result = self.nested(body, &new_dot, pos);
        self.vars = outer;
        result.map(|_| ())
    }

    pub(super) fn pipeline(&mut self, dot: &Slot, pipe: &Pipe) -> Result<Value> {
        self.at = pipe.pos;
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?.value);
        }
        let value = value.unwrap_or(Value::Nil);
        if let Some(decl) = &pipe.decl {
            for name in &decl.names {
                if decl.assign {
                    self.set_var(name, value.clone(), self.at)?;
                } else {
                    self.vars.push((name.clone(), Slot::plain(value.clone())));
                }
            }
        }
        Ok(value)
    }

    /// One stage of a pipeline; `last` is the previous stage's value, passed as the last
    /// argument.
    fn command(&mut self, dot: &Slot, cmd: &Command, last: Option<Value>) -> Result<Slot> {
        let Some((first, args)) = cmd.args.split_first() else {
            return Ok(Slot::plain(Value::Nil));
        };
        let pos = first.pos;
        self.step(pos)?;
        let has_args = !args.is_empty() || last.is_some();
        if !matches!(first.kind, ArgKind::Pipe(_)) {
            self.at = pos;
        }
        match &first.kind {
            ArgKind::Ident(name) => self.call(dot, name, args, last, pos).map(Slot::plain),
            ArgKind::Field(names) => field_chain(dot.clone(), names, has_args, pos),
            ArgKind::Chain {
                base,
                fields: names,
            } => {
                let receiver = self.chain_base(dot, base)?;
                field_chain(receiver, names, has_args, self.at)
            }
            ArgKind::Var {
                name,
                fields: names,
            } if !names.is_empty() => field_chain(self.var(name, pos)?, names, has_args, pos),
            kind => {
                if has_args {
                    let message = format!("can't give argument to non-function {first}");
                    return Err(pos.exec(message));
                }
                if matches!(kind, ArgKind::Nil) {
                    return Err(pos.exec("nil is not a command"));
                }
                self.slot(dot, first)
            }
        }
    }

    fn chain_base(&mut self, dot: &Slot, base: &Arg) -> Result<Slot> {
        if matches!(base.kind, ArgKind::Nil) {
            return Err(base
                .pos
                .exec(format!("indirection through explicit nil in {base}")));
        }
        self.value(dot, base).map(Slot::plain)
    }

    /// An argument's value (Go's `evalEmptyInterface`); a bare function name is called.
    pub(super) fn value(&mut self, dot: &Slot, arg: &Arg) -> Result<Value> {
        self.slot(dot, arg).map(|s| s.value)
    }

    pub(super) fn slot(&mut self, dot: &Slot, arg: &Arg) -> Result<Slot> {
        let pos = arg.pos;
        self.at = pos;
        let plain = |v: Value| Ok(Slot::plain(v));
        match &arg.kind {
            ArgKind::Str { value, .. } => {
                self.produce(value.len(), pos)?;
                plain(Value::Str(value.clone()))
            }
            ArgKind::Number { value, raw } => plain(constant(*value, raw, pos)?),
            ArgKind::Bool(b) => plain(Value::Bool(*b)),
            ArgKind::Nil => plain(Value::Nil),
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Ident(name) => plain(self.call(dot, name, &[], None, pos)?),
            ArgKind::Var {
                name,
                fields: names,
            } => field_chain(self.var(name, pos)?, names, false, pos),
            ArgKind::Field(names) => field_chain(dot.clone(), names, false, pos),
            ArgKind::Pipe(pipe) => plain(self.pipeline(dot, pipe)?),
            ArgKind::Chain {
                base,
                fields: names,
            } => {
                let receiver = self.chain_base(dot, base)?;
                field_chain(receiver, names, false, self.at)
            }
        }
    }

    fn var(&self, name: &str, pos: Pos) -> Result<Slot> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, slot)) => Ok(slot.clone()),
            None => Err(pos.exec(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Value, pos: Pos) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some((_, slot)) => {
                *slot = Slot::plain(value);
                Ok(())
            }
            None => Err(pos.exec(format!("undefined variable: {name}"))),
        }
    }
}
