//! Go templates (`text/template`, as Go 1.19 runs them) for hooks files and notifications.
//!
//! Two uses share one engine:
//! - `-template` hooks files ([`render`]): nil data, as in the reference (`tmpl.Execute(&buf,
//!   nil)`), so `{{.}}` and `{{.Field}}` print `<no value>`, and webhook's functions `getenv`,
//!   `cat` and `credential` besides Go's builtins.
//! - any other text ([`Template`]): compiled once, rendered with JSON-like data as `.` (maps,
//!   lists, strings, numbers, booleans, null), with Go's builtins only unless webhook's
//!   functions are asked for. A render returns the files `cat` and `credential` read, so a
//!   reload can watch them.
//!
//! Everything of `text/template` is here: Go's builtins (`and or not len index slice print
//! printf println html js urlquery eq ne lt le gt ge call`), `fmt` verbs with flags, width,
//! precision and argument indexes and Go's in-band errors (`gofmt`), variables, pipelines,
//! `if`/`else if`, `with`/`else`, `range` (`$i, $e :=`, `else`, `break`, `continue`),
//! `define`/`template`/`block`, comments, trim markers, every Go number syntax (ints, floats,
//! imaginary and complex constants), raw strings and character constants.
//!
//! Why our own engine: the one maintained crate for Go templates, `gtmpl` (0.7, last release
//! 2021), documents `printf` as not fully stable and complex numbers as unsupported; its lexer
//! knows no `break`/`continue` and runs on a thread of its own per parse. The reference's
//! behaviour, byte for byte, is the point of `-template`, and the differential suite holds
//! this engine to it; bounds on a render and the files it read are ours to add either way.
//!
//! Where it differs from Go, on purpose: nesting deeper than 100 parentheses or control actions
//! is refused at parse time (Go: 10,000), template calls and blocks nest at most 200 deep at run
//! time (Go: 100,000); a string literal or `slice` result that is not valid UTF-8 is refused
//! (Go would emit the raw bytes); `%p` of a map or list is refused in-band; a render stops with
//! an error past [`Limits`] (text built, steps taken), so a hostile template cannot hang or
//! exhaust memory. Error positions are 1-based line and column in characters (Go prints a
//! 0-based byte column, and only the line for parse errors).
//!
//! `cat` and `credential` return the file as it is, trailing newline included (Go's
//! `os.ReadFile`); `credential "NAME"` reads `$CREDENTIALS_DIRECTORY/NAME` (systemd's
//! `LoadCredential=`, or a folder where a container mounts its secrets). Unlike `getenv`, both
//! fail loudly when the file cannot be read. The reference 2.8.0 has only `getenv`; the other
//! two come from webhook 2.8.1.
//!
//! # Theory of operation
//! `lex` splits the source into text and action tokens, resolving trim markers and comments
//! exactly where Go's lexer does; a lexing error is its last token. `parse` (and `control` for
//! control actions) builds the `ast` and rejects what Go rejects when parsing (unknown
//! functions, undefined variables, a stray `{{end}}`), decoding constants with `literal`.
//! `exec` walks the tree with Go's run-time rules (truthiness, `.` and variable scopes; `call`
//! for argument counts and types), so an error in a branch that does not run is never raised,
//! counting steps and built text against the limits. `funcs` and `compare` hold the
//! functions; only `funcs` reaches the outside world, through [`TemplateEnv`]. `value` holds
//! the values; `gofmt`, `printf`, `numfmt` and `float` Go's printing; `escape` its quoting and
//! escapers.

mod ast;
mod call;
mod compare;
mod control;
mod escape;
mod exec;
mod float;
mod funcs;
mod gofmt;
mod lex;
mod literal;
mod numfmt;
mod parse;
mod printf;
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
        reason: String,
    },
    #[error(
        "line {line}:{col}: credential {name:?}: cannot read {}: {cause} (it is looked up in \
         $CREDENTIALS_DIRECTORY; under systemd give the unit \
         LoadCredential={name}:/path/to/secret, in a container mount a file named {name} in \
         that folder)",
        path.display()
    )]
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

/// Bounds on one render, so a hostile template cannot hang or exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of text a render may build: its output plus every string a function returns.
    pub max_bytes: usize,
    /// Actions, commands and `range` iterations a render may run.
    pub max_steps: u64,
}

impl Default for Limits {
    /// 16 MiB of text and a million steps: far beyond any hooks file or message, reached in
    /// well under a second.
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 20,
            max_steps: 1_000_000,
        }
    }
}

/// The functions a template may call besides Go's builtins.
#[derive(Clone, Copy)]
pub enum Functions<'a> {
    /// Go's builtins only.
    Builtins,
    /// Also webhook's `getenv`, `cat` and `credential`, reading through this environment.
    Webhook(&'a dyn TemplateEnv),
}

/// A compiled template: parse once, render many times.
#[derive(Debug)]
pub struct Template {
    tree: ast::Tree,
    webhook: bool,
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// The files `cat` and `credential` read, in the order they were read.
    pub files_read: Vec<PathBuf>,
}

impl Template {
    /// Parses `source`; the function names it may use are those of `functions`.
    pub fn compile(source: &str, functions: &Functions<'_>) -> Result<Template, TemplateError> {
        let webhook = matches!(functions, Functions::Webhook(_));
        let tokens = lex::lex(source);
        let tree = parse::parse(&tokens, webhook)?;
        Ok(Template { tree, webhook })
    }

    /// Renders with `data` as `.` and `$`. Webhook's functions work only if the template was
    /// compiled with them and `functions` gives them an environment.
    pub fn render(
        &self,
        data: &serde_json::Value,
        functions: &Functions<'_>,
        limits: &Limits,
    ) -> Result<Rendered, TemplateError> {
        let functions = if self.webhook {
            *functions
        } else {
            Functions::Builtins
        };
        let out = exec::execute(
            &self.tree,
            value::Value::from_json(data),
            &functions,
            limits,
        )?;
        Ok(Rendered {
            text: out.text,
            files_read: out.files_read,
        })
    }
}

/// Renders a `-template` hooks file: nil data, webhook's functions reading through `env`,
/// default limits.
pub fn render(source: &str, env: &dyn TemplateEnv) -> Result<String, TemplateError> {
    render_hooks_file(source, env).map(|r| r.text)
}

/// Like [`render`], with the files `cat` and `credential` read.
pub fn render_hooks_file(source: &str, env: &dyn TemplateEnv) -> Result<Rendered, TemplateError> {
    let functions = Functions::Webhook(env);
    Template::compile(source, &functions)?.render(
        &serde_json::Value::Null,
        &functions,
        &Limits::default(),
    )
}

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod tests;
