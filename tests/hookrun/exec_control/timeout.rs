//! Command timeouts: SIGTERM to the group, the grace period, SIGKILL, and nothing left behind.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{alive, live_in_group, read_pid, sh_hook, state, with, Fixture};

/// Ignores SIGTERM, starts a TERM-ignoring grandchild in the background and loops forever.
pub const STUBBORN: &str = r#"
trap '' TERM
sleep 30 &
echo $! > grandchild.pid
echo $$ > main.pid
echo started
while :; do sleep 0.05; done
"#;

#[tokio::test]
async fn timeout_kills_grandchild() {
    let hook = with(
        sh_hook("stubborn", STUBBORN, &[]),
        json!({"command-timeout": "1s"}),
    );
    let f = Fixture::start(&[hook], &["-kill-grace", "300ms"]);
    let t0 = Instant::now();
    let id = f.trigger_job("stubborn", json!({})).await;
    let main = read_pid(&f.path("main.pid")).await;
    let grandchild = read_pid(&f.path("grandchild.pid")).await;
    assert!(alive(grandchild), "the grandchild should be running");
    let job = f.wait_done(&id, Duration::from_secs(5)).await;
    let took = t0.elapsed();
    assert_eq!(state(&job), "timed_out", "{job:#}");
    assert_eq!(job["error"], "command timed out");
    assert_eq!(job["exit_code"], serde_json::Value::Null);
    assert_eq!(job["output"], "started\n");
    // 1 s deadline + 300 ms grace (the script ignores SIGTERM), never the 30 s of the sleep.
    let ms = job["duration_ms"].as_u64().expect("duration");
    assert!((1_000..2_500).contains(&ms), "duration {ms} ms");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(!alive(main), "main process survived");
    assert!(!alive(grandchild), "grandchild survived");
    assert!(live_in_group(main).is_empty(), "{:?}", live_in_group(main));
}

#[tokio::test]
async fn global_command_timeout_applies_and_sync_response_is_an_error() {
    let hook = with(
        sh_hook("slow", "echo $$ > main.pid; exec sleep 30", &[]),
        json!({"include-command-output-in-response": true}),
    );
    let f = Fixture::start(
        &[hook],
        &["-command-timeout", "500ms", "-kill-grace", "300ms"],
    );
    let t0 = Instant::now();
    let resp = f.trigger("slow", json!({})).await;
    let took = t0.elapsed();
    assert_eq!(resp.status(), 500);
    let id = crate::fixture::job_id(&resp);
    // `sleep` dies of the SIGTERM at once: no need for the grace period.
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
    let job = f.job(&id).await;
    assert_eq!(state(&job), "timed_out");
    assert!(!alive(read_pid(&f.path("main.pid")).await));
}

#[tokio::test]
async fn grandchild_holding_stdout_does_not_hang_the_job() {
    // The command exits at once but leaves a grandchild holding its stdout open.
    let hook = sh_hook("bg", "sleep 30 & echo $! > grandchild.pid; echo bye", &[]);
    let f = Fixture::start(&[hook], &["-kill-grace", "300ms"]);
    let id = f.trigger_job("bg", json!({})).await;
    let job = f.wait_done(&id, Duration::from_secs(3)).await;
    let grandchild = read_pid(&f.path("grandchild.pid")).await;
    assert_eq!(state(&job), "succeeded", "{job:#}");
    assert_eq!(job["output"], "bye\n");
    assert!(job["duration_ms"].as_u64().expect("duration") < 1_500);
    // A command that exited on its own keeps what it deliberately started in the background.
    assert!(alive(grandchild));
    let _ = std::process::Command::new("kill")
        .arg(grandchild.to_string())
        .status();
}
