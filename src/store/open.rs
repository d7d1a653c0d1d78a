//! Opening the store: the database of `-state`, its migrations, what memory loads from it, the
//! writer thread, and for PostgreSQL this replica's identity, the pool, the shared queue and
//! the listener.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::db::{Db, Target};
use super::location::{Location, PgTarget};
use super::records::{DeliveryRecord, DeployRecord, PauseRecord};
use super::writer::Writer;
use super::{
    now_ms, pg_listen, postgres, Backend, Memory, SharedQueue, Store, StoreError, StoreHealth,
    StoreSettings,
};

/// Connections for reads and the shared queue, per replica.
const POOL_SIZE: usize = 4;

/// How long a replica keeps trying to reach PostgreSQL at start before it gives up.
const START_PATIENCE: Duration = Duration::from_secs(30);

impl Store {
    /// Opens the store `settings` name: migrations, interrupted jobs, pauses and recent
    /// delivery ids. An SQLite folder that cannot be written is not fatal (the store starts
    /// degraded and keeps trying); a database of a newer schema is, and so is a PostgreSQL
    /// server that refuses the connection (wrong password, no such database) or cannot be
    /// reached for 30 seconds.
    pub async fn open(settings: StoreSettings) -> Result<Arc<Store>, StoreError> {
        match settings.location.clone() {
            Location::Memory => Ok(Store::in_memory(settings)),
            Location::Sqlite(dir) => Store::open_sqlite(settings, dir),
            Location::Postgres(target) => Store::open_postgres(settings, *target).await,
        }
    }

    fn open_sqlite(
        settings: StoreSettings,
        dir: std::path::PathBuf,
    ) -> Result<Arc<Store>, StoreError> {
        let health = Arc::new(StoreHealth::durable("sqlite"));
        let mut memory = Memory::default();
        let target = Target::Sqlite(dir.clone());
        let db = match target.open(settings.max_bytes) {
            Ok(mut db) => {
                interrupt_unfinished(&mut db)?;
                let Db::Sqlite(sqlite) = &db else {
                    unreachable!("an SQLite target opens SQLite")
                };
                load(
                    &mut memory,
                    &settings,
                    sqlite.pauses()?,
                    sqlite.deliveries(now_ms().saturating_sub(window_ms(&settings)))?,
                    sqlite.deploys(None, settings.memory_records)?,
                );
                tracing::info!(path = %sqlite.path().display(), "job store opened");
                Some(db)
            }
            Err(e @ StoreError::TooNew { .. }) => return Err(e),
            Err(e) => {
                health.failed(&e);
                tracing::error!(folder = %dir.display(), "the state folder cannot be used: paused hooks and earlier history are not loaded");
                None
            }
        };
        let backend = Backend::Sqlite {
            dir,
            reader: Mutex::new(None),
        };
        Store::start(settings, memory, backend, target, db, health)
    }

    async fn open_postgres(
        settings: StoreSettings,
        target: PgTarget,
    ) -> Result<Arc<Store>, StoreError> {
        let mut client = connect_patiently(&target).await?;
        postgres::migrate(&mut client).await?;
        let mut memory = Memory::default();
        load(
            &mut memory,
            &settings,
            postgres::pauses(&client).await?,
            Vec::new(),
            postgres::deploys(&client, None, settings.memory_records).await?,
        );
        let replica = replica_id();
        tracing::info!(database = %target, replica = %replica, "job store opened (PostgreSQL, shared by the replicas)");
        let pool = Arc::new(super::pg_pool::Pool::new(target.clone(), POOL_SIZE));
        let queue = Arc::new(SharedQueue::new(
            pool.clone(),
            replica.clone(),
            settings.lease,
        ));
        queue.heartbeat(&host_name(), &[]).await?;
        let (notices_tx, notices) = tokio::sync::mpsc::unbounded_channel();
        let backend = Backend::Postgres {
            pool,
            queue,
            notices: Mutex::new(Some(notices)),
        };
        let handle = tokio::runtime::Handle::current();
        let db = Db::Postgres {
            client,
            handle: handle.clone(),
            replica: replica.clone(),
        };
        let writer_target = Target::Postgres {
            target: Box::new(target.clone()),
            handle,
            replica,
        };
        let health = Arc::new(StoreHealth::durable("postgres"));
        let store = Store::start(settings, memory, backend, writer_target, Some(db), health)?;
        pg_listen::spawn(
            target,
            Arc::downgrade(&store),
            notices_tx,
            store.closed.clone(),
        );
        Ok(store)
    }

    /// Starts the writer thread and builds the store.
    fn start(
        settings: StoreSettings,
        memory: Memory,
        backend: Backend,
        target: Target,
        db: Option<Db>,
        health: Arc<StoreHealth>,
    ) -> Result<Arc<Store>, StoreError> {
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            target,
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
            backend: Some(backend),
            writer: Some(Mutex::new(tx)),
            health,
            delivery_gate: Mutex::new(()),
            closed: CancellationToken::new(),
        }))
    }
}

fn window_ms(settings: &StoreSettings) -> i64 {
    i64::try_from(settings.delivery_window.as_millis()).unwrap_or(i64::MAX)
}

/// Jobs a previous process left queued or running become `interrupted` (SQLite).
pub(super) fn interrupt_unfinished(db: &mut Db) -> Result<(), StoreError> {
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    for view in db.interrupt_unfinished(&now)? {
        tracing::warn!(job_id = %view.id, hook = %view.hook, request_id = %view.request_id, "job was interrupted by a restart of hookrun");
    }
    Ok(())
}

/// What memory starts with: pauses, recent deliveries and deploys.
fn load(
    memory: &mut Memory,
    settings: &StoreSettings,
    pauses: Vec<PauseRecord>,
    deliveries: Vec<DeliveryRecord>,
    deploys: Vec<DeployRecord>,
) {
    for p in pauses {
        tracing::warn!(hook = %p.hook, since = %p.paused_at, "hook is paused");
        memory.pauses.insert(p.hook.clone(), p);
    }
    let since = now_ms().saturating_sub(window_ms(settings));
    for d in deliveries.into_iter().filter(|d| d.seen_ms >= since) {
        memory.deliveries.insert((d.hook.clone(), d.key.clone()), d);
    }
    for d in deploys {
        memory.deploys.push_front(d);
    }
}

/// Connects, retrying while the server cannot be reached (it may be starting with us) but not
/// when it answers with a refusal.
async fn connect_patiently(target: &PgTarget) -> Result<tokio_postgres::Client, StoreError> {
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let mut wait = Duration::from_millis(250);
    loop {
        match super::pg_pool::connect(target).await {
            Ok(client) => return Ok(client),
            Err(e) if e.is_refusal() || tokio::time::Instant::now() >= deadline => {
                return Err(StoreError::Database(format!("{target}: {e}")))
            }
            Err(e) => {
                tracing::warn!(database = %target, error = %e, "PostgreSQL cannot be reached yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(4));
            }
        }
    }
}

/// This process's name among the replicas: the host (a pod's name) and a random part, new at
/// every start, so a restarted replica never mistakes a predecessor's jobs for its own.
fn replica_id() -> String {
    format!("{}/{}", host_name(), hex::encode(rand::random::<[u8; 4]>()))
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hookrun".into())
}
