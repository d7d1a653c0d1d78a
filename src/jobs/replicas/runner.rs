//! Running the jobs the shared queue gives this replica: its own waiting jobs (started exactly
//! once, whichever path saw the claim first) and jobs adopted from a replica that left or
//! died; freeing the hook when each ends (which may hand this replica the next); and the
//! running job's record rewritten as output arrives, for the other replicas to follow.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{bounded, Cluster, ANSWERED_503};
use crate::config::Concurrency;
use crate::jobs::{add_job_env, job_context, Job, JobManager, JobState, JobView};
use crate::logging;
use crate::store::{Claim, ClaimTicket, RunSpec, Store, Write};

/// The grace of a job taken over from a record that does not say.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// How often a running job's record (with its output so far) is rewritten, at least.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What became of a job received here that the shared queue gave this replica.
pub(super) enum Received {
    Started,
    /// Started already (by the other path that saw it claimed).
    Running,
    /// Not held here: its request was refused.
    Unknown,
}

impl Cluster {
    /// Runs a job this replica holds the hook for, then releases the hook.
    pub(super) fn launch(self: &Arc<Self>, m: &Arc<JobManager>, job: Arc<Job>) {
        let stop = m.cancel.child_token();
        self.local()
            .running
            .insert(job.id.clone(), (job.clone(), stop.clone()));
        self.spawn_run(m, job, stop);
    }

    /// Starts job `id`, received here, that the shared queue gave this replica. The move from
    /// waiting to running is one step under the lock: the release that claimed the job and
    /// the reconciliation that saw it claimed may both get here, and exactly one starts it.
    pub(super) fn run_received(self: &Arc<Self>, m: &Arc<JobManager>, id: &str) -> Received {
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
        let context = job_context(&job);
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
    pub(super) fn take_claim(self: &Arc<Self>, m: &Arc<JobManager>, claim: Claim) {
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
}

/// Rewrites a running job's record, with its output so far, while output arrives (at most
/// every [`PROGRESS_EVERY`], less often for large output), so that other replicas can follow it.
pub(in crate::jobs) async fn record_progress(store: &Store, job: &Job) {
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
