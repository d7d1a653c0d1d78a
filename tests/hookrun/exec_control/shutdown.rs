//! Graceful shutdown: SIGTERM lets running jobs finish, `-shutdown-timeout` bounds the wait and
//! kills what is left (whole groups), a second SIGTERM stops waiting at once.

use std::time::{Duration, Instant};

use serde_json::json;

use super::timeout::STUBBORN;
use crate::fixture::{alive, live_in_group, read_pid, sh_hook, state, with, Fixture};

#[tokio::test]
async fn sigterm_waits_for_the_running_job() {
    let hook = sh_hook(
        "deploy",
        "echo begun; sleep 1; echo done > finished; echo end",
        &[],
    );
    let mut f = Fixture::start(&[hook], &["-verbose"]);
    let id = f.trigger_job("deploy", json!({})).await;
    f.wait_job(&id, Duration::from_secs(2), |j| state(j) == "running")
        .await;
    // An open response (following the output) stays open through the shutdown and completes.
    let follower = f.http.get(f.url(&format!("/jobs/{id}/output"))).send();
    let follower = tokio::spawn(async move { follower.await?.text().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    f.signal("TERM");
    assert!(f.exited_within(Duration::from_millis(500)).await.is_none());
    // New connections are refused while the job finishes.
    let refused = f
        .http
        .post(f.url("/hooks/deploy"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(
        refused.is_err_and(|e| e.is_connect()),
        "new connection was not refused"
    );
    let status = f.exited_within(Duration::from_secs(5)).await.expect("exit");
    assert!(status.success(), "{status}: {}", f.log());
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    assert!(f.path("finished").exists(), "the job was cut short");
    let text = follower.await.expect("task").expect("following the output");
    assert_eq!(text, "begun\nend\n");
}

/// Starts a stubborn job (and optional clients waiting on it), sends SIGTERM and, if
/// `second` is set, another SIGTERM after it; returns how long the server took to exit.
async fn stop_stubborn(shutdown_timeout: &str, second: Option<Duration>) -> Duration {
    let hooks = [
        sh_hook("stubborn", STUBBORN, &[]),
        with(
            sh_hook("follow", STUBBORN, &[]),
            json!({"stream-command-output": true}),
        ),
    ];
    let args = [
        "-shutdown-timeout",
        shutdown_timeout,
        "-kill-grace",
        "300ms",
        "-verbose",
    ];
    let mut f = Fixture::start(&hooks, &args);
    let id = f.trigger_job("stubborn", json!({})).await;
    let main = read_pid(&f.path("main.pid")).await;
    let grandchild = read_pid(&f.path("grandchild.pid")).await;
    // Open responses that only end with their jobs: a follower of the first job's output and
    // a hook streaming its own output. Neither may stretch the shutdown.
    let follower = f.http.get(f.url(&format!("/jobs/{id}/output"))).send();
    let follower = tokio::spawn(async move { follower.await?.text().await });
    let streamed = f.post("/hooks/follow").await;
    let streamed = tokio::spawn(streamed.text());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    f.signal("TERM");
    if let Some(after) = second {
        tokio::time::sleep(after).await;
        f.signal("TERM");
    }
    let status = f.exited_within(Duration::from_secs(10)).await;
    let took = t0.elapsed();
    eprintln!("shutdown took {took:?}");
    let status = status.unwrap_or_else(|| panic!("no exit: {}", f.log()));
    assert!(status.success(), "{status}: {}", f.log());
    assert!(
        !alive(main) && !alive(grandchild),
        "left behind: {}",
        f.log()
    );
    assert!(live_in_group(main).is_empty());
    let log = f.log();
    assert!(log.contains("did not finish before shutdown"), "{log}");
    // The open responses end (with the trailer where the hook streams) rather than hang.
    let text = tokio::time::timeout(Duration::from_secs(2), streamed).await;
    let text = text.expect("streamed response hung").expect("task");
    if let Ok(text) = text {
        assert!(text.contains("started\n"), "{text:?}");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), follower).await;
    took
}

#[tokio::test]
async fn shutdown_timeout_kills_the_group() {
    let took = stop_stubborn("700ms", None).await;
    // 700 ms of waiting, then SIGTERM (ignored), 300 ms grace, SIGKILL: about a second in
    // total, not the timeout twice over.
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_millis(1_600), "{took:?}");
}

#[tokio::test]
async fn second_sigterm_stops_at_once_still_killing_the_group() {
    let took = stop_stubborn("30s", Some(Duration::from_millis(300))).await;
    assert!(took < Duration::from_millis(1_500), "{took:?}");
}
