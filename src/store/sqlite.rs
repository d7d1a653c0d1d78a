//! The SQLite backend: one file (`hookrun.db` in the `-state` folder, mode 0600) in WAL mode,
//! written by the store's writer thread only and read through a second connection, so reads
//! never wait for a write. Retention deletes the oldest finished jobs and gives their pages
//! back to the file system (incremental vacuum, WAL checkpoints), so the folder stays within
//! its size (`retention`).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::records::{DeliveryRecord, DeployRecord, JobFilter, PauseRecord, RunSpec, StoredJob};
use super::{schema, StoreError, Write};
use crate::jobs::{JobState, JobView};

mod retention;

/// The database file's name in the `-state` folder.
pub const FILE_NAME: &str = "hookrun.db";

/// One connection to the database.
pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Database(format!("stored record is not valid: {e}"))
}

impl Sqlite {
    /// Opens (creating the folder and file if needed) and migrates the database for writing.
    pub fn open_writer(dir: &Path, max_bytes: u64) -> Result<Sqlite, StoreError> {
        let io = |what: &str, e: std::io::Error| StoreError::Io(format!("{what}: {e}"));
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(&format!("creating {}", dir.display()), e))?;
        }
        let path = dir.join(FILE_NAME);
        // Created 0600 before SQLite sees it: the file holds commands' environments.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io(&format!("opening {}", path.display()), e))?;
        let conn = Connection::open(&path).map_err(db_error)?;
        let page = 4096u64;
        let wal_pages = (max_bytes / page / 8).clamp(64, 1000);
        conn.execute_batch(&format!(
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA wal_autocheckpoint = {wal_pages};
             PRAGMA journal_size_limit = {};",
            wal_pages * page
        ))
        .map_err(db_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_error)?;
        let mut db = Sqlite { conn, path };
        db.migrate()?;
        Ok(db)
    }

    /// A second connection for reads.
    pub fn open_reader(dir: &Path) -> Result<Sqlite, StoreError> {
        let path = dir.join(FILE_NAME);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .or_else(|_| {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        })
        .map_err(db_error)?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(db_error)?;
        Ok(Sqlite { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations this database lacks; refuses one written by a newer hookrun.
    fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(schema::CREATE_LEDGER)
            .map_err(db_error)?;
        let recorded: i64 = self
            .conn
            .query_row(schema::RECORDED_VERSION, [], |r| r.get(0))
            .map_err(db_error)?;
        // Each migration in its own transaction.
        for (version, name, statements) in schema::pending(recorded)? {
            let tx = self.conn.transaction().map_err(db_error)?;
            for sql in *statements {
                tx.execute_batch(sql).map_err(db_error)?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, super::now_ms()],
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)?;
            schema::applied(*version, name);
        }
        Ok(())
    }

    /// Writes a batch in one transaction: all of it or nothing.
    pub fn apply(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(db_error)?;
        for w in writes {
            apply_one(&tx, w)?;
        }
        tx.commit().map_err(db_error)
    }

    /// Marks jobs left queued or running by a previous process as `interrupted`; returns them.
    pub fn interrupt_unfinished(&mut self, now: &str) -> Result<Vec<JobView>, StoreError> {
        let tx = self.conn.transaction().map_err(db_error)?;
        let mut found = Vec::new();
        {
            let mut stmt = tx
                .prepare("SELECT summary FROM jobs WHERE state IN ('queued', 'running')")
                .map_err(db_error)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_error)?;
            for row in rows {
                let mut view: JobView =
                    serde_json::from_str(&row.map_err(db_error)?).map_err(json_error)?;
                view.error = Some(if view.state == JobState::Running {
                    "hookrun stopped while the job was running (crash, kill or power loss); found at the next start".into()
                } else {
                    "hookrun stopped before the job could start; found at the next start".into()
                });
                view.state = JobState::Interrupted;
                view.finished_at = Some(now.to_string());
                found.push(view);
            }
        }
        for view in &found {
            tx.execute(
                "UPDATE jobs SET state = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                params![
                    view.id,
                    JobState::Interrupted.as_str(),
                    super::records::parse_ms(now),
                    serde_json::to_string(view).map_err(json_error)?
                ],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(found)
    }

    pub fn job(&self, id: &str) -> Result<Option<StoredJob>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT summary, stdout, stderr FROM jobs WHERE id = ?1",
                [id],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db_error)?;
        let Some((summary, stdout, stderr)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredJob {
            view: serde_json::from_str(&summary).map_err(json_error)?,
            stdout,
            stderr,
        }))
    }

    /// Jobs matching `filter`, newest first, without output.
    pub fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobView>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT summary FROM jobs WHERE (?1 IS NULL OR hook = ?1) \
                 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR queued_at < ?3) \
                 ORDER BY queued_at DESC LIMIT ?4",
            )
            .map_err(db_error)?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(
                params![
                    filter.hook,
                    filter.state.map(JobState::as_str),
                    filter.before_ms,
                    limit
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(db_error)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row.map_err(db_error)?).map_err(json_error)?);
        }
        Ok(out)
    }

    pub fn run_spec(&self, id: &str) -> Result<Option<RunSpec>, StoreError> {
        let spec: Option<String> = self
            .conn
            .query_row("SELECT spec FROM job_runs WHERE job_id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_error)?;
        spec.map(|s| serde_json::from_str(&s).map_err(json_error))
            .transpose()
    }

    /// Deploys, newest first: of one target, or of all.
    pub fn deploys(
        &self,
        target: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT record FROM deploys WHERE (?1 IS NULL OR target = ?1) \
                 ORDER BY finished_at DESC LIMIT ?2",
            )
            .map_err(db_error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![target, limit], |r| r.get::<_, String>(0))
            .map_err(db_error)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row.map_err(db_error)?).map_err(json_error)?);
        }
        Ok(out)
    }

    pub fn pauses(&self) -> Result<Vec<PauseRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT record FROM hook_pauses")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_error)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row.map_err(db_error)?).map_err(json_error)?);
        }
        Ok(out)
    }

    pub fn deliveries(&self, since_ms: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hook, delivery, job_ids, seen_at FROM deliveries WHERE seen_at >= ?1")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([since_ms], |r| {
                Ok(DeliveryRecord {
                    hook: r.get(0)?,
                    key: r.get(1)?,
                    job_ids: r
                        .get::<_, String>(2)?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    seen_ms: r.get(3)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::Job(job, spec) => {
            let summary = serde_json::to_string(&job.view).map_err(json_error)?;
            tx.execute(
                "INSERT INTO jobs (id, hook, state, queued_at, finished_at, summary, stdout, stderr, weight) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at, \
                 summary = excluded.summary, stdout = excluded.stdout, stderr = excluded.stderr, weight = excluded.weight",
                params![
                    job.view.id,
                    job.view.hook,
                    job.view.state.as_str(),
                    job.queued_ms(),
                    job.finished_ms(),
                    summary,
                    job.stdout,
                    job.stderr,
                    i64::try_from(job.weight()).unwrap_or(i64::MAX)
                ],
            )
            .map_err(db_error)?;
            if let Some(spec) = spec {
                tx.execute(
                    "INSERT INTO job_runs (job_id, spec) VALUES (?1, ?2) ON CONFLICT (job_id) DO NOTHING",
                    params![job.view.id, serde_json::to_string(spec).map_err(json_error)?],
                )
                .map_err(db_error)?;
            }
        }
        Write::Deploy(d) => {
            tx.execute(
                "INSERT INTO deploys (job_id, target, hook, good, finished_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (job_id) DO UPDATE SET good = excluded.good, finished_at = excluded.finished_at, record = excluded.record",
                params![
                    d.job_id,
                    d.target,
                    d.hook,
                    i64::from(d.is_good()),
                    d.finished_ms(),
                    serde_json::to_string(d).map_err(json_error)?
                ],
            )
            .map_err(db_error)?;
        }
        Write::Delivery(d) => {
            tx.execute(
                "INSERT INTO deliveries (hook, delivery, job_ids, seen_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (hook, delivery) DO NOTHING",
                params![d.hook, d.key, d.job_ids.join(","), d.seen_ms],
            )
            .map_err(db_error)?;
        }
        Write::Pause(hook, Some(p)) => {
            tx.execute(
                "INSERT INTO hook_pauses (hook, paused_at, record) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hook) DO UPDATE SET paused_at = excluded.paused_at, record = excluded.record",
                params![
                    hook,
                    super::records::parse_ms(&p.paused_at).unwrap_or(0),
                    serde_json::to_string(p).map_err(json_error)?
                ],
            )
            .map_err(db_error)?;
        }
        Write::Pause(hook, None) => {
            tx.execute("DELETE FROM hook_pauses WHERE hook = ?1", [hook])
                .map_err(db_error)?;
        }
    }
    Ok(())
}
