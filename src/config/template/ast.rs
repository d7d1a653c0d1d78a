//! The parsed tree of a template, and Go's `Node.String()` text for error messages.

use std::fmt;

use super::literal::Constant;
use super::Pos;

#[derive(Debug)]
pub(super) enum Node {
    Text(String, Pos),
    Action(Pipe),
    /// `{{if}}` (`with: false`) or `{{with}}`; an `{{else if}}` is an `if` alone in `otherwise`.
    Branch {
        with: bool,
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
    /// `{{template "name" pipeline}}` (also what `{{block}}` leaves in place).
    Template {
        pos: Pos,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// A whole template: the main tree and the trees `define` and `block` named.
#[derive(Debug, Default)]
pub(super) struct Tree {
    pub(super) root: Vec<Node>,
    pub(super) defined: std::collections::HashMap<String, Vec<Node>>,
}

#[derive(Debug)]
pub(super) struct Pipe {
    pub(super) pos: Pos,
    pub(super) decl: Option<Decl>,
    pub(super) cmds: Vec<Command>,
}

/// `$name :=` (declare) or `$name =` (assign); `range $i, $e :=` declares two.
#[derive(Debug)]
pub(super) struct Decl {
    pub(super) names: Vec<String>,
    pub(super) assign: bool,
}

#[derive(Debug)]
pub(super) struct Command {
    pub(super) args: Vec<Arg>,
}

#[derive(Debug)]
pub(super) struct Arg {
    pub(super) pos: Pos,
    pub(super) kind: ArgKind,
}

#[derive(Debug)]
pub(super) enum ArgKind {
    Str { value: String, raw: String },
    Number { value: Constant, raw: String },
    Bool(bool),
    Nil,
    Dot,
    Ident(String),
    Var { name: String, fields: Vec<String> },
    Field(Vec<String>),
    Pipe(Box<Pipe>),
    Chain { base: Box<Arg>, fields: Vec<String> },
}

/// Go's `Node.String()`, used in messages such as "can't give argument to non-function".
impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>, names: &[String]| {
            names.iter().try_for_each(|n| write!(f, ".{n}"))
        };
        match &self.kind {
            ArgKind::Str { raw, .. } | ArgKind::Number { raw, .. } => f.write_str(raw),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Dot => f.write_str("."),
            ArgKind::Ident(name) => f.write_str(name),
            ArgKind::Var {
                name,
                fields: names,
            } => {
                f.write_str(name)?;
                fields(f, names)
            }
            ArgKind::Field(names) => fields(f, names),
            ArgKind::Pipe(pipe) => write!(f, "({pipe})"),
            ArgKind::Chain {
                base,
                fields: names,
            } => {
                write!(f, "{base}")?;
                fields(f, names)
            }
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(decl) = &self.decl {
            let op = if decl.assign { "=" } else { ":=" };
            write!(f, "{} {op} ", decl.names.join(", "))?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            f.write_str(if i > 0 { " | " } else { "" })?;
            for (j, arg) in cmd.args.iter().enumerate() {
                write!(f, "{}{arg}", if j > 0 { " " } else { "" })?;
            }
        }
        Ok(())
    }
}

impl Arg {
    /// Constants that cannot take arguments or be a later stage of a pipeline.
    pub(super) fn is_literal(&self) -> bool {
        matches!(
            self.kind,
            ArgKind::Str { .. }
                | ArgKind::Number { .. }
                | ArgKind::Bool(_)
                | ArgKind::Nil
                | ArgKind::Dot
        )
    }
}
