//! When file events have settled enough to reload: the watched folders have been quiet for
//! [`QUIET`] (at most [`QUIET_CAP`] after the first event or the last close of a file being
//! written, so a log file written next to the hooks cannot postpone a reload forever), and no
//! hooks file is still open for writing — one
//! that was modified and not yet closed (inotify's `IN_CLOSE_WRITE`) — for up to
//! [`WRITING_CAP`]. A slow `cat > hooks.json` or a program writing a file in chunks is then
//! read once, complete, instead of as whatever prefix was on disk when the events paused.
//! Rewrites that follow each other without a quiet moment are read, once the quiet cap has
//! passed, right after one of them closes the file (the watcher then drops a read that a
//! change overlapped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::Event;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// How long the folders must be quiet before a reload.
pub(super) const QUIET: Duration = Duration::from_millis(250);
/// The longest a stream of events postpones a reload.
pub(super) const QUIET_CAP: Duration = Duration::from_secs(1);
/// The longest a hooks file held open for writing postpones a reload.
pub(super) const WRITING_CAP: Duration = Duration::from_secs(10);

const EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

/// Follows events across reloads: which hooks files are being written.
pub(super) struct Settle {
    files: HooksFiles,
    /// Hooks files modified and not closed since.
    open: HashSet<PathBuf>,
    /// Changes to hooks files taken from the channel so far ([`HooksFiles::changed`]).
    changes: u64,
}

/// Which files are hooks files: by extension, or named as a `-hooks` value.
#[derive(Debug, Clone)]
pub(super) struct HooksFiles {
    /// File names of the `-hooks` values, which may have any extension.
    source_names: Vec<std::ffi::OsString>,
}

impl HooksFiles {
    pub(super) fn new(sources: &[String]) -> Self {
        let source_names = sources
            .iter()
            .filter_map(|s| Path::new(s).file_name().map(ToOwned::to_owned))
            .collect();
        HooksFiles { source_names }
    }

    fn matches(&self, path: &Path) -> bool {
        let by_extension = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
        by_extension
            || path
                .file_name()
                .is_some_and(|n| self.source_names.iter().any(|s| s == n))
    }

    /// Whether `ev` changes a hooks file (a write, a close after writing, a rename...): what a
    /// read of the files must not overlap. Other files in the folders (a log written beside
    /// the hooks) do not count.
    pub(super) fn changed(&self, ev: &Event) -> bool {
        is_change(&ev.kind) && ev.paths.iter().any(|p| self.matches(p))
    }
}

/// Whether an event is a change (not merely a read): what makes the watcher reload.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

impl Settle {
    pub(super) fn new(sources: Vec<String>) -> Self {
        Settle {
            files: HooksFiles::new(&sources),
            open: HashSet::new(),
            changes: 0,
        }
    }

    /// How many changes to hooks files were taken from the channel so far.
    pub(super) fn changes(&self) -> u64 {
        self.changes
    }

    /// Waits for a change, then until changes have settled. False once the watcher is gone.
    pub(super) async fn settled(&mut self, events: &mut UnboundedReceiver<Event>) -> bool {
        loop {
            match events.recv().await {
                None => return false,
                Some(ev) if self.note(&ev) => break,
                Some(_) => {}
            }
        }
        let first = Instant::now();
        // The quiet cap runs from the first event, or from when the last open file was closed.
        let mut quiet_from = first;
        let mut latest = first;
        // The last change closed the last hooks file being written: the files are complete.
        let mut just_closed = false;
        loop {
            let mut quiet_at = (latest + QUIET).min(quiet_from + QUIET_CAP);
            if just_closed && self.open.is_empty() {
                // Rewrites that follow each other closer than QUIET never leave the folders
                // quiet: past the cap, read at a moment the files are complete rather than
                // wait for WRITING_CAP and read whatever part of a rewrite is on disk then.
                quiet_at = quiet_at.min(first + QUIET_CAP);
            }
            let now = Instant::now();
            let wake = if now < quiet_at {
                quiet_at
            } else if !self.open.is_empty() && now < first + WRITING_CAP {
                first + WRITING_CAP
            } else {
                break;
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                ev = events.recv() => match ev {
                    None => return false,
                    Some(ev) => {
                        let was_open = !self.open.is_empty();
                        if self.note(&ev) {
                            latest = Instant::now();
                            just_closed = was_open && self.open.is_empty();
                            if just_closed {
                                quiet_from = latest;
                            }
                        }
                    }
                },
            }
        }
        if !self.open.is_empty() {
            let files: Vec<String> = self.open.iter().map(|p| p.display().to_string()).collect();
            tracing::warn!(files = %files.join(", "), "hooks files still open for writing after 10 s; reading them as they are");
            self.open.clear();
        }
        true
    }

    /// Records one event; true if it is a change (not merely a read).
    fn note(&mut self, ev: &Event) -> bool {
        if !is_change(&ev.kind) {
            return false;
        }
        if self.files.changed(ev) {
            self.changes += 1;
        }
        match ev.kind {
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
                let written: Vec<PathBuf> = ev
                    .paths
                    .iter()
                    .filter(|p| self.is_hooks_file(p))
                    .cloned()
                    .collect();
                self.open.extend(written);
                true
            }
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                for p in &ev.paths {
                    self.open.remove(p);
                }
                true
            }
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                // A file renamed or deleted is no longer being written under that name.
                for p in &ev.paths {
                    self.open.remove(p);
                }
                true
            }
            _ => true,
        }
    }

    fn is_hooks_file(&self, path: &Path) -> bool {
        self.files.matches(path)
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, RemoveKind};

    use super::*;

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    fn modify(path: &str) -> Event {
        ev(EventKind::Modify(ModifyKind::Data(DataChange::Any)), path)
    }

    fn close_write(path: &str) -> Event {
        ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            path,
        )
    }

    #[test]
    fn only_hooks_files_count_as_being_written_and_reads_are_no_change() {
        let mut s = Settle::new(vec!["/etc/webhook.conf".into(), "hooks/".into()]);
        assert!(s.note(&modify("/etc/webhook.conf")));
        assert!(s.note(&modify("/etc/hooks/a.YAML")));
        assert!(s.note(&modify("/etc/hooks/server.log")));
        assert_eq!(s.open.len(), 2);
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!s.note(&ev(read, "/etc/webhook.conf")));
        assert!(s.note(&close_write("/etc/webhook.conf")));
        assert!(s.note(&ev(
            EventKind::Remove(RemoveKind::File),
            "/etc/hooks/a.YAML"
        )));
        assert!(s.open.is_empty());
        assert!(s.note(&ev(EventKind::Create(CreateKind::File), "/etc/x.json")));
        assert!(s.open.is_empty(), "a created symlink is never closed");
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_quiet_and_for_open_files_within_their_caps() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = Settle::new(vec!["hooks.json".into()]);
        // Quiet: 250 ms after the last event.
        tx.send(ev(EventKind::Create(CreateKind::File), "x.txt"))
            .unwrap();
        let start = Instant::now();
        assert!(s.settled(&mut rx).await);
        assert_eq!(start.elapsed(), QUIET);
        // A file written and not closed: until it is closed.
        tx.send(modify("./hooks.json")).unwrap();
        let closer = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            closer.send(close_write("./hooks.json")).unwrap();
        });
        let start = Instant::now();
        assert!(s.settled(&mut rx).await);
        // Closed past the quiet cap: read at once, while it is complete.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // Closed within the cap: quiet after the close.
        tx.send(modify("./hooks.json")).unwrap();
        let closer = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            closer.send(close_write("./hooks.json")).unwrap();
        });
        let start = Instant::now();
        assert!(s.settled(&mut rx).await);
        assert_eq!(start.elapsed(), Duration::from_millis(500) + QUIET);
        // Never closed: read after the cap.
        tx.send(modify("./hooks.json")).unwrap();
        let start = Instant::now();
        assert!(s.settled(&mut rx).await);
        assert_eq!(start.elapsed(), WRITING_CAP);
        // A stream of unrelated events: at most the quiet cap.
        let noisy = tx.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                noisy.send(modify("server.log")).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let start = Instant::now();
        assert!(s.settled(&mut rx).await);
        assert!(start.elapsed() <= QUIET_CAP, "{:?}", start.elapsed());
        drop(tx);
    }
}
