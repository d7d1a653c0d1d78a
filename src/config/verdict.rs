//! The start verdict: whether `hookrun` starts with its hooks files, and everything it has to
//! say about them. The server decides its start with [`check`] and `hookrun validate` prints
//! the same verdict, so the two cannot disagree.

use std::fmt;
use std::path::Path;

use super::problem::Problems;
use super::template::TemplateEnv;
use super::{expand_sources, load, HookSet, LoadOptions, Problem, Severity};

/// What decides the start besides the files themselves.
#[derive(Clone, Default)]
pub struct StartOptions {
    pub load: LoadOptions,
    /// `-verbose`: the reference starts without any hooks then, and so does hookrun.
    pub verbose: bool,
    /// `-nopanic`: start even when the hooks cannot be loaded, serving none.
    pub nopanic: bool,
}

/// Whether the server starts.
#[derive(Debug)]
pub enum Verdict {
    /// It starts and serves these hooks (possibly none, with `-verbose` or `-nopanic`).
    Start(HookSet),
    /// The hooks could not be loaded, but `-nopanic` starts it anyway, serving none.
    StartWithoutHooks,
    /// It does not start.
    Refuse(Refusal),
}

/// Why the server does not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The files have errors (counted).
    Errors(usize),
    /// The files hold no hooks.
    NoHooks,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Errors(1) => write!(f, "couldn't load hooks: 1 error"),
            Refusal::Errors(n) => write!(f, "couldn't load hooks: {n} errors"),
            Refusal::NoHooks => write!(
                f,
                "couldn't load any hooks: there are none (hookrun starts without hooks only with \
                 -nopanic, or with -verbose as webhook does)"
            ),
        }
    }
}

/// The verdict and every problem behind it, errors and warnings, in the order found.
#[derive(Debug)]
pub struct Checked {
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
}

/// Loads `sources` as the server does at start and decides whether it starts.
pub fn check(sources: &[String], opts: &StartOptions, env: &dyn TemplateEnv) -> Checked {
    let loaded = load(sources, &opts.load, env);
    let mut problems = loaded.problems;
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let verdict = match loaded.set {
        None if opts.nopanic => Verdict::StartWithoutHooks,
        None => Verdict::Refuse(Refusal::Errors(errors)),
        Some(set) if set.is_empty() => {
            let starts = opts.verbose || opts.nopanic;
            let severity = if starts {
                Severity::Warning
            } else {
                Severity::Error
            };
            problems.extend(why_empty(sources, severity));
            if starts {
                Verdict::Start(set)
            } else {
                Verdict::Refuse(Refusal::NoHooks)
            }
        }
        Some(set) => Verdict::Start(set),
    };
    Checked { verdict, problems }
}

/// For a load that found no hooks: each folder without hooks files and each file without
/// hooks (a glob that matches nothing has already been reported).
fn why_empty(sources: &[String], severity: Severity) -> Vec<Problem> {
    let mut notes = Problems::default();
    for source in sources {
        let path = Path::new(source);
        let files = expand_sources(std::slice::from_ref(source), &mut Problems::default());
        if path.is_dir() && files.is_empty() {
            notes.push(
                severity,
                path,
                None,
                "",
                "no hooks files in this folder (its *.json, *.yaml and *.yml files are read; \
                 hidden ones are skipped)",
            );
        }
        for file in files {
            notes.push(severity, &file, None, "", "no hooks in this file");
        }
    }
    notes.list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::template::SystemEnv;

    fn check_in(dir: &Path, sources: &[&str], verbose: bool, nopanic: bool) -> Checked {
        let sources: Vec<String> = sources
            .iter()
            .map(|s| dir.join(s).display().to_string())
            .collect();
        let opts = StartOptions {
            verbose,
            nopanic,
            ..StartOptions::default()
        };
        check(&sources, &opts, &SystemEnv)
    }

    #[test]
    fn no_hooks_refuses_unless_verbose_or_nopanic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hooks.d")).unwrap();
        std::fs::write(dir.path().join("empty.json"), "[]").unwrap();
        let refused = check_in(dir.path(), &["hooks.d", "empty.json"], false, false);
        assert!(matches!(refused.verdict, Verdict::Refuse(Refusal::NoHooks)));
        let text: Vec<String> = refused.problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].contains("hooks.d: no hooks files in this folder"),
            "{text:?}"
        );
        assert!(
            text[1].ends_with("empty.json: no hooks in this file"),
            "{text:?}"
        );
        for (verbose, nopanic) in [(true, false), (false, true)] {
            let started = check_in(dir.path(), &["hooks.d"], verbose, nopanic);
            assert!(matches!(started.verdict, Verdict::Start(ref s) if s.is_empty()));
            assert!(started
                .problems
                .iter()
                .all(|p| p.severity == Severity::Warning));
        }
    }

    #[test]
    fn errors_refuse_unless_nopanic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), "[{\"id\": 1").unwrap();
        let refused = check_in(dir.path(), &["bad.json"], true, false);
        assert!(matches!(
            refused.verdict,
            Verdict::Refuse(Refusal::Errors(1))
        ));
        let started = check_in(dir.path(), &["bad.json"], false, true);
        assert!(matches!(started.verdict, Verdict::StartWithoutHooks));
        assert_eq!(started.problems.len(), 1);
    }
}
