//! Filing a job received here: a `serial`/`latest` job goes into the shared queue (it starts
//! here at once or waits), a `parallel` job runs here once its delivery id is claimed; each on
//! a task of its own that the request cannot cut short. A request answered 503 leaves nothing
//! behind: what the queue may yet have taken is taken back.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{bounded, Cluster, ANSWERED_503};
use crate::config::{Concurrency, Hook};
use crate::jobs::{Job, JobManager, JobState, OnFiled, Reserved, Submission, SubmitError, Trigger};
use crate::store::{Enqueue, Enqueued, RunSpec, StoreError, StoredJob};

/// How long a request waits for the shared queue before it is answered 503.
const REGISTER_PATIENCE: Duration = Duration::from_secs(5);

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

/// A job received here on its way into the queue: what it runs, and what follows once it is
/// filed (`on_filed`: its notifications).
struct Filing {
    job: Arc<Job>,
    spec: RunSpec,
    on_filed: Option<OnFiled>,
}

impl Cluster {
    /// Queues a job received here (see the theory of operation); `parallel` jobs only have
    /// their delivery id claimed in the database, and run here.
    ///
    /// The queueing runs on a task of its own, which ends whatever becomes of the caller: a
    /// client that leaves while its request waits for the database (its request future is
    /// dropped) cannot leave a job half-registered here, where it would hold up shutdown, nor
    /// a job queued without what follows it (`on_filed`: its notifications).
    pub(in crate::jobs) async fn submit(
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
        let filing = Filing {
            job,
            spec,
            on_filed,
        };
        let latest = match hook.execution.concurrency {
            Concurrency::Parallel => return self.submit_parallel(m, hook, filing, delivery).await,
            Concurrency::Serial => false,
            Concurrency::Latest => true,
        };
        let queueing = Queueing {
            hook: hook.id.clone(),
            latest,
            client_waits: filing.job.trigger == Trigger::Request
                && (hook.capture_output || hook.execution.stream_output),
            max_queue: hook.execution.max_queue.unwrap_or(m.limits.max_queue),
            delivery: delivery.map(str::to_owned),
        };
        let (cluster, manager) = (self.clone(), m.clone());
        own_task(async move { cluster.enqueue(&manager, filing, queueing).await }).await
    }

    /// Puts a `serial`/`latest` job in the shared queue; it starts here at once or waits.
    async fn enqueue(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        filing: Filing,
        q: Queueing,
    ) -> Result<Submission, SubmitError> {
        let (job, spec, on_filed) = (filing.job, filing.spec, filing.on_filed);
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
                client_waits: q.client_waits,
                delivery: q.delivery.as_deref(),
                delivery_window: window,
            })
        })
        .await;
        let waits = matches!(result, Ok(Enqueued::Wait { .. }));
        let ours = self.registered(&job, waits, q.client_waits);
        match result {
            Ok(Enqueued::Start { superseded }) => {
                self.end_superseded(m, &superseded);
                if ours {
                    self.launch(m, job.clone());
                }
                filed(job, on_filed)
            }
            Ok(Enqueued::Wait { superseded }) => {
                self.end_superseded(m, &superseded);
                tracing::debug!(job_id = %job.id, hook = %q.hook, "job waits in the shared queue");
                filed(job, on_filed)
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
                self.abandon_unanswered(&job.id);
                Err(SubmitError::StoreUnavailable)
            }
        }
    }

    /// Ends the registering of `job` once the queue has answered: whether it was still being
    /// registered here (neither superseded meanwhile nor started by a claim seen first), and,
    /// if so and it `waits`, it waits here.
    fn registered(&self, job: &Arc<Job>, waits: bool, client_waits: bool) -> bool {
        let mut local = self.local();
        let ours = local.registering.remove(&job.id).is_some();
        if ours && waits {
            local
                .waiting
                .insert(job.id.clone(), (job.clone(), client_waits));
        }
        ours
    }

    /// Drops job `id` from the shared queue, retrying for up to a lease.
    fn abandon_unanswered(&self, id: &str) {
        let queue = self.queue.clone();
        let id = id.to_owned();
        self.until_done(move || {
            let (queue, id) = (queue.clone(), id.clone());
            async move { queue.abandon(&id, ANSWERED_503).await }
        });
    }

    /// Files a `parallel` job, which runs here; with a delivery id, only once the id is
    /// claimed in the shared store (with the job's record, in one transaction), on a task of
    /// its own: a client that leaves in between does not leave a claimed delivery without
    /// its job, which every retry would be told was seen.
    async fn submit_parallel(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        hook: &Hook,
        filing: Filing,
        delivery: Option<&str>,
    ) -> Result<Submission, SubmitError> {
        let place = m.reserve_parallel(hook, &filing.job)?;
        let Some(key) = delivery.map(str::to_owned) else {
            let job = m.file_reserved(place, filing.job, filing.spec);
            return filed(job, filing.on_filed);
        };
        let (cluster, manager) = (self.clone(), m.clone());
        own_task(async move { cluster.file_delivery(&manager, place, filing, &key).await }).await
    }

    /// Claims delivery `key` for a `parallel` job with a place here, then files it.
    async fn file_delivery(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        place: Reserved,
        filing: Filing,
        key: &str,
    ) -> Result<Submission, SubmitError> {
        let (job, spec, on_filed) = (filing.job, filing.spec, filing.on_filed);
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
                filed(job, on_filed)
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
}

/// The answer for a job filed: what follows its filing (`on_filed`) runs first.
fn filed(job: Arc<Job>, on_filed: Option<OnFiled>) -> Result<Submission, SubmitError> {
    if let Some(on_filed) = on_filed {
        on_filed(&job);
    }
    Ok(Submission::New(job))
}

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
