//! Deliveries seen once: the claim of a delivery id within its window, made in the same
//! transaction as the job it starts, and its withdrawal when the request was refused after all.

use std::time::Duration;

use tokio_postgres::Transaction;

use super::{end_in_history, record_job, SharedQueue};
use crate::jobs::JobState;
use crate::store::postgres::{self, pg_error, text, NOW_MS};
use crate::store::records::{RunSpec, StoredJob};
use crate::store::StoreError;

impl SharedQueue {
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

/// Inserts the delivery for `job_id` unless a claim within the window exists: `Some(its jobs)`
/// then.
pub(super) async fn claim_delivery(
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
