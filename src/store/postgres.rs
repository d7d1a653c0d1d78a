//! The PostgreSQL backend: the same numbered migrations as SQLite (run once, under an advisory
//! lock, however many replicas start at once), the history's writes and reads, and retention.
//! Connections and their pool are `pg_pool`; the cross-replica queue is `shared_queue`; this
//! file only keeps history.
//!
//! Differences from SQLite, each for a reason: a job record never moves backwards (a
//! replica's late `queued` write cannot undo another replica's `superseded`); text loses NUL
//! bytes (PostgreSQL's `text` cannot hold them); retention by size counts the jobs' recorded
//! bytes, not the files (PostgreSQL reuses freed space through autovacuum and never shrinks a
//! table by itself); jobs left unfinished are found by the lease reaper, not at start (other
//! replicas' jobs are running).

use std::borrow::Cow;

use tokio_postgres::{Client, GenericClient};

use super::records::{DeployRecord, JobFilter, PauseRecord, RunSpec, StoredJob};
use super::{schema, StoreError, Write};
use crate::jobs::{JobState, JobView};

/// The notification channel every replica listens on.
pub const CHANNEL: &str = "hookrun";

/// Deploys of a target kept whatever their age (as with SQLite).
const KEEP_GOOD_DEPLOYS: i64 = 10;

/// Held while migrations run, so replicas starting together migrate once.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_7275_6e01;
/// Held while retention runs, so one replica at a time prunes.
const RETENTION_LOCK: i64 = 0x686f_6f6b_7275_6e02;

pub fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            StoreError::Database(text)
        }
    }
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Database(format!("stored record is not valid: {e}"))
}

/// PostgreSQL's `text` holds no NUL byte: commands' output may.
pub fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The database's clock in epoch milliseconds: leases are measured on it, so replicas' clocks
/// need not agree.
pub const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Applies the migrations the database lacks, all in one transaction under an advisory lock.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(schema::CREATE_LEDGER)
        .await
        .map_err(pg_error)?;
    let recorded: i64 = tx
        .query_one(schema::RECORDED_VERSION, &[])
        .await
        .map_err(pg_error)?
        .get(0);
    for (version, name, statements) in schema::pending(recorded)? {
        for sql in *statements {
            tx.batch_execute(sql).await.map_err(pg_error)?;
        }
        tx.execute(
            &format!(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, {NOW_MS})"
            ),
            &[version, name],
        )
        .await
        .map_err(pg_error)?;
        schema::applied(*version, name);
    }
    tx.commit().await.map_err(pg_error)
}

/// Writes a batch in one transaction: all of it or nothing. `replica` names the writer in the
/// jobs it records.
pub async fn apply(client: &mut Client, writes: &[Write], replica: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    for w in writes {
        apply_one(&tx, w, replica).await?;
    }
    tx.commit().await.map_err(pg_error)
}

/// States a record may not leave for an earlier one (see the file's doc).
const NOT_BACKWARDS: &str =
    "NOT ((jobs.state NOT IN ('queued', 'running') AND excluded.state IN ('queued', 'running')) \
     OR (jobs.state = 'running' AND excluded.state = 'queued'))";

/// Writes `job`'s record; `on_conflict` says what an existing record of the same id becomes
/// (`DO NOTHING`, or `DO UPDATE SET …`).
pub(super) async fn insert_job(
    tx: &tokio_postgres::Transaction<'_>,
    job: &StoredJob,
    replica: &str,
    on_conflict: &str,
) -> Result<(), StoreError> {
    let summary = serde_json::to_string(&job.view).map_err(json_error)?;
    let weight = i64::try_from(job.weight()).unwrap_or(i64::MAX);
    tx.execute(
        &format!(
            "INSERT INTO jobs (id, hook, state, queued_at, finished_at, summary, stdout, stderr, weight, replica) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) {on_conflict}"
        ),
        &[
            &job.view.id,
            &job.view.hook,
            &job.view.state.as_str(),
            &job.queued_ms(),
            &job.finished_ms(),
            &text(&summary),
            &text(&job.stdout),
            &text(&job.stderr),
            &weight,
            &replica,
        ],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

async fn apply_one(
    tx: &tokio_postgres::Transaction<'_>,
    w: &Write,
    replica: &str,
) -> Result<(), StoreError> {
    match w {
        Write::Job(job, spec) => {
            let newer = format!(
                "DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at, \
                 summary = excluded.summary, stdout = excluded.stdout, stderr = excluded.stderr, \
                 weight = excluded.weight, replica = excluded.replica WHERE {NOT_BACKWARDS}"
            );
            insert_job(tx, job, replica, &newer).await?;
            if let Some(spec) = spec {
                insert_spec(tx, &job.view.id, spec).await?;
            }
        }
        Write::Deploy(d) => {
            let record = serde_json::to_string(d).map_err(json_error)?;
            tx.execute(
                "INSERT INTO deploys (job_id, target, hook, good, finished_at, record) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (job_id) DO UPDATE SET good = excluded.good, finished_at = excluded.finished_at, record = excluded.record",
                &[
                    &d.job_id,
                    &d.target,
                    &d.hook,
                    &i64::from(d.is_good()),
                    &d.finished_ms(),
                    &text(&record),
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        Write::Delivery(d) => {
            tx.execute(
                "INSERT INTO deliveries (hook, delivery, job_ids, seen_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (hook, delivery) DO NOTHING",
                &[&d.hook, &text(&d.key), &d.job_ids.join(","), &d.seen_ms],
            )
            .await
            .map_err(pg_error)?;
        }
        Write::Pause(hook, pause) => {
            match pause {
                Some(p) => {
                    let record = serde_json::to_string(p).map_err(json_error)?;
                    tx.execute(
                        "INSERT INTO hook_pauses (hook, paused_at, record) VALUES ($1, $2, $3) \
                         ON CONFLICT (hook) DO UPDATE SET paused_at = excluded.paused_at, record = excluded.record",
                        &[hook, &super::records::parse_ms(&p.paused_at).unwrap_or(0), &text(&record)],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                None => {
                    tx.execute("DELETE FROM hook_pauses WHERE hook = $1", &[hook])
                        .await
                        .map_err(pg_error)?;
                }
            }
            // Every replica reloads its pauses when this commits.
            tx.execute("SELECT pg_notify($1, 'pause')", &[&CHANNEL])
                .await
                .map_err(pg_error)?;
        }
    }
    Ok(())
}

/// Keeps a job's command (once) so that any replica can run it or run it again.
pub async fn insert_spec(
    tx: &impl GenericClient,
    job_id: &str,
    spec: &RunSpec,
) -> Result<(), StoreError> {
    let spec = serde_json::to_string(spec).map_err(json_error)?;
    tx.execute(
        "INSERT INTO job_runs (job_id, spec) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING",
        &[&job_id, &text(&spec)],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

/// Bytes the store's tables and indexes take.
pub async fn disk_bytes(client: &Client) -> Result<u64, StoreError> {
    let row = client
        .query_one(
            "SELECT (pg_total_relation_size('jobs') + pg_total_relation_size('job_runs') \
             + pg_total_relation_size('deploys') + pg_total_relation_size('deliveries') \
             + pg_total_relation_size('hook_pauses') + pg_total_relation_size('job_queue'))::bigint",
            &[],
        )
        .await
        .map_err(pg_error)?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Retention (one replica at a time): finished jobs older than `max_age_ms`, then the oldest
/// finished jobs until the recorded bytes fit `target_bytes`, keeping each target's newest
/// good deploys; expired delivery ids. Returns the jobs deleted.
pub async fn retain(
    client: &mut Client,
    now_ms: i64,
    max_age_ms: i64,
    target_bytes: u64,
    delivery_window_ms: i64,
) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    let ours: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&RETENTION_LOCK])
        .await
        .map_err(pg_error)?
        .get(0);
    if !ours {
        return Ok(0);
    }
    let cutoff = now_ms.saturating_sub(max_age_ms);
    let protected = format!(
        "SELECT d.job_id FROM deploys d WHERE d.good = 1 AND (SELECT COUNT(*) FROM deploys e \
         WHERE e.target = d.target AND e.good = 1 AND e.finished_at > d.finished_at) < {KEEP_GOOD_DEPLOYS}"
    );
    let mut deleted = delete_jobs(
        &tx,
        &format!("finished_at IS NOT NULL AND finished_at < $1 AND id NOT IN ({protected})"),
        cutoff,
    )
    .await?;
    tx.execute("DELETE FROM deploys WHERE finished_at < $1", &[&cutoff])
        .await
        .map_err(pg_error)?;
    tx.execute(
        "DELETE FROM deliveries WHERE seen_at < $1",
        &[&now_ms.saturating_sub(delivery_window_ms)],
    )
    .await
    .map_err(pg_error)?;
    let used: i64 = tx
        .query_one("SELECT COALESCE(SUM(weight), 0)::bigint FROM jobs", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let excess = used.saturating_sub(i64::try_from(target_bytes).unwrap_or(i64::MAX));
    if excess > 0 {
        // The oldest finished jobs whose running total of weight covers the excess.
        deleted += delete_jobs(
            &tx,
            &format!(
                "id IN (SELECT id FROM (SELECT id, weight, SUM(weight) OVER (ORDER BY queued_at, id) AS total \
                 FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN ({protected})) oldest \
                 WHERE total - weight < $1)"
            ),
            excess,
        )
        .await?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(deleted)
}

async fn delete_jobs(
    tx: &tokio_postgres::Transaction<'_>,
    condition: &str,
    bound: i64,
) -> Result<usize, StoreError> {
    let rows = tx
        .query(
            &format!("DELETE FROM jobs WHERE {condition} RETURNING id"),
            &[&bound],
        )
        .await
        .map_err(pg_error)?;
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    tx.execute("DELETE FROM job_runs WHERE job_id = ANY($1)", &[&ids])
        .await
        .map_err(pg_error)?;
    Ok(ids.len())
}

pub async fn job(client: &Client, id: &str) -> Result<Option<StoredJob>, StoreError> {
    let Some(row) = client
        .query_opt(
            "SELECT summary, stdout, stderr FROM jobs WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(pg_error)?
    else {
        return Ok(None);
    };
    Ok(Some(StoredJob {
        view: serde_json::from_str(row.get(0)).map_err(json_error)?,
        stdout: row.get(1),
        stderr: row.get(2),
    }))
}

pub async fn jobs(client: &Client, filter: &JobFilter) -> Result<Vec<JobView>, StoreError> {
    let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT summary FROM jobs WHERE ($1::text IS NULL OR hook = $1) \
             AND ($2::text IS NULL OR state = $2) AND ($3::bigint IS NULL OR queued_at < $3) \
             ORDER BY queued_at DESC LIMIT $4",
            &[
                &filter.hook,
                &filter.state.map(JobState::as_str),
                &filter.before_ms,
                &limit,
            ],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| serde_json::from_str(r.get(0)).map_err(json_error))
        .collect()
}

pub async fn run_spec(client: &Client, id: &str) -> Result<Option<RunSpec>, StoreError> {
    let row = client
        .query_opt("SELECT spec FROM job_runs WHERE job_id = $1", &[&id])
        .await
        .map_err(pg_error)?;
    row.map(|r| serde_json::from_str(r.get(0)).map_err(json_error))
        .transpose()
}

pub async fn deploys(
    client: &Client,
    target: Option<&str>,
    limit: usize,
) -> Result<Vec<DeployRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT record FROM deploys WHERE ($1::text IS NULL OR target = $1) \
             ORDER BY finished_at DESC LIMIT $2",
            &[&target, &limit],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| serde_json::from_str(r.get(0)).map_err(json_error))
        .collect()
}

pub async fn pauses(client: &Client) -> Result<Vec<PauseRecord>, StoreError> {
    let rows = client
        .query("SELECT record FROM hook_pauses", &[])
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| serde_json::from_str(r.get(0)).map_err(json_error))
        .collect()
}

pub fn split_ids(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
