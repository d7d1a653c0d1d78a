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

use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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
    pub request_id: String,
    /// The hook id (for a request, as the URL names it: it may not exist).
    pub hook: String,
    pub job_id: Option<String>,
}

tokio::task_local! {
    static CONTEXT: LogContext;
}

/// Runs `future` in `context`: every line it logs carries the context's ids.
pub async fn with_context<F: Future>(context: LogContext, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// Formats every event as one line and writes it with one call, so lines from different
/// threads never interleave.
pub struct LineLayer {
    format: Format,
    out: Mutex<Box<dyn Write + Send>>,
}

impl LineLayer {
    pub fn new(format: Format, out: Box<dyn Write + Send>) -> Self {
        LineLayer {
            format,
            out: Mutex::new(out),
        }
    }

    fn write(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot be written cannot report it either.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        let _outside_any_context = CONTEXT.try_with(|context| {
            fields.set("request_id", FieldValue::Text(context.request_id.clone()));
            fields.set("hook", FieldValue::Text(context.hook.clone()));
            if let Some(job_id) = &context.job_id {
                fields.set("job_id", FieldValue::Text(job_id.clone()));
            }
        });
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(context) = span.extensions().get::<Fields>() {
                    for (name, value) in &context.list {
                        fields.set(name, value.clone());
                    }
                }
            }
        }
        event.record(&mut fields);
        let line = Line {
            time: SystemTime::now(),
            level: *event.metadata().level(),
            fields,
        };
        self.write(&match self.format {
            Format::Text => line.text(),
            Format::Json => line.json(),
        });
    }
}

/// One value of a field, kept with its type so that JSON gets numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
enum FieldValue {
    Text(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

/// The fields of a span or an event, in the order they were first set; a later value of the
/// same name (an event's field over its span's) replaces the earlier one in place.
#[derive(Debug, Default)]
struct Fields {
    message: Option<String>,
    list: Vec<(&'static str, FieldValue)>,
}

impl Fields {
    fn set(&mut self, name: &'static str, value: FieldValue) {
        if name == "message" {
            if let FieldValue::Text(text) = value {
                self.message = Some(text);
            }
            return;
        }
        match self.list.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.list.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here as their `Display` text.
        self.set(field.name(), FieldValue::Text(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), FieldValue::Text(value.to_string()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), FieldValue::Text(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), FieldValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), FieldValue::Uint(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), FieldValue::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), FieldValue::Bool(value));
    }
}

/// An event ready to be written.
struct Line {
    time: SystemTime,
    level: Level,
    fields: Fields,
}

impl Line {
    fn message(&self) -> String {
        escape(self.fields.message.as_deref().unwrap_or_default())
    }

    /// `2026-01-01T10:00:00.000Z WARN  job failed hook=deploy exit_code=3`
    fn text(&self) -> String {
        let mut line = format!(
            "{} {:<5} {}",
            humantime::format_rfc3339_millis(self.time),
            self.level,
            self.message()
        );
        for (name, value) in &self.fields.list {
            let _ = write!(line, " {name}=");
            match value {
                FieldValue::Text(text) => push_text_value(&mut line, &escape(text)),
                FieldValue::Int(n) => line.push_str(&n.to_string()),
                FieldValue::Uint(n) => line.push_str(&n.to_string()),
                FieldValue::Float(n) => line.push_str(&n.to_string()),
                FieldValue::Bool(b) => line.push_str(if *b { "true" } else { "false" }),
            }
        }
        line.push('\n');
        line
    }

    /// `{"time":"…","level":"WARN","message":"job failed","hook":"deploy","exit_code":3}`,
    /// keys in that order.
    fn json(&self) -> String {
        let mut line = String::from("{");
        let time = humantime::format_rfc3339_millis(self.time).to_string();
        push_json_pair(&mut line, "time", &Value::String(time));
        push_json_pair(&mut line, "level", &Value::String(self.level.to_string()));
        push_json_pair(&mut line, "message", &Value::String(self.message()));
        for (name, value) in &self.fields.list {
            let value = match value {
                FieldValue::Text(text) => Value::String(escape(text)),
                FieldValue::Int(n) => Value::from(*n),
                FieldValue::Uint(n) => Value::from(*n),
                FieldValue::Float(n) => Value::from(*n),
                FieldValue::Bool(b) => Value::Bool(*b),
            };
            // `time`, `level` and `message` are the line's own: a field of that name is kept
            // apart rather than written twice.
            if matches!(*name, "time" | "level" | "message") {
                push_json_pair(&mut line, &format!("field_{name}"), &value);
            } else {
                push_json_pair(&mut line, name, &value);
            }
        }
        line.push_str("}\n");
        line
    }
}

/// Appends `"key":value` to a JSON object being written.
fn push_json_pair(line: &mut String, key: &str, value: &Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    line.push_str(&Value::String(key.to_string()).to_string());
    line.push(':');
    line.push_str(&value.to_string());
}

/// Writes an escaped value, in double quotes when it is empty or holds a space, a quote, an
/// equals sign or an escape, so that `key=value` pairs always split unambiguously.
fn push_text_value(line: &mut String, escaped: &str) {
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\');
    if plain {
        line.push_str(escaped);
        return;
    }
    line.push('"');
    for c in escaped.chars() {
        if c == '"' {
            line.push('\\');
        }
        line.push(c);
    }
    line.push('"');
}

/// `text` as it may appear in a log line: backslashes doubled, control characters and
/// bidirectional-formatting characters written as escapes, at most [`MAX_VALUE_CHARS`]
/// characters followed by a note of what was cut.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_VALUE_CHARS + 32));
    let mut chars = text.chars();
    for c in chars.by_ref().take(MAX_VALUE_CHARS) {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    let rest = chars.count();
    if rest > 0 {
        let _ = write!(out, "…[{rest} more characters]");
    }
    out
}

/// Characters that reorder the text around them on a terminal or in a viewer (the
/// "Trojan Source" characters) and invisible marks that change how text reads.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `emit` logs in `format`, with `filter`.
    fn logged(format: Format, filter: &str, emit: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(filter))
            .with(LineLayer::new(format, Box::new(buffer.clone())));
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// The line without its time stamp.
    fn untimed(line: &str) -> &str {
        line.split_once(' ').map_or(line, |(_, rest)| rest)
    }

    #[test]
    fn text_lines_carry_span_and_event_fields_as_plain_values() {
        let lines = logged(Format::Text, "info", || {
            let span = tracing::error_span!("request", request_id = "ab12", hook = "deploy");
            let _in = span.enter();
            let remote: std::net::SocketAddr = "10.0.0.5:51234".parse().unwrap();
            tracing::warn!(exit_code = 3, remote = %remote, ok = false, "job failed");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            untimed(&lines[0]),
            "WARN  job failed request_id=ab12 hook=deploy exit_code=3 remote=10.0.0.5:51234 ok=false"
        );
        let time = lines[0].split(' ').next().unwrap();
        assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
    }

    #[test]
    fn json_lines_are_flat_objects_with_typed_values() {
        let lines = logged(Format::Json, "info", || {
            let span = tracing::error_span!("job", job_id = "0f", hook = "deploy");
            let _in = span.enter();
            tracing::info!(exit_code = 0, duration_ms = 12u64, "job finished");
        });
        assert!(
            lines[0].starts_with(r#"{"time":""#)
                && lines[0]
                    .contains(r#"Z","level":"INFO","message":"job finished","job_id":"0f","#),
            "{}",
            lines[0]
        );
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "job finished");
        assert_eq!(v["job_id"], "0f");
        assert_eq!(v["hook"], "deploy");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["duration_ms"], 12);
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn lines_logged_in_a_context_carry_its_ids() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(LineLayer::new(Format::Text, Box::new(buffer.clone())));
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let context = LogContext {
            request_id: "ab12".into(),
            hook: "deploy".into(),
            job_id: Some("0f".into()),
        };
        runtime.block_on(with_context(context, async {
            tokio::task::yield_now().await;
            tracing::warn!(exit_code = 3, "job failed");
        }));
        runtime.block_on(async { tracing::warn!("outside") });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().map(untimed).collect();
        assert_eq!(
            lines,
            [
                "WARN  job failed request_id=ab12 hook=deploy job_id=0f exit_code=3",
                "WARN  outside"
            ]
        );
    }

    #[test]
    fn an_event_field_replaces_a_span_field_of_the_same_name() {
        let lines = logged(Format::Json, "info", || {
            let span = tracing::error_span!("request", hook = "from-span");
            let _in = span.enter();
            tracing::info!(hook = "from-event", "x");
        });
        assert_eq!(lines[0].matches("\"hook\"").count(), 1, "{}", lines[0]);
        assert!(lines[0].contains("from-event"), "{}", lines[0]);
    }

    #[test]
    fn forged_lines_and_terminal_escapes_stay_inside_their_value() {
        let hostile = "x\n2026-01-01T00:00:00Z ERROR forged\r\u{1b}[31mred\u{7}\u{202e}";
        for format in [Format::Text, Format::Json] {
            let lines = logged(format, "info", || {
                let span = tracing::error_span!("request", hook = %hostile);
                let _in = span.enter();
                tracing::info!(path = hostile, "hook not found");
            });
            assert_eq!(lines.len(), 1, "{format:?}: {lines:?}");
            let line = &lines[0];
            assert!(
                !line.chars().any(|c| c.is_control() || is_bidi_control(c)),
                "{format:?}: {line:?}"
            );
            let hook = match format {
                Format::Text => untimed(line).split(" hook=").nth(1).unwrap().to_string(),
                Format::Json => {
                    let v: Value = serde_json::from_str(line).unwrap();
                    v["hook"].as_str().unwrap().to_string()
                }
            };
            assert!(
                hook.contains(r"x\n2026-01-01T00:00:00Z ERROR forged\r\u{1b}[31mred\u{7}\u{202e}"),
                "{format:?}: {line}"
            );
        }
        let text = logged(Format::Text, "info", || {
            tracing::info!(hook = "x\n2026-01-01T00:00:00Z ERROR forged", "m");
        });
        assert!(
            text[0].ends_with(r#" m hook="x\n2026-01-01T00:00:00Z ERROR forged""#),
            "{}",
            text[0]
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "a".repeat(MAX_VALUE_CHARS + 500);
        let lines = logged(Format::Text, "info", || tracing::info!(hook = %long, "m"));
        assert!(lines[0].len() < MAX_VALUE_CHARS + 100, "{}", lines[0].len());
        assert!(
            lines[0].ends_with("…[500 more characters]\""),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn text_values_are_quoted_only_when_needed() {
        let lines = logged(Format::Text, "info", || {
            tracing::info!(
                a = "plain",
                b = "two words",
                c = "",
                d = "say \"hi\"",
                e = "k=v",
                "m"
            );
        });
        assert_eq!(
            untimed(&lines[0]),
            r#"INFO  m a=plain b="two words" c="" d="say \"hi\"" e="k=v""#
        );
    }

    #[test]
    fn default_verbosity_shows_warnings_and_the_lifecycle_only() {
        let lines = logged(Format::Text, &Verbosity::Default.filter(), || {
            tracing::info!(target: "hookrun::server", "a request");
            tracing::info!(target: LIFECYCLE, "serving hooks");
            tracing::warn!(target: "hookrun::jobs", "job failed");
            tracing::debug!(target: "hookrun::server", "detail");
            tracing::info!(target: "hyper", "library chatter");
        });
        let messages: Vec<&str> = lines.iter().map(|l| untimed(l)).collect();
        assert_eq!(messages, ["INFO  serving hooks", "WARN  job failed"]);
        let verbose = logged(Format::Text, &Verbosity::Verbose.filter(), || {
            tracing::info!(target: "hookrun::server", "a request");
            tracing::debug!(target: "hookrun::server", "detail");
            tracing::info!(target: "hyper", "library chatter");
        });
        assert_eq!(verbose.len(), 1, "{verbose:?}");
        let debug = logged(Format::Text, &Verbosity::Debug.filter(), || {
            tracing::debug!(target: "hookrun::server", "detail");
            tracing::debug!(target: "hyper", "library chatter");
        });
        assert_eq!(debug.len(), 1, "{debug:?}");
    }

    #[test]
    fn escape_makes_every_control_character_visible() {
        assert_eq!(escape("a\\b"), r"a\\b");
        assert_eq!(escape("tab\there"), r"tab\there");
        assert_eq!(escape("\u{0}\u{7f}\u{85}"), r"\u{0}\u{7f}\u{85}");
        assert_eq!(escape("résumé ✓"), "résumé ✓");
    }
}
