//! The watcher: the folders it watches (those of the sources and of the files the served set's
//! templates read), and the loop that reloads once their changes settle, dropping a read that a
//! change overlapped (see the theory of operation in `reload`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};

use super::{barrier, debounce, Outcome, Reloader};

/// How long after a read of the hooks files the watcher waits for file events that may have
/// happened before it, before serving what it read, where it has no [`barrier`].
const EVENT_LAG: std::time::Duration = std::time::Duration::from_millis(100);
impl Reloader {
    /// Folders to watch for the configured sources and for the files the served set's
    /// templates read (a Secret mounted as a folder changes by a `..data` swap in it).
    fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for read in &self.hooks.snapshot().files_read {
            if let Some(dir) = read.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_path_buf());
                }
            }
        }
        for s in &self.sources {
            let p = Path::new(s);
            let dir = if p.is_dir() {
                p.to_path_buf()
            } else if s.contains(['*', '?', '[']) {
                glob_root(s)
            } else {
                match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Watches the sources' folders until `stop` completes, reloading after changes settle.
    pub async fn watch(self: Arc<Self>, stop: impl Future<Output = ()>) -> notify::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Changes to hooks files, counted as the watcher sees them: one that arrives while the
        // files are read (or before its event is taken from the channel) makes the read stale,
        // however late the reload ran.
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        let files = debounce::HooksFiles::new(&self.sources);
        let mut barrier = barrier::Barrier::new();
        let marks = barrier.as_ref().map(barrier::Barrier::marks);
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                if marks.as_ref().is_some_and(|m| m.note(&ev)) {
                    return;
                }
                if files.changed(&ev) {
                    counter.fetch_add(1, AtomicOrdering::SeqCst);
                }
                let _ = tx.send(ev);
            }
        })?;
        let mut watched: Vec<PathBuf> = Vec::new();
        self.watch_new_dirs(&mut watcher, &mut watched)?;
        if barrier.as_ref().is_some_and(|b| !b.watch(&mut watcher)) {
            barrier = None;
        }
        let barrier = barrier.map(Arc::new);
        let mut settle = debounce::Settle::new(self.sources.clone());
        tokio::pin!(stop);
        // A change made after the served set was read and before the folders were watched (a
        // file rewritten while the server started) has no event: look once, as if one had
        // settled.
        let mut look_now = true;
        loop {
            let first_look = look_now;
            if !std::mem::take(&mut look_now) {
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    going = settle.settled(&mut rx) => if !going { return Ok(()) },
                }
            }
            let settled = settle.changes();
            if seen.load(AtomicOrdering::SeqCst) != settled {
                // More changes are queued: a write began after the files went quiet.
                continue;
            }
            let (this, seen, barrier) = (self.clone(), seen.clone(), barrier.clone());
            // inotify hands an event to the watcher's thread some time after the change: a
            // rewrite that began just before the read may not be counted yet when the read
            // ends. Passing the barrier waits until every such event has arrived; without
            // one, waiting EVENT_LAG lets most of them arrive.
            let superseded = move |refused: bool| {
                // The kernel queues a change's event once the change is done: a rewrite
                // caught between its truncation and its event (a writer preempted there on a
                // loaded machine) reads as an empty file whose event comes after the barrier.
                // A refusal is rare and logged as an error: give such a change time to show
                // first.
                if refused {
                    std::thread::sleep(debounce::QUIET);
                }
                if !barrier.as_ref().is_some_and(|b| b.pass()) {
                    std::thread::sleep(EVENT_LAG);
                }
                seen.load(AtomicOrdering::SeqCst) != settled
            };
            let reload = move || {
                let outcome = this.reload_unless_superseded(false, superseded);
                // Setting the watch up (notify's thread, the barrier) and this first look ran
                // after start-up released its pages, or while it did: release them too.
                if first_look && outcome == Outcome::Unchanged {
                    this.release_memory();
                }
            };
            let _ = tokio::task::spawn_blocking(reload).await;
            // A reloaded set may read files in folders not watched yet.
            if let Err(e) = self.watch_new_dirs(&mut watcher, &mut watched) {
                tracing::warn!(error = %e, "cannot watch a folder of files the hooks read");
            }
        }
    }

    /// Watches the folders of [`Reloader::watch_dirs`] not in `watched` yet.
    fn watch_new_dirs(
        &self,
        watcher: &mut notify::RecommendedWatcher,
        watched: &mut Vec<PathBuf>,
    ) -> notify::Result<()> {
        for dir in self.watch_dirs() {
            if watched.contains(&dir) {
                continue;
            }
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            tracing::info!(dir = %dir.display(), "watching for hooks file changes");
            watched.push(dir);
        }
        Ok(())
    }
}

/// The longest leading part of a glob without wildcards.
fn glob_root(pattern: &str) -> PathBuf {
    let mut root = PathBuf::new();
    for comp in Path::new(pattern).components() {
        if comp.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        root.push(comp);
    }
    if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    }
}
