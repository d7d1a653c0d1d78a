//! Jobs: every triggered request becomes a job that a tracked task runs, never the request
//! itself, so a client that disconnects cannot half-kill a deploy.
//!
//! # Theory of operation
//! `submit` files the job under its hook's queue. `parallel` hooks start at once; `serial` and
//! `latest` hooks run one job at a time: later jobs wait in the hook's queue (`latest` keeps only
//! the newest waiting job and marks the one it replaces `superseded`). Each start then waits for
//! one of the `-max-jobs` global permits. When a job ends, its hook's next waiting job starts.
//! Waiting beyond `max-queue` is refused (the caller answers 429). Finished jobs stay readable
//! until `-job-history` newer ones push them out. `shutdown` refuses new jobs, lets running and
//! queued ones finish until its deadline, then cancels the rest (their process groups are killed).
//!
//! Every change of a job is also handed to the [`Store`] (queued, never awaited), and a job's
//! final state is committed there (`Store::flush`) before the job is reported finished, so a
//! finished job is never lost to a crash.
//!
//! With a store shared by several replicas (PostgreSQL), `serial` and `latest` jobs are not
//! queued here but in the database, and `replicas` decides when they start: see its theory of
//! operation. `parallel` jobs run here as above.

mod job;
mod replicas;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Concurrency, Hook};
use crate::exec::{self, Invocation};
use crate::logging::{self, LogContext};
use crate::metrics::Metrics;
use crate::store::{DeployRecord, JobFilter, RunSpec, Store, Write};
use replicas::Cluster;

pub use job::{
    Ending, Job, JobState, JobView, NotificationAttempt, Trigger, MAX_NOTIFICATION_ATTEMPTS,
};

/// Commands running at once by default (`-max-jobs`). A running job costs hookrun about 15 KiB
/// plus its output, and the machine one process per program it runs at that moment: 2 for
/// `sh -c 'sleep 0.2; echo done'`, 2 to 4 for a deploy script and the CLI it waits on. 256 jobs
/// stay within 1,024 processes, the smallest process limit commonly set for a container or pod,
/// and answer a burst of 500 commands in two waves (README "Default limits").
pub const DEFAULT_MAX_JOBS: usize = 256;

/// Requests of one hook that may wait by default (`-max-queue`). A waiting job costs about
/// 2.4 KiB, so a full queue is about 24 MiB: five times the largest burst the reference is known
/// to take without a failure, and still a bound when a flood arrives.
pub const DEFAULT_MAX_QUEUE: usize = 10_000;

/// Limits and defaults for running jobs and keeping them (the `-max-jobs`, `-max-queue`,
/// `-job-history*` and `-max-output` flags).
#[derive(Debug, Clone)]
pub struct JobLimits {
    /// `-max-jobs`: commands running at once across all hooks.
    pub max_jobs: usize,
    /// Default `max-queue`: requests of one hook waiting to run.
    pub max_queue: usize,
    /// `-job-history`: finished jobs kept for the jobs endpoint.
    pub history: usize,
    /// `-max-output`: bytes kept of a command's output (stdout and stderr together).
    pub max_output: usize,
    /// `-job-history-size`: bytes of output kept across finished jobs.
    pub history_bytes: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            max_jobs: DEFAULT_MAX_JOBS,
            max_queue: DEFAULT_MAX_QUEUE,
            history: 1000,
            max_output: 1024 * 1024,
            history_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("hook {hook:?} has {waiting} requests waiting (max-queue)")]
    QueueFull { hook: String, waiting: usize },
    #[error("shutting down")]
    ShuttingDown,
    /// Replicas share a store and it did not confirm the job in time (the caller answers
    /// 503 with `Retry-After`: nothing was queued).
    #[error("the shared store cannot be reached")]
    StoreUnavailable,
}

/// What must follow a new job once it is filed (its notifications). It is run by whatever
/// files the job, right after, even when the request that submitted it has gone by then: with
/// replicas, a job is filed by a task of its own, which a client that disconnects does not end.
pub type OnFiled = Box<dyn FnOnce(&Arc<Job>) + Send>;

/// What a submission came to: a new job, or the jobs an earlier copy of the same delivery
/// started (nothing new runs).
#[derive(Debug)]
pub enum Submission {
    New(Arc<Job>),
    Seen(Vec<String>),
}

/// Whether a submitted job starts now (with a global permit, if one was free) or waits in its
/// hook's queue.
enum Admission {
    Start(Option<OwnedSemaphorePermit>),
    Wait,
}

/// A place taken for a `parallel` job (see [`JobManager::reserve_parallel`]).
struct Reserved {
    hook: String,
    admission: Admission,
}

#[derive(Default)]
struct HookQueue {
    running: usize,
    waiting: VecDeque<Arc<Job>>,
    /// `parallel` jobs started without a global permit, still waiting for one.
    parked: usize,
}

/// Every job the manager knows (running, waiting, and the history) and each hook's queue.
#[derive(Default)]
struct JobTable {
    /// foldhash, not SipHash: the ids are this manager's own random ones, which no request
    /// chooses, so none can make them collide; a request's id is only looked up.
    jobs: foldhash::HashMap<String, Arc<Job>>,
    /// Ended jobs, oldest first, with the bytes of output each keeps.
    finished: VecDeque<(String, usize)>,
    finished_bytes: usize,
    /// By hook id: from the hooks file, not from requests (foldhash, as `jobs`).
    queues: foldhash::HashMap<String, HookQueue>,
    closed: bool,
}

impl JobTable {
    /// `hook`'s queue, made the first time the hook has a job: its id is copied then only,
    /// not for every job that looks its queue up (`entry` takes an owned key).
    fn queue(&mut self, hook: &str) -> &mut HookQueue {
        if !self.queues.contains_key(hook) {
            self.queues.insert(hook.to_string(), HookQueue::default());
        }
        self.queues
            .get_mut(hook)
            .expect("the queue is there: inserted just above if it was not")
    }
}

/// Owns every job and the tasks that run them.
pub struct JobManager {
    limits: JobLimits,
    table: Mutex<JobTable>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    store: Arc<Store>,
    /// With a shared store: `serial` and `latest` held across replicas.
    cluster: Option<Arc<Cluster>>,
    /// Counts ended jobs and their run time.
    metrics: Arc<Metrics>,
}

impl JobManager {
    /// A manager whose history lives in memory only.
    pub fn new(limits: JobLimits) -> Arc<Self> {
        JobManager::with_store(limits, Store::memory())
    }

    /// A manager that records every job in `store` (and, when the store is shared by
    /// replicas, queues `serial` and `latest` jobs there).
    pub fn with_store(limits: JobLimits, store: Arc<Store>) -> Arc<Self> {
        JobManager::with_metrics(limits, store, Arc::new(Metrics::new()))
    }

    /// A manager that records every job in `store` and counts ended jobs in `metrics`.
    pub fn with_metrics(limits: JobLimits, store: Arc<Store>, metrics: Arc<Metrics>) -> Arc<Self> {
        let cluster = store
            .shared_queue()
            .map(|queue| Arc::new(Cluster::new(queue.clone())));
        let manager = Arc::new(JobManager {
            metrics,
            permits: Arc::new(Semaphore::new(limits.max_jobs.max(1))),
            limits,
            table: Mutex::new(JobTable::default()),
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            cluster,
            store,
        });
        if let Some(cluster) = &manager.cluster {
            cluster.start(&manager, manager.store.take_notices());
        }
        manager
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JobTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().jobs.get(id).cloned()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Each hook with jobs running or waiting now: (hook, running, waiting). A `parallel` job
    /// that waits for one of the `-max-jobs` slots counts as waiting.
    pub fn queues(&self) -> Vec<(String, usize, usize)> {
        let table = self.lock();
        let mut queues: Vec<(String, usize, usize)> = table
            .queues
            .iter()
            .map(|(hook, q)| {
                let running = q.running.saturating_sub(q.parked);
                (hook.clone(), running, q.waiting.len() + q.parked)
            })
            .filter(|(_, running, waiting)| running + waiting > 0)
            .collect();
        queues.sort();
        queues
    }

    /// Records an attempt to tell someone how `job` ended, in its record and (once the job has
    /// ended, which is when notifications are sent) in the store, so the attempts survive a
    /// restart with the rest of the job.
    pub fn record_notification(&self, job: &Job, attempt: NotificationAttempt) {
        job.record_notification(attempt);
        if job.state().is_final() {
            self.store.write(Write::job(job.view(true), None));
        }
    }

    /// The jobs in memory (running, waiting, recent) matching `filter`, newest first, without
    /// output.
    pub fn list(&self, filter: &JobFilter) -> Vec<JobView> {
        let jobs: Vec<Arc<Job>> = self.lock().jobs.values().cloned().collect();
        let mut views: Vec<JobView> = jobs
            .iter()
            .map(|j| j.view(false))
            .filter(|v| filter.matches(v))
            .collect();
        views.sort_by(|a, b| b.queued_at.cmp(&a.queued_at));
        views.truncate(filter.limit);
        views
    }

    /// Hands the job's current record to the store (never waits). In memory only the command
    /// is kept (for reruns): the job manager holds the record itself, so no record is built.
    fn record(&self, job: &Job, spec: Option<RunSpec>) {
        if self.store.is_durable() {
            self.store.write(Write::job(job.view(true), spec));
        } else if let Some(spec) = spec {
            self.store.keep_spec(&job.id, spec);
        }
    }

    /// Files a job for `hook` under a new id; it starts now or when its turn comes. The
    /// command learns who it is from `HOOKRUN_HOOK_ID`, `HOOKRUN_REQUEST_ID` and
    /// `HOOKRUN_JOB_ID`, added after the hook's own environment.
    pub async fn submit(
        self: &Arc<Self>,
        hook: &Hook,
        request_id: &str,
        inv: Invocation,
    ) -> Result<Arc<Job>, SubmitError> {
        self.submit_as(hook, request_id, inv, Trigger::Request, None)
            .await
    }

    /// [`JobManager::submit`] for a job started by `trigger` (a rerun or a rollback), with
    /// what follows it once filed.
    pub async fn submit_as(
        self: &Arc<Self>,
        hook: &Hook,
        request_id: &str,
        inv: Invocation,
        trigger: Trigger,
        on_filed: Option<OnFiled>,
    ) -> Result<Arc<Job>, SubmitError> {
        match self
            .submit_delivery(hook, request_id, inv, trigger, None, on_filed)
            .await?
        {
            Submission::New(job) => Ok(job),
            Submission::Seen(_) => unreachable!("only a delivery id can have been seen"),
        }
    }

    /// [`JobManager::submit_as`] for a request carrying the delivery id `delivery`: a copy
    /// seen within the window (also one arriving at the same moment, also on another
    /// replica) starts nothing and answers with the jobs of the first. `on_filed` runs once
    /// a new job is filed, whether or not the caller is still there to hear of it.
    pub async fn submit_delivery(
        self: &Arc<Self>,
        hook: &Hook,
        request_id: &str,
        inv: Invocation,
        trigger: Trigger,
        delivery: Option<&str>,
        on_filed: Option<OnFiled>,
    ) -> Result<Submission, SubmitError> {
        let (job, spec) = self.prepare(hook, request_id, inv, trigger);
        if let Some(cluster) = &self.cluster {
            // Boxed: the shared queue's state is large, and every request's future would
            // carry it (and copy it on each move) whether or not replicas are configured.
            return Box::pin(cluster.submit(self, hook, job, spec, delivery, on_filed)).await;
        }
        let store = self.store.clone();
        let _gate = delivery.map(|_| store.delivery_gate());
        if let Some(earlier) = delivery.and_then(|key| store.seen_delivery(&hook.id, key)) {
            return Ok(Submission::Seen(earlier));
        }
        let job = self.file(hook, job, spec)?;
        if let Some(key) = delivery {
            store.record_delivery(&hook.id, key, vec![job.id.clone()]);
        }
        if let Some(on_filed) = on_filed {
            on_filed(&job);
        }
        Ok(Submission::New(job))
    }

    /// A new job for `hook` and the command to keep for reruns.
    fn prepare(
        &self,
        hook: &Hook,
        request_id: &str,
        mut inv: Invocation,
        trigger: Trigger,
    ) -> (Arc<Job>, RunSpec) {
        let id = new_job_id();
        // The command as the request built it, for reruns: without the variables naming
        // this job, which a rerun gets anew.
        let spec = RunSpec::of(&inv);
        add_job_env(&mut inv, &hook.id, request_id, &id);
        let replica = self.cluster.as_ref().map(|c| c.replica().to_string());
        let job = Job::new(
            id,
            hook.id.clone(),
            request_id.to_string(),
            inv,
            self.limits.max_output,
        )
        .with_trigger(trigger)
        .with_replica(replica);
        (Arc::new(job), spec)
    }

    /// Files `job` here: it starts now or waits in its hook's queue (see [`Admission`]).
    fn file(
        self: &Arc<Self>,
        hook: &Hook,
        job: Arc<Job>,
        spec: RunSpec,
    ) -> Result<Arc<Job>, SubmitError> {
        let mut table = self.lock();
        if table.closed {
            return Err(SubmitError::ShuttingDown);
        }
        let admission = self.admit(&mut table, hook, &job)?;
        Ok(self.file_admitted(
            table,
            &hook.id,
            hook.execution.concurrency,
            job,
            spec,
            admission,
        ))
    }

    /// Files `job`, admitted already (under `table`'s lock, or reserved by
    /// [`JobManager::reserve_parallel`]): this cannot fail.
    fn file_admitted(
        self: &Arc<Self>,
        mut table: std::sync::MutexGuard<'_, JobTable>,
        hook: &str,
        mode: Concurrency,
        job: Arc<Job>,
        spec: RunSpec,
        admission: Admission,
    ) -> Arc<Job> {
        table.jobs.insert(job.id.clone(), job.clone());
        self.record(&job, Some(spec));
        if let Admission::Start(permit) = admission {
            table.queue(hook).running += 1;
            drop(table);
            self.launch(job.clone(), mode, permit);
        }
        job
    }

    /// A place for a job of `parallel` hook `hook`, taken before its delivery id is claimed
    /// in the shared store, so that filing the job once the claim is made cannot fail (which
    /// would leave a claimed delivery that never runs). Filed with
    /// [`JobManager::file_reserved`] or given back with [`JobManager::unreserve`].
    fn reserve_parallel(&self, hook: &Hook, job: &Arc<Job>) -> Result<Reserved, SubmitError> {
        debug_assert_eq!(hook.execution.concurrency, Concurrency::Parallel);
        let mut table = self.lock();
        if table.closed {
            return Err(SubmitError::ShuttingDown);
        }
        let admission = self.admit(&mut table, hook, job)?;
        Ok(Reserved {
            hook: hook.id.clone(),
            admission,
        })
    }

    /// Files a `parallel` job in the place reserved for it, even once shutdown has begun (the
    /// shutdown waits for it: see `Cluster::has_waiting`).
    fn file_reserved(self: &Arc<Self>, place: Reserved, job: Arc<Job>, spec: RunSpec) -> Arc<Job> {
        let table = self.lock();
        self.file_admitted(
            table,
            &place.hook,
            Concurrency::Parallel,
            job,
            spec,
            place.admission,
        )
    }

    /// Gives back a place reserved for a job that is not filed.
    fn unreserve(&self, place: Reserved) {
        // A permit goes back when dropped; a job that would have waited for one was counted.
        if let Admission::Start(None) = place.admission {
            let mut table = self.lock();
            let queue = table.queues.entry(place.hook).or_default();
            queue.parked = queue.parked.saturating_sub(1);
        }
    }

    /// Decides, under the table's lock, whether `job` starts now or waits in its hook's queue
    /// (the hook's concurrency mode and `max-queue`).
    fn admit(
        &self,
        table: &mut JobTable,
        hook: &Hook,
        job: &Arc<Job>,
    ) -> Result<Admission, SubmitError> {
        let max_queue = hook.execution.max_queue.unwrap_or(self.limits.max_queue);
        let queue = table.queue(&hook.id);
        let full = |waiting: usize| SubmitError::QueueFull {
            hook: hook.id.clone(),
            waiting,
        };
        let idle = queue.running == 0 && queue.waiting.is_empty();
        match hook.execution.concurrency {
            // Take the global permit here, under the lock, so that a burst of requests sees
            // an exact count of the jobs waiting for one.
            Concurrency::Parallel => match self.permits.clone().try_acquire_owned() {
                Ok(permit) => Ok(Admission::Start(Some(permit))),
                Err(_) if queue.parked >= max_queue => Err(full(queue.parked)),
                Err(_) => {
                    queue.parked += 1;
                    Ok(Admission::Start(None))
                }
            },
            Concurrency::Serial | Concurrency::Latest if idle => Ok(Admission::Start(None)),
            Concurrency::Serial if queue.waiting.len() >= max_queue => {
                Err(full(queue.waiting.len()))
            }
            Concurrency::Serial => {
                queue.waiting.push_back(job.clone());
                Ok(Admission::Wait)
            }
            Concurrency::Latest => {
                let replaced: Vec<Arc<Job>> = queue.waiting.drain(..).collect();
                queue.waiting.push_back(job.clone());
                for old in replaced {
                    old.end_unstarted(JobState::Superseded);
                    self.record(&old, None);
                    tracing::info!(job_id = %old.id, hook = %old.hook, request_id = %old.request_id, by = %job.id, "job superseded by a newer request");
                    self.retire(table, &old);
                }
                Ok(Admission::Wait)
            }
        }
    }

    /// Runs `job` on a tracked task (once it has a global permit), then starts its hook's next
    /// waiting job.
    fn launch(
        self: &Arc<Self>,
        job: Arc<Job>,
        mode: Concurrency,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let this = self.clone();
        let context = job_context(&job);
        let run = async move {
            this.run(&job, mode, permit, &this.cancel).await;
            this.job_ended(&job);
        };
        // Boxed: the job's future (its command's run, output reading, timers) is large, and
        // tokio moves a task's future into its cell on spawn and overwrites it in place when
        // the task ends; a box makes those copies of a pointer.
        self.tracker
            .spawn(Box::pin(logging::with_context(context, run)));
    }

    /// Waits for a global permit (unless given one), runs the job's command until it ends or
    /// `cancel` fires, and commits its end; a job that can no longer start (superseded
    /// meanwhile, shutdown) ends `canceled`.
    async fn run(
        &self,
        job: &Arc<Job>,
        mode: Concurrency,
        permit: Option<OwnedSemaphorePermit>,
        cancel: &CancellationToken,
    ) {
        let permit = match permit {
            Some(p) => Some(p),
            None => {
                let p = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => None,
                    p = self.permits.clone().acquire_owned() => p.ok(),
                };
                if mode == Concurrency::Parallel {
                    let mut table = self.lock();
                    let queue = table.queue(&job.hook);
                    queue.parked = queue.parked.saturating_sub(1);
                }
                p
            }
        };
        match (permit, job.start()) {
            (Some(_permit), Some(inv)) => {
                tracing::info!("job started");
                self.record(job, None);
                let ran = RunFacts::of(&inv);
                // Boxed: the run's state is allocated when it starts, so that a job waiting
                // for a permit costs only this small task, not a whole run.
                let finished = Box::pin(self.execute(job, inv, cancel)).await;
                ran.log(&finished.exit);
                for warning in &finished.result.warnings {
                    tracing::warn!(%warning, "the command's result file was not read");
                }
                self.commit_finished(job, finished).await;
            }
            _ => {
                if job.end_unstarted(JobState::Canceled) {
                    tracing::info!("job canceled before it started");
                }
                self.record(job, None);
            }
        }
    }

    /// Runs the command. With a shared store the record (with the output so far) is written
    /// while it runs, so that other replicas can follow the output.
    async fn execute(
        &self,
        job: &Arc<Job>,
        inv: Invocation,
        cancel: &CancellationToken,
    ) -> exec::Finished {
        let run = exec::run(inv, job.output.clone(), cancel);
        if self.cluster.is_none() {
            return run.await;
        }
        // The progress records stop when the command ends: its end never waits for them.
        tokio::pin!(run);
        tokio::select! {
            biased;
            finished = &mut run => finished,
            () = replicas::record_progress(&self.store, job) => run.await,
        }
    }

    /// Commits the job's final record (and its deploy record, if its result names a target)
    /// to the store, then records the end on the job, which reports it finished.
    ///
    /// The final record is only built where something keeps it (the store says whether it
    /// keeps job records), or for a deploy record. In memory the job manager holds the job
    /// itself, and a record made only to be dropped cost every job a copy of its output and
    /// three formatted times.
    async fn commit_finished(&self, job: &Job, finished: exec::Finished) {
        let at = SystemTime::now();
        if !self.store.keeps_job_records()
            && DeployRecord::target(&finished.result.values).is_none()
        {
            job.finish_at(finished, at);
            return;
        }
        let view = job.finished_view(&finished, at);
        let rollback_of = match &job.trigger {
            Trigger::Rollback { of, .. } => Some(of.clone()),
            _ => None,
        };
        if let Some(deploy) = DeployRecord::of(&view, rollback_of) {
            tracing::info!(
                target = %deploy.target,
                image = deploy.image_after.as_deref().unwrap_or_default(),
                good = deploy.is_good(),
                "deploy recorded"
            );
            self.store.write(Write::Deploy(deploy));
        }
        self.store.write(Write::job(view, None));
        self.store.flush().await;
        job.finish_at(finished, at);
    }

    /// After a run: frees the hook's slot and starts its next waiting job once nothing of the
    /// hook runs (whatever mode the ended job had: a reload may have changed it).
    fn job_ended(self: &Arc<Self>, job: &Arc<Job>) {
        let mut table = self.lock();
        let next = {
            let queue = table.queue(&job.hook);
            queue.running = queue.running.saturating_sub(1);
            let next = if queue.running == 0 {
                queue.waiting.pop_front()
            } else {
                None
            };
            if next.is_some() {
                queue.running += 1;
            }
            next
        };
        self.retire(&mut table, job);
        drop(table);
        if let Some(next) = next {
            // Only serial and latest jobs wait in a hook's queue.
            self.launch(next, Concurrency::Serial, None);
        }
    }

    /// Files an ended job into the history, evicting the oldest beyond `-job-history` entries
    /// or `-job-history-size` bytes of output.
    fn retire(&self, table: &mut JobTable, job: &Job) {
        let ran_for = match job.times() {
            (Some(started), Some(ended)) => ended.duration_since(started).ok(),
            _ => None,
        };
        self.metrics.job_ended(&job.hook, job.state(), ran_for);
        let bytes = job.output.retained_bytes();
        table.finished.push_back((job.id.clone(), bytes));
        table.finished_bytes += bytes;
        while table.finished.len() > self.limits.history
            || (table.finished_bytes > self.limits.history_bytes && table.finished.len() > 1)
        {
            let Some((old, bytes)) = table.finished.pop_front() else {
                break;
            };
            table.finished_bytes = table.finished_bytes.saturating_sub(bytes);
            table.jobs.remove(&old);
        }
    }

    /// Refuses new jobs, lets running and queued ones go on until they end or `give_up`
    /// completes, then kills what remains (their process groups, always reaped). Returns the
    /// jobs that had to be stopped.
    ///
    /// With a shared store, the waiting jobs no client waits for are handed over to the other
    /// replicas at once, and this replica leaves the shared queue at the end.
    pub async fn shutdown(&self, give_up: impl Future<Output = ()>) -> Vec<Arc<Job>> {
        self.lock().closed = true;
        if let Some(cluster) = &self.cluster {
            cluster.hand_over(self).await;
        }
        self.tracker.close();
        let drained = async {
            loop {
                self.tracker.wait().await;
                match &self.cluster {
                    Some(cluster) if cluster.has_waiting() => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    _ => break,
                }
            }
        };
        tokio::select! {
            () = drained => {}
            () = give_up => {}
        }
        let stopped: Vec<Arc<Job>> = self
            .lock()
            .jobs
            .values()
            .filter(|j| !j.state().is_final())
            .cloned()
            .collect();
        self.cancel.cancel();
        if let Some(cluster) = &self.cluster {
            cluster.withdraw_waiting(self).await;
        }
        self.tracker.wait().await;
        if let Some(cluster) = &self.cluster {
            cluster.leave().await;
        }
        stopped
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Files an ended job that never went through `launch` into the history.
    fn retire_ended(&self, job: &Job) {
        let mut table = self.lock();
        self.retire(&mut table, job);
    }

    /// Drops a job this replica does not hold any more (refused, or run by another replica).
    fn forget(&self, id: &str) {
        self.lock().jobs.remove(id);
    }

    /// Keeps a job in the table (the jobs endpoint finds it) before it is queued elsewhere.
    fn insert(&self, job: &Arc<Job>) {
        self.lock().jobs.insert(job.id.clone(), job.clone());
    }
}

/// Every line a job logs names it, its hook and the request that started it.
fn job_context(job: &Job) -> LogContext {
    LogContext {
        request_id: job.request_id.as_str().into(),
        hook: job.hook.clone(),
        job_id: Some(job.id.clone()),
    }
}

/// Adds the variables naming the job to its command's environment.
fn add_job_env(inv: &mut Invocation, hook: &str, request_id: &str, job_id: &str) {
    inv.env.extend([
        ("HOOKRUN_HOOK_ID".to_string(), hook.to_string()),
        ("HOOKRUN_REQUEST_ID".to_string(), request_id.to_string()),
        ("HOOKRUN_JOB_ID".to_string(), job_id.to_string()),
    ]);
}

/// What the log says about a run besides its ids: when it started, and the command's timeout
/// and working directory.
struct RunFacts {
    started: std::time::Instant,
    timeout: std::time::Duration,
    /// `command-working-directory`; `None` runs in hookrun's own.
    working_dir: Option<std::path::PathBuf>,
}

impl RunFacts {
    fn of(inv: &Invocation) -> Self {
        RunFacts {
            started: std::time::Instant::now(),
            timeout: inv.timeout,
            working_dir: inv.working_dir.clone(),
        }
    }

    /// The folder the command was started in, for the log of a command that could not start
    /// (hookrun's own folder is looked up then, not for every job).
    fn working_dir(&self) -> String {
        self.working_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    }

    /// How the run ended, at the level it deserves: a success is part of a request's
    /// lifecycle, a failure is a warning, a command that could not start is an error.
    fn log(&self, exit: &exec::Exit) {
        use exec::Exit;
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match exit {
            Exit::Code(0) => tracing::info!(exit_code = 0, duration_ms, "job succeeded"),
            Exit::Code(code) => tracing::warn!(exit_code = code, duration_ms, "job failed"),
            Exit::Signal(signal) => {
                let signal = nix::sys::signal::Signal::try_from(*signal)
                    .map_or_else(|_| signal.to_string(), |s| s.as_str().to_string());
                tracing::warn!(%signal, duration_ms, "job failed: the command was killed by a signal");
            }
            Exit::TimedOut => tracing::warn!(
                timeout = %humantime::format_duration(self.timeout),
                duration_ms,
                "job timed out: its process group was killed"
            ),
            // The server warns about each job it had to stop.
            Exit::Canceled => {}
            Exit::SpawnFailed(error) => tracing::error!(
                %error,
                working_dir = %self.working_dir(),
                "job failed: its command could not be started"
            ),
        }
    }
}

/// 128 random bits, hex: unguessable. Written byte by byte into a buffer of its size
/// (`hex::encode` collects a char iterator into a growing string).
fn new_job_id() -> String {
    let mut id = [0u8; 32];
    hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut id).expect("32 digits for 16 bytes");
    String::from_utf8(id.to_vec()).expect("hex digits are ASCII")
}

/// Whether `s` has the shape of the ids this manager mints (32 lower-case hex digits).
pub fn is_job_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
