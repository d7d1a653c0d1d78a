//! Taking a hook's next job: a claim under the hook's lock, retried with its ticket when the
//! answer was lost, and the catch-up look for hooks whose notification was missed.

use tokio_postgres::Transaction;

use super::{
    alive_negated, end_in_history, notify_queue, Claim, ClaimTicket, SharedQueue, LOCK_HOOK,
};
use crate::jobs::{JobState, JobView};
use crate::store::postgres::{pg_error, NOW_MS};
use crate::store::records::RunSpec;
use crate::store::StoreError;

impl SharedQueue {
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
