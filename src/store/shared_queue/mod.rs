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
//!
//! This file queues jobs and holds what the statements share; taking a hook's next job is in
//! `claims`, a replica's lease, its leaving and the reaper in `leases`, deliveries seen once in
//! `deliveries`.

use std::time::Duration;

use tokio_postgres::Transaction;

use super::pg_pool::Pool;
use super::postgres::{self, pg_error, text, CHANNEL, NOW_MS};
use super::records::{RunSpec, StoredJob};
use super::StoreError;
use crate::jobs::{JobState, JobView};

mod claims;
mod deliveries;
mod leases;

/// "Replica `r` is alive": its lease has not expired on the database's clock.
fn alive(replica: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM replicas r WHERE r.id = {replica} AND r.seen_at + r.lease_ms >= {NOW_MS})"
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
            if let Some(earlier) =
                deliveries::claim_delivery(&tx, hook, key, &e.job.view.id, window).await?
            {
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
