//! The store's health for logs, metrics and `GET /admin/store`: whether writes fail (the
//! store is then degraded to memory), and counters of failures and dropped writes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::StoreError;

/// The store's state for logs, metrics and the admin API. Counters only grow.
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// `memory`, `sqlite` or `postgres`.
    pub(super) backend: &'static str,
    degraded: AtomicBool,
    write_failures: AtomicU64,
    pub(super) dropped_writes: AtomicU64,
    pub(super) pending_writes: AtomicU64,
    pub(super) disk_bytes: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A snapshot of [`StoreHealth`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Writes to the database are failing: history is being kept in memory only.
    pub degraded: bool,
    pub write_failures: u64,
    /// Writes given up while degraded (the backlog is bounded).
    pub dropped_writes: u64,
    pub pending_writes: u64,
    pub disk_bytes: u64,
    pub last_error: Option<String>,
}

impl StoreHealth {
    /// The health of a store with a database of `backend`.
    pub(super) fn durable(backend: &'static str) -> StoreHealth {
        StoreHealth {
            backend,
            ..StoreHealth::default()
        }
    }

    pub fn report(&self) -> HealthReport {
        HealthReport {
            backend: if self.backend.is_empty() {
                "memory"
            } else {
                self.backend
            },
            degraded: self.degraded.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
            dropped_writes: self.dropped_writes.load(Ordering::Relaxed),
            pending_writes: self.pending_writes.load(Ordering::Relaxed),
            disk_bytes: self.disk_bytes.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// 1 while writes fail (a gauge), for `/metrics`.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Failed commits so far (a counter), for `/metrics`.
    pub fn write_failures(&self) -> u64 {
        self.write_failures.load(Ordering::Relaxed)
    }

    /// Writes dropped from a full backlog (a counter), for `/metrics`.
    pub fn dropped_writes(&self) -> u64 {
        self.dropped_writes.load(Ordering::Relaxed)
    }

    pub(super) fn failed(&self, error: &StoreError) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %error, "STATE STORE WRITE FAILED: job history is kept in memory only until the store recovers; requests are still served");
        }
    }

    pub(super) fn recovered(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::warn!("state store recovered: job history is written to the database again");
        }
    }
}
