//! One notification's delivery task: each attempt rendered and sent with a send slot, retried
//! on the schedule (or a longer `Retry-After`) after a retryable error, every attempt reported;
//! the engine around it is `delivery`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::config::Channel;
use super::delivery::{Attempt, AttemptOutcome, Inner, Outgoing, SendError};
use super::dockerhub;
use super::message::{rfc3339, Notice, NoticeKind};
use super::webhook;

/// The longest a server's `Retry-After` may delay a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30 * 60);

impl Inner {
    pub(super) fn record(&self, attempt: Attempt) {
        (self.report)(&attempt);
    }

    async fn send_once(&self, out: &Outgoing, delivery: &str) -> Result<(), SendError> {
        match out {
            Outgoing::Callback(c) => {
                let client = self.callbacks.get_or_init(|| {
                    dockerhub::client(self.guard.clone(), self.settings.http_timeout)
                        .map_err(|e| format!("cannot set up HTTPS: {e}"))
                });
                dockerhub::send(ready(client)?, c).await
            }
            Outgoing::Target { target, notice } => match &target.channel {
                Channel::Email { to } => match &self.mailer {
                    Some(m) => m.send(to, notice).await,
                    None => Err(SendError::permanent("no mail server configured (-smtp)")),
                },
                Channel::Webhook(w) => {
                    let client = self.http.get_or_init(|| {
                        reqwest::Client::builder()
                            .redirect(reqwest::redirect::Policy::none())
                            .timeout(self.settings.http_timeout)
                            .user_agent(concat!("hookrun/", env!("CARGO_PKG_VERSION")))
                            .build()
                            .map_err(|e| format!("cannot set up HTTPS: {e}"))
                    });
                    webhook::send(ready(client)?, w, notice, delivery).await
                }
            },
        }
    }

    /// Sends `out` until it is delivered, fails for good or runs out of attempts.
    pub(super) async fn deliver(
        self: Arc<Self>,
        hook: String,
        job_id: Option<String>,
        label: String,
        out: Outgoing,
    ) {
        let delivery = delivery_id();
        let summary_of = match &out {
            Outgoing::Target {
                notice:
                    Notice {
                        kind: NoticeKind::Summary(summary),
                        ..
                    },
                ..
            } => summary.listed.iter().map(|j| j.job_id.clone()).collect(),
            _ => Vec::new(),
        };
        let attempts = u32::try_from(self.settings.retry_delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let record = |attempt: u32, outcome: AttemptOutcome| {
            self.record(Attempt {
                job_id: job_id.clone(),
                hook: hook.clone(),
                target: label.clone(),
                attempt,
                at: rfc3339(SystemTime::now()),
                outcome,
                summary_of: summary_of.clone(),
            });
        };
        let mut last_chance = false;
        for attempt in 1..=attempts {
            let result = tokio::select! {
                r = async {
                    let _slot = self.slots.acquire().await;
                    self.send_once(&out, &delivery).await
                } => r,
                () = self.abandon.cancelled() => {
                    self.abandoned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(hook, target = %label, attempt, "notification given up: shutdown deadline passed");
                    record(attempt, AttemptOutcome::GaveUp { error: "shutdown deadline passed".into() });
                    return;
                }
            };
            let error = match result {
                Ok(()) => {
                    tracing::info!(hook, job_id = job_id.as_deref().unwrap_or(""), target = %label, attempt, "notification delivered");
                    record(attempt, AttemptOutcome::Delivered);
                    return;
                }
                Err(e) => e,
            };
            if !error.retry || attempt == attempts || last_chance {
                tracing::error!(hook, job_id = job_id.as_deref().unwrap_or(""), target = %label, attempt, error = %error.message, "notification failed for good");
                record(
                    attempt,
                    AttemptOutcome::GaveUp {
                        error: error.message,
                    },
                );
                return;
            }
            let scheduled = self.settings.retry_delays[attempt as usize - 1];
            let wait = error
                .after
                .map_or(scheduled, |a| a.min(MAX_RETRY_AFTER).max(scheduled));
            tracing::warn!(hook, job_id = job_id.as_deref().unwrap_or(""), target = %label, attempt, error = %error.message, retry_in = %humantime::format_duration(wait), "notification failed; will retry");
            record(
                attempt,
                AttemptOutcome::Failed {
                    error: error.message,
                    retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                },
            );
            last_chance = self.wait_for_retry(Instant::now() + wait).await;
        }
    }

    /// Sleeps until `wake`. During a shutdown a retry that would come after the deadline is
    /// made at once instead, as the last one: returns true then.
    async fn wait_for_retry(&self, wake: Instant) -> bool {
        let too_late = || {
            self.deadline
                .get()
                .is_some_and(|deadline| wake >= *deadline)
        };
        if self.stop.is_cancelled() {
            if too_late() {
                return true;
            }
        } else {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => return false,
                () = self.stop.cancelled() => {
                    if too_late() {
                        return true;
                    }
                }
            }
        }
        tokio::time::sleep_until(wake).await;
        false
    }
}

/// A lazily built client, or why it could not be built (a permanent error: it will not heal).
fn ready(client: &Result<reqwest::Client, String>) -> Result<&reqwest::Client, SendError> {
    client.as_ref().map_err(|e| SendError::permanent(e.clone()))
}

/// 128 random bits, hex: identifies one notification across its retries.
fn delivery_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
