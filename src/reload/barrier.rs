//! A marker in the watcher's own event stream, to know when every file event that happened
//! before a moment has reached the watcher.
//!
//! inotify queues an event when the change happens, but the watcher's thread hands it over
//! some time later: on a loaded machine, later than any fixed wait. A read of the hooks files
//! could then take a rewrite's first part for the whole file, because the event saying the
//! file is being written had not arrived when the read ended. The watcher has one inotify
//! queue, in order: after the read, the barrier changes a file of its own that the same
//! watcher watches, and waits for that change's event. Every event queued before it, such as
//! the rewrite's, has then been handed over.
//!
//! The barrier's file is an anonymous memory file (`memfd`) watched through `/proc/self/fd`:
//! nothing is written on disk, nothing is left behind, and a read-only root file system does
//! not matter. Where it cannot be made (no `/proc`), the watcher waits a fixed time instead.

use std::fs::{File, FileTimes};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use notify::event::{EventKind, ModifyKind};
use notify::{Event, RecursiveMode, Watcher};

/// The longest a barrier waits for its event: the watcher's thread is stalled, not just late.
const PATIENCE: Duration = Duration::from_secs(5);

/// What the watcher's thread and the reader share: the barrier file's path and the count of
/// changes made to it and seen.
pub(super) struct Marks {
    path: PathBuf,
    counts: Mutex<Counts>,
    seen_more: Condvar,
}

#[derive(Default)]
struct Counts {
    /// Changes made to the barrier file.
    made: u64,
    /// Their events handed to the watcher; never more than `made`.
    seen: u64,
}

/// The reader's side: makes the changes and waits for their events.
pub(super) struct Barrier {
    file: File,
    marks: Arc<Marks>,
}

impl Barrier {
    /// A barrier file, not watched yet ([`Barrier::watch`]); `None` where none can be made.
    pub(super) fn new() -> Option<Barrier> {
        let fd =
            rustix::fs::memfd_create("hookrun-reload-barrier", rustix::fs::MemfdFlags::CLOEXEC)
                .map_err(|e| tracing::debug!(error = %e, "no reload barrier file"))
                .ok()?;
        let file = File::from(fd);
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let marks = Arc::new(Marks {
            path,
            counts: Mutex::new(Counts::default()),
            seen_more: Condvar::new(),
        });
        Some(Barrier { file, marks })
    }

    /// What the watcher's event handler passes every event to ([`Marks::note`]).
    pub(super) fn marks(&self) -> Arc<Marks> {
        self.marks.clone()
    }

    /// Adds the barrier file to `watcher`'s watches; false (and the barrier must not be used)
    /// if it cannot be watched.
    pub(super) fn watch(&self, watcher: &mut impl Watcher) -> bool {
        match watcher.watch(&self.marks.path, RecursiveMode::NonRecursive) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch the reload barrier file");
                false
            }
        }
    }

    /// Changes the barrier file and waits until the watcher has seen that change: every event
    /// queued before this call has then been handed over. False if that took longer than
    /// [`PATIENCE`].
    pub(super) fn pass(&self) -> bool {
        let target = {
            let mut counts = self.marks.lock();
            let next = counts.made + 1;
            // inotify merges an event into the one queued just before it when both are the
            // same: alternate a change of size (`IN_MODIFY`) and of both times (`IN_ATTRIB`)
            // so that every change is one event, and the counts stay exact even after a wait
            // that gave up. Both are changes of the inode: the kernel reports no writes
            // through a memfd's file.
            let made = if next.is_multiple_of(2) {
                self.file.set_len(next / 2 % 2)
            } else {
                let now = SystemTime::now();
                self.file
                    .set_times(FileTimes::new().set_accessed(now).set_modified(now))
            };
            if let Err(e) = made {
                tracing::debug!(error = %e, "cannot change the reload barrier file");
                return false;
            }
            counts.made = next;
            next
        };
        let counts = self.marks.lock();
        let (counts, _) = self
            .marks
            .seen_more
            .wait_timeout_while(counts, PATIENCE, |c| c.seen < target)
            .unwrap_or_else(|e| e.into_inner());
        counts.seen >= target
    }
}

impl Marks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `ev` if it is a change of the barrier file; true if it concerns the barrier
    /// file (the reloader ignores it otherwise).
    pub(super) fn note(&self, ev: &Event) -> bool {
        if ev.need_rescan() {
            // The queue overflowed and events were dropped, maybe the barrier's: every change
            // made so far counts as seen, so that waits do not stall on lost events.
            let mut counts = self.lock();
            counts.seen = counts.made;
            self.seen_more.notify_all();
            return false;
        }
        if !ev.paths.iter().any(|p| self.is(p)) {
            return false;
        }
        if matches!(
            ev.kind,
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_) | ModifyKind::Any)
        ) {
            let mut counts = self.lock();
            counts.seen = (counts.seen + 1).min(counts.made);
            self.seen_more.notify_all();
        }
        true
    }

    fn is(&self, path: &Path) -> bool {
        path == self.path
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt as _;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn every_event_queued_before_a_pass_has_been_handed_over_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = Barrier::new().expect("a memfd barrier file");
        let marks = barrier.marks();
        let handed = Arc::new(AtomicU64::new(0));
        let counter = handed.clone();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<Event>| {
            let Ok(ev) = ev else { return };
            if marks.note(&ev) {
                return;
            }
            if matches!(ev.kind, EventKind::Modify(ModifyKind::Data(_))) {
                // A slow handler: each event takes a while to be handed over.
                std::thread::sleep(Duration::from_millis(2));
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        watcher
            .watch(dir.path(), RecursiveMode::NonRecursive)
            .unwrap();
        assert!(barrier.watch(&mut watcher));
        let mut written = 0;
        for round in 0..200u64 {
            // Distinct files, so inotify cannot merge their events into one.
            for i in 0..(round % 5 + 1) {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join(format!("f{round}-{i}")))
                    .unwrap()
                    .write_at(b"x", 0)
                    .unwrap();
                written += 1;
            }
            assert!(
                barrier.pass(),
                "round {round}: the barrier's event never came"
            );
            assert_eq!(handed.load(Ordering::SeqCst), written, "round {round}");
        }
    }
}
