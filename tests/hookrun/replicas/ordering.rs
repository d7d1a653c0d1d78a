//! `serial` and `latest` across three replicas: requests spread over all of them never run two
//! at once, none is lost, and `latest` keeps only the newest waiting request whichever replica
//! received it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{post_retrying, wait_lines, Replicas, Retried};
use crate::fixture::{job_id, sh_hook, state, with};

/// A hook whose command appends `start <job> <ns>` and `end <job> <ns>` to `log`.
fn recording(id: &str, mode: &str, log: &std::path::Path, pause: &str) -> serde_json::Value {
    with(
        sh_hook(
            id,
            &format!(
                "echo \"start $HOOKRUN_JOB_ID $(date +%s%N)\" >> {l}; sleep {pause}; echo \"end $HOOKRUN_JOB_ID $(date +%s%N)\" >> {l}",
                l = log.display()
            ),
            &[],
        ),
        json!({"concurrency": mode}),
    )
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn serial_runs_300_requests_over_three_replicas_one_at_a_time() {
    let r = Arc::new(
        Replicas::start(
            3,
            |dir| vec![recording("deploy", "serial", &dir.join("runs"), "0.01")],
            &[],
        )
        .await,
    );
    let total = 300;
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..12)
        .map(|_| {
            let (r, next) = (r.clone(), next.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut retries = Retried::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return (ids, retries);
                    }
                    let url = r.replica(n % 3).url("/hooks/deploy");
                    let (resp, tries) = post_retrying(&r.http, &url).await;
                    assert_eq!(resp.status(), 200, "request {n}");
                    retries += tries;
                    ids.push(job_id(&resp));
                }
            })
        })
        .collect();
    let mut accepted = HashSet::new();
    let mut retried = Retried::default();
    for s in senders {
        let (ids, retries) = s.await.expect("a sender");
        retried += retries;
        accepted.extend(ids);
    }
    assert_eq!(accepted.len(), total, "every request has its own job");
    let log = wait_lines(&r.path("runs"), 2 * total, Duration::from_secs(180)).await;
    let mut runs: HashMap<String, (u128, u128)> = HashMap::new();
    for line in &log {
        let parts: Vec<&str> = line.split(' ').collect();
        let at: u128 = parts[2].parse().expect("a time");
        let entry = runs.entry(parts[1].to_string()).or_insert((0, 0));
        match parts[0] {
            "start" => {
                assert_eq!(entry.0, 0, "job {} started twice", parts[1]);
                entry.0 = at;
            }
            _ => {
                assert_eq!(entry.1, 0, "job {} ended twice", parts[1]);
                entry.1 = at;
            }
        }
    }
    let ran: HashSet<String> = runs.keys().cloned().collect();
    assert_eq!(ran, accepted, "each accepted job ran, and nothing else");
    let mut spans: Vec<(u128, u128)> = runs.into_values().collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two jobs overlapped: one ran {:?}, the next started at {}",
            pair[0],
            pair[1].0
        );
    }
    // Every replica ran some: jobs run where they were received.
    let mut by_replica: HashMap<String, usize> = HashMap::new();
    for id in &accepted {
        let job = r.job(0, id).await;
        assert_eq!(state(&job), "succeeded", "{job:#}");
        *by_replica
            .entry(job["replica"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    assert_eq!(by_replica.len(), 3, "{by_replica:?}");
    let closest = spans
        .windows(2)
        .map(|pair| pair[1].0 - pair[0].1)
        .min()
        .unwrap_or_default();
    eprintln!(
        "serial over 3 replicas: {total} accepted, {} ran, 0 overlaps (closest: next start {:.3} ms after an end), retried {} after 503 and {} after 429, by replica {by_replica:?}",
        ran.len(),
        closest as f64 / 1e6,
        retried.unavailable,
        retried.busy
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn latest_keeps_the_newest_request_of_any_replica() {
    // The first request of a round holds its run until the test has sent the 50 others (a
    // `release` file), however slow the machine is.
    let r = Replicas::start(
        3,
        |dir| {
            vec![with(
                sh_hook(
                    "deploy",
                    &format!(
                        "echo \"run $1\" >> {d}/runs; if [ \"$2\" = hold ]; then while [ ! -e {d}/release ]; do sleep 0.05; done; fi; sleep 0.2",
                        d = dir.display()
                    ),
                    &[
                        json!({"source": "url", "name": "n"}),
                        json!({"source": "url", "name": "mode"}),
                    ],
                ),
                json!({"concurrency": "latest"}),
            )]
        },
        &[],
    )
    .await;
    let release = r.path("release");
    let rounds = 10;
    for round in 0..rounds {
        let _ = std::fs::remove_file(&release);
        let first = r
            .trigger(round % 3, &format!("deploy?n={round}-first&mode=hold"))
            .await;
        r.wait_job(round % 3, &first, Duration::from_secs(10), |j| {
            state(j) == "running"
        })
        .await;
        let mut ids = Vec::new();
        for n in 1..=50 {
            ids.push(r.trigger(n % 3, &format!("deploy?n={round}-{n}")).await);
        }
        assert_eq!(
            state(&r.job(1, &first).await),
            "running",
            "the first still runs"
        );
        std::fs::write(&release, "").unwrap();
        for (n, id) in ids.iter().enumerate() {
            let job = r.wait_done((n + 1) % 3, id, Duration::from_secs(30)).await;
            let want = if n == 49 { "succeeded" } else { "superseded" };
            assert_eq!(
                state(&job),
                want,
                "round {round}, request {}: {job:#}",
                n + 1
            );
        }
        assert_eq!(
            state(&r.wait_done(0, &first, Duration::from_secs(10)).await),
            "succeeded"
        );
        let runs: Vec<String> = super::lines(&r.path("runs"))
            .into_iter()
            .filter(|l| l.starts_with(&format!("run {round}-")))
            .collect();
        assert_eq!(
            runs,
            vec![format!("run {round}-first"), format!("run {round}-50")],
            "round {round}: exactly two runs, the second with the newest payload"
        );
    }
    eprintln!("latest over 3 replicas: {rounds} rounds of 1 + 50 requests, each exactly two runs, the second the newest");
}
