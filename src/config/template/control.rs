//! Parser, continued: the control actions (`if`, `with`, `range`, `break`, `continue`,
//! `define`, `template`, `block`) with the checks Go's parser makes for them.

use super::ast::Node;
use super::lex::Tok;
use super::parse::{Item, Parser};
use super::{literal, Pos, TemplateError};

type Result<T> = std::result::Result<T, TemplateError>;

impl Parser<'_> {
    /// `{{if}}`/`{{with}}`/`{{range}}` up to its `{{end}}`; variables declared inside go out of
    /// scope there.
    pub(super) fn control(&mut self, context: &'static str, delim: Pos) -> Result<Node> {
        self.enter(delim)?;
        let mark = self.vars.len();
        let node = self.control_body(context, delim);
        self.vars.truncate(mark);
        self.depth -= 1;
        node
    }

    fn control_body(&mut self, context: &'static str, delim: Pos) -> Result<Node> {
        let pipe = self.pipeline(context, &Tok::RightDelim, delim)?;
        let range = context == "range";
        self.range_depth += usize::from(range);
        let list = self.item_list();
        self.range_depth -= usize::from(range);
        let (then, stop) = list?;
        let otherwise = match stop {
            Item::ElseIf(pos) if context == "if" => vec![self.control("if", pos)?],
            // Go leaves the `if` for the next action, where it cannot start one.
            Item::ElseIf(pos) => return Err(pos.syntax("unexpected <if> in input")),
            Item::Else(_) => match self.item_list()? {
                (list, Item::End) => list,
                (_, Item::Else(pos) | Item::ElseIf(pos)) => {
                    return Err(pos.syntax("expected end; found {{else}}"));
                }
                (_, Item::Node(_)) => unreachable!("item_list stops only at end or else"),
            },
            Item::End | Item::Node(_) => Vec::new(),
        };
        Ok(match context {
            "range" => Node::Range {
                pipe,
                body: then,
                otherwise,
            },
            _ => Node::Branch {
                with: context == "with",
                pipe,
                then,
                otherwise,
            },
        })
    }

    /// Nodes up to the next `{{end}}` or `{{else}}`, which is returned too.
    pub(super) fn item_list(&mut self) -> Result<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        loop {
            let next = self.peek_non_space();
            if next.tok == Tok::Eof {
                return Err(next.pos.syntax("unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                stop => return Ok((list, stop)),
            }
        }
    }

    /// `{{break}}` or `{{continue}}`, only inside a `{{range}}`.
    pub(super) fn loop_control(&mut self, keyword: &str, delim: Pos) -> Result<Node> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return Err(self.unexpected(&t, &format!("{{{{{keyword}}}}}")));
        }
        if self.range_depth == 0 {
            return Err(delim.syntax(format!("{{{{{keyword}}}}} outside {{{{range}}}}")));
        }
        Ok(if keyword == "break" {
            Node::Break
        } else {
            Node::Continue
        })
    }

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&mut self, context: &str) -> Result<(Pos, String)> {
        let t = self.next_non_space();
        match &t.tok {
            Tok::Str(raw) => literal::unquote_string(raw)
                .map(|name| (t.pos, name))
                .map_err(|_| t.pos.syntax("invalid syntax")),
            _ => Err(self.unexpected(&t, context)),
        }
    }

    /// `{{template "name"}}` or `{{template "name" pipeline}}`.
    pub(super) fn template_call(&mut self, delim: Pos) -> Result<Node> {
        const CONTEXT: &str = "template clause";
        let (pos, name) = self.template_name(CONTEXT)?;
        let pipe = if self.peek_non_space().tok == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline(CONTEXT, &Tok::RightDelim, delim)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    /// `{{block "name" pipeline}}…{{end}}`: defines the template and calls it in place.
    pub(super) fn block(&mut self, delim: Pos) -> Result<Node> {
        const CONTEXT: &str = "block clause";
        let (pos, name) = self.template_name(CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, &Tok::RightDelim, delim)?;
        let body = self.definition_body(CONTEXT)?;
        self.add_definition(&name, body, pos)?;
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    /// `{{define "name"}}…{{end}}` at the top level; the `{{define` is consumed.
    pub(super) fn define(&mut self) -> Result<()> {
        const CONTEXT: &str = "define clause";
        let (pos, name) = self.template_name(CONTEXT)?;
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return Err(self.unexpected(&t, CONTEXT));
        }
        let body = self.definition_body(CONTEXT)?;
        self.add_definition(&name, body, pos)
    }

    /// A definition's nodes, parsed as a template of its own: only `$` is in scope.
    fn definition_body(&mut self, context: &str) -> Result<Vec<Node>> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::take(&mut self.range_depth);
        let list = self.item_list();
        self.vars = vars;
        self.range_depth = range_depth;
        match list? {
            (body, Item::End) => Ok(body),
            (_, Item::Else(pos) | Item::ElseIf(pos)) => {
                Err(pos.syntax(format!("unexpected {{{{else}}}} in {context}")))
            }
            (_, Item::Node(_)) => unreachable!("item_list stops only at end or else"),
        }
    }

    /// Go's `Tree.add`: an empty definition never replaces another; two non-empty ones clash.
    fn add_definition(&mut self, name: &str, body: Vec<Node>, pos: Pos) -> Result<()> {
        // Go's `IsEmptyTree`: nothing but white space.
        let is_empty = |nodes: &[Node]| {
            nodes.iter().all(|n| match n {
                Node::Text(text, _) => text.trim().is_empty(),
                _ => false,
            })
        };
        match self.tree.defined.get(name) {
            Some(old) if !is_empty(old) => {
                if !is_empty(&body) {
                    return Err(pos.syntax(format!(
                        "template: multiple definition of template {}",
                        super::escape::quote(name, false)
                    )));
                }
            }
            _ => {
                self.tree.defined.insert(name.to_string(), body);
            }
        }
        Ok(())
    }
}
