//! One job: a triggered request's command run, its state, timing and output. Shared between
//! the task that runs it, the request that may wait for it and the jobs endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::exec::{Exit, Finished, Invocation, OutputLog};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Superseded,
    Canceled,
    /// hookrun stopped (crash, `kill -9`, power loss) while the job was queued or running;
    /// set by the store at the next start.
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Superseded,
        JobState::Canceled,
        JobState::Interrupted,
    ];

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// The name used in JSON, the store and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Superseded => "superseded",
            JobState::Canceled => "canceled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(name: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What started a job: a request to its hook, or an admin acting on the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A request to the hook's URL.
    #[default]
    Request,
    /// An admin reran job `of`.
    Rerun { of: String },
    /// An admin rolled `target` back to the deploy of job `of`.
    Rollback { target: String, of: String },
}

/// How a job ended: the one place an [`Exit`] (or a job that never ran) becomes a state, the
/// exit code or signal, and the words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub state: JobState,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Why it did not run to an exit code, for the jobs endpoint.
    pub error: Option<String>,
}

impl Ending {
    fn ran(exit: Exit) -> Ending {
        let (state, exit_code, signal, error) = match exit {
            Exit::Code(0) => (JobState::Succeeded, Some(0), None, None),
            Exit::Code(c) => (JobState::Failed, Some(c), None, None),
            Exit::Signal(s) => (JobState::Failed, None, Some(s), None),
            Exit::TimedOut => (
                JobState::TimedOut,
                None,
                None,
                Some("command timed out".into()),
            ),
            Exit::Canceled => (
                JobState::Canceled,
                None,
                None,
                Some("canceled at shutdown".into()),
            ),
            Exit::SpawnFailed(e) => (JobState::Failed, None, None, Some(e)),
        };
        Ending {
            state,
            exit_code,
            signal,
            error,
        }
    }

    fn unstarted(state: JobState) -> Ending {
        let error = (state == JobState::Superseded).then(|| "superseded by a newer request".into());
        Ending {
            state,
            exit_code: None,
            signal: None,
            error,
        }
    }

    /// How a run ended when the job may have been stopped on purpose: a run canceled because
    /// the job was interrupted (its replica lost its lease) ends `interrupted`, saying why.
    fn ran_or_interrupted(exit: Exit, interrupted: Option<&str>) -> Ending {
        match (exit, interrupted) {
            (Exit::Canceled, Some(why)) => Ending {
                state: JobState::Interrupted,
                exit_code: None,
                signal: None,
                error: Some(why.to_string()),
            },
            (exit, _) => Ending::ran(exit),
        }
    }

    /// How the job ended, in words that name no internal detail (for a streamed response's
    /// trailer); `None` for success.
    pub fn summary(&self) -> Option<String> {
        Some(match (self.state, self.exit_code, self.signal) {
            (JobState::Succeeded, ..) => return None,
            (_, Some(code), _) => format!("failed with exit code {code}"),
            (_, _, Some(signal)) => format!("was killed by signal {signal}"),
            (JobState::TimedOut, ..) => "timed out".into(),
            (JobState::Canceled, ..) => "was canceled at shutdown".into(),
            (JobState::Superseded, ..) => "was superseded by a newer request".into(),
            (JobState::Failed, ..) => "could not start its command".into(),
            (JobState::Interrupted, ..) => "was interrupted by a restart of hookrun".into(),
            (JobState::Queued | JobState::Running, ..) => return None,
        })
    }
}

#[derive(Debug)]
struct Progress {
    state: JobState,
    ending: Option<Ending>,
    started_at: Option<(SystemTime, Instant)>,
    finished_at: Option<(SystemTime, Instant)>,
    /// The command, until it starts.
    invocation: Option<Invocation>,
    /// What the command wrote to its `HOOKRUN_RESULT` file.
    result: BTreeMap<String, String>,
    /// Why the run was stopped before it ended by itself (its replica lost its lease).
    interrupted: Option<String>,
    /// What happened to the notifications about this job, attempt by attempt.
    notifications: Vec<NotificationAttempt>,
}

/// One attempt (or decision) to tell a notification target about a job, as the job record keeps
/// it. Secrets never reach it: targets are named with their tokens masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationAttempt {
    /// `email ops@example.com`, `dingtalk https://oapi.dingtalk.com/robot/send?access_token=***`,
    /// `docker hub callback …`.
    pub target: String,
    /// 1-based; 0 for a decision made without sending (held, refused, dropped).
    pub attempt: u32,
    /// RFC 3339.
    pub at: String,
    pub ok: bool,
    /// `delivered`, `failed` (retried), `gave-up`, `held` (sent later in a summary), `refused`,
    /// `dropped`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When `failed`: the next attempt comes after this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// This attempt sent the rate-limit summary that lists the job (it was `held`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub summary: bool,
}

/// Attempts a job record keeps; beyond this they are only logged.
pub const MAX_NOTIFICATION_ATTEMPTS: usize = 100;

/// A job record.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub hook: String,
    pub request_id: String,
    pub queued_at: SystemTime,
    /// A request, a rerun or a rollback.
    pub trigger: Trigger,
    /// The replica running it, when replicas share a store.
    pub replica: Option<String>,
    pub output: Arc<OutputLog>,
    progress: Mutex<Progress>,
    finished: watch::Sender<bool>,
}

/// The JSON answer of `GET /jobs/{id}`, and what the store keeps of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub hook: String,
    pub request_id: String,
    /// What started the job.
    #[serde(default)]
    pub trigger: Trigger,
    /// The replica that runs (or ran, or queued) it, when replicas share a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    pub state: JobState,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u128>,
    /// The values the command wrote to its `HOOKRUN_RESULT` file (empty until it ends).
    #[serde(default)]
    pub result: BTreeMap<String, String>,
    /// Every attempt to notify someone of this job's end.
    #[serde(default)]
    pub notifications: Vec<NotificationAttempt>,
    /// The command's stdout and stderr in the order it wrote them (one pipe, as the
    /// reference's `CombinedOutput`); `None` (absent) when the server hides output
    /// (`-job-output=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    pub output: Option<String>,
    /// The same text as `output`, under the name earlier versions used for stdout alone (stderr
    /// was apart then): readers of those versions keep working.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub truncated: bool,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Job {
    pub fn new(id: String, hook: String, request_id: String, inv: Invocation, cap: usize) -> Job {
        Job {
            id,
            hook,
            request_id,
            queued_at: SystemTime::now(),
            trigger: Trigger::Request,
            replica: None,
            output: Arc::new(OutputLog::new(cap)),
            progress: Mutex::new(Progress {
                state: JobState::Queued,
                ending: None,
                started_at: None,
                finished_at: None,
                invocation: Some(inv),
                result: BTreeMap::new(),
                interrupted: None,
                notifications: Vec::new(),
            }),
            finished: watch::channel(false).0,
        }
    }

    /// The same job, started by `trigger` (a rerun or a rollback).
    pub fn with_trigger(mut self, trigger: Trigger) -> Job {
        self.trigger = trigger;
        self
    }

    /// The same job, run by `replica` (replicas sharing a store).
    pub fn with_replica(mut self, replica: Option<String>) -> Job {
        self.replica = replica;
        self
    }

    /// The same job, queued at `at` (a job another replica received and this one runs).
    pub fn queued_at(mut self, at: SystemTime) -> Job {
        self.queued_at = at;
        self
    }

    /// Stops the job's run as interrupted, for `why` (the caller then cancels the run).
    pub fn interrupt(&self, why: &str) {
        self.lock().interrupted = Some(why.to_string());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> JobState {
        self.lock().state
    }

    /// How the job ended; `None` while it is queued or running.
    pub fn ending(&self) -> Option<Ending> {
        self.lock().ending.clone()
    }

    /// Moves a queued job to running and hands out its command; `None` if it already ended
    /// (superseded or canceled while waiting).
    pub fn start(&self) -> Option<Invocation> {
        let mut p = self.lock();
        if p.state != JobState::Queued {
            return None;
        }
        p.state = JobState::Running;
        p.started_at = Some((SystemTime::now(), Instant::now()));
        p.invocation.take()
    }

    /// Records the end of a run and what its command wrote to its result file.
    pub fn finish(&self, finished: Finished) {
        self.finish_at(finished, SystemTime::now());
    }

    /// [`Job::finish`] with the end time given: the one [`Job::finished_view`] was made with.
    pub fn finish_at(&self, finished: Finished, at: SystemTime) {
        let ending = {
            let mut p = self.lock();
            p.result = finished.result.values;
            Ending::ran_or_interrupted(finished.exit, p.interrupted.as_deref())
        };
        self.end_at(ending, at);
    }

    /// The job as it will look once `finished` is recorded at `at`, without recording it:
    /// what the store commits before the job is reported finished.
    pub fn finished_view(&self, finished: &Finished, at: SystemTime) -> JobView {
        let mut view = self.view(true);
        let interrupted = self.lock().interrupted.clone();
        let ending = Ending::ran_or_interrupted(finished.exit.clone(), interrupted.as_deref());
        view.state = ending.state;
        view.exit_code = ending.exit_code;
        view.signal = ending.signal;
        view.error = ending.error;
        view.finished_at = Some(rfc3339(at));
        let started = self.lock().started_at;
        view.duration_ms =
            started.map(|(s, _)| at.duration_since(s).unwrap_or_default().as_millis());
        view.result = finished.result.values.clone();
        view
    }

    /// The values the command wrote to its result file (empty before it ends).
    pub fn result(&self) -> BTreeMap<String, String> {
        self.lock().result.clone()
    }

    /// When the command started and when the job ended (wall clock), as far as known.
    pub fn times(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let p = self.lock();
        (p.started_at.map(|(t, _)| t), p.finished_at.map(|(t, _)| t))
    }

    /// Adds one notification attempt to the record (the first
    /// [`MAX_NOTIFICATION_ATTEMPTS`] are kept).
    pub fn record_notification(&self, attempt: NotificationAttempt) {
        let mut p = self.lock();
        if p.notifications.len() < MAX_NOTIFICATION_ATTEMPTS {
            p.notifications.push(attempt);
        }
    }

    /// The notification attempts recorded so far, oldest first.
    pub fn notifications(&self) -> Vec<NotificationAttempt> {
        self.lock().notifications.clone()
    }

    /// Ends a job that never ran (superseded, canceled); no-op if it already ended.
    pub fn end_unstarted(&self, state: JobState) -> bool {
        self.end_unstarted_because(state, None)
    }

    /// [`Job::end_unstarted`], saying why (when another replica ended it).
    pub fn end_unstarted_because(&self, state: JobState, why: Option<String>) -> bool {
        {
            let p = self.lock();
            if p.state != JobState::Queued {
                return false;
            }
        }
        self.output.close();
        let mut ending = Ending::unstarted(state);
        if why.is_some() {
            ending.error = why;
        }
        self.end(ending);
        true
    }

    fn end(&self, ending: Ending) {
        self.end_at(ending, SystemTime::now());
    }

    fn end_at(&self, ending: Ending, at: SystemTime) {
        {
            let mut p = self.lock();
            if p.state.is_final() {
                return;
            }
            p.state = ending.state;
            p.ending = Some(ending);
            p.invocation = None;
            // `at` is wall time; the monotonic end is now (they differ by the store's commit).
            let mono = Instant::now()
                .checked_sub(SystemTime::now().duration_since(at).unwrap_or_default())
                .unwrap_or_else(Instant::now);
            p.finished_at = Some((at, mono));
        }
        self.finished.send_replace(true);
    }

    /// Waits until the job has ended; returns how.
    pub async fn wait(&self) -> Ending {
        let mut rx = self.finished.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|done| *done).await;
        self.ending()
            .expect("a job records its ending before it signals the end")
    }

    /// The job as the jobs endpoint shows it; output only `with_output`.
    pub fn view(&self, with_output: bool) -> JobView {
        let p = self.lock();
        let out = self.output.snapshot();
        let output = with_output.then(|| String::from_utf8_lossy(&out.combined).into_owned());
        let ending = p.ending.clone();
        let duration_ms = match (p.started_at, p.finished_at) {
            (Some((_, s)), Some((_, f))) => Some(f.duration_since(s).as_millis()),
            (Some((_, s)), None) => Some(s.elapsed().as_millis()),
            _ => None,
        };
        JobView {
            id: self.id.clone(),
            hook: self.hook.clone(),
            request_id: self.request_id.clone(),
            trigger: self.trigger.clone(),
            replica: self.replica.clone(),
            state: p.state,
            exit_code: ending.as_ref().and_then(|e| e.exit_code),
            signal: ending.as_ref().and_then(|e| e.signal),
            error: ending.and_then(|e| e.error),
            queued_at: rfc3339(self.queued_at),
            started_at: p.started_at.map(|(t, _)| rfc3339(t)),
            finished_at: p.finished_at.map(|(t, _)| rfc3339(t)),
            duration_ms,
            result: p.result.clone(),
            notifications: p.notifications.clone(),
            output: output.clone(),
            stdout: output,
            truncated: out.truncated,
        }
    }
}
