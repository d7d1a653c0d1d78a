//! Clients that leave while their request waits for the shared queue: the job is queued and
//! runs all the same (as on a single instance, where a request that reached the queue always
//! runs), nothing is left half-registered, and shutdown does not wait for it.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{lines, Replicas};
use crate::fixture::{sh_hook, with};

const ROUNDS: usize = 5;

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn clients_leaving_mid_queueing_neither_lose_jobs_nor_hold_up_shutdown() {
    let mut r = Replicas::start(
        1,
        |dir| {
            vec![with(
                sh_hook(
                    "deploy",
                    &format!(
                        "echo \"$HOOKRUN_JOB_ID\" >> {}; echo done",
                        dir.join("runs").display()
                    ),
                    &[],
                ),
                json!({"concurrency": "serial", "include-command-output-in-response": true}),
            )]
        },
        &[],
    )
    .await;
    let db = r.database().await;
    let lock = "hashtextextended('hookrun queue ' || 'deploy', 0)";
    let url = r.replica(0).url("/hooks/deploy");
    // As many clients as the replica has connections to the database: all of them wait for
    // the hook's lock at once.
    let clients = 4;
    for round in 0..ROUNDS {
        // The test holds the hook's lock: every request waits for the database.
        db.execute(&format!("SELECT pg_advisory_lock({lock})"), &[])
            .await
            .expect("taking the hook's lock");
        let leaving: Vec<_> = (0..clients)
            .map(|_| {
                let (http, url) = (r.http.clone(), url.clone());
                tokio::spawn(async move { http.post(&url).send().await })
            })
            .collect();
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = db
                .query_one(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                    &[],
                )
                .await
                .expect("reading pg_locks")
                .get(0);
            if waiting >= clients as i64 {
                break;
            }
            assert!(
                Instant::now() < end,
                "round {round}: {waiting} requests wait for the hook's lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The clients give up and close their connections.
        for client in &leaving {
            client.abort();
        }
        for client in leaving {
            let _ = client.await;
        }
        db.execute(&format!("SELECT pg_advisory_unlock({lock})"), &[])
            .await
            .expect("freeing the hook's lock");
        // The hook is free for the next request: it runs and answers with its output.
        let patient = tokio::time::timeout(Duration::from_secs(20), r.post(0, "deploy"))
            .await
            .unwrap_or_else(|_| panic!("round {round}: a request after the leavers hung"));
        assert_eq!(patient.status(), 200, "round {round}");
        assert_eq!(patient.text().await.unwrap_or_default().trim(), "done");
    }
    // Each patient request queued behind the leavers' jobs: they have all ended by now.
    let total = ROUNDS * (clients + 1);
    let stopping = Instant::now();
    r.replica(0).signal("TERM");
    let mut gone = r.replicas[0].take().expect("the replica");
    let exited = gone.exited_within(Duration::from_secs(40)).await;
    let took = stopping.elapsed();
    let log = gone.log();
    assert!(exited.is_some(), "the replica did not exit: {log}");
    assert!(
        took < Duration::from_secs(10) && !log.contains("did not finish before shutdown"),
        "shutdown took {took:?}, waiting for jobs of clients that had left: {log}"
    );
    let runs = lines(&r.path("runs"));
    let distinct: std::collections::HashSet<&String> = runs.iter().collect();
    assert_eq!(runs.len(), total, "every queued job ran: {runs:?}");
    assert_eq!(distinct.len(), total, "none twice: {runs:?}");
    eprintln!(
        "{ROUNDS} rounds of {clients} clients leaving while queued: {total} jobs ran once each, shutdown took {took:?}"
    );
}
