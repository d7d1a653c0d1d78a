//! The server's side of notifications: when a job of a hook with `notify` targets (or of a Docker
//! Hub delivery with a `callback_url`) ends, its [`Message`] goes to the [`Notifier`], and every
//! attempt the notifier reports is written into that job's record (`GET /jobs/{id}`).
//!
//! A tracked watcher task per such job waits for its end, so neither the request nor the job
//! ever waits for a notification. Jobs that never ran a command (superseded by a newer request,
//! canceled while queued) notify nobody. At shutdown the watchers end with their jobs, then the
//! notifier gets what is left of the shutdown time.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio_util::task::TaskTracker;

use crate::config::Hook;
use crate::jobs::{Ending, Job, JobManager, JobState, NotificationAttempt, OnFiled};
use crate::metrics::Metrics;
use crate::notify::delivery::{ShutdownReport, StartError};
use crate::notify::message::output_tail;
use crate::notify::{self, Attempt, AttemptOutcome, Message, Notifier, Status};

/// The notifier and the tasks that wait for jobs to end.
#[derive(Clone)]
pub struct JobNotifications {
    notifier: Notifier,
    watchers: TaskTracker,
    host: String,
    /// `-job-output`: a server that hides output from the jobs endpoint keeps it out of
    /// messages too.
    with_output: bool,
}

impl JobNotifications {
    /// Starts the notifier on the current runtime; attempts are recorded in `jobs`' records
    /// and counted in `metrics`.
    pub fn start(
        settings: notify::Settings,
        jobs: &Arc<JobManager>,
        with_output: bool,
        metrics: &Arc<Metrics>,
    ) -> Result<JobNotifications, StartError> {
        let host = settings.host.clone();
        let jobs: Weak<JobManager> = Arc::downgrade(jobs);
        let metrics = metrics.clone();
        let report = Arc::new(move |attempt: &Attempt| {
            metrics.notification(metric_result(&attempt.outcome));
            let Some(jobs) = jobs.upgrade() else {
                return;
            };
            let ids = attempt.job_id.iter().chain(&attempt.summary_of);
            for job in ids.filter_map(|id| jobs.get(id)) {
                jobs.record_notification(&job, record(attempt));
            }
        });
        Ok(JobNotifications {
            notifier: Notifier::start(settings, report)?,
            watchers: TaskTracker::new(),
            host,
            with_output,
        })
    }

    /// Tells `hook`'s targets (and the Docker Hub `callback_url`, if any) how `job` ends, once
    /// it has ended. Returns at once.
    pub fn watch(&self, job: &Arc<Job>, hook: &Hook, callback_url: Option<&str>) {
        if hook.notify.is_empty() && callback_url.is_none() {
            return;
        }
        let (job, targets) = (job.clone(), hook.notify.clone());
        let callback_url = callback_url.map(str::to_string);
        let notifier = self.notifier.clone();
        let (host, with_output) = (self.host.clone(), self.with_output);
        self.watchers.spawn(async move {
            let ending = job.wait().await;
            let Some(message) = message(&job, &ending, host, with_output) else {
                return;
            };
            if let Some(url) = callback_url {
                // A refusal is logged and recorded by the notifier.
                let _ = notifier.docker_hub_callback(&url, &message, None);
            }
            notifier.job_finished(&targets, message);
        });
    }

    /// [`JobNotifications::watch`] for a job not filed yet, to be called by whatever files it
    /// (even after the request that submitted it has gone); `None` when nobody is to be told.
    pub fn on_filed(&self, hook: &Arc<Hook>, callback_url: Option<&str>) -> Option<OnFiled> {
        if hook.notify.is_empty() && callback_url.is_none() {
            return None;
        }
        let (this, hook) = (self.clone(), hook.clone());
        let callback_url = callback_url.map(str::to_string);
        Some(Box::new(move |job: &Arc<Job>| {
            this.watch(job, &hook, callback_url.as_deref());
        }))
    }

    /// Waits for the watchers (their jobs have ended: the job manager has shut down), then
    /// lets the notifier send what is pending for up to `deadline`.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.watchers.close();
        self.watchers.wait().await;
        self.notifier.shutdown(deadline).await
    }
}

/// The message about an ended job; `None` for a job that never ran its command.
fn message(job: &Job, ending: &Ending, host: String, with_output: bool) -> Option<Message> {
    let (started_at, finished_at) = job.times();
    let started_at = started_at?;
    let status = match ending.state {
        JobState::Succeeded => Status::Success,
        JobState::TimedOut => Status::Timeout,
        JobState::Failed | JobState::Canceled | JobState::Interrupted => Status::Failure,
        JobState::Superseded | JobState::Queued | JobState::Running => return None,
    };
    let detail = match (ending.signal, &ending.error) {
        (Some(signal), _) => Some(format!("killed by signal {signal}")),
        (None, Some(error)) => Some(error.clone()),
        (None, None) => None,
    };
    let output_tail = if with_output {
        output_tail(&String::from_utf8_lossy(&job.output.snapshot().combined))
    } else {
        String::new()
    };
    Some(Message {
        hook: job.hook.clone(),
        job_id: job.id.clone(),
        request_id: job.request_id.clone(),
        status,
        exit_code: ending.exit_code,
        detail,
        started_at,
        finished_at: finished_at.unwrap_or_else(SystemTime::now),
        result: job.result(),
        output_tail,
        host,
    })
}

/// The `result` label of a reported attempt in `hookrun_notifications_total`.
fn metric_result(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::GaveUp { .. } => "gave_up",
        AttemptOutcome::Held => "held",
        AttemptOutcome::Refused { .. } => "refused",
        AttemptOutcome::Dropped { .. } => "dropped",
    }
}

/// The job record's form of a reported attempt.
fn record(a: &Attempt) -> NotificationAttempt {
    let (outcome, error, retry_in_ms) = match &a.outcome {
        AttemptOutcome::Delivered => ("delivered", None, None),
        AttemptOutcome::Failed { error, retry_in_ms } => {
            ("failed", Some(error.clone()), Some(*retry_in_ms))
        }
        AttemptOutcome::GaveUp { error } => ("gave-up", Some(error.clone()), None),
        AttemptOutcome::Held => ("held", None, None),
        AttemptOutcome::Refused { reason } => ("refused", Some(reason.clone()), None),
        AttemptOutcome::Dropped { reason } => ("dropped", Some(reason.clone()), None),
    };
    NotificationAttempt {
        target: a.target.clone(),
        attempt: a.attempt,
        at: a.at.clone(),
        ok: a.outcome == AttemptOutcome::Delivered,
        outcome: outcome.to_string(),
        error,
        retry_in_ms,
        summary: !a.summary_of.is_empty(),
    }
}
