//! Renders a hooks file through the subset of Go's `text/template` (Go 1.19) that adnanh/webhook
//! gives hooks files with `-template`; it must never output text the reference would not.
//!
//! The data is nil, as in the reference (`tmpl.Execute(&buf, nil)`): `{{.}}` and `{{.Field}}`
//! print `<no value>`. Functions: `getenv`, `cat`, `credential` and Go's builtins (`and`, `or`,
//! `not`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `len`, `index`, `slice`, `print`, `printf`,
//! `println`, `html`, `js`, `urlquery`, `call`). Control: `if`/`else if`/`else`, `with`/`else`,
//! variables (`$x := …`, `$x = …`), parenthesised pipelines, trim markers and comments.
//!
//! `cat` and `credential` return the file as it is, trailing newline included (Go's
//! `os.ReadFile`); `credential "NAME"` reads `$CREDENTIALS_DIRECTORY/NAME` (systemd's
//! `LoadCredential=`) and fails if that variable is unset or NAME is not a plain file name.
//! Unlike `getenv`, both fail loudly when the file cannot be read.
//!
//! Rejected with an error naming them rather than rendered differently: `define`, `template`,
//! `block`, `range`, `break`, `continue`; floating-point, complex and out-of-range numbers;
//! `printf` verbs other than `%s %q %d %v %%` (and any flag, width or precision); string
//! literals or `slice` results that are not valid UTF-8 (Go would emit the raw bytes);
//! nesting deeper than 100 parentheses or `if`/`with` blocks.
//!
//! Every error carries the 1-based line and column (in characters) of the token or action where
//! it failed.
//!
//! # Theory of operation
//! `lex` splits the source into text and action tokens, resolving trim markers and comments
//! exactly where Go's lexer does; a lexing error is its last token. `parse` builds the `ast`
//! and rejects what Go rejects when parsing (unknown functions, undefined variables, a stray
//! `{{end}}`), decoding constants with `literal`. `exec` walks the tree with Go's run-time rules
//! (argument counts and types, truthiness, `.` and variable scopes), so an error in a branch
//! that does not run is never raised. `funcs` holds the functions and is the only part that
//! reaches the outside world, through [`TemplateEnv`]; `value` holds the values and Go's
//! `fmt`-compatible printing and escaping.

mod ast;
mod exec;
mod funcs;
mod lex;
mod literal;
mod parse;
mod value;

use std::path::{Path, PathBuf};

/// What template functions can read: the process environment and files.
pub trait TemplateEnv {
    /// The variable's value; `None` renders as "" (Go's `os.Getenv`).
    fn getenv(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
    /// systemd's `$CREDENTIALS_DIRECTORY`, if the service was given credentials.
    fn credentials_dir(&self) -> Option<PathBuf>;
}

/// The real process environment and file system.
pub struct SystemEnv;

impl TemplateEnv for SystemEnv {
    fn getenv(&self, name: &str) -> Option<String> {
        // Go passes the bytes through; a non-UTF-8 value is the closest we can get.
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn credentials_dir(&self) -> Option<PathBuf> {
        std::env::var_os("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }
}

/// Why a template could not be rendered, with the 1-based line and column where it failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The source is not a well-formed template (lexing or parsing).
    #[error("line {line}:{col}: {message}")]
    Syntax {
        line: usize,
        col: usize,
        message: String,
    },
    #[error("line {line}:{col}: function {name:?} not defined")]
    UndefinedFunction {
        line: usize,
        col: usize,
        name: String,
    },
    /// Valid Go template syntax this implementation deliberately does not render.
    #[error("line {line}:{col}: {what} is not supported")]
    Unsupported {
        line: usize,
        col: usize,
        what: String,
    },
    /// A run-time failure: wrong argument count or type, a failing builtin, a bad variable.
    #[error("line {line}:{col}: {message}")]
    Exec {
        line: usize,
        col: usize,
        message: String,
    },
    #[error("line {line}:{col}: cat {path:?}: {cause}")]
    Cat {
        line: usize,
        col: usize,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("line {line}:{col}: credential {name:?}: {reason}")]
    CredentialUnavailable {
        line: usize,
        col: usize,
        name: String,
        reason: &'static str,
    },
    #[error("line {line}:{col}: credential {name:?}: {}: {cause}", path.display())]
    CredentialRead {
        line: usize,
        col: usize,
        name: String,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl TemplateError {
    /// The 1-based line and column (in characters) where rendering failed.
    pub fn position(&self) -> (usize, usize) {
        match self {
            Self::Syntax { line, col, .. }
            | Self::UndefinedFunction { line, col, .. }
            | Self::Unsupported { line, col, .. }
            | Self::Exec { line, col, .. }
            | Self::Cat { line, col, .. }
            | Self::CredentialUnavailable { line, col, .. }
            | Self::CredentialRead { line, col, .. } => (*line, *col),
        }
    }
}

/// A place in the source: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

impl Pos {
    fn syntax(self, message: impl Into<String>) -> TemplateError {
        TemplateError::Syntax {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }

    fn exec(self, message: impl Into<String>) -> TemplateError {
        TemplateError::Exec {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }

    fn unsupported(self, what: impl Into<String>) -> TemplateError {
        TemplateError::Unsupported {
            line: self.line,
            col: self.col,
            what: what.into(),
        }
    }
}

/// Renders `source` with nil data, reading the environment and files through `env`.
pub fn render(source: &str, env: &dyn TemplateEnv) -> Result<String, TemplateError> {
    let tokens = lex::lex(source);
    let tree = parse::parse(&tokens)?;
    exec::execute(&tree, env)
}

#[cfg(test)]
mod tests;
