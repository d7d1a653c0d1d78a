//! Reloading hooks: on `-hotreload` file events and on SIGUSR1/SIGHUP.
//!
//! # Theory of operation
//! A reload loads and validates every hooks file into a complete new `HookSet` and swaps it into
//! the server's `LiveHooks` with one atomic pointer store (reload knows nothing else of the
//! server); a request holds the snapshot it started with. If anything is
//! wrong the old set stays and every problem is logged (with `-lenient`, hooks with errors are
//! served as the reference serves them, but a file that cannot be read still keeps the old set). The watcher watches the *folders* that
//! hold the hooks files, not the files: editors replace files by rename, and a Kubernetes
//! ConfigMap update swaps the `..data` symlink, neither of which a watch on the file sees.
//! Events are debounced, and a reload whose files did not change is skipped quietly.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::config::{self, template::SystemEnv, LiveHooks, LoadOptions};
use crate::metrics::Metrics;

/// What reloads need to know: where the hooks come from, how to read them, and the live set
/// to swap.
pub struct Reloader {
    pub sources: Vec<String>,
    pub options: LoadOptions,
    pub hooks: Arc<LiveHooks>,
    last: Mutex<u64>,
    /// Held for a whole reload: a signal and a file event must not race and store an older set.
    running: Mutex<()>,
    /// Counts reloads that swapped a set in and reloads that were rejected.
    metrics: Arc<Metrics>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reloaded { hooks: usize },
    Unchanged,
    Rejected { errors: usize },
}

impl Reloader {
    pub fn new(sources: Vec<String>, options: LoadOptions, hooks: Arc<LiveHooks>) -> Arc<Self> {
        Reloader::with_metrics(sources, options, hooks, Arc::new(Metrics::new()))
    }

    /// A reloader that counts its reloads in `metrics` (the server's).
    pub fn with_metrics(
        sources: Vec<String>,
        options: LoadOptions,
        hooks: Arc<LiveHooks>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let r = Arc::new(Reloader {
            sources,
            options,
            hooks,
            last: Mutex::new(0),
            running: Mutex::new(()),
            metrics,
        });
        let fp = r.fingerprint();
        *r.last.lock().unwrap_or_else(|e| e.into_inner()) = fp;
        r
    }

    /// Hash of the files' names and contents, and of the files the served set's templates
    /// read (a rotated secret), to skip no-op reloads.
    fn fingerprint(&self) -> u64 {
        let mut problems = config::problem::Problems::default();
        let files = config::expand_sources(&self.sources, &mut problems);
        let read = self.hooks.snapshot().files_read.clone();
        let mut h = DefaultHasher::new();
        for f in files.iter().chain(&read) {
            f.hash(&mut h);
            std::fs::read(f).ok().hash(&mut h);
        }
        h.finish()
    }

    /// Loads everything anew and swaps it in if valid. `force` reloads even if unchanged.
    pub fn reload(&self, force: bool) -> Outcome {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let fp = self.fingerprint();
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *last == fp {
                return Outcome::Unchanged;
            }
        }
        let loaded = config::load(&self.sources, &self.options, &SystemEnv);
        loaded.log_problems();
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = fp;
        let outcome = self.swap(loaded);
        self.metrics
            .reload(matches!(outcome, Outcome::Reloaded { .. }));
        outcome
    }

    /// Serves the loaded set if it may replace the current one.
    fn swap(&self, loaded: config::Loaded) -> Outcome {
        match loaded.set {
            Some(_) if loaded.files_left_out => {
                // -lenient: at start such a file is left out; a reload keeps the hooks the
                // file had instead of dropping them.
                tracing::error!("reload rejected: a hooks file could not be read; the previous hooks stay active");
                Outcome::Rejected {
                    errors: loaded.errors().count(),
                }
            }
            Some(set) => {
                let hooks = set.len();
                self.hooks.replace(set);
                tracing::info!(target: crate::logging::LIFECYCLE, hooks, "hooks reloaded");
                Outcome::Reloaded { hooks }
            }
            None => {
                let errors = loaded.errors().count();
                tracing::error!(errors, "reload rejected: the previous hooks stay active");
                Outcome::Rejected { errors }
            }
        }
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
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.send(());
            }
        })?;
        let mut watched: Vec<PathBuf> = Vec::new();
        self.watch_new_dirs(&mut watcher, &mut watched)?;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                got = rx.recv() => if got.is_none() { return Ok(()) },
            }
            // Debounce: a ConfigMap update or an editor save is several events. A folder that
            // never goes quiet (a log file next to the hooks) must not postpone it forever.
            let latest = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => break,
                    _ = tokio::time::sleep_until(latest) => break,
                    got = rx.recv() => if got.is_none() { break },
                }
            }
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || this.reload(false)).await;
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
