//! Leaving the replicas at shutdown: the waiting jobs no client waits for are handed over to
//! the others at once, those still here at the end are canceled and withdrawn, and the lease
//! is dropped.

use std::sync::Arc;

use super::{bounded, Cluster};
use crate::jobs::{Job, JobManager, JobState};

impl Cluster {
    /// Whether jobs received here still wait (or are being queued).
    pub(in crate::jobs) fn has_waiting(&self) -> bool {
        let local = self.local();
        !local.waiting.is_empty() || !local.registering.is_empty()
    }

    /// At shutdown: the waiting jobs no client waits for go to the other replicas now.
    pub(in crate::jobs) async fn hand_over(&self, m: &JobManager) {
        let ids: Vec<String> = self
            .local()
            .waiting
            .iter()
            .filter(|(_, (_, client_waits))| !client_waits)
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        match bounded(self.queue.hand_over(&ids)).await {
            Ok(handed) => {
                for id in &handed {
                    if self.local().waiting.remove(id).is_some() {
                        m.forget(id);
                    }
                }
                tracing::info!(
                    jobs = handed.len(),
                    "waiting jobs handed over to the other replicas"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = ids.len(), "could not hand waiting jobs over; the other replicas take them when this replica's lease expires")
            }
        }
    }

    /// At the end of shutdown: waiting jobs still here are canceled.
    pub(in crate::jobs) async fn withdraw_waiting(&self, m: &JobManager) {
        let waiting: Vec<Arc<Job>> = self
            .local()
            .waiting
            .drain()
            .map(|(_, (job, _))| job)
            .collect();
        for job in waiting {
            if let Err(e) = bounded(self.queue.withdraw(&job.id)).await {
                tracing::warn!(job_id = %job.id, error = %e, "could not take a canceled job out of the shared queue");
            }
            job.end_unstarted(JobState::Canceled);
            m.record(&job, None);
            m.retire_ended(&job);
        }
    }

    /// Leaves the replicas: stops following the queue, drops the lease.
    pub(in crate::jobs) async fn leave(&self) {
        self.stop.cancel();
        if let Err(e) = bounded(self.queue.retire()).await {
            tracing::warn!(error = %e, "could not leave the shared queue; the lease expires by itself");
        }
    }
}
