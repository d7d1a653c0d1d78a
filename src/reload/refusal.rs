//! Why a valid set of hooks is refused all the same: it would lose hooks the way a half-written
//! file does (see the theory of operation in `reload`).

use std::fmt;
use std::path::PathBuf;

use crate::config::HookSet;

/// Why a valid set is not served: it would lose hooks the way a half-written file does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
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

/// Why `new` must not replace `served` (empty when it may).
pub(super) fn refusals(served: &HookSet, new: &HookSet) -> Vec<Refusal> {
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
