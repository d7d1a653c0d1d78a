//! Retention of the SQLite history: finished jobs past their age go, then the oldest until the
//! data fits its size, never the newest good deploys of a target (they are what a rollback
//! goes back to); the freed pages go back to the file system.

use std::path::PathBuf;

use super::{db_error, Sqlite};
use crate::store::StoreError;

/// Deploys of a target that retention keeps with their jobs (and commands) whatever their
/// age or size, so that the target can still be rolled back to them.
const KEEP_GOOD_DEPLOYS: i64 = 10;

impl Sqlite {
    /// Bytes the database and its write-ahead log take on disk.
    pub fn disk_bytes(&self) -> u64 {
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        size(self.path.clone()) + size(wal)
    }

    /// Bytes in use inside the file (pages minus free pages).
    fn used_bytes(&self) -> Result<u64, StoreError> {
        let get = |pragma: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .map_err(db_error)
        };
        let pages = get("page_count")? - get("freelist_count")?;
        Ok(u64::try_from(pages.max(0) * get("page_size")?).unwrap_or(0))
    }

    /// Deletes finished jobs older than `max_age_ms`, then the oldest finished jobs until the
    /// data fits in `target_bytes`, keeping each target's newest good deploys; deletes expired
    /// delivery ids; returns the freed pages to the file system. Returns the jobs deleted.
    pub fn retain(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        target_bytes: u64,
        delivery_window_ms: i64,
    ) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(max_age_ms);
        let mut deleted = self.delete_jobs(
            "finished_at IS NOT NULL AND finished_at < ?1",
            cutoff,
            i64::MAX,
        )?;
        self.conn
            .execute("DELETE FROM deploys WHERE finished_at < ?1", [cutoff])
            .map_err(db_error)?;
        self.conn
            .execute(
                "DELETE FROM deliveries WHERE seen_at < ?1",
                [now_ms.saturating_sub(delivery_window_ms)],
            )
            .map_err(db_error)?;
        let mut rounds = 0;
        while self.used_bytes()? > target_bytes && rounds < 64 {
            rounds += 1;
            let finished: i64 = self
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE finished_at IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(db_error)?;
            let batch = (finished / 8).max(1);
            let n = self.delete_jobs(
                "finished_at IS NOT NULL AND finished_at < ?1",
                i64::MAX,
                batch,
            )?;
            deleted += n;
            if n == 0 {
                break;
            }
        }
        self.conn
            .execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db_error)?;
        Ok(deleted)
    }

    /// Deletes up to `limit` of the oldest jobs matching `condition` (which binds `?1` to
    /// `bound`), never the jobs of each target's newest good deploys, with their commands.
    fn delete_jobs(
        &mut self,
        condition: &str,
        bound: i64,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction().map_err(db_error)?;
        let protected = format!(
            "SELECT d.job_id FROM deploys d WHERE d.good = 1 AND (SELECT COUNT(*) FROM deploys e \
             WHERE e.target = d.target AND e.good = 1 AND e.finished_at > d.finished_at) < {KEEP_GOOD_DEPLOYS}"
        );
        let select = format!(
            "SELECT id FROM jobs WHERE {condition} AND id NOT IN ({protected}) \
             ORDER BY queued_at LIMIT {limit}"
        );
        let ids: Vec<String> = {
            let mut stmt = tx.prepare(&select).map_err(db_error)?;
            let rows = stmt.query_map([bound], |r| r.get(0)).map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        for id in &ids {
            tx.execute("DELETE FROM jobs WHERE id = ?1", [id])
                .map_err(db_error)?;
            tx.execute("DELETE FROM job_runs WHERE job_id = ?1", [id])
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(ids.len())
    }
}
