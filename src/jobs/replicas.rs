//! Replicas sharing one PostgreSQL store: `serial` and `latest` hold across every replica, a
//! job accepted by one replica is never lost with it, and no job runs twice.
//!
//! # Theory of operation
//! A request for a `serial` or `latest` hook is answered only once its job is in the shared
//! queue (`store::shared_queue`): one transaction, holding the hook's advisory lock, checks
//! `max-queue` across all replicas, supersedes the waiting jobs of a `latest` hook (on any
//! replica), records the job and its command, and, if no job of the hook runs anywhere, marks
//! this replica as its runner: the job starts at once. Otherwise it waits; whenever a job of
//! the hook ends, the replica that ran it releases the hook and, in the same transaction,
//! takes the next waiting job if it may run it, else `NOTIFY`s the others.
//!
//! **Who runs a job another replica received.** Nobody, while that replica lives: a job
//! runs where it was received, so a response that waits for the output (captured or streamed)
//! is always served by the process running the command, and `GET /jobs/{id}` on any other
//! replica reads the record that the runner rewrites twice a second while the command runs.
//! The replica that received the next job claims it when told (`LISTEN`), or at the latest on
//! its once-a-second look at the queue. A job is taken over by another replica only when its
//! replica left (at a graceful shutdown it hands its waiting jobs over at once) or died: then
//! the first replica to see the hook free runs it, reading the command from the store.
//!
//! **When a replica dies holding a job.** Each replica renews a lease in the `replicas` table
//! every fifth of `-replica-lease` (measured on the database's clock). Once a replica's lease
//! has expired, any other replica's reaper (`FOR UPDATE SKIP LOCKED`, so replicas reaping
//! together split the work) marks its running jobs `interrupted`, saying so, and frees their
//! hooks; its waiting jobs run elsewhere, except those whose client was waiting for the output
//! on the dead replica (the client saw its connection fail and retries; running them as well
//! would run them twice): those become `interrupted` too.
//!
//! **When an answer is lost.** A claim carries a [`ClaimTicket`] kept in the row it takes; a
//! claim that failed is asked again with the same ticket (a release's at once, others on the
//! next look at the queue, for up to a lease), so a claim whose `COMMIT` went through while
//! its answer was lost is found and run, once. Each lease renewal also renews the hold on the
//! jobs this replica runs, and returns those still held: a job whose row is gone is stopped,
//! and a row held by a live replica that does not run it is freed by the reaper after a
//! lease. A hook is never held by nobody for longer than the lease.
//!
//! **When the database is briefly unreachable.** Running commands go on; their records queue
//! in the store's writer and are committed when the database is back. A request for a
//! `serial`/`latest` hook waits up to 5 s for the queue to answer, then gets `503` with
//! `Retry-After` (nothing was queued: the retry is safe). `parallel` hooks and everything that
//! needs no database keep working. A replica that cannot renew its lease for half of it stops
//! its running `serial`/`latest` jobs (`interrupted`: "lease lost") and takes no new ones until
//! it can, so that when the others take its hooks over after the full lease, nothing of it
//! still runs: never two at once. Keep `-kill-grace` well below half the lease.
//!
//! # Layout
//! - `filing`: a job received here into the shared queue (a `parallel` job: its delivery id
//!   claimed), and taking back what a request answered 503 left there.
//! - `runner`: running the jobs the queue gives this replica, received here or adopted, and
//!   freeing the hook after each.
//! - `follow`: notifications and the look at the queue each second: claims, reaping,
//!   reconciling the waiting jobs.
//! - `heartbeat`: renewing the lease, and fencing while it cannot be renewed.
//! - `leaving`: shutdown: handing the waiting jobs over, withdrawing the rest, leaving.

mod filing;
mod follow;
mod heartbeat;
mod leaving;
mod runner;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{Job, JobManager};
use crate::store::{ClaimTicket, Notice, SharedQueue, StoreError};

pub(super) use runner::record_progress;

/// How long one statement of the protocol may take before it counts as failed.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// This replica's side of the shared queue.
pub(super) struct Cluster {
    queue: Arc<SharedQueue>,
    host: String,
    local: Mutex<Local>,
    /// When the lease was last renewed: when the renewal that succeeded was sent.
    renewed: Mutex<Instant>,
    /// The lease could not be renewed for half its time: running jobs were stopped.
    fenced: AtomicBool,
    stop: CancellationToken,
}

/// A claim whose outcome is not known (its answer was lost, or never came): asked again with
/// its ticket until the queue answers, for up to a lease (after which the queue frees the hook
/// by itself if the claim was made).
struct Unsettled {
    hook: String,
    ticket: ClaimTicket,
    since: Instant,
}

/// The shared-queue jobs this replica holds.
#[derive(Default)]
struct Local {
    /// Received here; the shared store has not answered yet (queueing a `serial`/`latest`
    /// job, or claiming a `parallel` job's delivery id).
    registering: HashMap<String, Arc<Job>>,
    /// Received here, queued, waiting for their turn; with whether a client waits for them.
    waiting: HashMap<String, (Arc<Job>, bool)>,
    /// Running here, with what stops them.
    running: HashMap<String, (Arc<Job>, CancellationToken)>,
    /// Claims to ask about again.
    unsettled: Vec<Unsettled>,
}

impl Cluster {
    pub(super) fn new(queue: Arc<SharedQueue>) -> Cluster {
        let host = queue
            .replica()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Cluster {
            queue,
            host,
            local: Mutex::default(),
            renewed: Mutex::new(Instant::now()),
            fenced: AtomicBool::new(false),
            stop: CancellationToken::new(),
        }
    }

    pub(super) fn replica(&self) -> &str {
        self.queue.replica()
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts renewing the lease, watching it, and following the queue.
    pub(super) fn start(
        self: &Arc<Self>,
        manager: &Arc<JobManager>,
        notices: Option<UnboundedReceiver<Notice>>,
    ) {
        tokio::spawn(self.clone().keep_lease());
        tokio::spawn(self.clone().watch_lease());
        tokio::spawn(self.clone().follow(Arc::downgrade(manager), notices));
    }
}

/// Why a job whose request was answered 503 ends without running.
const ANSWERED_503: &str =
    "not run: its request was answered 503 because the shared store confirmed it too late";

/// One protocol statement, failed if it takes too long.
async fn bounded<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(StoreError::Database("no answer in time".into())))
}
