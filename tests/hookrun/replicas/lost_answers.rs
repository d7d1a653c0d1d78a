//! Answers lost on the way: a claim of a job whose replica has left, whose connection breaks
//! at the `COMMIT` (committed or not: the replica cannot tell), and a job queued after its
//! request was answered 503. The job runs once or never, as promised, and the hook is never
//! held by nobody for longer than the lease.

use std::time::{Duration, Instant};

use super::cut::{CommitCutter, Cut};
use super::failover::sleeper;
use super::{hold_commits_on, lines, start_replica, Replicas};
use crate::fixture::state;

/// The statement of a claim (taking the hook for a waiting job).
const CLAIM: &str = "UPDATE job_queue SET runner";

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_claim_whose_commit_answer_is_lost_runs_its_job_once() {
    let rounds = 20;
    let mut r = Replicas::start(0, sleeper, &[]).await;
    let hooks = sleeper(r.dir.path());
    let cutter = CommitCutter::start(r.pg.port, CLAIM).await;
    let name = r
        .url
        .split('?')
        .next()
        .and_then(|url| url.rsplit('/').next())
        .expect("the database's name")
        .to_string();
    // Replica 0 reaches the database through the cutter; the replicas that leave do not.
    let through = format!(
        "postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable",
        cutter.port
    );
    r.replicas
        .push(Some(start_replica(&r.pg, &through, &hooks, &[])));
    let stays = r.replica_id(0);
    let mut expected = Vec::new();
    for round in 0..rounds {
        let cut = if round % 2 == 0 {
            Cut::AfterCommit
        } else {
            Cut::BeforeCommit
        };
        // Replica 0 takes the job over when its own job ends (the claim is in the release's
        // transaction), or when the leaving replica's job ends (a claim of its own).
        let leaver_runs = round % 4 >= 2;
        r.replicas
            .push(Some(start_replica(&r.pg, &r.url, &hooks, &[])));
        let leaver = r.replicas.len() - 1;
        let first = r
            .trigger(if leaver_runs { leaver } else { 0 }, "deploy?sleep=1")
            .await;
        let handed = r.trigger(leaver, "deploy?sleep=0").await;
        cutter.arm(cut);
        r.replica(leaver).signal("TERM");
        let mut gone = r.replicas[leaver].take().expect("the leaving replica");
        assert!(
            gone.exited_within(Duration::from_secs(20)).await.is_some(),
            "round {round}: the leaving replica did not exit: {}",
            gone.log()
        );
        // Well within the lease (15 s): found again, not freed by the lease.
        let job = r.wait_done(0, &handed, Duration::from_secs(10)).await;
        assert_eq!(state(&job), "succeeded", "round {round} ({cut:?}): {job:#}");
        assert_eq!(job["replica"], stays.as_str(), "round {round}: {job:#}");
        assert!(!cutter.armed(), "round {round}: no claim was cut");
        assert_eq!(cutter.cuts(), round + 1, "round {round}");
        // The hook is free for the next job.
        let next = r.trigger(0, "deploy?sleep=0").await;
        let next_job = r.wait_done(0, &next, Duration::from_secs(10)).await;
        assert_eq!(state(&next_job), "succeeded", "round {round}: {next_job:#}");
        expected.extend([first, handed, next]);
    }
    let mut runs = lines(&r.path("runs"));
    runs.sort();
    let mut want: Vec<String> = expected.iter().map(|id| format!("run {id}")).collect();
    want.sort();
    assert_eq!(runs, want, "each job ran once");
    eprintln!("{rounds} claims cut at their COMMIT (half committed): each job ran once, on time");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn a_job_queued_after_its_503_does_not_hold_the_hook() {
    let rounds = 10;
    let lease = Duration::from_secs(5);
    let r = Replicas::start(1, sleeper, &["-replica-lease", "5s", "-kill-grace", "1s"]).await;
    let db = r.database().await;
    // The queueing's COMMIT waits for a lock the test holds: its request is answered 503
    // (after 5 s), then the queueing commits.
    hold_commits_on(&db, "job_queue", 4242).await;
    let mut ran = Vec::new();
    for round in 0..rounds {
        db.execute("SELECT pg_advisory_lock(4242)", &[])
            .await
            .expect("locking");
        let refused = r.post(0, "deploy?sleep=0").await;
        assert_eq!(refused.status(), 503, "round {round}");
        db.execute("SELECT pg_advisory_unlock(4242)", &[])
            .await
            .expect("unlocking");
        let freed = Instant::now();
        let next = r.trigger(0, "deploy?sleep=0").await;
        let job = r.wait_done(0, &next, lease + Duration::from_secs(10)).await;
        assert_eq!(state(&job), "succeeded", "round {round}: {job:#}");
        // The queueing committed a moment after the unlock; the hook is freed once its hold
        // (taken when the job was queued, before the 503) is a lease old: at once, or at the
        // next look at the queue.
        let took = freed.elapsed();
        assert!(took < lease, "round {round}: the hook was held {took:?}");
        ran.push(format!("run {next}"));
    }
    assert_eq!(lines(&r.path("runs")), ran, "jobs answered 503 never ran");
    // Each refused job ended without running: taken back at its 503 (`canceled`) when its
    // queueing had committed by then, or else freed by the hold nobody renewed (`interrupted`).
    // Which of the two happens is a race with the test's unlock; both keep the promise.
    let ended: Vec<(String, i64)> = db
        .query(
            "SELECT state, COUNT(*) FROM jobs WHERE state <> 'succeeded' GROUP BY state ORDER BY state",
            &[],
        )
        .await
        .expect("counting the refused jobs by how they ended")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let refused: i64 = ended
        .iter()
        .filter(|(state, _)| state == "canceled" || state == "interrupted")
        .map(|(_, n)| n)
        .sum();
    let others: i64 = ended.iter().map(|(_, n)| n).sum::<i64>() - refused;
    assert_eq!(
        (refused, others),
        (rounds as i64, 0),
        "each refused job ended canceled or interrupted, none otherwise: {ended:?}"
    );
    eprintln!(
        "{rounds} jobs queued after their 503: never ran, hook freed in time; ended {ended:?}"
    );
}
