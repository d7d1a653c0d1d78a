//! The job store: every job (as `GET /jobs/{id}` shows it, with its capped output), the
//! command of each job for reruns, deploy records, delivery ids for deduplication and paused
//! hooks. Kept in memory only by default; with `-state DIR` also in SQLite (`sqlite`), so it
//! survives restarts.
//!
//! # Theory of operation
//! The memory layer is always there and is the truth for what must answer at once: paused
//! hooks, delivery ids within the window, the commands of recent jobs, recent deploys. The
//! durable layer is a database written by one writer thread: callers only queue a [`Write`]
//! (never waiting, so a slow disk cannot slow a request), and the thread commits what has
//! queued in one transaction. The one wait is [`Store::flush`]: a job's final state is
//! committed before the job is reported finished. When a commit fails (full disk, read-only
//! folder, database locked for longer than its busy timeout) the thread keeps the batch,
//! marks the store degraded (a loud log line, [`StoreHealth`] for metrics), acknowledges the
//! waiters at once (history stays in memory, nothing fails), and retries with backoff; the
//! backlog is bounded and drops its oldest writes first, counted. At open, migrations run and
//! jobs a previous process left queued or running become `interrupted`. Retention (age, then
//! size) runs on the writer thread between batches, never on a request. Reads ask memory and
//! the database and merge by id, so a job is found wherever it is.
//!
//! The backend sits behind [`Backend`]: SQLite today; PostgreSQL (issue 15) is a second
//! variant running the same migrations (`schema`).

mod health;
pub mod records;
mod schema;
mod sqlite;
mod writer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use health::{HealthReport, StoreHealth};
pub use records::{
    DeliveryRecord, DeployRecord, JobFilter, PauseRecord, RunSpec, StoredJob, TargetSummary,
};
pub use sqlite::FILE_NAME as SQLITE_FILE_NAME;

use crate::jobs::JobView;
use sqlite::Sqlite;
use writer::Writer;

/// Why the store could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0}")]
    Io(String),
    #[error("database: {0}")]
    Database(String),
    #[error("the state was written by a newer hookrun (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("-state {0:?}: {1}")]
    Location(String, String),
}

/// Where the store keeps its data: the `-state` flag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// No `-state`: memory only, no files.
    #[default]
    Memory,
    /// A folder holding `hookrun.db` (`-state /var/lib/hookrun` or `-state sqlite:///path`).
    Sqlite(PathBuf),
}

impl std::str::FromStr for Location {
    type Err = StoreError;

    /// A folder, `sqlite:///abs/folder`, `sqlite:rel/folder`; empty means memory. Database
    /// URLs of servers are reserved for the PostgreSQL backend.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| StoreError::Location(s.to_string(), why.to_string());
        if s.is_empty() {
            return Ok(Location::Memory);
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("names no folder"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(match scheme {
                "postgres" | "postgresql" => {
                    bad("PostgreSQL is not supported by this build yet; use a folder (SQLite)")
                }
                _ => bad("unknown scheme; use a folder or sqlite:///folder"),
            });
        }
        Ok(Location::Sqlite(PathBuf::from(s)))
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
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            location: Location::Memory,
            max_age: Duration::from_secs(90 * 24 * 3600),
            max_bytes: 1 << 30,
            delivery_window: Duration::from_secs(24 * 3600),
            memory_records: 1000,
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
    specs: HashMap<String, RunSpec>,
    spec_order: VecDeque<String>,
    /// What `specs` weigh together, kept under [`SPEC_MEMORY`].
    spec_bytes: usize,
    deploys: VecDeque<DeployRecord>,
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
    /// of one delivery run once.
    delivery_gate: Mutex<()>,
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
        })
    }

    /// Opens the store `settings` name: migrations, interrupted jobs, pauses and recent
    /// delivery ids. A folder that cannot be written is not fatal (the store starts degraded
    /// and keeps trying); a database of a newer schema is.
    pub fn open(settings: StoreSettings) -> Result<Arc<Store>, StoreError> {
        let dir = match &settings.location {
            Location::Memory => return Ok(Store::in_memory(settings)),
            Location::Sqlite(dir) => dir.clone(),
        };
        let health = Arc::new(StoreHealth::durable());
        let mut memory = Memory::default();
        let db = match Sqlite::open_writer(&dir, settings.max_bytes) {
            Ok(mut db) => {
                start_up(&mut db, &settings, &mut memory)?;
                tracing::info!(path = %db.path().display(), "job store opened");
                Some(db)
            }
            Err(e @ StoreError::TooNew { .. }) => return Err(e),
            Err(e) => {
                health.failed(&e);
                tracing::error!(folder = %dir.display(), "the state folder cannot be used: paused hooks and earlier history are not loaded");
                None
            }
        };
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.clone(),
            settings: settings.clone(),
            health: health.clone(),
            db,
            backlog: VecDeque::new(),
        };
        std::thread::Builder::new()
            .name("hookrun-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Io(format!("starting the store thread: {e}")))?;
        Ok(Arc::new(Store {
            settings,
            memory: Mutex::new(memory),
            backend: Some(Backend::Sqlite {
                dir,
                reader: Mutex::new(None),
            }),
            writer: Some(Mutex::new(tx)),
            health,
            delivery_gate: Mutex::new(()),
        }))
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
        let Some(tx) = &self.writer else { return };
        let (ack, done) = mpsc::channel();
        if lock(tx).send(Msg::Close(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(15));
        }
    }

    fn remember(&self, write: &Write) {
        let mut m = lock(&self.memory);
        let cap = self.settings.memory_records.max(1);
        match write {
            Write::Job(_, Some(spec)) if spec.weight() > SPEC_MEMORY => {}
            Write::Job(job, Some(spec)) => {
                m.spec_bytes += spec.weight();
                match m.specs.insert(job.view.id.clone(), (**spec).clone()) {
                    Some(replaced) => m.spec_bytes -= replaced.weight(),
                    None => m.spec_order.push_back(job.view.id.clone()),
                }
                while m.spec_order.len() > cap || m.spec_bytes > SPEC_MEMORY {
                    let Some(old) = m.spec_order.pop_front() else {
                        break;
                    };
                    if let Some(removed) = m.specs.remove(&old) {
                        m.spec_bytes -= removed.weight();
                    }
                }
            }
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

    /// Runs `read` on the database's reader connection (on a blocking thread); `None` in
    /// memory mode or when the database cannot be read (logged).
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Sqlite) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        self.backend.as_ref()?;
        let this = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let Some(Backend::Sqlite { dir, reader }) = &this.backend else {
                return Ok(None);
            };
            let mut guard = lock(reader);
            if guard.is_none() {
                *guard = Some(Sqlite::open_reader(dir)?);
            }
            let db = guard.as_ref().expect("the reader was just opened");
            let out = read(db);
            if out.is_err() {
                *guard = None;
            }
            out.map(Some)
        })
        .await;
        match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the state store failed; answering from memory");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the state store failed");
                None
            }
        }
    }

    /// A stored job (the caller asks the job manager first).
    pub async fn job(self: &Arc<Self>, id: &str) -> Option<StoredJob> {
        let id = id.to_string();
        self.read(move |db| db.job(&id)).await.flatten()
    }

    /// Stored jobs matching `filter`, newest first, without output.
    pub async fn jobs(self: &Arc<Self>, filter: &JobFilter) -> Vec<JobView> {
        let filter = filter.clone();
        self.read(move |db| db.jobs(&filter))
            .await
            .unwrap_or_default()
    }

    /// The command of job `id`, to run it again.
    pub async fn run_spec(self: &Arc<Self>, id: &str) -> Option<RunSpec> {
        if let Some(spec) = lock(&self.memory).specs.get(id) {
            return Some(spec.clone());
        }
        let id = id.to_string();
        self.read(move |db| db.run_spec(&id)).await.flatten()
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
        let t = target.map(str::to_owned);
        let stored = self
            .read(move |db| db.deploys(t.as_deref(), limit))
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

    pub fn pause(&self, hook: &str) -> Option<PauseRecord> {
        lock(&self.memory).pauses.get(hook).cloned()
    }

    pub fn pauses(&self) -> BTreeMap<String, PauseRecord> {
        lock(&self.memory).pauses.clone()
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

/// What happens when the database opens: migrations ran already; interrupted jobs are marked,
/// pauses and recent deliveries loaded into memory.
fn start_up(
    db: &mut Sqlite,
    settings: &StoreSettings,
    memory: &mut Memory,
) -> Result<(), StoreError> {
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    for view in db.interrupt_unfinished(&now)? {
        tracing::warn!(job_id = %view.id, hook = %view.hook, request_id = %view.request_id, "job was interrupted by a restart of hookrun");
    }
    for p in db.pauses()? {
        tracing::warn!(hook = %p.hook, since = %p.paused_at, "hook is paused");
        memory.pauses.insert(p.hook.clone(), p);
    }
    let window = i64::try_from(settings.delivery_window.as_millis()).unwrap_or(i64::MAX);
    for d in db.deliveries(now_ms().saturating_sub(window))? {
        memory.deliveries.insert((d.hook.clone(), d.key.clone()), d);
    }
    for d in db.deploys(None, settings.memory_records)? {
        memory.deploys.push_front(d);
    }
    Ok(())
}

/// The database file in a `-state` folder (for tests and tools).
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join(sqlite::FILE_NAME)
}

#[cfg(test)]
mod tests;
