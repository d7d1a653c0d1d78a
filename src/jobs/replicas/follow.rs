//! Following the shared queue: a replica told (`LISTEN`) that a hook's queue moved claims its
//! next job, and once a second it also settles claims whose answer was lost, reaps replicas
//! whose lease expired, claims every hook it may run, and brings its waiting jobs in line
//! with the queue.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::{bounded, Cluster, Unsettled};
use crate::jobs::{JobManager, JobState};
use crate::store::{ClaimTicket, Notice, QueueState};

/// How often each replica looks at the shared queue unprompted (notifications missed while
/// the listener reconnected, leases that expired).
const SYNC_EVERY: Duration = Duration::from_secs(1);

impl Cluster {
    /// Follows the queue: notifications, and a look at every queue each second.
    pub(super) async fn follow(
        self: Arc<Self>,
        manager: Weak<JobManager>,
        mut notices: Option<UnboundedReceiver<Notice>>,
    ) {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut hooks = Vec::new();
            let mut all = false;
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => all = true,
                notice = recv(&mut notices) => match notice {
                    Some(notice) => {
                        let mut next = Some(notice);
                        // Many notifications arrive in bursts: look at each hook once.
                        while let Some(n) = next {
                            match n {
                                Notice::Queue(hook) if !hooks.contains(&hook) => hooks.push(hook),
                                Notice::Queue(_) => {}
                                Notice::Resync => all = true,
                            }
                            next = notices.as_mut().and_then(|rx| rx.try_recv().ok());
                        }
                    }
                    None => notices = None,
                },
            }
            let Some(m) = manager.upgrade() else { return };
            if all {
                self.sync_all(&m).await;
            } else {
                for hook in &hooks {
                    self.sync_hook(&m, hook).await;
                }
                self.reconcile(&m).await;
            }
        }
    }

    /// Takes the hook's next job if it is this replica's to run.
    async fn sync_hook(self: &Arc<Self>, m: &Arc<JobManager>, hook: &str) {
        if self.fenced.load(Ordering::Relaxed) {
            return;
        }
        self.claim(m, hook.to_string(), ClaimTicket::new(), Instant::now())
            .await;
    }

    /// Claims `hook` with `ticket`; a claim that fails is asked about again (see
    /// [`Unsettled`]): it may have been made, and then only this replica can run its job.
    async fn claim(
        self: &Arc<Self>,
        m: &Arc<JobManager>,
        hook: String,
        ticket: ClaimTicket,
        since: Instant,
    ) {
        match bounded(self.queue.claim(&hook, !m.is_closed(), &ticket)).await {
            Ok(Some(claim)) => self.take_claim(m, claim),
            Ok(None) => {}
            Err(e) if since.elapsed() < self.queue.lease() => {
                tracing::debug!(hook, error = %e, "claiming in the shared queue failed; asking again");
                self.local().unsettled.push(Unsettled {
                    hook,
                    ticket: ticket.again(),
                    since,
                });
            }
            Err(e) => {
                tracing::warn!(hook, error = %e, "a claim in the shared queue stayed unanswered for a lease; if it was made, the queue frees the hook by itself");
            }
        }
    }

    /// Reaps dead replicas and holds nobody runs, settles claims whose answer was lost, takes
    /// every job this replica may run now, reconciles its waiting jobs.
    async fn sync_all(self: &Arc<Self>, m: &Arc<JobManager>) {
        if self.fenced.load(Ordering::Relaxed) {
            return;
        }
        let unsettled = std::mem::take(&mut self.local().unsettled);
        for u in unsettled {
            self.claim(m, u.hook, u.ticket, u.since).await;
        }
        if let Err(e) = bounded(self.queue.reap()).await {
            tracing::debug!(error = %e, "reaping expired leases failed");
        }
        match bounded(self.queue.claimable_hooks()).await {
            Ok(hooks) => {
                for hook in hooks {
                    self.sync_hook(m, &hook).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "looking at the shared queue failed"),
        }
        self.reconcile(m).await;
    }

    /// Brings this replica's waiting jobs in line with the shared queue: superseded or
    /// interrupted elsewhere, taken over by another replica (this one was taken for dead), or
    /// claimed by this replica without it knowing (an answer lost with a connection).
    async fn reconcile(self: &Arc<Self>, m: &Arc<JobManager>) {
        let ids: Vec<String> = self.local().waiting.keys().cloned().collect();
        if ids.is_empty() {
            return;
        }
        let states = match bounded(self.queue.states(&ids)).await {
            Ok(states) => states,
            Err(e) => return tracing::debug!(error = %e, "reconciling waiting jobs failed"),
        };
        for (id, state) in states {
            match &state {
                QueueState::Waiting => continue,
                QueueState::Running { runner } if runner == self.replica() => {
                    self.run_received(m, &id);
                    continue;
                }
                _ => {}
            }
            let Some((job, _)) = self.local().waiting.remove(&id) else {
                continue;
            };
            match state {
                QueueState::Waiting => {}
                QueueState::Running { runner } if runner == self.replica() => {}
                QueueState::Running { runner } => {
                    tracing::warn!(job_id = %id, runner = %runner, "a waiting job was taken over by another replica (this one was taken for dead)");
                    m.forget(&id);
                }
                QueueState::Ended(
                    state @ (JobState::Superseded | JobState::Interrupted | JobState::Canceled),
                ) => {
                    let why = match state {
                        JobState::Superseded => {
                            "superseded by a newer request (on another replica)"
                        }
                        _ => "ended by another replica while this one was taken for dead",
                    };
                    job.end_unstarted_because(state, Some(why.to_string()));
                    tracing::info!(job_id = %id, state = state.as_str(), "waiting job ended in the shared queue");
                    m.retire_ended(&job);
                }
                QueueState::Ended(_) => {
                    // It ran elsewhere: the store has its record.
                    m.forget(&id);
                }
            }
        }
    }
}

async fn recv(notices: &mut Option<UnboundedReceiver<Notice>>) -> Option<Notice> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
