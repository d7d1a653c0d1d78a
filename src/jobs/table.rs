//! The job table: every job the manager knows, each hook's queue, whether a new job starts or
//! waits (and where it is filed), a hook's next job once one ends, and the history of ended
//! jobs with its bounds.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::{Job, JobManager, JobState, SubmitError};
use crate::config::{Concurrency, Hook};
use crate::store::RunSpec;

/// Whether a submitted job starts now (with a global permit, if one was free) or waits in its
/// hook's queue.
enum Admission {
    Start(Option<OwnedSemaphorePermit>),
    Wait,
}

/// A place taken for a `parallel` job (see [`JobManager::reserve_parallel`]).
pub(super) struct Reserved {
    hook: String,
    admission: Admission,
}

#[derive(Default)]
pub(super) struct HookQueue {
    pub(super) running: usize,
    pub(super) waiting: VecDeque<Arc<Job>>,
    /// `parallel` jobs started without a global permit, still waiting for one.
    pub(super) parked: usize,
}

/// Every job the manager knows (running, waiting, and the history) and each hook's queue.
#[derive(Default)]
pub(super) struct JobTable {
    /// foldhash, not SipHash: the ids are this manager's own random ones, which no request
    /// chooses, so none can make them collide; a request's id is only looked up.
    pub(super) jobs: foldhash::HashMap<String, Arc<Job>>,
    /// Ended jobs, oldest first, with the bytes of output each keeps.
    finished: VecDeque<(String, usize)>,
    finished_bytes: usize,
    /// By hook id: from the hooks file, not from requests (foldhash, as `jobs`).
    pub(super) queues: foldhash::HashMap<String, HookQueue>,
    pub(super) closed: bool,
}

impl JobTable {
    /// `hook`'s queue, made the first time the hook has a job: its id is copied then only,
    /// not for every job that looks its queue up (`entry` takes an owned key).
    pub(super) fn queue(&mut self, hook: &str) -> &mut HookQueue {
        if !self.queues.contains_key(hook) {
            self.queues.insert(hook.to_string(), HookQueue::default());
        }
        self.queues
            .get_mut(hook)
            .expect("the queue is there: inserted just above if it was not")
    }
}

impl JobManager {
    /// Files `job` here: it starts now or waits in its hook's queue (see [`Admission`]).
    pub(super) fn file(
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
    pub(super) fn reserve_parallel(
        &self,
        hook: &Hook,
        job: &Arc<Job>,
    ) -> Result<Reserved, SubmitError> {
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
    pub(super) fn file_reserved(
        self: &Arc<Self>,
        place: Reserved,
        job: Arc<Job>,
        spec: RunSpec,
    ) -> Arc<Job> {
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
    pub(super) fn unreserve(&self, place: Reserved) {
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

    /// After a run: frees the hook's slot and starts its next waiting job once nothing of the
    /// hook runs (whatever mode the ended job had: a reload may have changed it).
    pub(super) fn job_ended(self: &Arc<Self>, job: &Arc<Job>) {
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
    pub(super) fn retire(&self, table: &mut JobTable, job: &Job) {
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
}
