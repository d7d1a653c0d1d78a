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

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{
    add_job_env, Job, JobManager, JobState, JobView, OnFiled, Reserved, Submission, SubmitError,
    Trigger,
};
use crate::config::{Concurrency, Hook};
use crate::logging;
use crate::store::{
    Claim, ClaimTicket, Enqueue, Enqueued, Notice, QueueState, RunSpec, SharedQueue, Store,
    StoreError, StoredJob, Write,
};

/// How often each replica looks at the shared queue unprompted (notifications missed while
/// the listener reconnected, leases that expired).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How long a request waits for the shared queue before it is answered 503.
const REGISTER_PATIENCE: Duration = Duration::from_secs(5);
/// How long one statement of the protocol may take before it counts as failed.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The grace of a job taken over from a record that does not say.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// How often a running job's record (with its output so far) is rewritten, at least.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

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

/// What became of a job received here that the shared queue gave this replica.
enum Received {
    Started,
    /// Started already (by the other path that saw it claimed).
    Running,
    /// Not held here: its request was refused.
    Unknown,
}

/// How a job received here is to be queued.
struct Queueing {
    hook: String,
    /// `latest`: the hook's waiting jobs are superseded.
    latest: bool,
    /// A client waits for the output: the job never runs on another replica.
    client_waits: bool,
    max_queue: usize,
    delivery: Option<String>,
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

    /// Queues a job received here (see the theory of operation); `parallel` jobs only have
    /// their delivery id claimed in the database, and run here.
    ///
    /// The queueing runs on a task of its own, which ends whatever becomes of the caller: a
    /// client that leaves while its request waits for the database (its request future is
    /// dropped) cannot leave a job half-registered here, where it would hold up shutdown, nor
    /// a job queued without what follows it (`on_filed`: its notifications).
    pub(super) async fn submit(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        hook: &Hook,
        job: Arc<Job>,
        spec: RunSpec,
        delivery: Option<&str>,
        on_filed: Option<OnFiled>,
    ) -> Result<Submission, SubmitError> {
        if m.is_closed() {
            return Err(SubmitError::ShuttingDown);
        }
        let latest = match hook.execution.concurrency {
            Concurrency::Parallel => {
                return self
                    .submit_parallel(m, hook, job, spec, delivery, on_filed)
                    .await
            }
            Concurrency::Serial => false,
            Concurrency::Latest => true,
        };
        let queueing = Queueing {
            hook: hook.id.clone(),
            latest,
            client_waits: job.trigger == Trigger::Request
                && (hook.capture_output || hook.execution.stream_output),
            max_queue: hook.execution.max_queue.unwrap_or(m.limits.max_queue),
            delivery: delivery.map(str::to_owned),
        };
        let (cluster, manager) = (self.clone(), m.clone());
        own_task(async move {
            cluster
                .enqueue(&manager, job, spec, queueing, on_filed)
                .await
        })
        .await
    }

    /// Puts a `serial`/`latest` job in the shared queue; it starts here at once or waits.
    async fn enqueue(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        job: Arc<Job>,
        spec: RunSpec,
        q: Queueing,
        on_filed: Option<OnFiled>,
    ) -> Result<Submission, SubmitError> {
        let client_waits = q.client_waits;
        let stored = StoredJob::from_view(job.view(true));
        m.insert(&job);
        self.local().registering.insert(job.id.clone(), job.clone());
        let window = m.store.settings().delivery_window;
        let result = with_patience(|| {
            self.queue.enqueue(Enqueue {
                job: &stored,
                spec: &spec,
                latest: q.latest,
                max_queue: q.max_queue,
                client_waits,
                delivery: q.delivery.as_deref(),
                delivery_window: window,
            })
        })
        .await;
        let ours = {
            let mut local = self.local();
            let ours = local.registering.remove(&job.id).is_some();
            if ours && matches!(result, Ok(Enqueued::Wait { .. })) {
                local
                    .waiting
                    .insert(job.id.clone(), (job.clone(), client_waits));
            }
            ours
        };
        match result {
            Ok(Enqueued::Start { superseded }) => {
                self.end_superseded(m, &superseded);
                if ours {
                    self.launch(m, job.clone());
                }
                if let Some(on_filed) = on_filed {
                    on_filed(&job);
                }
                Ok(Submission::New(job))
            }
            Ok(Enqueued::Wait { superseded }) => {
                self.end_superseded(m, &superseded);
                tracing::debug!(job_id = %job.id, hook = %q.hook, "job waits in the shared queue");
                if let Some(on_filed) = on_filed {
                    on_filed(&job);
                }
                Ok(Submission::New(job))
            }
            Ok(Enqueued::QueueFull { waiting }) => {
                m.forget(&job.id);
                Err(SubmitError::QueueFull {
                    hook: q.hook,
                    waiting,
                })
            }
            Ok(Enqueued::Seen(earlier)) => {
                m.forget(&job.id);
                Ok(Submission::Seen(earlier))
            }
            Err(e) => {
                tracing::error!(error = %e, hook = %q.hook, "the shared queue did not take the job: answering 503");
                m.forget(&job.id);
                // The queue may yet have taken it (the answer was lost, or came too late): a
                // job whose request was answered 503 does not run.
                let queue = self.queue.clone();
                let id = job.id.clone();
                self.until_done(move || {
                    let (queue, id) = (queue.clone(), id.clone());
                    async move { queue.abandon(&id, ANSWERED_503).await }
                });
                Err(SubmitError::StoreUnavailable)
            }
        }
    }

    /// Files a `parallel` job, which runs here; with a delivery id, only once the id is
    /// claimed in the shared store (with the job's record, in one transaction), on a task of
    /// its own: a client that leaves in between does not leave a claimed delivery without
    /// its job, which every retry would be told was seen.
    async fn submit_parallel(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        hook: &Hook,
        job: Arc<Job>,
        spec: RunSpec,
        delivery: Option<&str>,
        on_filed: Option<OnFiled>,
    ) -> Result<Submission, SubmitError> {
        let place = m.reserve_parallel(hook, &job)?;
        let Some(key) = delivery.map(str::to_owned) else {
            let job = m.file_reserved(place, job, spec);
            if let Some(on_filed) = on_filed {
                on_filed(&job);
            }
            return Ok(Submission::New(job));
        };
        let (cluster, manager) = (self.clone(), m.clone());
        own_task(async move {
            cluster
                .file_delivery(&manager, place, job, spec, &key, on_filed)
                .await
        })
        .await
    }

    /// Claims delivery `key` for a `parallel` job with a place here, then files it.
    async fn file_delivery(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        place: Reserved,
        job: Arc<Job>,
        spec: RunSpec,
        key: &str,
        on_filed: Option<OnFiled>,
    ) -> Result<Submission, SubmitError> {
        // Shutdown waits for it (`has_waiting`) until it is filed.
        self.local().registering.insert(job.id.clone(), job.clone());
        let stored = StoredJob::from_view(job.view(true));
        let window = m.store.settings().delivery_window;
        let claimed =
            with_patience(|| self.queue.claim_delivery(key, &stored, &spec, window)).await;
        let id = job.id.clone();
        let submitted = match claimed {
            Ok(Some(earlier)) if !earlier.contains(&id) => {
                m.unreserve(place);
                Ok(Submission::Seen(earlier))
            }
            Ok(_) => {
                let job = m.file_reserved(place, job, spec);
                if let Some(on_filed) = on_filed {
                    on_filed(&job);
                }
                Ok(Submission::New(job))
            }
            Err(e) => {
                tracing::error!(error = %e, hook = %stored.view.hook, "the shared store did not check the delivery id: answering 503");
                m.unreserve(place);
                // The claim may yet have been made (its answer lost or late): taken back, so
                // that a retry of the delivery runs.
                let (queue, hook, key) = (self.queue.clone(), stored.view.hook, key.to_owned());
                let job_id = id.clone();
                self.until_done(move || {
                    let (queue, hook, key, job_id) =
                        (queue.clone(), hook.clone(), key.clone(), job_id.clone());
                    async move {
                        queue
                            .withdraw_delivery(&hook, &key, &job_id, ANSWERED_503)
                            .await
                    }
                });
                Err(SubmitError::StoreUnavailable)
            }
        };
        self.local().registering.remove(&id);
        submitted
    }

    /// Retries `work` on a task of its own until it succeeds, for up to a lease.
    fn until_done<F, Fut>(&self, mut work: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let lease = self.queue.lease();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut wait = Duration::from_millis(200);
            loop {
                match bounded(work()).await {
                    Ok(()) => return,
                    Err(e) if started.elapsed() + wait > lease => {
                        return tracing::warn!(error = %e, "could not take back in the shared store what a request answered 503 left");
                    }
                    Err(_) => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                }
            }
        });
    }

    /// Ends this replica's jobs that a `latest` request superseded.
    fn end_superseded(&self, m: &JobManager, ids: &[String]) {
        for id in ids {
            let job = {
                let mut local = self.local();
                local
                    .waiting
                    .remove(id)
                    .map(|(job, _)| job)
                    .or_else(|| local.registering.remove(id))
            };
            if let Some(job) = job {
                job.end_unstarted(JobState::Superseded);
                tracing::info!(job_id = %job.id, hook = %job.hook, "job superseded");
                m.retire_ended(&job);
            }
        }
    }

    /// Runs a job this replica holds the hook for, then releases the hook.
    fn launch(self: &Arc<Self>, m: &Arc<JobManager>, job: Arc<Job>) {
        let stop = m.cancel.child_token();
        self.local()
            .running
            .insert(job.id.clone(), (job.clone(), stop.clone()));
        self.spawn_run(m, job, stop);
    }

    /// Starts job `id`, received here, that the shared queue gave this replica. The move from
    /// waiting to running is one step under the lock: the release that claimed the job and
    /// the reconciliation that saw it claimed may both get here, and exactly one starts it.
    fn run_received(self: &Arc<Self>, m: &Arc<JobManager>, id: &str) -> Received {
        let stop = m.cancel.child_token();
        let job = {
            let mut local = self.local();
            if local.running.contains_key(id) {
                return Received::Running;
            }
            let job = local
                .waiting
                .remove(id)
                .map(|(job, _)| job)
                .or_else(|| local.registering.remove(id));
            let Some(job) = job else {
                return Received::Unknown;
            };
            local
                .running
                .insert(job.id.clone(), (job.clone(), stop.clone()));
            job
        };
        self.spawn_run(m, job, stop);
        Received::Started
    }

    fn spawn_run(self: &Arc<Self>, m: &Arc<JobManager>, job: Arc<Job>, stop: CancellationToken) {
        let (cluster, manager) = (self.clone(), m.clone());
        let context = super::job_context(&job);
        let run = async move {
            manager.run(&job, Concurrency::Serial, None, &stop).await;
            cluster.local().running.remove(&job.id);
            manager.retire_ended(&job);
            cluster.release(&manager, &job).await;
        };
        m.tracker.spawn(logging::with_context(context, run));
    }

    /// Frees the hook of a job that ended here (its final record is committed) and runs the
    /// next job if it is this replica's to run. Retried while the database is unreachable,
    /// until the lease has run out (others then free the hook).
    async fn release(self: &Arc<Self>, m: &Arc<JobManager>, job: &Job) {
        let started = Instant::now();
        let mut wait = Duration::from_millis(100);
        // One ticket for every attempt: a retry after a lost answer finds the claim made.
        let mut ticket = ClaimTicket::new();
        loop {
            let adopt = !m.is_closed();
            let released = bounded(self.queue.release(&job.id, &job.hook, adopt, &ticket)).await;
            match released {
                Ok(claim) => {
                    if let Some(claim) = claim {
                        self.take_claim(m, claim);
                    }
                    return;
                }
                Err(e) if started.elapsed() > self.queue.lease() => {
                    tracing::error!(job_id = %job.id, hook = %job.hook, error = %e, "could not free the hook in the shared queue before the lease ran out; other replicas free it");
                    return;
                }
                Err(e) => {
                    ticket = ticket.again();
                    tracing::warn!(job_id = %job.id, hook = %job.hook, error = %e, "freeing the hook in the shared queue failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Runs a job the shared queue gave this replica.
    fn take_claim(self: &Arc<Self>, m: &Arc<JobManager>, claim: Claim) {
        if let Some((view, spec)) = claim.adopted {
            return self.adopt(m, view, spec);
        }
        if let Received::Unknown = self.run_received(m, &claim.job_id) {
            // Received here, but its request was answered 503 (the queue's answer came too
            // late): the client was told it was not queued, so it does not run.
            let queue = self.queue.clone();
            tokio::spawn(async move {
                if let Err(e) = bounded(queue.abandon(&claim.job_id, ANSWERED_503)).await {
                    tracing::warn!(job_id = %claim.job_id, error = %e, "could not drop an unanswered job from the shared queue");
                }
            });
        }
    }

    /// Runs a job another replica received and left (or died with).
    fn adopt(self: &Arc<Self>, m: &Arc<JobManager>, view: JobView, spec: RunSpec) {
        let mut inv = spec.original(DEFAULT_KILL_GRACE);
        add_job_env(&mut inv, &view.hook, &view.request_id, &view.id);
        let queued = humantime::parse_rfc3339_weak(&view.queued_at).unwrap_or(SystemTime::now());
        let job = Job::new(
            view.id.clone(),
            view.hook.clone(),
            view.request_id.clone(),
            inv,
            m.limits.max_output,
        )
        .with_trigger(view.trigger.clone())
        .with_replica(Some(self.replica().to_string()))
        .queued_at(queued);
        tracing::warn!(job_id = %view.id, hook = %view.hook, received_by = ?view.replica, "running a job another replica received and left");
        let job = Arc::new(job);
        m.insert(&job);
        self.launch(m, job);
    }

    /// Follows the queue: notifications, and a look at every queue each second.
    async fn follow(
        self: Arc<Self>,
        manager: Weak<JobManager>,
        mut notices: Option<UnboundedReceiver<Notice>>,
    ) {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut hooks = Vec::new();
            let mut all = false;
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => all = true,
                notice = recv(&mut notices) => match notice {
                    Some(notice) => {
                        let mut next = Some(notice);
                        // Many notifications arrive in bursts: look at each hook once.
                        while let Some(n) = next {
                            match n {
                                Notice::Queue(hook) if !hooks.contains(&hook) => hooks.push(hook),
                                Notice::Queue(_) => {}
                                Notice::Resync => all = true,
                            }
                            next = notices.as_mut().and_then(|rx| rx.try_recv().ok());
                        }
                    }
                    None => notices = None,
                },
            }
            let Some(m) = manager.upgrade() else { return };
            if all {
                self.sync_all(&m).await;
            } else {
                for hook in &hooks {
                    self.sync_hook(&m, hook).await;
                }
                self.reconcile(&m).await;
            }
        }
    }

    /// Takes the hook's next job if it is this replica's to run.
    async fn sync_hook(self: &Arc<Self>, m: &Arc<JobManager>, hook: &str) {
        if self.fenced.load(Ordering::Relaxed) {
            return;
        }
        self.claim(m, hook.to_string(), ClaimTicket::new(), Instant::now())
            .await;
    }

    /// Claims `hook` with `ticket`; a claim that fails is asked about again (see
    /// [`Unsettled`]): it may have been made, and then only this replica can run its job.
    async fn claim(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        hook: String,
        ticket: ClaimTicket,
        since: Instant,
    ) {
        match bounded(self.queue.claim(&hook, !m.is_closed(), &ticket)).await {
            Ok(Some(claim)) => self.take_claim(m, claim),
            Ok(None) => {}
            Err(e) if since.elapsed() < self.queue.lease() => {
                tracing::debug!(hook, error = %e, "claiming in the shared queue failed; asking again");
                self.local().unsettled.push(Unsettled {
                    hook,
                    ticket: ticket.again(),
                    since,
                });
            }
            Err(e) => {
                tracing::warn!(hook, error = %e, "a claim in the shared queue stayed unanswered for a lease; if it was made, the queue frees the hook by itself");
            }
        }
    }

    /// Reaps dead replicas and holds nobody runs, settles claims whose answer was lost, takes
    /// every job this replica may run now, reconciles its waiting jobs.
    async fn sync_all(self: &Arc<Self>, m: &Arc<JobManager>) {
        if self.fenced.load(Ordering::Relaxed) {
            return;
        }
        let unsettled = std::mem::take(&mut self.local().unsettled);
        for u in unsettled {
            self.claim(m, u.hook, u.ticket, u.since).await;
        }
        if let Err(e) = bounded(self.queue.reap()).await {
            tracing::debug!(error = %e, "reaping expired leases failed");
        }
        match bounded(self.queue.claimable_hooks()).await {
            Ok(hooks) => {
                for hook in hooks {
                    self.sync_hook(m, &hook).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "looking at the shared queue failed"),
        }
        self.reconcile(m).await;
    }

    /// Brings this replica's waiting jobs in line with the shared queue: superseded or
    /// interrupted elsewhere, taken over by another replica (this one was taken for dead), or
    /// claimed by this replica without it knowing (an answer lost with a connection).
    async fn reconcile(self: &Arc<Self>, m: &Arc<JobManager>) {
        let ids: Vec<String> = self.local().waiting.keys().cloned().collect();
        if ids.is_empty() {
            return;
        }
        let states = match bounded(self.queue.states(&ids)).await {
            Ok(states) => states,
            Err(e) => return tracing::debug!(error = %e, "reconciling waiting jobs failed"),
        };
        for (id, state) in states {
            match &state {
                QueueState::Waiting => continue,
                QueueState::Running { runner } if runner == self.replica() => {
                    self.run_received(m, &id);
                    continue;
                }
                _ => {}
            }
            let Some((job, _)) = self.local().waiting.remove(&id) else {
                continue;
            };
            match state {
                QueueState::Waiting => {}
                QueueState::Running { runner } if runner == self.replica() => {}
                QueueState::Running { runner } => {
                    tracing::warn!(job_id = %id, runner = %runner, "a waiting job was taken over by another replica (this one was taken for dead)");
                    m.forget(&id);
                }
                QueueState::Ended(
                    state @ (JobState::Superseded | JobState::Interrupted | JobState::Canceled),
                ) => {
                    let why = match state {
                        JobState::Superseded => {
                            "superseded by a newer request (on another replica)"
                        }
                        _ => "ended by another replica while this one was taken for dead",
                    };
                    job.end_unstarted_because(state, Some(why.to_string()));
                    tracing::info!(job_id = %id, state = state.as_str(), "waiting job ended in the shared queue");
                    m.retire_ended(&job);
                }
                QueueState::Ended(_) => {
                    // It ran elsewhere: the store has its record.
                    m.forget(&id);
                }
            }
        }
    }

    /// Renews the lease every fifth of it, and the hold on the jobs running here.
    async fn keep_lease(self: Arc<Self>) {
        let every = self.queue.lease() / 5;
        let mut failing = false;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let sent = Instant::now();
            let running: Vec<String> = self.local().running.keys().cloned().collect();
            let renewed = tokio::time::timeout(
                every.max(Duration::from_secs(1)),
                self.queue.heartbeat(&self.host, &running),
            )
            .await
            .unwrap_or_else(|_| Err(StoreError::Database("no answer in time".into())));
            match renewed {
                Ok(held) => {
                    self.stop_unheld(&running, &held);
                    *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = sent;
                    failing = false;
                    if self.fenced.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            "lease renewed: this replica runs serial and latest jobs again"
                        );
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "renewing this replica's lease failed; retrying");
                }
                Err(_) => {}
            }
        }
    }

    /// Stops the jobs running here that the shared queue no longer gives this replica (`held`
    /// lacks them, though they were `running` when the renewal was sent): another replica may
    /// run the hook's next job, so these must not go on.
    fn stop_unheld(&self, running: &[String], held: &[String]) {
        let lost: Vec<(Arc<Job>, CancellationToken)> = {
            let local = self.local();
            running
                .iter()
                .filter(|id| !held.contains(id))
                .filter_map(|id| local.running.get(id).cloned())
                .collect()
        };
        for (job, stop) in lost {
            tracing::error!(job_id = %job.id, hook = %job.hook, "the shared queue no longer gives this replica a job it runs; stopping it so that no other replica runs one at the same time");
            job.interrupt("interrupted: the shared queue no longer held it for this replica (another replica may take the hook over)");
            stop.cancel();
        }
    }

    /// Stops the running shared-queue jobs once the lease has gone unrenewed for half of it.
    async fn watch_lease(self: Arc<Self>) {
        let limit = self.queue.lease() / 2;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let since = self
                .renewed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed();
            if since > limit && !self.fenced.swap(true, Ordering::Relaxed) {
                self.fence(since);
            }
        }
    }

    fn fence(&self, since: Duration) {
        let running: Vec<(Arc<Job>, CancellationToken)> =
            self.local().running.values().cloned().collect();
        tracing::error!(
            unrenewed = ?since,
            jobs = running.len(),
            "LEASE LOST: this replica could not renew its lease on the shared store; stopping its running serial/latest jobs so that no other replica runs one at the same time"
        );
        let why = format!(
            "interrupted: this replica could not renew its lease on the shared store for {}s (another replica may take the hook over)",
            since.as_secs()
        );
        for (job, stop) in running {
            job.interrupt(&why);
            stop.cancel();
        }
    }

    /// Whether jobs received here still wait (or are being queued).
    pub(super) fn has_waiting(&self) -> bool {
        let local = self.local();
        !local.waiting.is_empty() || !local.registering.is_empty()
    }

    /// At shutdown: the waiting jobs no client waits for go to the other replicas now.
    pub(super) async fn hand_over(&self, m: &JobManager) {
        let ids: Vec<String> = self
            .local()
            .waiting
            .iter()
            .filter(|(_, (_, client_waits))| !client_waits)
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        match bounded(self.queue.hand_over(&ids)).await {
            Ok(handed) => {
                for id in &handed {
                    if self.local().waiting.remove(id).is_some() {
                        m.forget(id);
                    }
                }
                tracing::info!(
                    jobs = handed.len(),
                    "waiting jobs handed over to the other replicas"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = ids.len(), "could not hand waiting jobs over; the other replicas take them when this replica's lease expires")
            }
        }
    }

    /// At the end of shutdown: waiting jobs still here are canceled.
    pub(super) async fn withdraw_waiting(&self, m: &JobManager) {
        let waiting: Vec<Arc<Job>> = self
            .local()
            .waiting
            .drain()
            .map(|(_, (job, _))| job)
            .collect();
        for job in waiting {
            if let Err(e) = bounded(self.queue.withdraw(&job.id)).await {
                tracing::warn!(job_id = %job.id, error = %e, "could not take a canceled job out of the shared queue");
            }
            job.end_unstarted(JobState::Canceled);
            m.record(&job, None);
            m.retire_ended(&job);
        }
    }

    /// Leaves the replicas: stops following the queue, drops the lease.
    pub(super) async fn leave(&self) {
        self.stop.cancel();
        if let Err(e) = bounded(self.queue.retire()).await {
            tracing::warn!(error = %e, "could not leave the shared queue; the lease expires by itself");
        }
    }
}

async fn recv(notices: &mut Option<UnboundedReceiver<Notice>>) -> Option<Notice> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Why a job whose request was answered 503 ends without running.
const ANSWERED_503: &str =
    "not run: its request was answered 503 because the shared store confirmed it too late";

/// Runs `work` (queueing a job) on a task of its own, which ends whatever becomes of the
/// caller, and returns what it came to.
async fn own_task(
    work: impl Future<Output = Result<Submission, SubmitError>> + Send + 'static,
) -> Result<Submission, SubmitError> {
    match tokio::spawn(work).await {
        Ok(submitted) => submitted,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is going away.
        Err(_) => Err(SubmitError::ShuttingDown),
    }
}

/// One protocol statement, failed if it takes too long.
async fn bounded<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(StoreError::Database("no answer in time".into())))
}

/// Tries `attempt` until it succeeds, is refused, or [`REGISTER_PATIENCE`] has passed: a
/// request outlives a PostgreSQL restart of a second or two.
async fn with_patience<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + REGISTER_PATIENCE;
    let mut wait = Duration::from_millis(50);
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        let result = tokio::time::timeout(left, attempt())
            .await
            .unwrap_or_else(|_| Err(StoreError::Database("no answer in time".into())));
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.is_refusal() || Instant::now() + wait >= deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Rewrites a running job's record, with its output so far, while output arrives (at most
/// every [`PROGRESS_EVERY`], less often for large output), so that other replicas can follow it.
pub(super) async fn record_progress(store: &Store, job: &Job) {
    use futures_util::FutureExt;
    let mut seen = 0;
    while let Some(chunk) = job.output.next_chunk(seen).await {
        seen += chunk.len();
        let every = PROGRESS_EVERY * u32::try_from((seen / (64 * 1024)).clamp(1, 10)).unwrap_or(10);
        tokio::time::sleep(every).await;
        // What arrived meanwhile goes into the same record.
        while let Some(Some(more)) = job.output.next_chunk(seen).now_or_never() {
            seen += more.len();
        }
        let view = job.view(true);
        if view.state != JobState::Running {
            break;
        }
        store.write(Write::job(view, None));
    }
}
