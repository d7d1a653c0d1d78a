//! A replica's lease and its end: renewing it (with the hold on the jobs it runs), leaving,
//! handing its waiting jobs over or withdrawing them at shutdown, and reaping what replicas
//! whose lease expired left behind.

use std::collections::HashMap;

use super::{alive, alive_negated, end_in_history, notify_queue, QueueState, SharedQueue};
use crate::jobs::JobState;
use crate::store::postgres::{pg_error, CHANNEL, NOW_MS};
use crate::store::StoreError;

/// "The running row `q` is held": its runner is alive and has said within its lease that it
/// runs the job (rows without `held_at`, from before it existed, rely on the lease alone).
fn held(q: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM replicas r WHERE r.id = {q}.runner AND r.seen_at + r.lease_ms >= {NOW_MS} \
         AND ({q}.held_at IS NULL OR {q}.held_at + r.lease_ms >= {NOW_MS}))"
    )
}
impl SharedQueue {
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
}
