//! Replicas that go away and a database that does: a replica killed with SIGKILL while it runs
//! a job, a replica stopped gracefully with jobs waiting, PostgreSQL restarted in the middle of
//! a burst.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{lines, post_retrying, Replicas, Retried};
use crate::fixture::{job_id, read_pid, sh_hook, state, with};

/// The default `-replica-lease`.
const LEASE: Duration = Duration::from_secs(15);

/// A serial hook whose command logs `run <job>`, leaves its pid in `pid-<job>` and sleeps for
/// the `sleep` query value.
pub(super) fn sleeper(dir: &std::path::Path) -> Vec<serde_json::Value> {
    vec![with(
        sh_hook(
            "deploy",
            &format!(
                "echo $$ > {d}/pid-$HOOKRUN_JOB_ID; echo \"run $HOOKRUN_JOB_ID\" >> {d}/runs; sleep \"$1\"",
                d = dir.display()
            ),
            &[json!({"source": "url", "name": "sleep"})],
        ),
        json!({"concurrency": "serial"}),
    )]
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_replica_killed_while_running_a_job_is_taken_over_within_the_lease() {
    let mut r = Replicas::start(3, sleeper, &[]).await;
    let dead = r.replica_id(0);
    let first = r.trigger(0, "deploy?sleep=60").await;
    r.wait_job(1, &first, Duration::from_secs(10), |j| {
        state(j) == "running"
    })
    .await;
    let second = r.trigger(1, "deploy?sleep=0.5").await;
    let third = r.trigger(0, "deploy?sleep=0.5").await;
    let orphan = read_pid(&r.path(&format!("pid-{first}"))).await;
    r.replica(0).signal("KILL");
    let killed = Instant::now();
    let job = r
        .wait_job(1, &first, LEASE + Duration::from_secs(10), |j| {
            state(j) != "running"
        })
        .await;
    let took = killed.elapsed();
    // The command outlived hookrun (SIGKILL reaps nothing): end it.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(orphan),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert_eq!(state(&job), "interrupted", "{job:#}");
    assert!(
        job["error"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped renewing its lease"),
        "{job:#}"
    );
    // Within the lease, plus the once-a-second look at the queue and a little slack.
    assert!(
        took <= LEASE + Duration::from_secs(2),
        "interrupted after {took:?}"
    );
    let second = r.wait_done(2, &second, Duration::from_secs(20)).await;
    let third = r.wait_done(2, &third, Duration::from_secs(20)).await;
    assert_eq!(state(&second), "succeeded", "{second:#}");
    assert_eq!(state(&third), "succeeded", "{third:#}");
    assert_ne!(
        third["replica"],
        dead.as_str(),
        "the dead replica's waiting job ran elsewhere"
    );
    r.replicas[0] = None;
    let mut runs = lines(&r.path("runs"));
    runs.sort();
    let mut unique = runs.clone();
    unique.dedup();
    assert_eq!(runs, unique, "nothing ran twice");
    assert_eq!(runs.len(), 3, "{runs:?}");
    eprintln!("killed replica's job interrupted after {took:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_replica_stopping_hands_its_waiting_jobs_over() {
    let mut r = Replicas::start(2, sleeper, &[]).await;
    let leaving = r.replica_id(0);
    let running = r.trigger(1, "deploy?sleep=2").await;
    r.wait_job(1, &running, Duration::from_secs(10), |j| {
        state(j) == "running"
    })
    .await;
    let waiting: Vec<String> = vec![
        r.trigger(0, "deploy?sleep=0.1").await,
        r.trigger(0, "deploy?sleep=0.1").await,
    ];
    let stopped = Instant::now();
    r.replica(0).signal("TERM");
    let mut gone = r.replicas[0].take().expect("replica 0");
    assert!(
        gone.exited_within(Duration::from_secs(10)).await.is_some(),
        "replica 0 did not exit"
    );
    assert!(gone.log().contains("handed over"), "{}", gone.log());
    for id in &waiting {
        let job = r.wait_done(1, id, Duration::from_secs(20)).await;
        assert_eq!(state(&job), "succeeded", "{job:#}");
        assert_ne!(job["replica"], leaving.as_str());
    }
    // Long before the lease of the replica that left would have expired.
    assert!(stopped.elapsed() < LEASE, "took {:?}", stopped.elapsed());
    assert_eq!(lines(&r.path("runs")).len(), 3);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn postgres_restarted_mid_burst_loses_nothing_and_everyone_recovers() {
    let r = Arc::new(
        Replicas::start(
            3,
            |dir| {
                let log = dir.join("runs");
                vec![
                    with(
                        sh_hook(
                            "serial",
                            &format!("echo \"$HOOKRUN_JOB_ID\" >> {}", log.display()),
                            &[],
                        ),
                        json!({"concurrency": "serial"}),
                    ),
                    sh_hook(
                        "parallel",
                        &format!("echo \"$HOOKRUN_JOB_ID\" >> {}", log.display()),
                        &[],
                    ),
                ]
            },
            &[],
        )
        .await,
    );
    let total = 240;
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..6)
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
                    let hook = if n % 2 == 0 { "serial" } else { "parallel" };
                    let url = r.replica(n % 3).url(&format!("/hooks/{hook}"));
                    let (resp, tries) = post_retrying(&r.http, &url).await;
                    assert_eq!(resp.status(), 200, "request {n}");
                    retries += tries;
                    ids.push(job_id(&resp));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    while next.load(Ordering::Relaxed) < total / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restart_at = next.load(Ordering::Relaxed);
    let pg = r.pg.clone();
    let restarting = Instant::now();
    tokio::task::spawn_blocking(move || pg.restart())
        .await
        .expect("restarting PostgreSQL");
    let down = restarting.elapsed();
    let mut accepted = HashSet::new();
    let mut retried = Retried::default();
    for s in senders {
        let (ids, retries) = s.await.expect("a sender");
        retried += retries;
        accepted.extend(ids);
    }
    assert!(next.load(Ordering::Relaxed) >= total && restart_at < total);
    assert_eq!(accepted.len(), total);
    let end = Instant::now() + Duration::from_secs(120);
    while lines(&r.path("runs")).len() < total && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything that would run twice would show up now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let runs = lines(&r.path("runs"));
    let ran: HashSet<String> = runs.iter().cloned().collect();
    assert_eq!(runs.len(), ran.len(), "nothing ran twice");
    let mut missing = Vec::new();
    for id in accepted.difference(&ran) {
        missing.push(r.job(0, id).await);
    }
    assert!(
        missing.is_empty() && ran == accepted,
        "{} accepted jobs did not run: {missing:#?}",
        missing.len()
    );
    // Every replica recovered by itself: each takes and runs a serial job, and its store is
    // healthy again.
    for i in 0..3 {
        let id = r.trigger(i, "serial").await;
        let job = r.wait_done((i + 1) % 3, &id, Duration::from_secs(20)).await;
        assert_eq!(state(&job), "succeeded", "replica {i}: {job:#}");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let health = r.admin_get(i, "/admin/store").await;
            if health["degraded"] == false && health["pending_writes"] == 0 {
                break;
            }
            assert!(Instant::now() < end, "replica {i} store: {health:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!(
        "PostgreSQL restarted after request {restart_at} of {total} (pg_ctl restart took {down:?}): no other 5xx, {} answers 503 and {} answers 429 with Retry-After, retried; {} accepted jobs ran once each",
        retried.unavailable,
        retried.busy,
        ran.len()
    );
}
