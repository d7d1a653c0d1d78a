//! The parsed tree of a template, and Go's `Node.String()` text for error messages.

use std::fmt;

use super::Pos;

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    /// `{{if}}` (`with: false`) or `{{with}}`; an `{{else if}}` is an `if` alone in `otherwise`.
    Branch {
        with: bool,
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug)]
pub(super) struct Pipe {
    pub(super) pos: Pos,
    pub(super) decl: Option<Decl>,
    pub(super) cmds: Vec<Command>,
}

/// `$name :=` (declare) or `$name =` (assign).
#[derive(Debug)]
pub(super) struct Decl {
    pub(super) name: String,
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
    Int { value: i64, raw: String },
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
            ArgKind::Str { raw, .. } | ArgKind::Int { raw, .. } => f.write_str(raw),
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
            write!(f, "{} {op} ", decl.name)?;
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
                | ArgKind::Int { .. }
                | ArgKind::Bool(_)
                | ArgKind::Nil
                | ArgKind::Dot
        )
    }
}
