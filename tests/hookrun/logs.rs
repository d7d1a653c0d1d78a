//! What the log says, from the built binary: failures at the default level (a failed, a
//! timed-out and an unstartable job, an unreadable body), each request's lifecycle with
//! `-verbose`, values people read (no Rust debug text), JSON lines with the ids, and request
//! values that cannot forge a line or reach the terminal unescaped.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fixture::{job_id, sh_hook, with, Fixture};

/// The log's lines that contain every one of `parts`.
fn lines_with<'a>(log: &'a str, parts: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

/// The one line containing every one of `parts`.
fn line_with<'a>(log: &'a str, parts: &[&str]) -> &'a str {
    let found = lines_with(log, parts);
    assert_eq!(found.len(), 1, "{parts:?} in exactly one line of:\n{log}");
    found[0]
}

fn failing_hooks(dir: &std::path::Path) -> Vec<Value> {
    vec![
        sh_hook("fail", "echo deploying; exit 3", &[]),
        with(
            sh_hook("slow", "sleep 30", &[]),
            json!({"command-timeout": "1s"}),
        ),
        json!({"id": "missing", "execute-command": "./deploy.sh",
               "command-working-directory": dir.display().to_string()}),
        json!({"id": "reads", "execute-command": "/bin/true",
               "pass-arguments-to-command": [{"source": "payload", "name": "a"}]}),
    ]
}

/// Triggers `hook` and waits until its job has ended.
async fn run_job(f: &Fixture, hook: &str) -> String {
    let id = job_id(&f.post(&format!("/hooks/{hook}")).await);
    f.wait_done(&id, Duration::from_secs(20)).await;
    id
}

#[tokio::test]
async fn failures_are_logged_at_the_default_level() {
    let scripts = tempfile::tempdir().expect("tempdir");
    let f = Fixture::start(&failing_hooks(scripts.path()), &["-kill-grace", "100ms"]);
    let failed = run_job(&f, "fail").await;
    let timed_out = run_job(&f, "slow").await;
    let unstarted = run_job(&f, "missing").await;
    let resp = f
        .http
        .post(f.url("/hooks/reads"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200);
    let log = f.log();

    let line = line_with(&log, &[" WARN  job failed ", "hook=fail"]);
    assert!(line.contains(&format!("job_id={failed}")), "{line}");
    assert!(
        line.contains(" exit_code=3 ") && line.contains(" request_id="),
        "{line}"
    );

    let line = line_with(&log, &[" WARN  job timed out", "hook=slow"]);
    assert!(line.contains(&format!("job_id={timed_out}")), "{line}");
    assert!(line.contains(" timeout=1s "), "{line}");

    let line = line_with(
        &log,
        &[
            " ERROR job failed: its command could not be started",
            "hook=missing",
        ],
    );
    let dir = scripts.path().display().to_string();
    assert!(line.contains(&format!("job_id={unstarted}")), "{line}");
    assert!(
        line.contains(&format!("{dir}/deploy.sh: no such file")),
        "{line}"
    );
    assert!(line.contains(&format!("working_dir={dir}")), "{line}");
    // The same missing command was already a warning at start.
    let line = line_with(&log, &[" WARN  hooks file warning", "hook=missing"]);
    assert!(line.contains("cannot run ./deploy.sh"), "{line}");

    let line = line_with(
        &log,
        &[" WARN  request body could not be parsed", "hook=reads"],
    );
    assert!(line.contains("content_type=application/json"), "{line}");

    // Only problems and the server's own start: no request lifecycle, no Rust debug text.
    assert!(log.contains(" INFO  serving hooks "), "{log}");
    for quiet in ["request answered", "job started", "hook triggered"] {
        assert!(
            !log.contains(quiet),
            "{quiet:?} at the default level:\n{log}"
        );
    }
    for debug_text in ["Some(", "None", "Code(", "SpawnFailed"] {
        assert!(!log.contains(debug_text), "{debug_text:?} in:\n{log}");
    }
}

#[tokio::test]
async fn verbose_adds_each_requests_lifecycle() {
    let f = Fixture::start(&[sh_hook("ok", "true", &[])], &["-verbose"]);
    let id = run_job(&f, "ok").await;
    assert_eq!(f.post("/hooks/nope").await.status(), 404);
    let log = f.log();
    let answered = line_with(&log, &[" INFO  request answered ", "hook=ok"]);
    assert!(
        answered.contains(" method=POST remote=127.0.0.1:"),
        "{answered}"
    );
    assert!(answered.contains(" status=200 "), "{answered}");
    line_with(&log, &[" INFO  hook triggered ", &format!("job_id={id}")]);
    line_with(&log, &[" INFO  job started ", &format!("job_id={id}")]);
    let done = line_with(&log, &[" INFO  job succeeded ", &format!("job_id={id}")]);
    assert!(done.contains(" exit_code=0 "), "{done}");
    line_with(&log, &[" INFO  hook not found", "hook=nope"]);
    line_with(
        &log,
        &[" INFO  request answered ", "hook=nope", "status=404"],
    );
    assert!(!log.contains(" DEBUG "), "{log}");
}

#[tokio::test]
async fn json_lines_carry_time_level_message_and_the_ids() {
    let f = Fixture::start(
        &[sh_hook("fail", "exit 4", &[])],
        &["-log-format", "json", "-verbose"],
    );
    let id = run_job(&f, "fail").await;
    let log = f.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    for line in &lines {
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(
            line["level"].is_string() && line["message"].is_string(),
            "{line}"
        );
    }
    let failed = lines
        .iter()
        .find(|l| l["message"] == "job failed")
        .unwrap_or_else(|| panic!("no failed job in:\n{log}"));
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["hook"], "fail");
    assert_eq!(failed["job_id"], id.as_str());
    assert_eq!(failed["exit_code"], 4);
    let request_id = failed["request_id"].as_str().expect("request_id");
    let answered = lines
        .iter()
        .find(|l| l["message"] == "request answered")
        .expect("request answered");
    assert_eq!(answered["request_id"], request_id);
    assert_eq!(answered["status"], 200);
}

/// Whether `line` holds a character a terminal would act on.
fn has_control(line: &str) -> bool {
    line.chars()
        .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[tokio::test]
async fn request_values_cannot_forge_lines_or_reach_the_terminal() {
    const FORGED: &str = "/hooks/x%0a2026-01-01T00:00:00Z%20ERROR%20forged";
    // Red text, a window title (OSC ... BEL) and a right-to-left override.
    const ESCAPES: &str = "/hooks/y%1b%5b31mred%1b%5d0%3btitle%07%e2%80%ae";
    for format in ["text", "json"] {
        let f = Fixture::start(
            &[sh_hook("ok", "true", &[])],
            &["-verbose", "-log-format", format, "-x-request-id"],
        );
        for path in [FORGED, ESCAPES] {
            assert_eq!(f.post(path).await.status(), 404, "{path}");
        }
        let long_id = "r".repeat(5000);
        let resp = f
            .http
            .post(f.url("/hooks/ok"))
            .header("x-request-id", &long_id)
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), 200);
        let log = f.log();
        for line in log.lines() {
            assert!(
                !line.starts_with("2026-01-01T00:00:00Z"),
                "forged: {line:?}"
            );
            assert!(!has_control(line), "{format}: {line:?}");
            assert!(line.chars().count() < 2500, "{format}: uncapped: {line}");
        }
        let forged = lines_with(&log, &["forged"]);
        assert_eq!(forged.len(), 2, "{format}: not found + answered:\n{log}");
        let escaped = match format {
            "text" => r#"hook="x\n2026-01-01T00:00:00Z ERROR forged""#,
            _ => r#""hook":"x\\n2026-01-01T00:00:00Z ERROR forged""#,
        };
        assert!(
            forged.iter().all(|l| l.contains(escaped)),
            "{format}: {forged:?}"
        );
        let title = lines_with(&log, &["title"]);
        let escaped = match format {
            "text" => r"y\u{1b}[31mred\u{1b}]0;title\u{7}\u{202e}",
            _ => r"y\\u{1b}[31mred\\u{1b}]0;title\\u{7}\\u{202e}",
        };
        assert!(
            !title.is_empty() && title.iter().all(|l| l.contains(escaped)),
            "{format}: {title:?}"
        );
        let capped = lines_with(&log, &["rrrr", "request answered"]);
        assert_eq!(capped.len(), 1, "{format}: {log}");
        assert!(
            capped[0].contains("…[3976 more characters]"),
            "{format}: {}",
            capped[0]
        );
    }
}
