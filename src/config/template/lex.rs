//! Lexer: splits a template into text and action tokens, applying trim markers and dropping
//! comments exactly where Go's `text/template/parse` lexer (Go 1.19) does.
//!
//! A lexing error becomes the last token, so the parser reports it only when it reaches it,
//! after any earlier parse error, as Go does.

use super::{escape, literal, Pos};

/// Go's space characters: what trim markers remove and what separates arguments.
const SPACE: [char; 4] = [' ', '\t', '\r', '\n'];

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    Declare,
    Assign,
    LeftParen,
    RightParen,
    /// A quoted or raw string, quotes included.
    Str(String),
    CharConst(String),
    Number(String),
    Bool(bool),
    Dot,
    /// `.Name`, without the dot.
    Field(String),
    /// `$` or `$name`, with the dollar.
    Variable(String),
    Ident(String),
    Keyword(&'static str),
    /// Any other printable ASCII character, such as `,`.
    Char(char),
    Error(String),
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
}

const KEYWORDS: [&str; 11] = [
    "block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with",
];

/// Tokens of `src`, ending with `Eof` or `Error`.
pub(super) fn lex(src: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        src,
        at: 0,
        line_starts: std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        out: Vec::new(),
    };
    lexer.run();
    lexer.out
}

struct Lexer<'a> {
    src: &'a str,
    at: usize,
    line_starts: Vec<usize>,
    out: Vec<Token>,
}

fn is_space(c: char) -> bool {
    SPACE.contains(&c)
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `- ` (any Go space) right after `{{`.
fn has_left_trim(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('-') && chars.next().is_some_and(is_space)
}

/// At `}}` (`Some(false)`) or ` -}}` (`Some(true)`).
fn at_right_delim(s: &str) -> Option<bool> {
    let mut chars = s.chars();
    if chars.next().is_some_and(is_space) && chars.as_str().starts_with("-}}") {
        return Some(true);
    }
    s.starts_with("}}").then_some(false)
}

/// Go's `%#U`: `U+0029 ')'`.
pub(super) fn describe_char(c: char) -> String {
    if escape::is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

impl Lexer<'_> {
    fn pos(&self, offset: usize) -> Pos {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        Pos {
            line,
            col: self.src[start..offset].chars().count() + 1,
        }
    }

    fn emit(&mut self, tok: Tok, offset: usize) {
        let pos = self.pos(offset);
        self.out.push(Token { tok, pos });
    }

    fn rest(&self) -> &str {
        &self.src[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn run(&mut self) {
        while let Some(x) = self.rest().find("{{") {
            let delim = self.at + x;
            let trim = has_left_trim(&self.src[delim + 2..]);
            let mut text = &self.src[self.at..delim];
            if trim {
                text = text.trim_end_matches(SPACE);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), self.at);
            }
            self.at = delim + 2 + if trim { 2 } else { 0 };
            let ok = if self.rest().starts_with("/*") {
                self.comment(delim)
            } else {
                self.action(delim)
            };
            if !ok {
                return;
            }
        }
        if !self.rest().is_empty() {
            self.emit(Tok::Text(self.rest().to_string()), self.at);
        }
        self.emit(Tok::Eof, self.src.len());
    }

    fn fail(&mut self, message: String, offset: usize) -> bool {
        self.emit(Tok::Error(message), offset);
        false
    }

    /// Skips the right delimiter at `self.at` and, after ` -}}`, the spaces that follow.
    fn right_delim(&mut self, trim: bool) {
        self.at += if trim { 4 } else { 2 };
        if trim {
            self.at = self.src.len() - self.rest().trim_start_matches(SPACE).len();
        }
    }

    /// A comment; `self.at` is on `/*`. Returns false after an error.
    fn comment(&mut self, delim: usize) -> bool {
        let Some(end) = self.rest()[2..].find("*/") else {
            return self.fail("unclosed comment".into(), delim);
        };
        self.at += 2 + end + 2;
        match at_right_delim(self.rest()) {
            Some(trim) => {
                self.right_delim(trim);
                true
            }
            None => self.fail("comment ends before closing delimiter".into(), delim),
        }
    }

    /// An action; `self.at` is just past `{{` and any trim marker. Returns false after an error.
    fn action(&mut self, delim: usize) -> bool {
        self.emit(Tok::LeftDelim, delim);
        let mut depth = 0usize;
        loop {
            if let Some(trim) = at_right_delim(self.rest()) {
                if depth > 0 {
                    return self.fail("unclosed left paren".into(), delim);
                }
                self.emit(Tok::RightDelim, self.at + if trim { 2 } else { 0 });
                self.right_delim(trim);
                return true;
            }
            let start = self.at;
            let Some(c) = self.peek() else {
                return self.fail("unclosed action".into(), delim);
            };
            self.at += c.len_utf8();
            match self.action_token(c, start, &mut depth) {
                Ok(Tok::Space) if self.at == start => {}
                Ok(tok) => self.emit(tok, start),
                Err(message) => return self.fail(message, start),
            }
        }
    }

    /// The token inside an action that starts with `c` (consumed) at `start`.
    fn action_token(&mut self, c: char, start: usize, depth: &mut usize) -> Result<Tok, String> {
        match c {
            c if is_space(c) => Ok(self.space()),
            '=' => Ok(Tok::Assign),
            ':' if self.rest().starts_with('=') => {
                self.at += 1;
                Ok(Tok::Declare)
            }
            ':' => Err("expected :=".to_string()),
            '|' => Ok(Tok::Pipe),
            '"' => self.quoted('"', "unterminated quoted string"),
            '\'' => self.quoted('\'', "unterminated character constant"),
            '`' => self.raw_quoted(),
            '$' => self.word(start, |w| Tok::Variable(w.to_string())),
            '.' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                self.word(start, |w| Tok::Field(w[1..].to_string()))
            }
            '.' | '+' | '-' | '0'..='9' => self.number(start),
            c if is_alnum(c) => self.word(start, keyword_or_ident),
            '(' => {
                *depth += 1;
                Ok(Tok::LeftParen)
            }
            ')' if *depth == 0 => {
                // Go emits the paren before the error, so the parser complains first.
                self.emit(Tok::RightParen, start);
                Err(format!("unexpected right paren {}", describe_char(c)))
            }
            ')' => {
                *depth -= 1;
                Ok(Tok::RightParen)
            }
            c if c.is_ascii() && escape::is_print(c) => Ok(Tok::Char(c)),
            c => Err(format!(
                "unrecognized character in action: {}",
                describe_char(c)
            )),
        }
    }

    /// A run of spaces (one already consumed); the last one stays if it starts ` -}}`.
    fn space(&mut self) -> Tok {
        self.at = self.src.len() - self.rest().trim_start_matches(SPACE).len();
        if self.rest().starts_with("-}}") {
            self.at -= 1;
        }
        Tok::Space
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) => is_space(c) || ".,|:()".contains(c) || self.rest().starts_with("}}"),
        }
    }

    /// An identifier, `.field` or `$variable` starting at `start` (first char consumed).
    fn word(&mut self, start: usize, make: impl Fn(&str) -> Tok) -> Result<Tok, String> {
        let first = self.src[start..].chars().next();
        if matches!(first, Some('.' | '$')) && self.at_terminator() {
            let word = &self.src[start..self.at];
            return Ok(if word == "." { Tok::Dot } else { make(word) });
        }
        self.at = self.src.len() - self.rest().trim_start_matches(is_alnum).len();
        match self.peek() {
            Some(c) if !self.at_terminator() => Err(format!("bad character {}", describe_char(c))),
            _ => Ok(make(&self.src[start..self.at])),
        }
    }

    /// A number starting at `start`; Go's deliberately loose scan, checked by the parser.
    fn number(&mut self, start: usize) -> Result<Tok, String> {
        let (len, ok) = literal::scan_number(&self.src[start..]);
        self.at = start + len;
        let text = &self.src[start..self.at];
        if ok {
            Ok(Tok::Number(text.to_string()))
        } else {
            Err(format!("bad number syntax: {}", escape::quote(text, false)))
        }
    }

    /// A `"…"` string or `'…'` character constant; the opening quote is consumed.
    fn quoted(&mut self, quote: char, unterminated: &str) -> Result<Tok, String> {
        let start = self.at - 1;
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if chars.next().is_some_and(|(_, e)| e != '\n') => {}
                '\\' | '\n' => break,
                c if c == quote => {
                    self.at += i + 1;
                    let text = self.src[start..self.at].to_string();
                    return Ok(if quote == '"' {
                        Tok::Str(text)
                    } else {
                        Tok::CharConst(text)
                    });
                }
                _ => {}
            }
        }
        Err(unterminated.to_string())
    }

    fn raw_quoted(&mut self) -> Result<Tok, String> {
        let start = self.at - 1;
        match self.rest().find('`') {
            Some(end) => {
                self.at += end + 1;
                Ok(Tok::Str(self.src[start..self.at].to_string()))
            }
            None => Err("unterminated raw quoted string".to_string()),
        }
    }
}

fn keyword_or_ident(word: &str) -> Tok {
    match word {
        "true" => Tok::Bool(true),
        "false" => Tok::Bool(false),
        _ => match KEYWORDS.iter().find(|k| **k == word) {
            Some(k) => Tok::Keyword(k),
            None => Tok::Ident(word.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens in a compact form: `T"text"`, `{{`, `}}`, `_` (space), `N1`, `<if>`, `'c'`…
    fn show(src: &str) -> String {
        let show = |tok: Tok| match tok {
            Tok::Text(s) => format!("T{s:?}"),
            Tok::LeftDelim => "{{".into(),
            Tok::RightDelim => "}}".into(),
            Tok::Space => "_".into(),
            Tok::Pipe => "|".into(),
            Tok::Declare => ":=".into(),
            Tok::Assign => "=".into(),
            Tok::LeftParen => "(".into(),
            Tok::RightParen => ")".into(),
            Tok::Str(s) | Tok::CharConst(s) | Tok::Variable(s) | Tok::Ident(s) => s,
            Tok::Number(n) => format!("N{n}"),
            Tok::Bool(b) => b.to_string(),
            Tok::Dot => ".".into(),
            Tok::Field(f) => format!(".{f}"),
            Tok::Keyword(k) => format!("<{k}>"),
            Tok::Char(c) => format!("'{c}'"),
            Tok::Error(m) => format!("ERR({m})"),
            Tok::Eof => "EOF".into(),
        };
        let tokens: Vec<String> = lex(src).into_iter().map(|t| show(t.tok)).collect();
        tokens.join(" ")
    }

    #[test]
    fn tokens_trim_markers_and_comments() {
        let cases = [
            ("a \n {{- 1 -}} \n b", r#"T"a" {{ N1 }} T"b" EOF"#),
            ("a {{-\t1\n-}}\tb", r#"T"a" {{ N1 }} T"b" EOF"#),
            ("a {{-3}} b", r#"T"a " {{ N-3 }} T" b" EOF"#),
            ("a {{3 -}} b", r#"T"a " {{ N3 }} T"b" EOF"#),
            ("a {{3  -}} b", r#"T"a " {{ N3 _ }} T"b" EOF"#),
            ("a {{/* c */}} b", r#"T"a " T" b" EOF"#),
            ("a \n{{- /* c */ -}}\n b", r#"T"a" T"b" EOF"#),
            ("{{ /* c */ }}", "{{ _ '/' '*' _ c _ '*' '/' _ }} EOF"),
            (
                "{{/* c */ x}}",
                "ERR(comment ends before closing delimiter)",
            ),
            ("{{/* c }}", "ERR(unclosed comment)"),
            ("{{$x := .A.b}}", "{{ $x _ := _ .A .b }} EOF"),
            ("{{$ = $x}}", "{{ $ _ = _ $x }} EOF"),
            ("{{(getenv `a`)|js}}", "{{ ( getenv _ `a` ) | js }} EOF"),
            (
                "{{if true}}{{else}}{{end}}",
                "{{ <if> _ true }} {{ <else> }} {{ <end> }} EOF",
            ),
            (
                r#"{{"a\"b" 'c' 0x1F . nil}}"#,
                r#"{{ "a\"b" _ 'c' _ N0x1F _ . _ <nil> }} EOF"#,
            ),
        ];
        for (src, want) in cases {
            assert_eq!(show(src), want, "{src:?}");
        }
    }

    #[test]
    fn errors_and_positions() {
        let cases = [
            ("ab {{ getenv", "unclosed action", 1, 4),
            ("{{(print 1}}", "unclosed left paren", 1, 1),
            (
                "x\n  {{print 1)}}",
                "unexpected right paren U+0029 ')'",
                2,
                12,
            ),
            ("{{\"abc}}", "unterminated quoted string", 1, 3),
            ("{{'a}}", "unterminated character constant", 1, 3),
            ("{{`abc}}", "unterminated raw quoted string", 1, 3),
            ("{{3x}}", "bad number syntax: \"3x\"", 1, 3),
            ("{{a-b}}", "bad character U+002D '-'", 1, 3),
            ("{{$x=1}}", "bad character U+003D '='", 1, 3),
            ("{{a :b}}", "expected :=", 1, 5),
            ("{{é\u{7}}}", "bad character U+0007", 1, 3),
            (
                "{{\u{7}}}",
                "unrecognized character in action: U+0007",
                1,
                3,
            ),
        ];
        for (src, message, line, col) in cases {
            let last = lex(src).pop().expect("at least one token");
            assert_eq!(last.tok, Tok::Error(message.into()), "{src:?}");
            assert_eq!(last.pos, Pos { line, col }, "{src:?}");
        }
    }

    #[test]
    fn positions_count_characters() {
        let tokens = lex("é\n\tx {{ getenv }}");
        let ident = tokens
            .iter()
            .find(|t| t.tok == Tok::Ident("getenv".into()))
            .expect("identifier");
        assert_eq!(ident.pos, Pos { line: 2, col: 7 });
    }
}
