//! The set of hooks served: a `HookSet` is one complete, validated load, looked up by id;
//! `LiveHooks` holds the one being served and swaps in a new one atomically on reload.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Hook;

/// A complete, validated set of hooks: what one request sees.
#[derive(Debug, Default)]
pub struct HookSet {
    /// Looked up by id without a copy of each id as a key. foldhash, not SipHash: the ids come
    /// from the hooks file, not from requests, so no request can make them collide; a request's
    /// id is only looked up.
    pub(super) hooks: foldhash::HashSet<ById>,
    /// Files that were read, in order.
    pub files: Vec<PathBuf>,
    /// Hash of the files' names and contents as they were read for this set (see
    /// [`fingerprint`](super::fingerprint())): a reload compares it to skip files that did
    /// not change.
    pub fingerprint: u64,
    /// Files that `-template` renders read (`cat`, `credential`): mounted secrets that a
    /// reload must notice changing, as it notices the hooks files.
    pub files_read: Vec<PathBuf>,
}

impl HookSet {
    pub fn get(&self, id: &str) -> Option<&Arc<Hook>> {
        self.hooks.get(id).map(|h| &h.0)
    }

    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.hooks.iter().map(|h| h.0.id.as_str())
    }

    /// How many hooks `file` defines in this set.
    pub fn count_from(&self, file: &Path) -> usize {
        self.hooks.iter().filter(|h| *h.0.file == *file).count()
    }
}

/// A hook in a set, equal to and hashed as its id: the set looks hooks up by the id they hold.
#[derive(Debug)]
pub(super) struct ById(pub Arc<Hook>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl Hash for ById {
    /// As `str` hashes, which `Borrow<str>` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.as_str().hash(state);
    }
}

/// The hook set being served. A reload swaps in a whole new set with one atomic store; a
/// request takes one snapshot and sees one consistent set for its whole life.
#[derive(Debug, Default)]
pub struct LiveHooks {
    set: ArcSwap<HookSet>,
    /// False while serving an empty set because the hooks could not be loaded (`-nopanic`).
    loaded: std::sync::atomic::AtomicBool,
}

impl LiveHooks {
    pub fn new(set: HookSet) -> Self {
        LiveHooks {
            set: ArcSwap::from_pointee(set),
            loaded: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The set as it is now; later swaps do not change it.
    pub fn snapshot(&self) -> Arc<HookSet> {
        self.set.load_full()
    }

    /// Serves `set` from now on.
    pub fn replace(&self, set: HookSet) {
        self.set.store(Arc::new(set));
        self.loaded.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Records that the set being served is a stand-in for hooks that could not be loaded
    /// (`-nopanic`), until a reload succeeds.
    pub fn mark_not_loaded(&self) {
        self.loaded
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the set being served was loaded from the hooks files.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::SeqCst)
    }
}
