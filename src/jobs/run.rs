//! A job's run on its tracked task: waiting for a global permit, the command run (with progress
//! records for other replicas), the log of how it ended, and its final record committed before
//! the job is reported finished.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::{replicas, Job, JobManager, JobState, Trigger};
use crate::config::Concurrency;
use crate::exec::{self, Invocation};
use crate::logging::{self, LogContext};
use crate::store::{DeployRecord, Write};

impl JobManager {
    /// Runs `job` on a tracked task (once it has a global permit), then starts its hook's next
    /// waiting job.
    pub(super) fn launch(
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
    pub(super) async fn run(
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
}

/// Every line a job logs names it, its hook and the request that started it.
pub(super) fn job_context(job: &Job) -> LogContext {
    LogContext {
        request_id: job.request_id.as_str().into(),
        hook: job.hook.clone(),
        job_id: Some(job.id.clone()),
    }
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
