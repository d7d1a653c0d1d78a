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
//! rewrite in progress is read once it is complete. A reload whose files did not change since
//! the last decision is skipped quietly; the comparison uses the exact bytes each load read.

mod debounce;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};

use crate::config::{self, template::SystemEnv, HookSet, LiveHooks, LoadOptions};

/// What reloads need to know: where the hooks come from, how to read them, and the live set
/// to swap.
pub struct Reloader {
    pub sources: Vec<String>,
    pub options: LoadOptions,
    pub hooks: Arc<LiveHooks>,
    /// The fingerprint of the files as last loaded (applied or refused).
    last: Mutex<u64>,
    /// Held for a whole reload: a signal and a file event must not race and store an older set.
    running: Mutex<()>,
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
        let last = hooks.snapshot().fingerprint;
        Arc::new(Reloader {
            sources,
            options,
            hooks,
            last: Mutex::new(last),
            running: Mutex::new(()),
        })
    }

    fn last(&self) -> std::sync::MutexGuard<'_, u64> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads everything anew and swaps it in if valid. `force` reloads even if unchanged.
    pub fn reload(&self, force: bool) -> Outcome {
        self.reload_unless_superseded(force, || false)
    }

    /// [`Reloader::reload`], dropping what was read if `superseded` says the files changed
    /// while they were read (the watcher then settles and reloads again).
    fn reload_unless_superseded(&self, force: bool, superseded: impl Fn() -> bool) -> Outcome {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !force && config::fingerprint(&self.sources) == *self.last() {
            return Outcome::Unchanged;
        }
        let loaded = config::load(&self.sources, &self.options, &SystemEnv);
        if superseded() {
            tracing::debug!(
                "hooks files changed while they were read; reading them again once settled"
            );
            return Outcome::Superseded;
        }
        *self.last() = loaded.fingerprint;
        loaded.log_problems();
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

    /// Folders to watch for the configured sources.
    fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
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
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                if files.changed(&ev) {
                    counter.fetch_add(1, AtomicOrdering::SeqCst);
                }
                let _ = tx.send(ev);
            }
        })?;
        for dir in self.watch_dirs() {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            tracing::info!(dir = %dir.display(), "watching for hooks file changes");
        }
        let mut settle = debounce::Settle::new(self.sources.clone());
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                going = settle.settled(&mut rx) => if !going { return Ok(()) },
            }
            let settled = settle.changes();
            if seen.load(AtomicOrdering::SeqCst) != settled {
                // More changes are queued: a write began after the files went quiet.
                continue;
            }
            let (this, seen) = (self.clone(), seen.clone());
            let superseded = move || seen.load(AtomicOrdering::SeqCst) != settled;
            let _ = tokio::task::spawn_blocking(move || {
                this.reload_unless_superseded(false, superseded)
            })
            .await;
        }
    }
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
