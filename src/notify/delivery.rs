//! The delivery engine: a bounded queue, a dispatcher that applies rate limits, one task per
//! message that sends and retries (`attempts`), attempt reports, and a bounded shutdown.
//!
//! # Theory of operation
//! [`Notifier::job_finished`], [`Notifier::send`] and [`Notifier::docker_hub_callback`] only
//! `try_send` onto a queue: they never wait (a full queue drops the notification, and says so).
//! The dispatcher task owns the rate-limit state — for each (hook, target) pair the send times of
//! the last window — so it needs no lock. A message within the limit becomes a delivery task; one
//! over it is held in that pair's pending summary, which the dispatcher sends when the window
//! has room again: a burst of failures costs at most `rate_limit` messages a minute per target,
//! summaries included. Docker Hub callbacks are answers to single deliveries and are not
//! limited. A delivery task renders its message afresh for each attempt, waits for one of
//! `concurrency` send slots, and on a retryable error sleeps for the next delay of the schedule
//! (or the server's longer `Retry-After`). Every attempt is reported through the [`AttemptReport`]
//! callback and the log; targets are named by their masked labels, errors carry no secrets.
//! [`Notifier::shutdown`] cancels `stop`: the dispatcher sends held summaries and queued work at
//! once and ends, waiting deliveries make their last attempt now; after the deadline `abandon`
//! ends whatever is still sending.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::{self, Target};
use super::dispatch::Dispatcher;
use super::dockerhub::{Callback, CallbackGuard};
use super::email::{Mailer, SmtpConfigError, SmtpSettings};
use super::message::{rfc3339, Message, Notice};

/// How the engine behaves; [`Settings::default`] is the product's behaviour.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Waits between attempts: `n` delays make `n + 1` attempts.
    pub retry_delays: Vec<Duration>,
    /// Messages per window to one target of one hook; more are summarised.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Notifications waiting for the dispatcher; more are dropped (and reported).
    pub queue: usize,
    /// Messages being sent at once.
    pub concurrency: usize,
    /// For one HTTP request (webhooks, callbacks).
    pub http_timeout: Duration,
    /// The mail server; e-mail targets fail without it.
    pub smtp: Option<SmtpSettings>,
    /// URL prefixes Docker Hub callbacks may go to besides Docker Hub itself.
    pub callback_allow: Vec<String>,
    /// This machine's name, in messages and as the SMTP HELO name.
    pub host: String,
}

/// Attempts at 0 s, 10 s, 1 min 10 s (three within three minutes), 6 min 10 s and 21 min 10 s.
pub const DEFAULT_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
];

/// Messages a minute to one target of one hook.
pub const DEFAULT_RATE_LIMIT: u32 = 6;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_window: Duration::from_secs(60),
            queue: 1024,
            concurrency: 8,
            http_timeout: Duration::from_secs(30),
            smtp: None,
            callback_allow: Vec::new(),
            host: host_name(),
        }
    }
}

/// The machine's host name ("localhost" if it cannot be read).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Why one attempt failed, and whether another may succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// What went wrong, secrets masked.
    pub message: String,
    pub retry: bool,
    /// The server asked to wait this long (`Retry-After`).
    pub after: Option<Duration>,
}

impl SendError {
    pub fn retry(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retry: true,
            after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retry: false,
            after: None,
        }
    }

    pub fn after(mut self, after: Option<Duration>) -> SendError {
        self.after = after;
        self
    }
}

/// One attempt (or decision) about one notification, for the job record and the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The job the notification is about (none for summaries and free text).
    pub job_id: Option<String>,
    pub hook: String,
    /// The target, secrets masked: `email ops@example.com`, `dingtalk https://…access_token=***`.
    pub target: String,
    /// 1-based; 0 for decisions made before any attempt (held, refused, dropped).
    pub attempt: u32,
    /// RFC 3339.
    pub at: String,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    /// For a rate-limit summary: the jobs it lists (those held back), so their records learn
    /// what became of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub summary_of: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; the next attempt comes after `retry_in_ms`.
    Failed {
        error: String,
        retry_in_ms: u64,
    },
    /// Failed for the last time (permanent error, no tries left, or shutdown).
    GaveUp {
        error: String,
    },
    /// Over the rate limit: it will be part of a summary.
    Held,
    /// Not sent: the callback URL is not allowed.
    Refused {
        reason: String,
    },
    /// Not sent: the queue was full or hookrun was shutting down.
    Dropped {
        reason: String,
    },
}

/// Where attempts are reported (the job record stores them).
pub type AttemptReport = Arc<dyn Fn(&Attempt) + Send + Sync>;

/// What a shutdown left unfinished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Messages still being sent when the deadline passed (given up, reported).
    pub abandoned: usize,
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Smtp(#[from] SmtpConfigError),
    #[error("{0}")]
    CallbackAllowList(String),
}

/// The notification service: cheap to clone, never blocks its callers.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) queue: mpsc::Sender<Work>,
    pub(super) settings: Settings,
    pub(super) mailer: Option<Mailer>,
    /// The HTTP clients for webhooks and for callbacks, built on first use: loading the
    /// system's CA certificates takes a noticeable part of a start-up that needs neither.
    pub(super) http: OnceLock<Result<reqwest::Client, String>>,
    pub(super) callbacks: OnceLock<Result<reqwest::Client, String>>,
    pub(super) guard: Arc<CallbackGuard>,
    pub(super) report: AttemptReport,
    pub(super) tracker: TaskTracker,
    pub(super) stop: CancellationToken,
    pub(super) abandon: CancellationToken,
    /// When the shutdown deadline passes (set by `shutdown`).
    pub(super) deadline: OnceLock<Instant>,
    pub(super) slots: Semaphore,
    pub(super) abandoned: std::sync::atomic::AtomicUsize,
}

pub(super) enum Work {
    Job {
        targets: Vec<Arc<Target>>,
        message: Box<Message>,
    },
    Send {
        hook: String,
        target: Arc<Target>,
        notice: Box<Notice>,
    },
    Callback {
        hook: String,
        job_id: String,
        callback: Box<Callback>,
    },
}

/// What a delivery task sends.
pub(super) enum Outgoing {
    Target { target: Arc<Target>, notice: Notice },
    Callback(Callback),
}

impl Notifier {
    /// Starts the dispatcher on the current tokio runtime.
    pub fn start(settings: Settings, report: AttemptReport) -> Result<Notifier, StartError> {
        let mailer = settings
            .smtp
            .as_ref()
            .map(|s| Mailer::new(s, &settings.host))
            .transpose()?;
        let guard = Arc::new(
            CallbackGuard::new(&settings.callback_allow).map_err(StartError::CallbackAllowList)?,
        );
        let (queue, rx) = mpsc::channel(settings.queue.max(1));
        let inner = Arc::new(Inner {
            queue,
            slots: Semaphore::new(settings.concurrency.max(1)),
            settings,
            mailer,
            http: OnceLock::new(),
            callbacks: OnceLock::new(),
            guard,
            report,
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
            abandon: CancellationToken::new(),
            deadline: OnceLock::new(),
            abandoned: Default::default(),
        });
        inner.tracker.spawn(Dispatcher::new(inner.clone()).run(rx));
        Ok(Notifier { inner })
    }

    /// Notifies the targets of a finished job that want its status. Returns at once.
    pub fn job_finished(&self, targets: &[Arc<Target>], message: Message) {
        let targets = config::matching(targets, message.status);
        if targets.is_empty() {
            return;
        }
        let labels: Vec<(String, Option<String>)> = targets
            .iter()
            .map(|t| (t.label.clone(), Some(message.job_id.clone())))
            .collect();
        let hook = message.hook.clone();
        self.enqueue(
            Work::Job {
                targets,
                message: Box::new(message),
            },
            &hook,
            &labels,
        );
    }

    /// Sends one notice to one target (rate-limited like a job's). Returns at once.
    pub fn send(&self, hook: &str, target: Arc<Target>, notice: Notice) {
        let labels = [(target.label.clone(), notice.job_id().map(str::to_string))];
        self.enqueue(
            Work::Send {
                hook: hook.to_string(),
                target,
                notice: Box::new(notice),
            },
            hook,
            &labels,
        );
    }

    /// Calls a Docker Hub `callback_url` with the job's result, if the URL is allowed; a
    /// refused URL is logged and reported, and its reason returned. Returns at once.
    pub fn docker_hub_callback(
        &self,
        callback_url: &str,
        message: &Message,
        target_url: Option<String>,
    ) -> Result<(), String> {
        let url = match self.inner.guard.check(callback_url) {
            Ok(url) => url,
            Err(reason) => {
                tracing::warn!(hook = %message.hook, job_id = %message.job_id, %reason, "Docker Hub callback refused");
                self.inner.record(Attempt {
                    job_id: Some(message.job_id.clone()),
                    hook: message.hook.clone(),
                    target: "docker hub callback".to_string(),
                    attempt: 0,
                    at: rfc3339(SystemTime::now()),
                    outcome: AttemptOutcome::Refused {
                        reason: reason.clone(),
                    },
                    summary_of: Vec::new(),
                });
                return Err(reason);
            }
        };
        let callback = Callback::for_job(url, message, target_url);
        let labels = [(callback_label(&callback), Some(message.job_id.clone()))];
        self.enqueue(
            Work::Callback {
                hook: message.hook.clone(),
                job_id: message.job_id.clone(),
                callback: Box::new(callback),
            },
            &message.hook,
            &labels,
        );
        Ok(())
    }

    fn enqueue(&self, work: Work, hook: &str, labels: &[(String, Option<String>)]) {
        let reason = if self.inner.stop.is_cancelled() {
            "hookrun is shutting down"
        } else {
            match self.inner.queue.try_send(work) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => "the notification queue is full",
                Err(mpsc::error::TrySendError::Closed(_)) => "hookrun is shutting down",
            }
        };
        for (label, job_id) in labels {
            tracing::error!(hook, target = %label, reason, "notification dropped");
            self.inner.record(Attempt {
                job_id: job_id.clone(),
                hook: hook.to_string(),
                target: label.clone(),
                attempt: 0,
                at: rfc3339(SystemTime::now()),
                outcome: AttemptOutcome::Dropped {
                    reason: reason.to_string(),
                },
                summary_of: Vec::new(),
            });
        }
    }

    /// Stops taking notifications, sends what is held and queued, and waits up to `deadline`
    /// for deliveries to end; what is still sending then is given up and reported.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let _ = inner.deadline.set(Instant::now() + deadline);
        inner.stop.cancel();
        inner.tracker.close();
        if tokio::time::timeout(deadline, inner.tracker.wait())
            .await
            .is_err()
        {
            inner.abandon.cancel();
            // The tasks report their abandonment and end at once.
            let _ = tokio::time::timeout(Duration::from_secs(1), inner.tracker.wait()).await;
        }
        ShutdownReport {
            abandoned: inner.abandoned.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

pub(super) fn callback_label(c: &Callback) -> String {
    format!("docker hub callback {}", super::redact::url(&c.url))
}

/// The job's notice for `target`, with its subject and body templates rendered. A template
/// that fails to render falls back to the built-in text (and says so in the log).
pub fn notice_for(target: &Target, message: &Message) -> Notice {
    let mut notice = Notice::job(message.clone());
    if target.subject.is_none() && target.body.is_none() {
        return notice;
    }
    let data = message.data();
    let render = |t: &Option<Arc<dyn super::template::CompiledTemplate>>, what: &str| {
        t.as_ref().and_then(|t| match t.render(&data) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::warn!(hook = %message.hook, target = %target.label, error = %e, "notification {what} template failed; using the built-in text");
                None
            }
        })
    };
    notice.subject = render(&target.subject, "subject");
    notice.body = render(&target.body, "body");
    notice
}
