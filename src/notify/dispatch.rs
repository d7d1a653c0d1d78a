//! The dispatcher: takes queued work in order, applies each (hook, target) pair's rate limit
//! and starts delivery tasks; what exceeds a limit is held and sent as one summary when the
//! window has room again (at once on shutdown). It owns the rate-limit state, so it needs no
//! lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::compose;
use super::config::Target;
use super::delivery::{callback_label, notice_for, Attempt, AttemptOutcome, Inner, Outgoing, Work};
use super::message::{rfc3339, Message, Notice, NoticeKind, Summary, SUMMARY_LISTED};

/// Rate-limit state of one (hook, target) pair.
#[derive(Default)]
struct Window {
    sent: VecDeque<Instant>,
    held: Option<Held>,
}

struct Held {
    target: Arc<Target>,
    summary: Summary,
    due: Instant,
}

pub(super) struct Dispatcher {
    inner: Arc<Inner>,
    windows: HashMap<(String, String), Window>,
}

impl Dispatcher {
    pub(super) fn new(inner: Arc<Inner>) -> Dispatcher {
        Dispatcher {
            inner,
            windows: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Work>) {
        loop {
            let due = self
                .windows
                .values()
                .filter_map(|w| w.held.as_ref().map(|h| h.due))
                .min();
            tokio::select! {
                work = rx.recv() => match work {
                    Some(work) => self.handle(work),
                    None => break,
                },
                () = sleep_until(due) => self.flush(false),
                () = self.inner.stop.cancelled() => break,
            }
        }
        // Shutting down: what was queued goes out now, and so do held summaries.
        rx.close();
        while let Ok(work) = rx.try_recv() {
            self.handle(work);
        }
        self.flush(true);
    }

    fn handle(&mut self, work: Work) {
        match work {
            Work::Job { targets, message } => {
                for target in targets {
                    let notice = notice_for(&target, &message);
                    self.admit(&message.hook, target, notice, Some(&message));
                }
            }
            Work::Send {
                hook,
                target,
                notice,
            } => self.admit(&hook, target, *notice, None),
            Work::Callback {
                hook,
                job_id,
                callback,
            } => {
                let label = callback_label(&callback);
                self.spawn(hook, Some(job_id), label, Outgoing::Callback(*callback));
            }
        }
    }

    /// Sends the notice now if the pair's window has room; holds it for a summary otherwise.
    fn admit(
        &mut self,
        hook: &str,
        target: Arc<Target>,
        notice: Notice,
        message: Option<&Message>,
    ) {
        let (limit, window) = (
            self.inner.settings.rate_limit.max(1) as usize,
            self.inner.settings.rate_window,
        );
        let now = Instant::now();
        let key = (hook.to_string(), target.label.clone());
        let w = self.windows.entry(key).or_default();
        while w
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            w.sent.pop_front();
        }
        if w.sent.len() < limit && w.held.is_none() {
            w.sent.push_back(now);
            let job_id = notice.job_id().map(str::to_string);
            let label = target.label.clone();
            self.spawn(
                hook.to_string(),
                job_id,
                label,
                Outgoing::Target { target, notice },
            );
            return;
        }
        let due = w.sent.front().map_or(now, |t| *t + window);
        let held = w.held.get_or_insert_with(|| Held {
            target: target.clone(),
            summary: Summary {
                hook: hook.to_string(),
                host: self.inner.settings.host.clone(),
                listed: Vec::new(),
                held: 0,
                limit_per_minute: self.inner.settings.rate_limit,
            },
            due,
        });
        held.summary.held += 1;
        if let Some(m) = message {
            if held.summary.listed.len() < SUMMARY_LISTED {
                held.summary
                    .listed
                    .push(compose::held_job(m, m.finished_at));
            }
        }
        tracing::info!(hook, target = %target.label, held = held.summary.held, "notification held by the rate limit; a summary follows");
        self.inner.record(Attempt {
            job_id: notice.job_id().map(str::to_string),
            hook: hook.to_string(),
            target: target.label.clone(),
            attempt: 0,
            at: rfc3339(SystemTime::now()),
            outcome: AttemptOutcome::Held,
            summary_of: Vec::new(),
        });
    }

    /// Sends the summaries that are due (all of them when `all`).
    fn flush(&mut self, all: bool) {
        let now = Instant::now();
        let mut ready = Vec::new();
        for ((hook, _), w) in &mut self.windows {
            if w.held.as_ref().is_some_and(|h| all || h.due <= now) {
                let held = w.held.take().expect("checked above");
                w.sent.push_back(now);
                ready.push((hook.clone(), held));
            }
        }
        for (hook, held) in ready {
            let notice = Notice {
                kind: NoticeKind::Summary(held.summary),
                subject: None,
                body: None,
            };
            let label = held.target.label.clone();
            self.spawn(
                hook,
                None,
                label,
                Outgoing::Target {
                    target: held.target,
                    notice,
                },
            );
        }
    }

    fn spawn(&self, hook: String, job_id: Option<String>, label: String, out: Outgoing) {
        let inner = self.inner.clone();
        self.inner
            .tracker
            .spawn(inner.deliver(hook, job_id, label, out));
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
