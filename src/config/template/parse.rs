//! Parser: builds the tree Go's `text/template/parse` would (Go 1.19) and rejects at parse time
//! what Go rejects there: unknown functions, undefined variables, misplaced `{{else}}`/`{{end}}`,
//! `{{break}}`/`{{continue}}` outside `{{range}}`, malformed constants. Control actions are in
//! `control`.

use super::ast::{Arg, ArgKind, Command, Decl, Node, Pipe, Tree};
use super::escape;
use super::lex::{Tok, Token};
use super::literal::{self, LiteralError};
use super::{funcs, Pos, TemplateError};

/// Nesting limit for parentheses and `if`/`with`/`range`, so hostile input cannot exhaust the
/// stack (Go allows 10,000).
const MAX_DEPTH: usize = 100;

/// What one `textOrAction` step produced: a node, or an `{{end}}`/`{{else}}` for the caller.
pub(super) enum Item {
    Node(Node),
    End,
    Else(Pos),
    ElseIf(Pos),
}

/// The tree of a whole template; `webhook` says whether `getenv`, `cat` and `credential` exist.
pub(super) fn parse(tokens: &[Token], webhook: bool) -> Result<Tree, TemplateError> {
    let mut parser = Parser {
        tokens,
        at: 0,
        vars: vec!["$".to_string()],
        depth: 0,
        range_depth: 0,
        webhook,
        tree: Tree::default(),
    };
    let mut nodes = Vec::new();
    while parser.peek().tok != Tok::Eof {
        let pos = parser.peek().pos;
        if parser.peek().tok == Tok::LeftDelim {
            let save = parser.at;
            parser.next();
            if parser.next_non_space().tok == Tok::Keyword("define") {
                parser.define()?;
                continue;
            }
            parser.at = save;
        }
        match parser.text_or_action()? {
            Item::Node(node) => nodes.push(node),
            Item::End => return Err(pos.syntax("unexpected {{end}}")),
            Item::Else(_) | Item::ElseIf(_) => return Err(pos.syntax("unexpected {{else}}")),
        }
    }
    parser.tree.root = nodes;
    Ok(parser.tree)
}

pub(super) struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    /// Variables in scope, as Go's parser tracks them: popped at the `{{end}}` of a control.
    pub(super) vars: Vec<String>,
    pub(super) depth: usize,
    /// How many `{{range}}`s enclose the current action (for `{{break}}`/`{{continue}}`).
    pub(super) range_depth: usize,
    webhook: bool,
    pub(super) tree: Tree,
}

/// Go's `item.String()` for "unexpected X in Y" messages.
fn describe(tok: &Tok) -> String {
    let text = match tok {
        Tok::Eof => return "EOF".to_string(),
        Tok::Keyword(k) => return format!("<{k}>"),
        Tok::Text(s)
        | Tok::Str(s)
        | Tok::CharConst(s)
        | Tok::Number(s)
        | Tok::Ident(s)
        | Tok::Variable(s)
        | Tok::Error(s) => s.clone(),
        Tok::Field(f) => format!(".{f}"),
        Tok::Bool(b) => b.to_string(),
        Tok::Char(c) => c.to_string(),
        Tok::LeftDelim => "{{".into(),
        Tok::RightDelim => "}}".into(),
        Tok::Space => " ".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::LeftParen => "(".into(),
        Tok::RightParen => ")".into(),
        Tok::Dot => ".".into(),
    };
    if text.chars().count() > 10 {
        format!(
            "{}...",
            escape::quote(&text.chars().take(10).collect::<String>(), false)
        )
    } else {
        escape::quote(&text, false)
    }
}

fn literal_error(pos: Pos, e: LiteralError) -> TemplateError {
    match e {
        LiteralError::Syntax(m) => pos.syntax(m),
        LiteralError::Unsupported(what) => pos.unsupported(what),
    }
}

impl Parser<'_> {
    fn token(&self, i: usize) -> Token {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens.get(i.min(last)).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            pos: Pos { line: 1, col: 1 },
        })
    }

    pub(super) fn peek(&self) -> Token {
        self.token(self.at)
    }

    pub(super) fn next(&mut self) -> Token {
        self.at += 1;
        self.token(self.at - 1)
    }

    pub(super) fn backup(&mut self) {
        self.at -= 1;
    }

    pub(super) fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.tok != Tok::Space {
                return t;
            }
        }
    }

    pub(super) fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    pub(super) fn unexpected(&self, t: &Token, context: &str) -> TemplateError {
        match &t.tok {
            Tok::Error(message) => t.pos.syntax(message.clone()),
            tok => t
                .pos
                .syntax(format!("unexpected {} in {context}", describe(tok))),
        }
    }

    pub(super) fn enter(&mut self, pos: Pos) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(pos.syntax("max expression depth exceeded"));
        }
        Ok(())
    }

    pub(super) fn text_or_action(&mut self) -> Result<Item, TemplateError> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(text) => Ok(Item::Node(Node::Text(text, t.pos))),
            Tok::LeftDelim => self.action(t.pos),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self, delim: Pos) -> Result<Item, TemplateError> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Keyword("if") => self.control("if", delim).map(Item::Node),
            Tok::Keyword("with") => self.control("with", delim).map(Item::Node),
            Tok::Keyword("range") => self.control("range", delim).map(Item::Node),
            Tok::Keyword(k @ ("break" | "continue")) => self.loop_control(k, delim).map(Item::Node),
            Tok::Keyword("template") => self.template_call(delim).map(Item::Node),
            Tok::Keyword("block") => self.block(delim).map(Item::Node),
            Tok::Keyword("else") => {
                if self.peek_non_space().tok == Tok::Keyword("if") {
                    self.next_non_space();
                    return Ok(Item::ElseIf(delim));
                }
                self.expect_right_delim("else")?;
                Ok(Item::Else(delim))
            }
            Tok::Keyword("end") => {
                self.expect_right_delim("end")?;
                Ok(Item::End)
            }
            _ => {
                self.backup();
                let pipe = self.pipeline("command", &Tok::RightDelim, delim)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), TemplateError> {
        let t = self.next_non_space();
        if t.tok == Tok::RightDelim {
            return Ok(());
        }
        Err(self.unexpected(&t, context))
    }

    /// `[$x := | $x =] command ('|' command)*` up to `end`.
    pub(super) fn pipeline(
        &mut self,
        context: &str,
        end: &Tok,
        pos: Pos,
    ) -> Result<Pipe, TemplateError> {
        // Go places the pipeline at its first token; `pos` (its action) is for "missing value".
        let start = self.peek_non_space().pos;
        let decl = self.declaration(context)?;
        let mut cmds = Vec::new();
        loop {
            let t = self.next_non_space();
            match &t.tok {
                tok if tok == end => break,
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Number(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Keyword("nil")
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
        if cmds.is_empty() {
            return Err(pos.syntax(format!("missing value for {context}")));
        }
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if let Some(first) = cmd.args.first().filter(|a| a.is_literal()) {
                let message = format!("non executable command in pipeline stage {}", i + 1);
                return Err(first.pos.syntax(message));
            }
        }
        Ok(Pipe {
            pos: start,
            decl,
            cmds,
        })
    }

    fn declaration(&mut self, context: &str) -> Result<Option<Decl>, TemplateError> {
        let mut names = Vec::new();
        loop {
            let save = self.at;
            let Tok::Variable(name) = self.next_non_space().tok else {
                self.at = save;
                break;
            };
            let next = self.peek_non_space();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    self.next_non_space();
                    self.vars.push(name.clone());
                    names.push(name);
                    let assign = next.tok == Tok::Assign;
                    return Ok(Some(Decl { names, assign }));
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    self.vars.push(name.clone());
                    names.push(name);
                    if context == "range" && names.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => {
                                return Err(next.pos.syntax("range can only initialize variables"))
                            }
                        }
                    }
                    return Err(next
                        .pos
                        .syntax(format!("too many declarations in {context}")));
                }
                _ => {
                    self.at = save;
                    break;
                }
            }
        }
        Ok((!names.is_empty()).then_some(Decl {
            names,
            assign: false,
        }))
    }

    /// Operands up to `|` (consumed) or the end of the pipeline (left for the caller).
    fn command(&mut self) -> Result<Command, TemplateError> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(pos.syntax("empty command"));
        }
        Ok(Command { args })
    }

    /// A term, with any `.Field`s written right after it.
    fn operand(&mut self) -> Result<Option<Arg>, TemplateError> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        // Go places a chained operand (`.A.B`, `$x.Y`, `(p).Z`) at its first chained field.
        let chain_pos = self.peek().pos;
        while let Tok::Field(name) = self.peek().tok {
            self.next();
            fields.push(name);
        }
        if fields.is_empty() {
            return Ok(Some(term));
        }
        let pos = if term.is_literal() {
            term.pos
        } else {
            chain_pos
        };
        let kind = match term.kind {
            ArgKind::Field(mut names) => {
                names.extend(fields);
                ArgKind::Field(names)
            }
            ArgKind::Var {
                name,
                fields: mut names,
            } => {
                names.extend(fields);
                ArgKind::Var {
                    name,
                    fields: names,
                }
            }
            _ if term.is_literal() => {
                return Err(pos.syntax(format!(
                    "unexpected . after term {}",
                    escape::quote(&term.to_string(), false)
                )));
            }
            _ => ArgKind::Chain {
                base: Box::new(term),
                fields,
            },
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn term(&mut self) -> Result<Option<Arg>, TemplateError> {
        let t = self.next_non_space();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Ident(name) if funcs::lookup(&name, self.webhook).is_none() => {
                let (line, col) = (pos.line, pos.col);
                return Err(TemplateError::UndefinedFunction { line, col, name });
            }
            Tok::Ident(name) => ArgKind::Ident(name),
            Tok::Dot => ArgKind::Dot,
            Tok::Keyword("nil") => ArgKind::Nil,
            Tok::Variable(name) if !self.vars.contains(&name) => {
                let name = escape::quote(&name, false);
                return Err(pos.syntax(format!("undefined variable {name}")));
            }
            Tok::Variable(name) => ArgKind::Var {
                name,
                fields: Vec::new(),
            },
            Tok::Field(name) => ArgKind::Field(vec![name]),
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Number(raw) => ArgKind::Number {
                value: literal::parse_number(&raw).map_err(|e| literal_error(pos, e))?,
                raw,
            },
            Tok::CharConst(raw) => ArgKind::Number {
                value: literal::unquote_char(&raw)
                    .map(literal::Constant::Int)
                    .map_err(|e| literal_error(pos, e))?,
                raw,
            },
            Tok::Str(raw) => ArgKind::Str {
                value: literal::unquote_string(&raw).map_err(|e| literal_error(pos, e))?,
                raw,
            },
            Tok::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen, pos);
                self.depth -= 1;
                ArgKind::Pipe(Box::new(pipe?))
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos, kind }))
    }
}
