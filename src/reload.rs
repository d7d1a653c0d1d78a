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
mod refusal;
mod watch;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher as _};
use std::sync::{Arc, Mutex};

use crate::clean_pages::PageMap;
use crate::config::{self, template::SystemEnv, LiveHooks, LoadOptions};
use crate::metrics::Metrics;
use refusal::refusals;

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
}

/// One fingerprint of the hooks files and the files their templates read.
fn combine(hooks_files: u64, files_read: u64) -> u64 {
    let mut h = DefaultHasher::new();
    (hooks_files, files_read).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests;
