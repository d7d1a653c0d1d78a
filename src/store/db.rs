//! The writer thread's database, whichever backend: one enum so that the writer's logic
//! (batches, backlog, degradation, retention) is written once. SQLite is called directly;
//! PostgreSQL's async calls are run to completion on the server's runtime (the writer is a
//! thread of its own, never a runtime worker), each bounded in time so that a dead server
//! cannot hold the writer.

use std::path::PathBuf;
use std::time::Duration;

use tokio::runtime::Handle;

use super::location::PgTarget;
use super::sqlite::Sqlite;
use super::{postgres, StoreError, Write};
use crate::jobs::JobView;

/// How long one PostgreSQL batch (or retention pass) may take before the connection is
/// dropped and the batch retried on a new one.
const PG_BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the writer (re)opens its database.
#[derive(Clone)]
pub(super) enum Target {
    Sqlite(PathBuf),
    Postgres {
        target: Box<PgTarget>,
        handle: Handle,
        /// This process's replica id, recorded with each job it writes.
        replica: String,
    },
}

/// The writer's open database.
pub(super) enum Db {
    Sqlite(Sqlite),
    Postgres {
        client: tokio_postgres::Client,
        handle: Handle,
        replica: String,
    },
}

impl Target {
    /// Opens (and migrates) the database for writing.
    pub(super) fn open(&self, max_bytes: u64) -> Result<Db, StoreError> {
        match self {
            Target::Sqlite(dir) => Sqlite::open_writer(dir, max_bytes).map(Db::Sqlite),
            Target::Postgres {
                target,
                handle,
                replica,
            } => {
                let client = bounded(handle, async {
                    let mut client = super::pg_pool::connect(target).await?;
                    postgres::migrate(&mut client).await?;
                    Ok(client)
                })?;
                Ok(Db::Postgres {
                    client,
                    handle: handle.clone(),
                    replica: replica.clone(),
                })
            }
        }
    }
}

fn bounded<T>(
    handle: &Handle,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    handle.block_on(async {
        tokio::time::timeout(PG_BATCH_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Database(format!(
                    "no answer from PostgreSQL within {}s",
                    PG_BATCH_TIMEOUT.as_secs()
                )))
            })
    })
}

impl Db {
    /// Writes a batch in one transaction.
    pub(super) fn apply(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(db) => db.apply(writes),
            Db::Postgres {
                client,
                handle,
                replica,
            } => bounded(handle, postgres::apply(client, writes, replica)),
        }
    }

    /// Marks jobs a previous process left unfinished as `interrupted` (SQLite: every such
    /// job was this folder's; PostgreSQL: the lease reaper does it, since other replicas'
    /// jobs are running).
    pub(super) fn interrupt_unfinished(&mut self, now: &str) -> Result<Vec<JobView>, StoreError> {
        match self {
            Db::Sqlite(db) => db.interrupt_unfinished(now),
            Db::Postgres { .. } => Ok(Vec::new()),
        }
    }

    /// Whether the connection is gone and must be opened again.
    pub(super) fn is_broken(&self) -> bool {
        match self {
            Db::Sqlite(_) => false,
            Db::Postgres { client, .. } => client.is_closed(),
        }
    }

    pub(super) fn disk_bytes(&self) -> u64 {
        match self {
            Db::Sqlite(db) => db.disk_bytes(),
            Db::Postgres { client, handle, .. } => {
                bounded(handle, postgres::disk_bytes(client)).unwrap_or(0)
            }
        }
    }

    pub(super) fn retain(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        target_bytes: u64,
        delivery_window_ms: i64,
    ) -> Result<usize, StoreError> {
        match self {
            Db::Sqlite(db) => db.retain(now_ms, max_age_ms, target_bytes, delivery_window_ms),
            Db::Postgres { client, handle, .. } => bounded(
                handle,
                postgres::retain(client, now_ms, max_age_ms, target_bytes, delivery_window_ms),
            ),
        }
    }
}
