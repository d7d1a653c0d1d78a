//! A hash of hooks files' names and contents: what a reload compares to tell whether anything
//! changed. [`load`](super::load) hashes exactly the bytes it builds a set from, so a file
//! rewritten between a check and a load cannot leave the served set older than the file.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher as _};
use std::path::{Path, PathBuf};

use super::problem::Problems;
use super::source::expand_sources;

/// Accumulates files in the order they are loaded.
#[derive(Default)]
pub(super) struct Hasher(DefaultHasher);

impl Hasher {
    /// Adds one file as read (`None`: it could not be read).
    pub(super) fn add(&mut self, file: &Path, contents: Option<&[u8]>) {
        file.hash(&mut self.0);
        contents.hash(&mut self.0);
    }

    pub(super) fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The fingerprint the files named by `sources` have now: equal to the `fingerprint` of a
/// [`load`](super::load) of the same contents.
pub fn fingerprint(sources: &[String]) -> u64 {
    let mut ignored = Problems::default();
    files_fingerprint(&expand_sources(sources, &mut ignored))
}

/// The fingerprint of `files`' names and current contents (an unreadable file counts as such):
/// what [`fingerprint`] computes for the files its sources name.
pub fn files_fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = Hasher::default();
    for file in files {
        hasher.add(file, std::fs::read(file).ok().as_deref());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::super::{load, template::SystemEnv, LoadOptions};
    use super::*;

    #[test]
    fn a_load_has_the_fingerprint_of_the_files_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hooks.json");
        let sources = vec![file.display().to_string()];
        std::fs::write(&file, r#"[{"id": "a", "execute-command": "/bin/true"}]"#).unwrap();
        let loaded = load(&sources, &LoadOptions::default(), &SystemEnv);
        assert_eq!(loaded.fingerprint, fingerprint(&sources));
        assert_eq!(loaded.set.unwrap().fingerprint, loaded.fingerprint);
        std::fs::write(&file, "[").unwrap();
        let broken = load(&sources, &LoadOptions::default(), &SystemEnv);
        assert!(broken.set.is_none());
        assert_eq!(broken.fingerprint, fingerprint(&sources));
        assert_ne!(broken.fingerprint, loaded.fingerprint);
        std::fs::remove_file(&file).unwrap();
        assert_ne!(fingerprint(&sources), broken.fingerprint);
    }
}
