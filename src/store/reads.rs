//! Reading the history back: a job, job listings, a job's command, deploys. SQLite is read on
//! a blocking thread through its own reader connection; PostgreSQL through the pool. A read
//! that fails is logged and answered from memory: listings never fail a request.

use std::collections::HashMap;
use std::sync::Arc;

use super::records::{DeployRecord, JobFilter, RunSpec, StoredJob};
use super::sqlite::Sqlite;
use super::{lock, postgres, Backend, Store, StoreError};
use crate::jobs::JobView;

impl Store {
    /// Runs `sqlite` on the SQLite reader connection (on a blocking thread) or `pg` on a pooled
    /// PostgreSQL connection; `None` in memory mode or when the database cannot be read
    /// (logged).
    async fn read<T, F>(
        self: &Arc<Self>,
        sqlite: impl FnOnce(&Sqlite) -> Result<T, StoreError> + Send + 'static,
        pg: impl FnOnce(Arc<super::pg_pool::Pool>) -> F,
    ) -> Option<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let result = match self.backend.as_ref()? {
            Backend::Postgres { pool, .. } => pg(pool.clone()).await,
            Backend::Sqlite { .. } => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || {
                    let Some(Backend::Sqlite { dir, reader }) = &this.backend else {
                        unreachable!("an SQLite store")
                    };
                    let mut guard = lock(reader);
                    if guard.is_none() {
                        *guard = Some(Sqlite::open_reader(dir)?);
                    }
                    let db = guard.as_ref().expect("the reader was just opened");
                    let out = sqlite(db);
                    if out.is_err() {
                        *guard = None;
                    }
                    out
                })
                .await
                .unwrap_or_else(|e| Err(StoreError::Io(e.to_string())))
            }
        };
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "reading the state store failed; answering from memory");
                None
            }
        }
    }

    /// A stored job (the caller asks the job manager first).
    pub async fn job(self: &Arc<Self>, id: &str) -> Option<StoredJob> {
        let (a, b) = (id.to_string(), id.to_string());
        self.read(
            move |db| db.job(&a),
            |pool| async move { postgres::job(&*pool.get().await?, &b).await },
        )
        .await
        .flatten()
    }

    /// Stored jobs matching `filter`, newest first, without output.
    pub async fn jobs(self: &Arc<Self>, filter: &JobFilter) -> Vec<JobView> {
        let (a, b) = (filter.clone(), filter.clone());
        self.read(
            move |db| db.jobs(&a),
            |pool| async move { postgres::jobs(&*pool.get().await?, &b).await },
        )
        .await
        .unwrap_or_default()
    }

    /// The command of job `id`, to run it again.
    pub async fn run_spec(self: &Arc<Self>, id: &str) -> Option<RunSpec> {
        if let Some(spec) = lock(&self.memory).specs.get(id) {
            return Some(spec.clone());
        }
        let (a, b) = (id.to_string(), id.to_string());
        self.read(
            move |db| db.run_spec(&a),
            |pool| async move { postgres::run_spec(&*pool.get().await?, &b).await },
        )
        .await
        .flatten()
    }

    /// Deploys, newest first, of `target` or of all targets.
    pub async fn deploys(
        self: &Arc<Self>,
        target: Option<&str>,
        limit: usize,
    ) -> Vec<DeployRecord> {
        let recent: Vec<DeployRecord> = lock(&self.memory)
            .deploys
            .iter()
            .filter(|d| target.is_none_or(|t| d.target == t))
            .cloned()
            .collect();
        let (a, b) = (target.map(str::to_owned), target.map(str::to_owned));
        let stored = self
            .read(
                move |db| db.deploys(a.as_deref(), limit),
                |pool| async move { postgres::deploys(&*pool.get().await?, b.as_deref(), limit).await },
            )
            .await
            .unwrap_or_default();
        let mut by_id: HashMap<String, DeployRecord> =
            stored.into_iter().map(|d| (d.job_id.clone(), d)).collect();
        for d in recent {
            by_id.insert(d.job_id.clone(), d);
        }
        let mut all: Vec<DeployRecord> = by_id.into_values().collect();
        all.sort_by_key(|d| std::cmp::Reverse(d.finished_ms()));
        all.truncate(limit);
        all
    }

    /// The deploy record of job `id`.
    pub async fn deploy(self: &Arc<Self>, target: &str, job_id: &str) -> Option<DeployRecord> {
        self.deploys(Some(target), usize::MAX)
            .await
            .into_iter()
            .find(|d| d.job_id == job_id)
    }
}
