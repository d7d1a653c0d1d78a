//! Output while a command runs: `/jobs/{id}/output` as chunked text and as SSE,
//! `stream-command-output` responses with the failure trailer, and client disconnects that
//! leave the job running.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{eventually, job_id, sh_hook, state, with, Fixture};

const TWO_LINES: &str = "echo first; sleep 1; echo second";

/// Reads from `resp` until the text so far contains `needle`, within `limit`.
async fn read_until(
    resp: &mut reqwest::Response,
    seen: &mut String,
    needle: &str,
    limit: Duration,
) {
    let end = Instant::now() + limit;
    while !seen.contains(needle) {
        let left = end.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in time; got {seen:?}"))
            .expect("reading the stream")
            .unwrap_or_else(|| panic!("stream ended without {needle:?}; got {seen:?}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn read_rest(resp: reqwest::Response, seen: &mut String) {
    let rest = tokio::time::timeout(Duration::from_secs(5), resp.bytes())
        .await
        .expect("stream did not end")
        .expect("reading the stream");
    seen.push_str(&String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn job_output_streams_lines_before_the_command_ends() {
    let f = Fixture::start(&[sh_hook("two", TWO_LINES, &[])], &[]);
    let id = f.trigger_job("two", json!({})).await;
    let mut resp = f
        .http
        .get(f.url(&format!("/jobs/{id}/output")))
        .send()
        .await
        .expect("GET output");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .starts_with("text/plain"));
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "first\n", Duration::from_millis(800)).await;
    assert!(!seen.contains("second"));
    assert_eq!(state(&f.job(&id).await), "running");
    read_rest(resp, &mut seen).await;
    assert_eq!(seen, "first\nsecond\n");
    assert_eq!(state(&f.job(&id).await), "succeeded");
}

#[tokio::test]
async fn job_output_streams_as_server_sent_events() {
    let f = Fixture::start(&[sh_hook("two", TWO_LINES, &[])], &[]);
    let id = f.trigger_job("two", json!({})).await;
    let mut resp = f
        .http
        .get(f.url(&format!("/jobs/{id}/output")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET output");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    read_until(
        &mut resp,
        &mut seen,
        "data: first\n",
        Duration::from_millis(800),
    )
    .await;
    assert!(seen.starts_with("event: output\n"), "{seen:?}");
    assert_eq!(state(&f.job(&id).await), "running");
    read_rest(resp, &mut seen).await;
    assert!(seen.contains("data: second\n"), "{seen:?}");
    assert!(
        seen.ends_with("event: end\ndata: \"succeeded\"\n\n"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn stream_command_output_streams_while_running_and_ends_with_the_trailer() {
    let hook = with(
        sh_hook("live", "echo one; sleep 1; echo two; exit 3", &[]),
        json!({"stream-command-output": true}),
    );
    let f = Fixture::start(&[hook], &[]);
    let t0 = Instant::now();
    let mut resp = f.trigger("live", json!({})).await;
    assert!(
        t0.elapsed() < Duration::from_millis(800),
        "headers came late"
    );
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "one\n", Duration::from_millis(800)).await;
    assert!(!seen.contains("two"));
    read_rest(resp, &mut seen).await;
    assert_eq!(
        seen,
        format!("one\ntwo\n\nhookrun: job {id} failed with exit code 3\n")
    );
}

#[tokio::test]
async fn streamed_success_has_no_trailer_and_timeout_says_so() {
    let ok = with(
        sh_hook("ok", "echo fine", &[]),
        json!({"stream-command-output": true}),
    );
    let slow = with(
        sh_hook("slow", "echo begun; sleep 5", &[]),
        json!({"stream-command-output": true, "command-timeout": "300ms"}),
    );
    let f = Fixture::start(&[ok, slow], &["-kill-grace", "200ms"]);
    let resp = f.trigger("ok", json!({})).await;
    assert_eq!(resp.text().await.expect("body"), "fine\n");
    let resp = f.trigger("slow", json!({})).await;
    let id = job_id(&resp);
    assert_eq!(
        resp.text().await.expect("body"),
        format!("begun\n\nhookrun: job {id} timed out\n")
    );
}

#[tokio::test]
async fn client_disconnect_leaves_the_job_running() {
    let script = "sleep 0.8; echo done > \"$1\"";
    let waiting = with(
        sh_hook(
            "sync",
            script,
            &[json!({"source": "string", "name": "sync.done"})],
        ),
        json!({"include-command-output-in-response": true}),
    );
    let streamed = with(
        sh_hook(
            "live",
            &format!("echo go; {script}"),
            &[json!({"source": "string", "name": "live.done"})],
        ),
        json!({"stream-command-output": true}),
    );
    let f = Fixture::start(&[waiting, streamed], &[]);
    // A client that gives up before the answer (a registry's 3–10 s hook timeout).
    let gone = f
        .http
        .post(f.url("/hooks/sync"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    // A client that hangs up in the middle of a streamed answer.
    let mut resp = f.trigger("live", json!({})).await;
    let id = job_id(&resp);
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "go\n", Duration::from_secs(1)).await;
    drop(resp);
    let job = f.wait_done(&id, Duration::from_secs(3)).await;
    assert_eq!(state(&job), "succeeded", "{job:#}");
    let (sync_done, live_done) = (f.path("sync.done"), f.path("live.done"));
    eventually(Duration::from_secs(3), "both commands to finish", || {
        sync_done.exists() && live_done.exists()
    })
    .await;
}
