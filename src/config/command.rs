//! Where a hook's `execute-command` leads, by the reference's rule: a relative command is joined
//! to `command-working-directory` (Go's `filepath.Join`), a name without a slash is looked up in
//! `PATH`, and the result must be an executable file (Go's `exec.LookPath`). Loading uses it to
//! warn about commands that cannot run; `exec` uses it to find the program it starts. Both say
//! the same thing when it fails: the path that was tried and why it cannot be run.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Why a command cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRunnable {
    /// `execute-command` is empty.
    Empty,
    /// The path the command leads to is not an executable file.
    At {
        path: PathBuf,
        problem: String,
        /// hookrun's working directory, when `path` is relative to it.
        relative_to: Option<PathBuf>,
    },
    /// A bare name that no folder of `PATH` holds as an executable file.
    NotInPath { search_path: String },
}

impl fmt::Display for NotRunnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRunnable::Empty => write!(f, "no command configured"),
            NotRunnable::At {
                path,
                problem,
                relative_to: None,
            } => write!(f, "{}: {problem}", path.display()),
            NotRunnable::At {
                path,
                problem,
                relative_to: Some(cwd),
            } => write!(
                f,
                "{}: {problem} (relative to hookrun's working directory {}; \
                 command-working-directory sets the folder)",
                path.display(),
                cwd.display()
            ),
            NotRunnable::NotInPath { search_path } => {
                write!(f, "not found in PATH ({search_path})")
            }
        }
    }
}

impl std::error::Error for NotRunnable {}

/// The program `execute-command` names, found as the reference finds it.
pub fn resolve(program: &str, working_dir: Option<&Path>) -> Result<PathBuf, NotRunnable> {
    if program.is_empty() {
        return Err(NotRunnable::Empty);
    }
    let path = match working_dir {
        Some(dir) if !Path::new(program).is_absolute() => go_join(dir, program),
        _ => PathBuf::from(program),
    };
    if path.to_string_lossy().contains('/') {
        let problem = match runnable(&path) {
            Ok(()) => return Ok(path),
            // The reference's hint for `"execute-command": "deploy.sh --prod"`.
            Err(problem) if program.contains(' ') => {
                format!("{problem} (use 'pass-arguments-to-command' to specify args)")
            }
            Err(problem) => problem,
        };
        return Err(NotRunnable::At {
            relative_to: path
                .is_relative()
                .then(|| std::env::current_dir().ok())
                .flatten(),
            path,
            problem,
        });
    }
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&search_path)
        .map(|dir| dir.join(&path))
        .find(|candidate| runnable(candidate).is_ok())
        .ok_or_else(|| NotRunnable::NotInPath {
            search_path: search_path.to_string_lossy().into_owned(),
        })
}

/// Whether `path` is a file someone may execute, and if not, why in a few words.
fn runnable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => format!("cannot be read: {e}"),
    })?;
    if meta.is_dir() {
        return Err("is a folder, not a program".into());
    }
    let mode = meta.permissions().mode();
    if !meta.is_file() || mode & 0o111 == 0 {
        return Err(format!(
            "is not executable (mode {:04o}; chmod +x it)",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Go's `filepath.Join`: joins and cleans lexically (`dir/./x` → `dir/x`, `a/b/../x` → `a/x`).
/// The reference runs the joined path, and a script sees it as its `$0`.
pub fn go_join(dir: &Path, program: &str) -> PathBuf {
    let joined = dir.join(program);
    let mut out: Vec<Component> = Vec::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn relative_commands_join_the_working_directory_like_go() {
        for (dir, program, want) in [
            ("/srv/hooks", "./deploy.sh", "/srv/hooks/deploy.sh"),
            ("/srv/hooks", "bin/../deploy.sh", "/srv/hooks/deploy.sh"),
            ("/srv/hooks/", "../deploy.sh", "/srv/deploy.sh"),
            ("/", "../../x", "/x"),
            ("rel", "../../x", "../x"),
            ("rel//a", "b", "rel/a/b"),
        ] {
            assert_eq!(
                go_join(Path::new(dir), program),
                Path::new(want),
                "{dir} + {program}"
            );
        }
    }

    #[test]
    fn each_reason_names_the_path_tried() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("deploy.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let d = Some(dir.path());
        let here = dir.path().display();

        let missing = resolve("./nope.sh", d).unwrap_err().to_string();
        assert_eq!(missing, format!("{here}/nope.sh: no such file"));
        let mode = resolve("deploy.sh", d).unwrap_err().to_string();
        assert_eq!(
            mode,
            format!("{here}/deploy.sh: is not executable (mode 0644; chmod +x it)")
        );
        let folder = resolve(".", d).unwrap_err().to_string();
        assert!(folder.ends_with(": is a folder, not a program"), "{folder}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve("./deploy.sh", d), Ok(script));

        let relative = resolve("./surely-missing.sh", None)
            .unwrap_err()
            .to_string();
        assert!(
            relative.starts_with(
                "./surely-missing.sh: no such file (relative to hookrun's working directory /"
            ),
            "{relative}"
        );
        assert_eq!(resolve("", None), Err(NotRunnable::Empty));
        let spaced = resolve("/bin/sh -c true", None).unwrap_err().to_string();
        assert_eq!(
            spaced,
            "/bin/sh -c true: no such file (use 'pass-arguments-to-command' to specify args)"
        );
        let bare = resolve("surely-not-a-command-xyz", None).unwrap_err();
        assert!(matches!(bare, NotRunnable::NotInPath { .. }), "{bare}");
        assert!(resolve("sh", None).is_ok());
    }
}
