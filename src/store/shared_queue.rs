//! The queue that `serial` and `latest` hooks share across replicas (PostgreSQL only): the
//! statements of the protocol `jobs::replicas` drives. Each change to one hook's queue runs in
//! a transaction holding that hook's advisory lock, so two replicas never both see the hook
//! free; the lease reaper takes rows with `FOR UPDATE SKIP LOCKED`, so replicas reaping at the
//! same moment split the work; every change is announced with `NOTIFY` (delivered at commit).
//! Leases are measured on the database's clock.
//!
//! A claim is made with a [`ClaimTicket`] kept in the row it takes: when the answer to its
//! `COMMIT` is lost with the connection, the replica asks again with the same ticket (on a new
//! connection) and gets the claim it made, if it was committed, instead of a hook held by
//! nobody. And a running row stays held only while its runner says it runs the job (each lease
//! renewal renews `held_at` for the jobs the replica runs): a row that a live replica holds
//! but does not run, whatever the cause, is freed by the reaper once the lease has passed.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::Transaction;

use super::postgres::{self, pg_error, text, Pool, CHANNEL, NOW_MS};
use super::records::{RunSpec, StoredJob};
use super::StoreError;
use crate::jobs::{JobState, JobView};

/// "Replica `r` is alive": its lease has not expired on the database's clock.
fn alive(replica: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM replicas r WHERE r.id = {replica} AND r.seen_at + r.lease_ms >= {NOW_MS})"
    )
}

/// "The running row `q` is held": its runner is alive and has said within its lease that it
/// runs the job (rows without `held_at`, from before it existed, rely on the lease alone).
fn held(q: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM replicas r WHERE r.id = {q}.runner AND r.seen_at + r.lease_ms >= {NOW_MS} \
         AND ({q}.held_at IS NULL OR {q}.held_at + r.lease_ms >= {NOW_MS}))"
    )
}

/// Names one attempt to take a hook, in the row it takes: asking again with the same ticket
/// (`again`) after an error returns the claim if the first attempt committed (see the
/// module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTicket {
    id: String,
    /// Asked with before: the queue may hold a claim made with it. (A new ticket cannot be in
    /// any row: its first claim does not look, which saves a statement per hand-over.)
    again: bool,
}

impl ClaimTicket {
    #[allow(clippy::new_without_default)] // each one must be new: no default value makes sense
    pub fn new() -> ClaimTicket {
        ClaimTicket {
            id: hex::encode(rand::random::<[u8; 16]>()),
            again: false,
        }
    }

    /// The same ticket, to ask again after an attempt whose outcome is not known.
    pub fn again(&self) -> ClaimTicket {
        ClaimTicket {
            id: self.id.clone(),
            again: true,
        }
    }
}

const LOCK_HOOK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('hookrun queue ' || $1, 0))";

/// A job to queue: its first record and command, how its hook runs, what waits for it.
pub struct Enqueue<'a> {
    pub job: &'a StoredJob,
    pub spec: &'a RunSpec,
    /// `latest`: waiting jobs of the hook are superseded by this one.
    pub latest: bool,
    pub max_queue: usize,
    /// A client waits for the output (captured or streamed): the job is never run elsewhere.
    pub client_waits: bool,
    /// The delivery id this job answers to: claimed in the same transaction.
    pub delivery: Option<&'a str>,
    pub delivery_window: Duration,
}

/// What queueing came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// This replica holds the hook now: run the job.
    Start { superseded: Vec<String> },
    /// The job waits for its turn.
    Wait { superseded: Vec<String> },
    /// `max-queue` jobs already wait (across replicas).
    QueueFull { waiting: usize },
    /// The delivery was seen within the window: the jobs it started.
    Seen(Vec<String>),
}

/// A job this replica may run now.
#[derive(Debug)]
pub struct Claim {
    pub job_id: String,
    /// Another replica received it (and died, or handed it over): its record and command.
    pub adopted: Option<(JobView, RunSpec)>,
}

/// A waiting job as the shared queue sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueState {
    /// Still waiting, received here.
    Waiting,
    /// Taken by a runner (another replica, when this one was thought dead).
    Running { runner: String },
    /// Gone from the queue; the history's state (superseded, interrupted, canceled...).
    Ended(JobState),
}

/// The shared queue of one replica.
pub struct SharedQueue {
    pool: std::sync::Arc<Pool>,
    /// The lease is renewed on a connection of its own: a busy pool cannot delay it.
    lease_connection: Pool,
    replica: String,
    lease: Duration,
}

impl SharedQueue {
    pub fn new(pool: std::sync::Arc<Pool>, replica: String, lease: Duration) -> SharedQueue {
        SharedQueue {
            lease_connection: Pool::new(pool.target().clone(), 1),
            pool,
            replica,
            lease,
        }
    }

    /// This replica's id (host name and a random part): who runs what, in records and logs.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Registers this replica or renews its lease, and with it (in the same statement) the
    /// hold on the jobs it runs, `running`. Returns those of them the queue still gives this
    /// replica: one missing was taken from it (it must stop).
    pub async fn heartbeat(
        &self,
        host: &str,
        running: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let client = self.lease_connection.get().await?;
        let rows = client
            .query(
                &format!(
                    "WITH lease AS (INSERT INTO replicas (id, host, started_at, seen_at, lease_ms) \
                     VALUES ($1, $2, {NOW_MS}, {NOW_MS}, $3) \
                     ON CONFLICT (id) DO UPDATE SET seen_at = {NOW_MS}, lease_ms = $3 RETURNING 1), \
                     held AS (UPDATE job_queue SET held_at = {NOW_MS} \
                     WHERE runner = $1 AND job_id = ANY($4) RETURNING job_id) \
                     SELECT job_id FROM held"
                ),
                &[&self.replica, &host, &lease, &running],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Leaves: the replica's row goes, so others take over what it leaves at once.
    pub async fn retire(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute("DELETE FROM replicas WHERE id = $1", &[&self.replica])
            .await
            .map_err(pg_error)?;
        client
            .execute("SELECT pg_notify($1, 'gone')", &[&CHANNEL])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    /// Queues a job of a `serial`/`latest` hook (see [`Enqueue`]).
    pub async fn enqueue(&self, e: Enqueue<'_>) -> Result<Enqueued, StoreError> {
        let hook = &e.job.view.hook;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // The record and the command go in before the hook's lock is taken: every replica's
        // enqueues and hand-overs of the hook wait in line for that lock, so it is held for
        // as few statements as possible. Nothing reads them before the commit.
        record_job(&tx, e.job, &self.replica).await?;
        postgres::insert_spec(&tx, &e.job.view.id, e.spec).await?;
        tx.execute(LOCK_HOOK, &[hook]).await.map_err(pg_error)?;
        // A retry of an enqueue whose answer was lost: it is queued already.
        if let Some(row) = tx
            .query_opt(
                "SELECT runner FROM job_queue WHERE job_id = $1",
                &[&e.job.view.id],
            )
            .await
            .map_err(pg_error)?
        {
            let runner: Option<String> = row.get(0);
            return Ok(if runner.as_deref() == Some(self.replica.as_str()) {
                Enqueued::Start {
                    superseded: Vec::new(),
                }
            } else {
                Enqueued::Wait {
                    superseded: Vec::new(),
                }
            });
        }
        if let Some(key) = e.delivery {
            let window = i64::try_from(e.delivery_window.as_millis()).unwrap_or(i64::MAX);
            if let Some(earlier) = claim_delivery(&tx, hook, key, &e.job.view.id, window).await? {
                return Ok(Enqueued::Seen(earlier));
            }
        }
        let row = tx
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE runner IS NULL), COUNT(*) FILTER (WHERE runner IS NOT NULL), \
                 COALESCE(MAX(seq), 0)::bigint FROM job_queue WHERE hook = $1",
                &[hook],
            )
            .await
            .map_err(pg_error)?;
        let (waiting, running, last): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if !e.latest && usize::try_from(waiting).unwrap_or(usize::MAX) >= e.max_queue {
            return Ok(Enqueued::QueueFull {
                waiting: usize::try_from(waiting).unwrap_or(usize::MAX),
            });
        }
        let mut superseded = Vec::new();
        if e.latest && waiting > 0 {
            let rows = tx
                .query(
                    "DELETE FROM job_queue WHERE hook = $1 AND runner IS NULL RETURNING job_id",
                    &[hook],
                )
                .await
                .map_err(pg_error)?;
            superseded = rows.iter().map(|r| r.get(0)).collect();
            end_in_history(
                &tx,
                &superseded,
                JobState::Superseded,
                &format!("superseded by a newer request (job {})", e.job.view.id),
            )
            .await?;
        }
        let start = running == 0 && (waiting == 0 || e.latest);
        tx.execute(
            &format!(
                "INSERT INTO job_queue (job_id, hook, seq, origin, runner, client_waits, queued_at, started_at, held_at) \
                 VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN $4 END, $6, {NOW_MS}, \
                 CASE WHEN $5 THEN {NOW_MS} END, CASE WHEN $5 THEN {NOW_MS} END)"
            ),
            &[
                &e.job.view.id,
                hook,
                &(last + 1),
                &self.replica,
                &start,
                &i64::from(e.client_waits),
            ],
        )
        .await
        .map_err(pg_error)?;
        // Others need to hear of it only when they may have something to do: end their
        // superseded jobs, or take the hook, which is free while its head job waits for the
        // replica that received it. Telling every replica of every job that merely waits
        // made each of them take the hook's lock for nothing, in the way of the hand-over.
        if (!start && running == 0) || !superseded.is_empty() {
            notify_queue(&tx, hook).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(if start {
            Enqueued::Start { superseded }
        } else {
            Enqueued::Wait { superseded }
        })
    }

    /// Takes the hook for this replica if it is free and its first waiting job is this
    /// replica's, handed over, or left by a replica whose lease expired (a job whose client
    /// was waiting on a dead replica is interrupted instead: nobody would read its answer,
    /// and the client retries).
    /// Without `adopt` (this replica is leaving) only its own jobs are taken.
    ///
    /// After an error, ask again with the same `ticket`: if the failed attempt committed (its
    /// answer was lost), the claim it made is returned.
    pub async fn claim(
        &self,
        hook: &str,
        adopt: bool,
        ticket: &ClaimTicket,
    ) -> Result<Option<Claim>, StoreError> {
        let mut client = self.pool.get().await?;
        // A look without the lock first: most notifications concern a hook that is busy, or
        // whose next job is another replica's, and taking the lock for those would queue this
        // replica behind (and in front of) the transactions that do move the queue. Whatever
        // makes the hook claimable later commits a notification, so nothing is missed.
        let claimable = client
            .query_opt(
                &format!(
                    "SELECT 1 FROM job_queue q WHERE q.hook = $1 AND ((q.runner IS NULL \
                     AND q.seq = (SELECT MIN(w.seq) FROM job_queue w WHERE w.hook = $1 AND w.runner IS NULL) \
                     AND NOT EXISTS (SELECT 1 FROM job_queue b WHERE b.hook = $1 AND b.runner IS NOT NULL) \
                     AND (q.origin = $2 OR ($3 AND (q.origin IS NULL OR {})))) \
                     OR (q.runner = $2 AND q.claim = $4)) LIMIT 1",
                    alive_negated("q.origin")
                ),
                &[&hook, &self.replica, &adopt, &ticket.id],
            )
            .await
            .map_err(pg_error)?;
        if claimable.is_none() {
            return Ok(None);
        }
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute(LOCK_HOOK, &[&hook]).await.map_err(pg_error)?;
        let claim = self.claim_locked(&tx, hook, adopt, ticket).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(claim)
    }

    /// Ends this replica's run of `job_id` (its final record is committed already) and, in the
    /// same transaction, takes the hook's next job if this replica may run it. Retried after
    /// an error with the same `ticket`, it converges as [`SharedQueue::claim`] does.
    pub async fn release(
        &self,
        job_id: &str,
        hook: &str,
        adopt: bool,
        ticket: &ClaimTicket,
    ) -> Result<Option<Claim>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute(LOCK_HOOK, &[&hook]).await.map_err(pg_error)?;
        tx.execute(
            "DELETE FROM job_queue WHERE job_id = $1 AND runner = $2",
            &[&job_id, &self.replica],
        )
        .await
        .map_err(pg_error)?;
        let claim = self.claim_locked(&tx, hook, adopt, ticket).await?;
        if claim.is_none() {
            notify_queue(&tx, hook).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(claim)
    }

    async fn claim_locked(
        &self,
        tx: &Transaction<'_>,
        hook: &str,
        adopt: bool,
        ticket: &ClaimTicket,
    ) -> Result<Option<Claim>, StoreError> {
        // A retry of a claim whose answer was lost: it holds the hook already (its hold
        // renewed now, since the replica runs it from now on).
        let mine = if ticket.again {
            tx.query_opt(
                &format!(
                    "UPDATE job_queue SET held_at = {NOW_MS} \
                     WHERE hook = $1 AND runner = $2 AND claim = $3 RETURNING job_id, origin"
                ),
                &[&hook, &self.replica, &ticket.id],
            )
            .await
            .map_err(pg_error)?
        } else {
            None
        };
        if let Some(row) = mine {
            let (job_id, origin): (String, Option<String>) = (row.get(0), row.get(1));
            tracing::info!(job_id = %job_id, hook, "a claim whose answer was lost had been committed: it is this replica's");
            return self.claimed(tx, job_id, origin.as_deref()).await.map(Some);
        }
        loop {
            let busy = tx
                .query_opt(
                    "SELECT 1 FROM job_queue WHERE hook = $1 AND runner IS NOT NULL",
                    &[&hook],
                )
                .await
                .map_err(pg_error)?;
            if busy.is_some() {
                return Ok(None);
            }
            let head = tx
                .query_opt(
                    &format!(
                        "SELECT job_id, origin, client_waits, (origin = $2 OR ($3 AND (origin IS NULL OR {}))) \
                         FROM job_queue WHERE hook = $1 AND runner IS NULL ORDER BY seq LIMIT 1",
                        alive_negated("origin")
                    ),
                    &[&hook, &self.replica, &adopt],
                )
                .await
                .map_err(pg_error)?;
            let Some(head) = head else { return Ok(None) };
            let (job_id, origin, client_waits): (String, Option<String>, i64) =
                (head.get(0), head.get(1), head.get(2));
            let eligible: Option<bool> = head.get(3);
            if eligible != Some(true) {
                return Ok(None);
            }
            let ours = origin.as_deref() == Some(self.replica.as_str());
            if !ours && origin.is_some() && client_waits == 1 {
                tx.execute("DELETE FROM job_queue WHERE job_id = $1", &[&job_id])
                    .await
                    .map_err(pg_error)?;
                end_in_history(
                    tx,
                    std::slice::from_ref(&job_id),
                    JobState::Interrupted,
                    &format!(
                        "the replica that received it ({}) stopped before it could start, with its client waiting for the output",
                        origin.unwrap_or_default()
                    ),
                )
                .await?;
                continue;
            }
            tx.execute(
                &format!(
                    "UPDATE job_queue SET runner = $2, claim = $3, started_at = {NOW_MS}, \
                     held_at = {NOW_MS} WHERE job_id = $1"
                ),
                &[&job_id, &self.replica, &ticket.id],
            )
            .await
            .map_err(pg_error)?;
            return self.claimed(tx, job_id, origin.as_deref()).await.map(Some);
        }
    }

    /// The claim of `job_id`, received by `origin`: with its record and command when another
    /// replica received it.
    async fn claimed(
        &self,
        tx: &Transaction<'_>,
        job_id: String,
        origin: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let adopted = if origin == Some(self.replica.as_str()) {
            None
        } else {
            Some(read_job(tx, &job_id).await?)
        };
        Ok(Claim { job_id, adopted })
    }

    /// Hooks whose first waiting job this replica may take now (the periodic catch-up for
    /// notifications missed while the listener reconnected).
    pub async fn claimable_hooks(&self) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT q.hook FROM job_queue q WHERE q.runner IS NULL \
                     AND q.seq = (SELECT MIN(w.seq) FROM job_queue w WHERE w.hook = q.hook AND w.runner IS NULL) \
                     AND NOT EXISTS (SELECT 1 FROM job_queue b WHERE b.hook = q.hook AND b.runner IS NOT NULL) \
                     AND (q.origin IS NULL OR q.origin = $1 OR {})",
                    alive_negated("q.origin")
                ),
                &[&self.replica],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Where this replica's waiting jobs `ids` stand in the shared queue.
    pub async fn states(&self, ids: &[String]) -> Result<HashMap<String, QueueState>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT job_id, runner FROM job_queue WHERE job_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(pg_error)?;
        let mut out = HashMap::new();
        for r in &rows {
            let runner: Option<String> = r.get(1);
            let state = match runner {
                None => QueueState::Waiting,
                Some(runner) => QueueState::Running { runner },
            };
            out.insert(r.get::<_, String>(0), state);
        }
        let gone: Vec<&String> = ids.iter().filter(|id| !out.contains_key(*id)).collect();
        if !gone.is_empty() {
            let rows = client
                .query("SELECT id, state FROM jobs WHERE id = ANY($1)", &[&gone])
                .await
                .map_err(pg_error)?;
            for r in &rows {
                let state = JobState::parse(r.get(1)).unwrap_or(JobState::Interrupted);
                out.insert(r.get(0), QueueState::Ended(state));
            }
            for id in gone {
                out.entry(id.clone())
                    .or_insert(QueueState::Ended(JobState::Interrupted));
            }
        }
        Ok(out)
    }

    /// Hands this replica's waiting jobs `ids` over (at shutdown): any replica may run them.
    /// Returns those handed over (not those this replica has claimed meanwhile).
    pub async fn hand_over(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let rows = tx
            .query(
                "UPDATE job_queue SET origin = NULL WHERE job_id = ANY($1) AND origin = $2 \
                 AND runner IS NULL RETURNING job_id, hook",
                &[&ids, &self.replica],
            )
            .await
            .map_err(pg_error)?;
        let handed: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let mut hooks: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        hooks.sort();
        hooks.dedup();
        for hook in &hooks {
            notify_queue(&tx, hook).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(handed)
    }

    /// Drops a job received here that will not run (its request was refused), waiting or
    /// claimed by this replica, ending it as `canceled` for `why`.
    pub async fn abandon(&self, job_id: &str, why: &str) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let hook = tx
            .query_opt(
                "DELETE FROM job_queue WHERE job_id = $1 \
                 AND (runner = $2 OR (runner IS NULL AND origin = $2)) RETURNING hook",
                &[&job_id, &self.replica],
            )
            .await
            .map_err(pg_error)?;
        end_in_history(&tx, &[job_id.to_string()], JobState::Canceled, why).await?;
        if let Some(row) = hook {
            notify_queue(&tx, row.get(0)).await?;
        }
        tx.commit().await.map_err(pg_error)
    }

    /// Takes this replica's waiting job out of the queue (canceled at shutdown); false when it
    /// is no longer waiting here.
    pub async fn withdraw(&self, job_id: &str) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let hook = tx
            .query_opt(
                "DELETE FROM job_queue WHERE job_id = $1 AND origin = $2 AND runner IS NULL RETURNING hook",
                &[&job_id, &self.replica],
            )
            .await
            .map_err(pg_error)?;
        // The job behind it may be another replica's to take now.
        if let Some(row) = &hook {
            notify_queue(&tx, row.get(0)).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(hook.is_some())
    }

    /// Ends what dead replicas (leases expired) left: their running jobs and their waiting
    /// jobs with a waiting client become `interrupted` and leave the queue; the history's
    /// unfinished jobs they recorded (`parallel` hooks) become `interrupted`. So does a running
    /// row that a live replica has not said it runs for a lease (a claim it never learnt of).
    /// Returns the hooks whose queue changed.
    pub async fn reap(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let rows = tx
            .query(
                &format!(
                    "SELECT q.job_id, q.hook, q.runner, q.origin, {} FROM job_queue q \
                     WHERE (q.runner IS NOT NULL AND NOT {}) \
                     OR (q.runner IS NULL AND q.client_waits = 1 AND q.origin IS NOT NULL AND {}) \
                     FOR UPDATE OF q SKIP LOCKED",
                    alive("q.runner"),
                    held("q"),
                    alive_negated("q.origin"),
                ),
                &[],
            )
            .await
            .map_err(pg_error)?;
        let mut hooks = Vec::new();
        for r in &rows {
            let (job_id, hook): (String, String) = (r.get(0), r.get(1));
            let runner: Option<String> = r.get(2);
            let origin: Option<String> = r.get(3);
            let runner_alive: bool = r.get(4);
            let why = match runner {
                Some(runner) if runner_alive => format!(
                    "the replica holding it ({runner}) did not run it: it lost track of its claim (an answer lost with a connection, or its request was refused)"
                ),
                Some(runner) => format!(
                    "the replica running it ({runner}) stopped renewing its lease: it crashed, was killed or lost the database"
                ),
                None => format!(
                    "the replica that received it ({}) stopped before it could start, with its client waiting for the output",
                    origin.unwrap_or_default()
                ),
            };
            tx.execute("DELETE FROM job_queue WHERE job_id = $1", &[&job_id])
                .await
                .map_err(pg_error)?;
            end_in_history(
                &tx,
                std::slice::from_ref(&job_id),
                JobState::Interrupted,
                &why,
            )
            .await?;
            tracing::warn!(job_id = %job_id, hook = %hook, reason = %why, "job interrupted");
            hooks.push(hook);
        }
        let orphans = tx
            .query(
                &format!(
                    "SELECT id, replica FROM jobs j WHERE state IN ('queued', 'running') AND replica IS NOT NULL \
                     AND {} AND NOT EXISTS (SELECT 1 FROM job_queue q WHERE q.job_id = j.id) \
                     FOR UPDATE OF j SKIP LOCKED",
                    alive_negated("j.replica")
                ),
                &[],
            )
            .await
            .map_err(pg_error)?;
        for r in &orphans {
            let (id, replica): (String, String) = (r.get(0), r.get(1));
            let why = format!(
                "the replica running it ({replica}) stopped renewing its lease: it crashed, was killed or lost the database"
            );
            end_in_history(&tx, std::slice::from_ref(&id), JobState::Interrupted, &why).await?;
            tracing::warn!(job_id = %id, reason = %why, "job interrupted");
        }
        // Replicas gone for a day are forgotten.
        tx.execute(
            &format!("DELETE FROM replicas WHERE seen_at + lease_ms < {NOW_MS} - 86400000"),
            &[],
        )
        .await
        .map_err(pg_error)?;
        hooks.sort();
        hooks.dedup();
        for hook in &hooks {
            notify_queue(&tx, hook).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(hooks)
    }

    /// Claims delivery `key` of a job that runs where it was received (a `parallel` hook's)
    /// unless it was seen within `window`: `Some(earlier jobs)` when it was. The claim and the
    /// job's first record (with its command) are one transaction, so a claim never stands
    /// without its job, whatever becomes of the request afterwards. A retry after an error
    /// that finds its own job id (the first attempt committed) may file the job.
    pub async fn claim_delivery(
        &self,
        key: &str,
        job: &StoredJob,
        spec: &RunSpec,
        window: Duration,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let seen = claim_delivery(&tx, &job.view.hook, key, &job.view.id, window).await?;
        if seen.is_none() {
            record_job(&tx, job, &self.replica).await?;
            postgres::insert_spec(&tx, &job.view.id, spec).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(seen)
    }

    /// Takes back a delivery claimed for `job_id` whose request was answered 503 after all
    /// (the claim may have committed unseen): its job ends `canceled` for `why`, unrun, and a
    /// retry of the delivery runs.
    pub async fn withdraw_delivery(
        &self,
        hook: &str,
        key: &str,
        job_id: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute(
            "DELETE FROM deliveries WHERE hook = $1 AND delivery = $2 AND job_ids = $3",
            &[&hook, &text(key), &job_id],
        )
        .await
        .map_err(pg_error)?;
        end_in_history(&tx, &[job_id.to_string()], JobState::Canceled, why).await?;
        tx.commit().await.map_err(pg_error)
    }
}

/// `NOT alive(column)`.
fn alive_negated(column: &str) -> String {
    format!("NOT {}", alive(column))
}

async fn notify_queue(tx: &Transaction<'_>, hook: &str) -> Result<(), StoreError> {
    tx.execute("SELECT pg_notify($1, 'q ' || $2::text)", &[&CHANNEL, &hook])
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// Inserts the delivery for `job_id` unless a claim within the window exists: `Some(its jobs)`
/// then.
async fn claim_delivery(
    tx: &Transaction<'_>,
    hook: &str,
    key: &str,
    job_id: &str,
    window_ms: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let key = text(key);
    let won = tx
        .query_opt(
            &format!(
                "INSERT INTO deliveries (hook, delivery, job_ids, seen_at) VALUES ($1, $2, $3, {NOW_MS}) \
                 ON CONFLICT (hook, delivery) DO UPDATE SET job_ids = excluded.job_ids, seen_at = excluded.seen_at \
                 WHERE deliveries.seen_at < {NOW_MS} - $4 RETURNING job_ids"
            ),
            &[&hook, &key, &job_id, &window_ms],
        )
        .await
        .map_err(pg_error)?;
    if won.is_some() {
        return Ok(None);
    }
    let row = tx
        .query_one(
            "SELECT job_ids FROM deliveries WHERE hook = $1 AND delivery = $2",
            &[&hook, &key],
        )
        .await
        .map_err(pg_error)?;
    Ok(Some(postgres::split_ids(row.get(0))))
}

/// Writes a job's first record (queued) with the queue row, so every replica sees it at once.
async fn record_job(
    tx: &Transaction<'_>,
    job: &StoredJob,
    replica: &str,
) -> Result<(), StoreError> {
    postgres::insert_job(tx, job, replica, "DO NOTHING").await
}

/// Ends unfinished jobs `ids` in the history as `state`, saying why.
async fn end_in_history(
    tx: &Transaction<'_>,
    ids: &[String],
    state: JobState,
    why: &str,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = std::time::SystemTime::now();
    let now_text = humantime::format_rfc3339_millis(now).to_string();
    let now_ms = super::records::epoch_ms(now);
    let rows = tx
        .query(
            "SELECT id, summary FROM jobs WHERE id = ANY($1) AND state IN ('queued', 'running') FOR UPDATE",
            &[&ids],
        )
        .await
        .map_err(pg_error)?;
    for r in &rows {
        let id: String = r.get(0);
        let Ok(mut view) = serde_json::from_str::<JobView>(r.get(1)) else {
            continue;
        };
        view.state = state;
        view.error = Some(why.to_string());
        view.finished_at = Some(now_text.clone());
        let summary = serde_json::to_string(&view)
            .map_err(|e| StoreError::Database(format!("job record: {e}")))?;
        tx.execute(
            "UPDATE jobs SET state = $2, finished_at = $3, summary = $4 WHERE id = $1",
            &[&id, &state.as_str(), &now_ms, &text(&summary)],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(())
}

/// A queued job's record and command, for a replica that adopts it.
async fn read_job(tx: &Transaction<'_>, job_id: &str) -> Result<(JobView, RunSpec), StoreError> {
    let row = tx
        .query_one(
            "SELECT j.summary, r.spec FROM jobs j JOIN job_runs r ON r.job_id = j.id WHERE j.id = $1",
            &[&job_id],
        )
        .await
        .map_err(pg_error)?;
    let bad = |e: serde_json::Error| StoreError::Database(format!("queued job {job_id}: {e}"));
    Ok((
        serde_json::from_str(row.get(0)).map_err(bad)?,
        serde_json::from_str(row.get(1)).map_err(bad)?,
    ))
}
