//! The job store: every job (as `GET /jobs/{id}` shows it, with its capped output), the
//! command of each job for reruns, deploy records, delivery ids for deduplication and paused
//! hooks. Kept in memory only by default; with `-state DIR` also in SQLite (`sqlite`), so it
//! survives restarts; with `-state postgres://…` in PostgreSQL (`postgres`), shared by every
//! replica, with the queue that holds `serial` and `latest` across them (`shared_queue`).
//!
//! # Theory of operation
//! The memory layer is always there and is the truth for what must answer at once: paused
//! hooks, delivery ids within the window, the commands of recent jobs, recent deploys. The
//! durable layer is a database written by one writer thread: callers only queue a [`Write`]
//! (never waiting, so a slow disk cannot slow a request), and the thread commits what has
//! queued in one transaction. The one wait is [`Store::flush`]: a job's final state is
//! committed before the job is reported finished. When a commit fails (full disk, read-only
//! folder, database locked for longer than its busy timeout, PostgreSQL unreachable) the
//! thread keeps the batch, marks the store degraded (a loud log line, [`StoreHealth`] for
//! metrics), acknowledges the waiters at once (history stays in memory, nothing fails), and
//! retries with backoff (on a new connection, for PostgreSQL); the backlog is bounded and
//! drops its oldest writes first, counted. At open, migrations run and (SQLite) jobs a
//! previous process left queued or running become `interrupted`. Retention (age, then size)
//! runs on the writer thread between batches, never on a request. Reads ask memory and the
//! database and merge by id, so a job is found wherever it is.
//!
//! With PostgreSQL the memory layer of each replica follows the others': a listener
//! connection (`pg_listen`) reloads the pauses when any replica changes one and passes the
//! queue's notifications to the job manager; deliveries are claimed in the database itself
//! (`shared_queue`), never in memory, so a delivery sent to two replicas at once runs once.
//!
//! The writer's database is one enum over both backends (`db`): the code above it is the same.

mod db;
mod health;
pub mod location;
mod open;
mod pg_listen;
mod pg_pool;
mod pg_tls;
mod postgres;
mod reads;
pub mod records;
mod schema;
pub mod shared_queue;
mod sqlite;
mod writer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

pub use health::{HealthReport, StoreHealth};
pub use location::{Location, PgTarget, PgTls, SslMode};
pub use records::{
    DeliveryRecord, DeployRecord, JobFilter, PauseRecord, RunSpec, StoredJob, TargetSummary,
};
pub use shared_queue::{Claim, ClaimTicket, Enqueue, Enqueued, QueueState, SharedQueue};
pub use sqlite::FILE_NAME as SQLITE_FILE_NAME;

use crate::jobs::JobView;
use sqlite::Sqlite;

/// Why the store could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0}")]
    Io(String),
    #[error("database: {0}")]
    Database(String),
    #[error("the state was written by a newer hookrun (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("-state {0}: {1}")]
    Location(String, String),
    /// The database server answered a connection with a refusal (a wrong password, no such
    /// database) or the TLS settings cannot be used: retrying will not help.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    pub fn is_refusal(&self) -> bool {
        matches!(self, StoreError::Refused(_))
    }
}

/// The store's flags.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub location: Location,
    /// `-state-max-age`: finished jobs and deploys older than this are deleted.
    pub max_age: Duration,
    /// `-state-max-size`: the database (and its log) is kept within this many bytes.
    pub max_bytes: u64,
    /// `-delivery-window`: how long a delivery id is remembered.
    pub delivery_window: Duration,
    /// Recent commands and deploys kept in memory.
    pub memory_records: usize,
    /// `-replica-lease` (PostgreSQL): a replica that has not renewed its lease for this long
    /// is taken for dead; its jobs become `interrupted` and others take its queue.
    pub lease: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            location: Location::Memory,
            max_age: Duration::from_secs(90 * 24 * 3600),
            max_bytes: 1 << 30,
            delivery_window: Duration::from_secs(24 * 3600),
            memory_records: 1000,
            lease: Duration::from_secs(15),
        }
    }
}

/// One durable write.
#[derive(Debug, Clone)]
pub enum Write {
    /// A job's current record; with its command the first time.
    Job(Box<StoredJob>, Option<Box<RunSpec>>),
    Deploy(DeployRecord),
    Delivery(DeliveryRecord),
    /// A hook paused (`Some`) or resumed.
    Pause(String, Option<PauseRecord>),
}

impl Write {
    /// A job's record (the view with its output), with its command the first time.
    pub fn job(view: JobView, spec: Option<RunSpec>) -> Write {
        Write::Job(Box::new(StoredJob::from_view(view)), spec.map(Box::new))
    }
}

/// The backends a store can have. One enum (not a trait object) so that each variant can be
/// sync (SQLite, on threads) or async (PostgreSQL) without boxing futures.
enum Backend {
    Sqlite {
        dir: PathBuf,
        reader: Mutex<Option<Sqlite>>,
    },
    Postgres {
        /// Connections for reads and the shared queue.
        pool: Arc<pg_pool::Pool>,
        queue: Arc<SharedQueue>,
        /// The queue's notifications, until the job manager takes them.
        notices: Mutex<Option<UnboundedReceiver<Notice>>>,
    },
}

/// What the listener passes on to the job manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The shared queue of this hook changed.
    Queue(String),
    /// Notifications may have been missed (the listener reconnected, a replica left): look
    /// at every queue.
    Resync,
}

/// What the commands kept in memory for reruns may weigh together. Their count alone
/// (`-job-history`) bounds nothing: one argument or file can hold a whole 10 MiB payload, and
/// a thousand of them could hold 10 GiB. With `-state` the database has every spec anyway.
const SPEC_MEMORY: usize = 4 * 1024 * 1024;

/// Memory: the truth for pauses and deliveries, the recent part of everything else.
#[derive(Default)]
struct Memory {
    pauses: BTreeMap<String, PauseRecord>,
    deliveries: HashMap<(String, String), DeliveryRecord>,
    /// By job id: minted at random by the job manager, never chosen by a request, so
    /// foldhash (no keyed SipHash needed to keep them from colliding).
    specs: foldhash::HashMap<String, RunSpec>,
    spec_order: VecDeque<String>,
    /// What `specs` weigh together, kept under [`SPEC_MEMORY`].
    spec_bytes: usize,
    deploys: VecDeque<DeployRecord>,
}

impl Memory {
    /// Keeps `spec`, dropping the oldest specs beyond `cap` of them or [`SPEC_MEMORY`].
    fn keep_spec(&mut self, id: &str, spec: RunSpec, cap: usize) {
        self.spec_bytes += spec.weight();
        match self.specs.insert(id.to_string(), spec) {
            Some(replaced) => self.spec_bytes -= replaced.weight(),
            None => self.spec_order.push_back(id.to_string()),
        }
        while self.spec_order.len() > cap || self.spec_bytes > SPEC_MEMORY {
            let Some(old) = self.spec_order.pop_front() else {
                break;
            };
            if let Some(removed) = self.specs.remove(&old) {
                self.spec_bytes -= removed.weight();
            }
        }
    }
}

/// What the writer thread is sent.
enum Msg {
    Write(Box<Write>),
    Flush(tokio::sync::oneshot::Sender<()>),
    Close(std::sync::mpsc::Sender<()>),
}

/// The job store. See the module's theory of operation.
pub struct Store {
    settings: StoreSettings,
    memory: Mutex<Memory>,
    backend: Option<Backend>,
    writer: Option<Mutex<mpsc::Sender<Msg>>>,
    health: Arc<StoreHealth>,
    /// Held while a delivery id is checked and its jobs submitted, so simultaneous copies
    /// of one delivery run once (in this process; PostgreSQL claims them in the database).
    delivery_gate: Mutex<()>,
    /// Ends the listener (PostgreSQL) when the store closes.
    closed: CancellationToken,
}

pub(crate) fn now_ms() -> i64 {
    records::epoch_ms(SystemTime::now())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// A store in memory only (no `-state`).
    pub fn memory() -> Arc<Store> {
        Store::in_memory(StoreSettings::default())
    }

    fn in_memory(settings: StoreSettings) -> Arc<Store> {
        Arc::new(Store {
            settings,
            memory: Mutex::default(),
            backend: None,
            writer: None,
            health: Arc::new(StoreHealth::default()),
            delivery_gate: Mutex::new(()),
            closed: CancellationToken::new(),
        })
    }

    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.health
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Whether writes go to a database (with `-state`), not to memory only.
    pub fn is_durable(&self) -> bool {
        self.writer.is_some()
    }

    /// Whether a job's final record (a [`Write::Job`] without a run spec) is kept: only by a
    /// durable store; memory keeps specs, deploys, deliveries and pauses (`remember`), so a
    /// caller need not build a record nobody keeps.
    pub fn keeps_job_records(&self) -> bool {
        self.is_durable()
    }

    /// The queue `serial` and `latest` hooks share with other replicas (PostgreSQL only).
    pub fn shared_queue(&self) -> Option<&Arc<SharedQueue>> {
        match &self.backend {
            Some(Backend::Postgres { queue, .. }) => Some(queue),
            _ => None,
        }
    }

    /// The shared queue's notifications (once: the job manager takes them).
    pub fn take_notices(&self) -> Option<UnboundedReceiver<Notice>> {
        match &self.backend {
            Some(Backend::Postgres { notices, .. }) => lock(notices).take(),
            _ => None,
        }
    }

    /// Queues a write; never waits.
    pub fn write(&self, write: Write) {
        self.remember(&write);
        if let Some(tx) = &self.writer {
            self.health.pending_writes.fetch_add(1, Ordering::Relaxed);
            let _ = lock(tx).send(Msg::Write(Box::new(write)));
        }
    }

    /// Waits until every write queued so far is committed, or has failed and is kept in
    /// memory (the store is then degraded). Bounded: a hung disk cannot hold a job forever.
    pub async fn flush(&self) {
        let Some(tx) = &self.writer else { return };
        let (ack, done) = tokio::sync::oneshot::channel();
        if lock(tx).send(Msg::Flush(ack)).is_err() {
            return;
        }
        if tokio::time::timeout(Duration::from_secs(15), done)
            .await
            .is_err()
        {
            tracing::error!("the state store did not confirm a write within 15s");
        }
    }

    /// Commits what is queued and stops the writer (at shutdown).
    pub fn close(&self) {
        self.closed.cancel();
        let Some(tx) = &self.writer else { return };
        let (ack, done) = mpsc::channel();
        if lock(tx).send(Msg::Close(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(15));
        }
    }

    /// Keeps the command of job `id` for reruns, as [`Store::write`] of its first record
    /// does: for a store in memory only, which keeps no job records, so that the caller need
    /// not build one (nor the store copy the command) only to hand over the command.
    pub fn keep_spec(&self, id: &str, spec: RunSpec) {
        if spec.weight() <= SPEC_MEMORY {
            let cap = self.settings.memory_records.max(1);
            lock(&self.memory).keep_spec(id, spec, cap);
        }
    }

    fn remember(&self, write: &Write) {
        let mut m = lock(&self.memory);
        let cap = self.settings.memory_records.max(1);
        match write {
            Write::Job(_, Some(spec)) if spec.weight() > SPEC_MEMORY => {}
            Write::Job(job, Some(spec)) => m.keep_spec(&job.view.id, (**spec).clone(), cap),
            // Not kept in memory: `keeps_job_records` says so to callers.
            Write::Job(_, None) => {}
            Write::Deploy(d) => {
                m.deploys.retain(|old| old.job_id != d.job_id);
                m.deploys.push_back(d.clone());
                while m.deploys.len() > cap {
                    m.deploys.pop_front();
                }
            }
            Write::Delivery(d) => {
                m.deliveries
                    .insert((d.hook.clone(), d.key.clone()), d.clone());
            }
            Write::Pause(hook, Some(p)) => {
                m.pauses.insert(hook.clone(), p.clone());
            }
            Write::Pause(hook, None) => {
                m.pauses.remove(hook);
            }
        }
    }

    pub fn pause(&self, hook: &str) -> Option<PauseRecord> {
        lock(&self.memory).pauses.get(hook).cloned()
    }

    pub fn pauses(&self) -> BTreeMap<String, PauseRecord> {
        lock(&self.memory).pauses.clone()
    }

    /// Replaces the pauses in memory with the database's (another replica changed one).
    fn replace_pauses(&self, pauses: Vec<PauseRecord>) {
        let fresh: BTreeMap<String, PauseRecord> =
            pauses.into_iter().map(|p| (p.hook.clone(), p)).collect();
        let mut m = lock(&self.memory);
        for hook in fresh.keys().filter(|h| !m.pauses.contains_key(*h)) {
            tracing::warn!(hook = %hook, "hook paused (by another replica)");
        }
        for hook in m.pauses.keys().filter(|h| !fresh.contains_key(*h)) {
            tracing::warn!(hook = %hook, "hook resumed (by another replica)");
        }
        m.pauses = fresh;
    }

    /// Holds the delivery gate: check with [`Store::seen_delivery`], submit, then
    /// [`Store::record_delivery`], all under one guard.
    pub fn delivery_gate(&self) -> MutexGuard<'_, ()> {
        lock(&self.delivery_gate)
    }

    /// The jobs a delivery id started within the window, if it was seen.
    pub fn seen_delivery(&self, hook: &str, key: &str) -> Option<Vec<String>> {
        let window = i64::try_from(self.settings.delivery_window.as_millis()).unwrap_or(i64::MAX);
        let mut m = lock(&self.memory);
        let now = now_ms();
        m.deliveries.retain(|_, d| now - d.seen_ms <= window);
        m.deliveries
            .get(&(hook.to_string(), key.to_string()))
            .map(|d| d.job_ids.clone())
    }

    pub fn record_delivery(&self, hook: &str, key: &str, job_ids: Vec<String>) {
        self.write(Write::Delivery(DeliveryRecord {
            hook: hook.to_string(),
            key: key.to_string(),
            job_ids,
            seen_ms: now_ms(),
        }));
    }
}

/// The database file in a `-state` folder (for tests and tools).
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join(sqlite::FILE_NAME)
}

#[cfg(test)]
mod tests;
