//! This replica's lease: renewed every fifth of it, with the hold on the jobs running here
//! (a job the queue no longer holds for this replica is stopped); and the fence: once the
//! lease has gone unrenewed for half of it, the running `serial`/`latest` jobs are stopped and
//! no new ones are taken until a renewal succeeds.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Cluster;
use crate::jobs::Job;
use crate::store::StoreError;

impl Cluster {
    /// Renews the lease every fifth of it, and the hold on the jobs running here.
    pub(super) async fn keep_lease(self: Arc<Self>) {
        let every = self.queue.lease() / 5;
        let mut failing = false;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let sent = Instant::now();
            let running: Vec<String> = self.local().running.keys().cloned().collect();
            let renewed = tokio::time::timeout(
                every.max(Duration::from_secs(1)),
                self.queue.heartbeat(&self.host, &running),
            )
            .await
            .unwrap_or_else(|_| Err(StoreError::Database("no answer in time".into())));
            match renewed {
                Ok(held) => {
                    self.stop_unheld(&running, &held);
                    *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = sent;
                    failing = false;
                    if self.fenced.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            "lease renewed: this replica runs serial and latest jobs again"
                        );
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "renewing this replica's lease failed; retrying");
                }
                Err(_) => {}
            }
        }
    }

    /// Stops the jobs running here that the shared queue no longer gives this replica (`held`
    /// lacks them, though they were `running` when the renewal was sent): another replica may
    /// run the hook's next job, so these must not go on.
    fn stop_unheld(&self, running: &[String], held: &[String]) {
        let lost: Vec<(Arc<Job>, CancellationToken)> = {
            let local = self.local();
            running
                .iter()
                .filter(|id| !held.contains(id))
                .filter_map(|id| local.running.get(id).cloned())
                .collect()
        };
        for (job, stop) in lost {
            tracing::error!(job_id = %job.id, hook = %job.hook, "the shared queue no longer gives this replica a job it runs; stopping it so that no other replica runs one at the same time");
            job.interrupt("interrupted: the shared queue no longer held it for this replica (another replica may take the hook over)");
            stop.cancel();
        }
    }

    /// Stops the running shared-queue jobs once the lease has gone unrenewed for half of it.
    pub(super) async fn watch_lease(self: Arc<Self>) {
        let limit = self.queue.lease() / 2;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let since = self
                .renewed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed();
            if since > limit && !self.fenced.swap(true, Ordering::Relaxed) {
                self.fence(since);
            }
        }
    }

    fn fence(&self, since: Duration) {
        let running: Vec<(Arc<Job>, CancellationToken)> =
            self.local().running.values().cloned().collect();
        tracing::error!(
            unrenewed = ?since,
            jobs = running.len(),
            "LEASE LOST: this replica could not renew its lease on the shared store; stopping its running serial/latest jobs so that no other replica runs one at the same time"
        );
        let why = format!(
            "interrupted: this replica could not renew its lease on the shared store for {}s (another replica may take the hook over)",
            since.as_secs()
        );
        for (job, stop) in running {
            job.interrupt(&why);
            stop.cancel();
        }
    }
}
