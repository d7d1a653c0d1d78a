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
mod limits;
mod replicas;
mod run;
mod table;

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Hook;
use crate::exec::Invocation;
use crate::metrics::Metrics;
use crate::store::{JobFilter, RunSpec, Store, Write};
use replicas::Cluster;
use run::job_context;
use table::{JobTable, Reserved};

pub use job::{
    Ending, Job, JobState, JobView, NotificationAttempt, Trigger, MAX_NOTIFICATION_ATTEMPTS,
};
pub use limits::{JobLimits, DEFAULT_MAX_JOBS, DEFAULT_MAX_QUEUE};

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

/// Adds the variables naming the job to its command's environment.
fn add_job_env(inv: &mut Invocation, hook: &str, request_id: &str, job_id: &str) {
    inv.env.extend([
        ("HOOKRUN_HOOK_ID".to_string(), hook.to_string()),
        ("HOOKRUN_REQUEST_ID".to_string(), request_id.to_string()),
        ("HOOKRUN_JOB_ID".to_string(), job_id.to_string()),
    ]);
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
