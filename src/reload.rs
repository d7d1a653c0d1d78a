//! Reloading hooks: on `-hotreload` file events and on SIGUSR1/SIGHUP.
//!
//! # Theory of operation
//! A reload loads and validates every hooks file into a complete new `HookSet` and swaps it into
//! the server's `LiveHooks` with one atomic pointer store (reload knows nothing else of the
//! server); a request holds the snapshot it started with. If anything is wrong the old set
//! stays and every problem is logged at `error`, the level shown by default (with `-lenient`,
//! hooks with errors are served as the reference serves them, but a file that cannot be read
//! still keeps the old set).
//!
//! A reload is never less strict than start-up, which refuses a file set without hooks. An
//! empty, whitespace-only, `null`, `[]` or `---` file is valid YAML with no hooks, and it is what
//! every non-atomic rewrite (`>`, `cp`, most editors' "write in place") leaves for a moment. So
//! a set in which a file that had hooks has none, or that has no hooks at all where the served
//! one had some, is refused like a broken file. Removing a file from a folder or a glob's
//! matches still removes its hooks, as long as others remain.
//!
//! The watcher watches the *folders* that hold the hooks files, not the files: editors replace
//! files by rename, and a Kubernetes ConfigMap update swaps the `..data` symlink, neither of
//! which a watch on the file sees. Events are debounced ([`debounce`]): a reload waits until
//! the folders have been quiet for a moment and no hooks file is still open for writing, so a
//! rewrite in progress is read once it is complete. A read that a change overlapped is dropped
//! and made again once events settle; the watcher knows that every event from before the end
//! of a read has arrived by passing a [`barrier`] in its own event stream. The kernel queues a
//! change's event only once the change is done, so a writer preempted between truncating a file
//! and that event could still pass unseen: a read the watcher would refuse waits for another
//! quiet moment before the barrier, and is dropped if a change shows meanwhile. A reload whose
//! files did not change since the last decision is skipped quietly; the comparison uses the
//! exact bytes each load read.
//! Once the folders are watched, the files are compared once with what the served set was read
//! from: a rewrite made while the server started, before any watch existed, is not missed.
//!
//! Files that `-template` renders read (`cat`, `credential`: mounted Secrets) count as hooks
//! files for that comparison, and their folders are watched too, so a rotated secret reaches
//! the hooks without a signal. Their contents are hashed before the load that reads them: a
//! secret rotated during a load makes the next event reload once more, never skips it.
//!
//! A reload that read the files (applied, refused or superseded) ran the reader, validation and
//! template compilation, whose code start-up had let go of (`clean_pages`), and freed what it
//! parsed: once it is done, still on its blocking thread and before the next reload may start,
//! it gives the free heap back and releases the file pages again, with the page map that
//! start-up opened before dropping privileges. So does the watcher's first look, which comes
//! with setting the watch up.

mod barrier;
mod debounce;

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};

use crate::clean_pages::PageMap;
use crate::config::{self, template::SystemEnv, HookSet, LiveHooks, LoadOptions};
use crate::metrics::Metrics;

/// How long after a read of the hooks files the watcher waits for file events that may have
/// happened before it, before serving what it read, where it has no [`barrier`].
const EVENT_LAG: std::time::Duration = std::time::Duration::from_millis(100);

/// What reloads need to know: where the hooks come from, how to read them, and the live set
/// to swap.
pub struct Reloader {
    pub sources: Vec<String>,
    pub options: LoadOptions,
    pub hooks: Arc<LiveHooks>,
    /// The fingerprint of the files as last loaded (applied or refused), with the files the
    /// served set's templates read ([`Reloader::now`]).
    last: Mutex<u64>,
    /// Held for a whole reload: a signal and a file event must not race and store an older set.
    running: Mutex<()>,
    /// Counts reloads that swapped a set in and reloads that were rejected.
    metrics: Arc<Metrics>,
    /// Where a reload's file pages are released from once it is done (the server's; none in
    /// tests that only reload).
    page_map: Option<Arc<PageMap>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reloaded {
        hooks: usize,
    },
    Unchanged,
    /// The files changed while they were read: nothing decided, they are read again.
    Superseded,
    /// The old hooks stay: `errors` problems in the files or reasons the set was refused.
    Rejected {
        errors: usize,
    },
}

/// Why a valid set is not served: it would lose hooks the way a half-written file does.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// `file` was read and defines no hook, where the served set has `had` from it.
    Emptied { file: PathBuf, had: usize },
    /// The set has no hooks at all, where the served one has `had`.
    NoHooks { had: usize },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Emptied { file, had } => write!(
                f,
                "{}: defines no hooks where it defined {had}: an empty or partly written file is \
                 not loaded (to remove its hooks, delete the file or restart)",
                file.display()
            ),
            Refusal::NoHooks { had } => write!(
                f,
                "no hooks left where {had} were served: a reload never leaves the server without \
                 hooks (restart to serve none)"
            ),
        }
    }
}

impl Reloader {
    pub fn new(sources: Vec<String>, options: LoadOptions, hooks: Arc<LiveHooks>) -> Arc<Self> {
        Reloader::with_metrics(sources, options, hooks, Arc::new(Metrics::new()), None)
    }

    /// A reloader that counts its reloads in `metrics` (the server's) and, with a `page_map`,
    /// releases the file pages each reload mapped back.
    pub fn with_metrics(
        sources: Vec<String>,
        options: LoadOptions,
        hooks: Arc<LiveHooks>,
        metrics: Arc<Metrics>,
        page_map: Option<Arc<PageMap>>,
    ) -> Arc<Self> {
        let served = hooks.snapshot();
        let last = combine(
            served.fingerprint,
            config::files_fingerprint(&served.files_read),
        );
        Arc::new(Reloader {
            sources,
            options,
            hooks,
            last: Mutex::new(last),
            running: Mutex::new(()),
            metrics,
            page_map,
        })
    }

    fn last(&self) -> std::sync::MutexGuard<'_, u64> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads everything anew and swaps it in if valid. `force` reloads even if unchanged.
    pub fn reload(&self, force: bool) -> Outcome {
        self.reload_unless_superseded(force, |_| false)
    }

    /// [`Reloader::reload`], dropping what was read if `superseded` says the files changed
    /// while they were read (the watcher then settles and reloads again); `superseded` is told
    /// whether what was read would be refused.
    fn reload_unless_superseded(&self, force: bool, superseded: impl Fn(bool) -> bool) -> Outcome {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.load_and_decide(force, superseded);
        match outcome {
            Outcome::Reloaded { .. } => self.metrics.reload(true),
            Outcome::Rejected { .. } => self.metrics.reload(false),
            Outcome::Unchanged | Outcome::Superseded => {}
        }
        if outcome != Outcome::Unchanged {
            self.release_memory();
        }
        outcome
    }

    /// The reload itself: reads the files unless unchanged, then serves what they hold, keeps
    /// the old set, or drops what it read.
    fn load_and_decide(&self, force: bool, superseded: impl Fn(bool) -> bool) -> Outcome {
        let served_read = self.hooks.snapshot().files_read.clone();
        let read_before = config::files_fingerprint(&served_read);
        if !force && combine(config::fingerprint(&self.sources), read_before) == *self.last() {
            return Outcome::Unchanged;
        }
        let loaded = config::load(&self.sources, &self.options, &SystemEnv);
        if superseded(self.would_refuse(&loaded)) {
            tracing::debug!(
                "hooks files changed while they were read; reading them again once settled"
            );
            return Outcome::Superseded;
        }
        let read = match &loaded.set {
            // Files the served set did not read: hashed after this load read them.
            Some(set) if set.files_read != served_read => {
                config::files_fingerprint(&set.files_read)
            }
            _ => read_before,
        };
        *self.last() = combine(loaded.fingerprint, read);
        loaded.log_problems();
        self.decide(loaded)
    }

    /// Gives back what a load that read the files left: the heap it freed (what it parsed,
    /// and the replaced set unless a request still holds it) and the file pages of the code
    /// it ran. Nothing depends on it: a failure is worth a debug line only.
    fn release_memory(&self) {
        crate::allocator::release_free_memory();
        let Some(page_map) = &self.page_map else {
            return;
        };
        match page_map.release() {
            Ok(released) => tracing::debug!(
                released_kib = released.bytes / 1024,
                kept_kib = released.kept_bytes / 1024,
                "released the reload's file pages"
            ),
            Err(e) => tracing::debug!(error = %e, "could not release the reload's file pages"),
        }
    }

    /// Whether [`Reloader::decide`] would refuse what was loaded.
    fn would_refuse(&self, loaded: &config::Loaded) -> bool {
        match &loaded.set {
            None => true,
            Some(set) => loaded.files_left_out || !refusals(&self.hooks.snapshot(), set).is_empty(),
        }
    }

    /// Serves the loaded set if it may replace the served one.
    fn decide(&self, loaded: config::Loaded) -> Outcome {
        let errors = loaded.errors().count();
        let Some(set) = loaded.set else {
            tracing::error!(errors, "reload rejected: the previous hooks stay active");
            return Outcome::Rejected { errors };
        };
        if loaded.files_left_out {
            // -lenient: at start such a file is left out; a reload keeps the hooks the file had
            // instead of dropping them.
            tracing::error!(
                "reload rejected: a hooks file could not be read; the previous hooks stay active"
            );
            return Outcome::Rejected { errors };
        }
        let refusals = refusals(&self.hooks.snapshot(), &set);
        if !refusals.is_empty() {
            for r in &refusals {
                tracing::error!(problem = %r, "hooks file problem");
            }
            let errors = refusals.len();
            tracing::error!(errors, "reload rejected: the previous hooks stay active");
            return Outcome::Rejected { errors };
        }
        let hooks = set.len();
        self.hooks.replace(set);
        tracing::info!(target: crate::logging::LIFECYCLE, hooks, "hooks reloaded");
        Outcome::Reloaded { hooks }
    }

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

/// One fingerprint of the hooks files and the files their templates read.
fn combine(hooks_files: u64, files_read: u64) -> u64 {
    let mut h = DefaultHasher::new();
    (hooks_files, files_read).hash(&mut h);
    h.finish()
}

/// Why `new` must not replace `served` (empty when it may).
fn refusals(served: &HookSet, new: &HookSet) -> Vec<Refusal> {
    let mut refusals: Vec<Refusal> = new
        .files
        .iter()
        .filter(|file| new.count_from(file) == 0)
        .filter_map(|file| {
            let had = served.count_from(file);
            (had > 0).then(|| Refusal::Emptied {
                file: file.clone(),
                had,
            })
        })
        .collect();
    if refusals.is_empty() && new.is_empty() && !served.is_empty() {
        refusals.push(Refusal::NoHooks { had: served.len() });
    }
    refusals
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

#[cfg(test)]
mod tests;
