//! Concurrency modes over HTTP: `serial` never overlaps, `latest` runs at most two of a burst
//! and the last one wins, full queues answer 429 with `Retry-After`.

use std::time::Duration;

use serde_json::json;

use crate::fixture::{job_id, sh_hook, state, with, Fixture};

fn payload_arg() -> serde_json::Value {
    json!({"source": "payload", "name": "n"})
}

#[tokio::test]
async fn serial_never_runs_two_at_once() {
    // mkdir is atomic: a second run that finds the lock taken records the overlap.
    let script = r#"
mkdir running.lock 2>/dev/null || echo "$1" >> overlaps
echo "$1" >> runs
sleep 0.15
rmdir running.lock 2>/dev/null
"#;
    let hook = with(
        sh_hook("one-at-a-time", script, &[payload_arg()]),
        json!({"concurrency": "serial"}),
    );
    let f = Fixture::start(&[hook], &[]);
    let sends = (0..6).map(|n| {
        let (http, url) = (f.http.clone(), f.url("/hooks/one-at-a-time"));
        tokio::spawn(async move { http.post(url).json(&json!({"n": n})).send().await })
    });
    let mut ids = Vec::new();
    for s in sends {
        let resp = s.await.expect("task").expect("request");
        assert_eq!(resp.status(), 200);
        ids.push(job_id(&resp));
    }
    for id in &ids {
        let job = f.wait_done(id, Duration::from_secs(5)).await;
        assert_eq!(state(&job), "succeeded", "{job:#}");
    }
    let runs = std::fs::read_to_string(f.path("runs")).expect("runs");
    assert_eq!(runs.lines().count(), 6, "{runs}");
    assert!(!f.path("overlaps").exists(), "serial jobs overlapped");
}

#[tokio::test]
async fn latest_runs_at_most_two_and_the_last_sees_the_last_payload() {
    let hook = with(
        sh_hook("deploy", "echo \"$1\" >> runs; sleep 0.3", &[payload_arg()]),
        json!({"concurrency": "latest"}),
    );
    let f = Fixture::start(&[hook], &[]);
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(f.trigger_job("deploy", json!({ "n": n })).await);
    }
    let mut states = Vec::new();
    for id in &ids {
        states.push(state(&f.wait_done(id, Duration::from_secs(5)).await).to_string());
    }
    let runs = std::fs::read_to_string(f.path("runs")).expect("runs");
    let runs: Vec<&str> = runs.lines().collect();
    assert!(runs.len() <= 2, "ran {runs:?}");
    assert_eq!(runs.last(), Some(&"9"), "ran {runs:?}");
    assert_eq!(states[9], "succeeded", "{states:?}");
    let superseded = states.iter().filter(|s| *s == "superseded").count();
    assert_eq!(superseded, 10 - runs.len(), "{states:?}");
}

#[tokio::test]
async fn full_serial_queue_answers_429_with_retry_after() {
    let hook = with(
        sh_hook("busy", "sleep 1", &[]),
        json!({"concurrency": "serial", "max-queue": 1}),
    );
    let f = Fixture::start(&[hook], &[]);
    let running = f.trigger_job("busy", json!({})).await;
    let waiting = f.trigger_job("busy", json!({})).await;
    let refused = f.trigger("busy", json!({})).await;
    assert_eq!(refused.status(), 429);
    let retry = refused.headers().get("retry-after").expect("Retry-After");
    assert!(
        retry
            .to_str()
            .expect("ASCII")
            .parse::<u64>()
            .expect("seconds")
            >= 1
    );
    assert!(refused.headers().get("hookrun-job-id").is_none());
    // The first job's task may not have been scheduled yet on a loaded machine.
    f.wait_job(&running, Duration::from_secs(2), |j| state(j) == "running")
        .await;
    assert_eq!(state(&f.job(&waiting).await), "queued");
}

#[tokio::test]
async fn parallel_hook_beyond_max_jobs_and_its_queue_answers_429() {
    let hook = with(sh_hook("par", "sleep 1", &[]), json!({"max-queue": 1}));
    let f = Fixture::start(&[hook], &["-max-jobs", "1"]);
    let first = f.trigger_job("par", json!({})).await;
    f.wait_job(&first, Duration::from_secs(2), |j| state(j) == "running")
        .await;
    let second = f.trigger_job("par", json!({})).await;
    assert_eq!(state(&f.job(&second).await), "queued");
    let refused = f.trigger("par", json!({})).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn concurrent_burst_on_a_parallel_hook_respects_max_jobs_and_max_queue() {
    let hook = with(sh_hook("par", "sleep 0.5", &[]), json!({"max-queue": 1}));
    let f = Fixture::start(&[hook], &["-max-jobs", "1"]);
    let sends: Vec<_> = (0..6)
        .map(|_| {
            let (http, url) = (f.http.clone(), f.url("/hooks/par"));
            tokio::spawn(async move { http.post(url).send().await })
        })
        .collect();
    let mut statuses = Vec::new();
    for s in sends {
        statuses.push(s.await.expect("task").expect("request").status().as_u16());
    }
    statuses.sort_unstable();
    // One runs, one waits for the global permit, the rest are refused.
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);
}
