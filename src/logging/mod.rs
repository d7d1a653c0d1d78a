//! Log output: the one place log lines are filtered, formatted and written.
//!
//! Every line is one event: the time, the level, the message, the ids of the request or job it
//! happened for (`request_id`, `hook`, `job_id`: the task's [`LogContext`]), the fields of the
//! spans it happened in, then the event's own fields — as `key=value` text or as one flat JSON
//! object.
//!
//! The ids travel in a task-local [`LogContext`] rather than in a span: they must be on every
//! line a request or job logs, warnings at the default level included, so the context is always
//! on, and a span that is always on costs about 0.4 µs per request (measured with this layer
//! and the registry) where the task-local costs a few nanoseconds.
//!
//! Values are written for people: `exit_code=3`, `remote=10.0.0.5:51234`, never Rust's debug
//! text. And since many of them come from requests (a hook id from the URL, an `X-Request-Id`,
//! an error quoting a payload), every value and message is escaped the same way in both formats:
//! control characters, backslashes and the characters that reorder text on a terminal
//! (bidirectional overrides) are written as visible escapes (`\n`, `\\`, `\u{1b}`), and each
//! value is cut at [`MAX_VALUE_CHARS`] characters. A request can neither start a log line of its
//! own nor send a terminal escape sequence through the log.
//!
//! # Levels
//! - default: warnings and errors (failed, timed-out and unstartable jobs, unreadable bodies,
//!   rejected registry deliveries, refused reloads...) and the server's own lifecycle (start,
//!   reload, shutdown), which is logged at `info` under the target [`LIFECYCLE`];
//! - `-verbose` (or `-logfile`): every request's lifecycle (what happened to it, its status,
//!   the jobs it started and how they ended);
//! - `-debug`: each request in detail (values not found, bodies not parsed...).
//!
//! `HOOKRUN_LOG` (a `tracing` filter such as `hookrun=debug`) replaces the level chosen by the
//! flags. Other crates log warnings and errors only.
//!
//! # Layout
//! - this file: the settings (levels, formats, the log file), `init`, and the task's
//!   [`LogContext`];
//! - `layer`: [`LineLayer`], the `tracing` layer that gathers an event's fields and writes it;
//! - `fields`: the fields of a span or an event, kept with their types;
//! - `line`: one event written as text or JSON, and [`escape`].

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

mod fields;
mod layer;
mod line;

pub use layer::LineLayer;
pub use line::escape;

/// The target of the server's lifecycle events (start, reload, shutdown): logged at `info`,
/// and shown at the default level.
pub const LIFECYCLE: &str = "hookrun::lifecycle";

/// The longest value (in characters) written to a log line; the rest is replaced by a note of
/// how much was cut.
pub const MAX_VALUE_CHARS: usize = 1024;

/// The environment variable whose `tracing` filter replaces the level set by the flags.
pub const FILTER_ENV: &str = "HOOKRUN_LOG";

/// How much is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Warnings, errors and the server's lifecycle.
    Default,
    /// `-verbose`: adds every request's lifecycle.
    Verbose,
    /// `-debug`: adds each request's details.
    Debug,
}

impl Verbosity {
    /// The filter this level stands for.
    pub fn filter(self) -> String {
        match self {
            Verbosity::Default => format!("warn,{LIFECYCLE}=info"),
            Verbosity::Verbose => "warn,hookrun=info".to_string(),
            Verbosity::Debug => "warn,hookrun=debug".to_string(),
        }
    }
}

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `TIME LEVEL message key=value ...`
    Text,
    /// One JSON object per line: `time`, `level`, `message`, then the fields.
    Json,
}

/// Where lines go and what they look like.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub verbosity: Verbosity,
    pub format: Format,
    /// Append to this file instead of writing to standard error.
    pub file: Option<PathBuf>,
    /// A `tracing` filter that replaces the verbosity (from [`FILTER_ENV`]).
    pub filter: Option<String>,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("opening the log file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{FILTER_ENV}={filter:?} is not a valid filter (e.g. hookrun=debug): {reason}")]
    Filter { filter: String, reason: String },
    #[error("logging was already set up")]
    AlreadySet,
}

/// Installs the process-wide logger.
pub fn init(settings: &LogSettings) -> Result<(), LogError> {
    let filter = match &settings.filter {
        Some(text) => EnvFilter::try_new(text).map_err(|e| LogError::Filter {
            filter: text.clone(),
            reason: e.to_string(),
        })?,
        None => EnvFilter::new(settings.verbosity.filter()),
    };
    let out: Box<dyn Write + Send> = match &settings.file {
        None => Box::new(std::io::stderr()),
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LogError::File {
                    path: path.display().to_string(),
                    source,
                })?,
        ),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(LineLayer::new(settings.format, out))
        .try_init()
        .map_err(|_| LogError::AlreadySet)
}

/// Which request or job a task works for: its ids head every line the task logs, at every
/// level.
#[derive(Debug, Clone, Default)]
pub struct LogContext {
    /// The same id as the request's (`HookRequest::id`).
    pub request_id: RequestId,
    /// The hook id (for a request, as the URL names it: it may not exist).
    pub hook: String,
    pub job_id: Option<String>,
}

/// A request's id: the client's `X-Request-Id` (with `-x-request-id`), or twelve lowercase
/// hex digits of a random number. A random id is kept as its number and written only where
/// a log line or a job shows it: by default no line is logged for a request its rules
/// refuse, and writing the text took an allocation per request. The same value writes the
/// same digits wherever it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestId {
    /// Written as the hex digits of its six low bytes, least significant byte first.
    Random(u64),
    Text(Arc<str>),
}

impl RequestId {
    /// A new random id.
    pub fn random() -> Self {
        RequestId::Random(rand::random::<u64>() & 0xffff_ffff_ffff)
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::Text(Arc::from(""))
    }
}

impl From<&str> for RequestId {
    fn from(text: &str) -> Self {
        RequestId::Text(Arc::from(text))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Random(n) => {
                let mut text = [0u8; 12];
                hex::encode_to_slice(&n.to_le_bytes()[..6], &mut text)
                    .expect("12 digits for 6 bytes");
                f.write_str(std::str::from_utf8(&text).expect("hex digits are ASCII"))
            }
            RequestId::Text(text) => f.write_str(text),
        }
    }
}

tokio::task_local! {
    static CONTEXT: LogContext;
}

/// Runs `future` in `context`: every line it logs carries the context's ids. (The scope's
/// own future, not an `async fn` awaiting it, which would hold `future` twice.)
pub fn with_context<F: Future>(context: LogContext, future: F) -> impl Future<Output = F::Output> {
    CONTEXT.scope(context, future)
}

#[cfg(test)]
mod tests;
