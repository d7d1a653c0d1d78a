//! Clients that leave while their request waits for the shared queue: the job is queued and
//! runs all the same (as on a single instance, where a request that reached the queue always
//! runs), with its notifications; nothing is left half-registered, and shutdown does not wait
//! for it. A request of a `parallel` hook dropped while its delivery id is being claimed: the
//! delivery runs, once.

use std::time::{Duration, Instant};

use serde_json::json;

use bytes::Bytes;
use hookrun::store::Location;
use http_body_util::Full;

use super::{hold_commits_on, lines, wait_lines, Replicas};
use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;
use crate::notify::Receiver;

/// A hook `id` whose command appends its job's id to `runs`.
fn recording_job_ids(id: &str, runs: &std::path::Path) -> serde_json::Value {
    sh_hook(
        id,
        &format!("echo \"$HOOKRUN_JOB_ID\" >> {}", runs.display()),
        &[],
    )
}

/// A server in this process sharing the replicas' database, whose requests a test can drop
/// where it likes (as when a request's task goes away): over HTTP/1 hookrun does not drop a
/// request whose client leaves, since it answers half-closed connections.
async fn in_process(r: &Replicas, hooks: Vec<serde_json::Value>) -> TestServer {
    let mut location: Location = r.url.parse().expect("the database's URL");
    if let Location::Postgres(target) = &mut location {
        target.set_password(&r.pg.password);
    }
    TestServer::builder()
        .hooks(hooks)
        .store(move |s| s.location = location)
        // One message per job, not a summary of those beyond the default 6 a minute.
        .settings(|s| s.notify.rate_limit = 1000)
        .start()
        .await
}

/// Sends `req` to `server` and drops it once `n` database sessions wait for a lock (the
/// request waits for the database then): the request is gone, what it started goes on.
async fn drop_when_waiting(
    server: &TestServer,
    db: &tokio_postgres::Client,
    req: http::Request<Full<Bytes>>,
    what: &str,
) {
    let request = hookrun::server::dispatch(server.state.clone(), None, req);
    tokio::select! {
        resp = request => panic!("{what}: answered {} while the database held it", resp.status()),
        () = wait_for_lock_waiters(db, 1, what) => {}
    }
}

/// Waits until `n` of the database's sessions wait for an advisory lock.
async fn wait_for_lock_waiters(db: &tokio_postgres::Client, n: i64, what: &str) {
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
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < end,
            "{what}: {waiting} sessions wait for a lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
        wait_for_lock_waiters(&db, clients as i64, &format!("round {round}")).await;
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

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_parallel_delivery_dropped_at_its_claim_runs_once() {
    let rounds = 20;
    let r = Replicas::start(0, |_| Vec::new(), &[]).await;
    let runs = r.path("runs");
    let mut server = in_process(
        &r,
        vec![with(
            recording_job_ids("parallel", &runs),
            json!({"delivery-id-header": "X-Delivery"}),
        )],
    )
    .await;
    let db = r.database().await;
    // The claim's COMMIT waits for a lock the test holds, while its request is dropped.
    hold_commits_on(&db, "deliveries", 4243).await;
    for round in 0..rounds {
        let delivery = format!("dropped-{round}");
        db.execute("SELECT pg_advisory_lock(4243)", &[])
            .await
            .expect("locking");
        let req = http::Request::post("/hooks/parallel")
            .header("x-delivery", &delivery)
            .body(Full::new(Bytes::new()))
            .expect("a request");
        drop_when_waiting(&server, &db, req, &format!("round {round}")).await;
        db.execute("SELECT pg_advisory_unlock(4243)", &[])
            .await
            .expect("unlocking");
        // The registry retries: answered with the job the first copy filed, which runs once.
        let retry = server
            .post("/hooks/parallel")
            .header("x-delivery", &delivery)
            .send()
            .await
            .expect("the retry");
        assert_eq!(retry.status(), 200, "round {round}");
        let id = job_id(&retry);
        let ran = wait_lines(&runs, round + 1, Duration::from_secs(10)).await;
        assert_eq!(ran.last(), Some(&id), "round {round}: {ran:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ran = lines(&runs);
    let distinct: std::collections::HashSet<&String> = ran.iter().collect();
    assert_eq!((ran.len(), distinct.len()), (rounds, rounds), "{ran:?}");
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_job_whose_request_was_dropped_while_it_was_queued_still_notifies() {
    let rounds = 20;
    let receiver = Receiver::failing(0, "ok").await;
    let r = Replicas::start(0, |_| Vec::new(), &[]).await;
    let runs = r.path("runs");
    let mut server = in_process(
        &r,
        vec![with(
            recording_job_ids("deploy", &runs),
            json!({
                "concurrency": "serial",
                "notify": [{"webhook": {"url": receiver.url("/done"), "secret": "notify-secret"}}],
            }),
        )],
    )
    .await;
    let db = r.database().await;
    let lock = "hashtextextended('hookrun queue ' || 'deploy', 0)";
    for round in 0..rounds {
        db.execute(&format!("SELECT pg_advisory_lock({lock})"), &[])
            .await
            .expect("taking the hook's lock");
        let req = http::Request::post("/hooks/deploy")
            .body(Full::new(Bytes::new()))
            .expect("a request");
        drop_when_waiting(&server, &db, req, &format!("round {round}")).await;
        db.execute(&format!("SELECT pg_advisory_unlock({lock})"), &[])
            .await
            .expect("freeing the hook's lock");
        let ran = wait_lines(&runs, round + 1, Duration::from_secs(10)).await;
        let ran = ran.last().expect("a run").clone();
        let got = receiver.wait_for(round + 1, Duration::from_secs(10)).await;
        let told = got.last().expect("a notification").json();
        assert_eq!(told["job_id"], ran.as_str(), "round {round}: {told}");
        assert_eq!(told["status"], "success", "round {round}: {told}");
    }
    server.stop().await;
}
