//! The writer thread: owns the database's write connection, commits queued writes in bounded
//! transactions, keeps a backlog while commits fail (retrying with backoff), acknowledges
//! flushes, and runs retention between batches.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use super::db::{Db, Target};
use super::{now_ms, Msg, StoreError, StoreHealth, StoreSettings, Write};

/// Writes queued while degraded, at most; older ones are dropped first.
const MAX_BACKLOG: usize = 50_000;

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) target: Target,
    pub(super) settings: StoreSettings,
    pub(super) health: Arc<StoreHealth>,
    pub(super) db: Option<Db>,
    pub(super) backlog: VecDeque<Write>,
}

impl Writer {
    pub(super) fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut retry_at = Instant::now();
        let mut backoff = Duration::from_millis(500);
        let mut last_retention = Instant::now();
        let mut written_since_retention = 0usize;
        loop {
            let wait = if self.backlog.is_empty() {
                Duration::from_secs(30)
            } else {
                retry_at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(50))
            };
            let first = match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut acks = Vec::new();
            let mut closing = None;
            for msg in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match msg {
                    Msg::Write(w) => {
                        self.health.pending_writes.fetch_sub(1, Ordering::Relaxed);
                        self.backlog.push_back(*w);
                    }
                    Msg::Flush(ack) => acks.push(ack),
                    Msg::Close(ack) => closing = Some(ack),
                }
                if self.backlog.len() >= 2000 {
                    break;
                }
            }
            if !self.backlog.is_empty() && (Instant::now() >= retry_at || closing.is_some()) {
                match self.commit(&mut written_since_retention) {
                    Ok(()) => {
                        self.health.recovered();
                        backoff = Duration::from_millis(500);
                    }
                    Err(e) => {
                        if self.db.as_ref().is_some_and(Db::is_broken) {
                            self.db = None;
                        }
                        self.health.failed(&e);
                        tracing::warn!(error = %e, pending = self.backlog.len(), retry_in = %humantime::format_duration(backoff), "state store write failed");
                        retry_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
            self.bound_backlog();
            for ack in acks {
                let _ = ack.send(());
            }
            if self.db.is_some() && last_retention.elapsed() > Duration::from_secs(60) {
                self.retain();
                last_retention = Instant::now();
                written_since_retention = 0;
            }
            if let Some(ack) = closing {
                let _ = ack.send(());
                break;
            }
        }
    }

    /// Commits the backlog (opening the database first if it could not be opened before), in
    /// transactions of at most a sixteenth of the size limit, with retention in between when
    /// a tenth of the limit has been written: a big backlog cannot swell the file or its log
    /// past the limit.
    fn commit(&mut self, written_since_retention: &mut usize) -> Result<(), StoreError> {
        if self.db.is_none() {
            let mut db = self.target.open(self.settings.max_bytes)?;
            let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            for view in db.interrupt_unfinished(&now)? {
                tracing::warn!(job_id = %view.id, hook = %view.hook, request_id = %view.request_id, "job was interrupted by a restart of hookrun");
            }
            self.db = Some(db);
        }
        let chunk_bytes = usize::try_from(self.settings.max_bytes / 16).unwrap_or(usize::MAX);
        while !self.backlog.is_empty() {
            let mut bytes = 0;
            let n = self
                .backlog
                .iter()
                .take_while(|w| {
                    let first = bytes == 0;
                    bytes += weight(w);
                    first || bytes <= chunk_bytes
                })
                .count();
            let chunk: Vec<Write> = self.backlog.iter().take(n).cloned().collect();
            let db = self.db.as_mut().expect("opened above");
            db.apply(&chunk)?;
            self.backlog.drain(..n);
            *written_since_retention += chunk.iter().map(weight).sum::<usize>();
            if *written_since_retention as u64 > self.settings.max_bytes / 10 {
                self.retain();
                *written_since_retention = 0;
            }
        }
        if let Some(db) = &self.db {
            self.health
                .disk_bytes
                .store(db.disk_bytes(), Ordering::Relaxed);
        }
        Ok(())
    }

    fn bound_backlog(&mut self) {
        while self.backlog.len() > MAX_BACKLOG {
            self.backlog.pop_front();
            self.health.dropped_writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn retain(&mut self) {
        let Some(db) = self.db.as_mut() else { return };
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        // Prune to 60%: until the next pruning the file grows by a tenth plus one chunk (a
        // sixteenth) and the WAL holds up to an eighth, and SQLite's pages are not filled to
        // the byte, so 70% left no margin (a 4 MiB store measured 0.5% over its limit).
        let target = self.settings.max_bytes / 10 * 6;
        match db.retain(
            now_ms(),
            ms(self.settings.max_age),
            target,
            ms(self.settings.delivery_window),
        ) {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention deleted old jobs"),
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
        self.health
            .disk_bytes
            .store(db.disk_bytes(), Ordering::Relaxed);
    }
}

fn weight(w: &Write) -> usize {
    match w {
        Write::Job(job, _) => job.weight(),
        _ => 256,
    }
}
