//! Expands `-hooks` values into files: a file as is, a folder to the `*.json`/`*.yaml`/`*.yml`
//! files directly inside it (hidden entries such as a ConfigMap's `..data` skipped), a glob to
//! its matches. Expanded on every load, so files added to a folder are picked up on reload.

use std::path::{Path, PathBuf};

use super::problem::{Problems, Severity};

const EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

pub fn expand_sources(sources: &[String], problems: &mut Problems) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for source in sources {
        let path = Path::new(source);
        if path.is_dir() {
            folder(path, &mut files, problems);
        } else if is_glob(source) && !path.exists() {
            glob(source, &mut files, problems);
        } else {
            files.push(path.to_path_buf());
        }
    }
    files
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn has_hooks_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn folder(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Problems) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return source_error(problems, dir, format!("cannot read folder: {e}")),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        // `is_file` follows symlinks: ConfigMap keys are symlinks into `..data/`.
        .filter(|p| p.is_file() && has_hooks_extension(p))
        .collect();
    found.sort();
    files.extend(found);
}

fn glob(pattern: &str, files: &mut Vec<PathBuf>, problems: &mut Problems) {
    let paths = match glob::glob(pattern) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("invalid glob pattern: {e}");
            return source_error(problems, Path::new(pattern), message);
        }
    };
    let mut found: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        problems.push(
            Severity::Warning,
            Path::new(pattern),
            None,
            "",
            "the pattern matches no file",
        );
    }
    found.sort();
    files.extend(found);
}

/// A `-hooks` value that cannot be expanded: an error about it, not about any hook.
fn source_error(problems: &mut Problems, source: &Path, message: String) {
    problems.push(Severity::Error, source, None, "", message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_skips_hidden_and_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yaml", "a.json", "c.yml", "notes.txt", ".hidden.json"] {
            std::fs::write(dir.path().join(name), "[]").unwrap();
        }
        std::fs::create_dir(dir.path().join("..data")).unwrap();
        let mut problems = Problems::default();
        let files = expand_sources(&[dir.path().display().to_string()], &mut problems);
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json", "b.yaml", "c.yml"]);
        assert!(problems.list.is_empty());
    }

    #[test]
    fn glob_expands_and_warns_on_no_match() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.json"), "[]").unwrap();
        let mut problems = Problems::default();
        let files = expand_sources(&[format!("{}/*.json", dir.path().display())], &mut problems);
        assert_eq!(files.len(), 1);
        let files = expand_sources(&[format!("{}/*.yaml", dir.path().display())], &mut problems);
        assert!(files.is_empty());
        assert_eq!(problems.list.len(), 1);
    }
}
