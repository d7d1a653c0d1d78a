//! What the targets share: a template environment that never reads the machine's, and hooks
//! files loaded through the real loader.

#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};

use hookrun::config::template::TemplateEnv;
use hookrun::config::{self, HookSet, LoadOptions};

/// Fixed variables and files, so a fuzz input can reach `getenv`, `cat` and `credential`
/// without reading anything real.
pub struct FakeEnv;

impl TemplateEnv for FakeEnv {
    fn getenv(&self, name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cret".into()),
            "HOST" => Some("registry.example.com:5000".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        match path.file_name().and_then(|n| n.to_str()) {
            Some("token") => Ok("t0ken\n".into()),
            Some("multi") => Ok("line 1\nline 2 {{ not a template }}\n".into()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn credentials_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/run/credentials/hookrun.service"))
    }
}

/// A folder of this process's own for the files the loader reads.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hookrun-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the fuzz scratch folder");
    dir
}

/// Loads `text` as the hooks file `name` through `config::load`.
pub fn load_text(name: &str, text: &[u8], opts: &LoadOptions) -> config::Loaded {
    let path = scratch_dir().join(name);
    std::fs::write(&path, text).expect("writing the hooks file");
    config::load(&[path.display().to_string()], opts, &FakeEnv)
}

/// Loads a hooks file the target depends on; a file that does not load is a bug in the target.
pub fn load_fixed(name: &str, text: &str) -> HookSet {
    let loaded = load_text(name, text.as_bytes(), &LoadOptions::default());
    match loaded.set {
        Some(set) => set,
        None => panic!(
            "the target's hooks file does not load: {:?}",
            loaded.problems
        ),
    }
}
