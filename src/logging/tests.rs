//! Tests of the log output: both formats, the task's context, filtering and escaping.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::line::is_bidi_control;
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
            && lines[0].contains(r#"Z","level":"INFO","message":"job finished","job_id":"0f","#),
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

/// Sends this thread's warnings, as text lines, into `buffer` until the guard is dropped.
fn warnings_as_text_into(buffer: &Buffer) -> tracing::subscriber::DefaultGuard {
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("warn"))
        .with(LineLayer::new(Format::Text, Box::new(buffer.clone())));
    tracing::subscriber::set_default(subscriber)
}

#[test]
fn lines_logged_in_a_context_carry_its_ids() {
    let buffer = Buffer::default();
    let _default = warnings_as_text_into(&buffer);
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

#[test]
fn random_request_ids_are_twelve_lowercase_hex_digits() {
    let ids: Vec<String> = (0..64).map(|_| RequestId::random().to_string()).collect();
    for id in &ids {
        assert_eq!(id.len(), 12, "{id}");
        assert!(
            id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
    }
    // Every digit turns up in 768 random ones (a digit is missing with odds below 1e-20).
    for digit in "0123456789abcdef".chars() {
        assert!(
            ids.iter().any(|id| id.contains(digit)),
            "{digit} never seen"
        );
    }
}

#[test]
fn a_random_request_id_is_written_from_its_low_bytes_first() {
    let id = RequestId::Random(0x0000_0605_0403_0201);
    assert_eq!(id.to_string(), "010203040506");
    assert_eq!(id.clone().to_string(), id.to_string());
    assert_eq!(RequestId::from("given").to_string(), "given");
}

#[test]
fn a_random_request_id_is_the_same_on_every_line_of_its_request() {
    let buffer = Buffer::default();
    let _default = warnings_as_text_into(&buffer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let id = RequestId::random();
    let context = LogContext {
        request_id: id.clone(),
        hook: "deploy".into(),
        job_id: None,
    };
    runtime.block_on(with_context(context, async {
        tracing::warn!("first");
        tokio::task::yield_now().await;
        tracing::warn!("second");
    }));
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().map(untimed).collect();
    assert_eq!(
        lines,
        [
            format!("WARN  first request_id={id} hook=deploy"),
            format!("WARN  second request_id={id} hook=deploy"),
        ]
    );
}
