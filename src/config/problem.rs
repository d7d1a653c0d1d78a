//! Configuration problems: every error or warning found while loading hooks files, with the
//! file, hook id and field path it concerns, so they can all be reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing wrong (or suspicious) in a hooks file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    /// The hook's id, or its index (`#3`) when it has none yet.
    pub hook: Option<String>,
    /// Field path inside the hook, e.g. `trigger-rule.and[1].match.regex`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(hook) = &self.hook {
            write!(f, ": hook {hook:?}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if self.severity == Severity::Warning {
            write!(f, " (warning)")?;
        }
        Ok(())
    }
}

/// Collects problems for one file while it is validated.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|p| p.severity == Severity::Error)
    }

    pub fn push(
        &mut self,
        severity: Severity,
        file: &Path,
        hook: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(Problem {
            severity,
            file: file.to_path_buf(),
            hook: hook.map(str::to_owned),
            path: path.into(),
            message: message.into(),
        });
    }
}

/// The hint after an unknown name: ` (did you mean "known"?)` when a known name is close
/// enough to be a likely typo of it, else nothing. The one way hints are written.
pub fn did_you_mean(unknown: &str, known: &[&str]) -> String {
    closest(unknown, known)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

/// The known name closest to `unknown`, if it is close enough to be a likely typo.
fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let known = ["trigger-rule", "execute-command", "http-methods"];
        assert_eq!(closest("trigger-rules", &known), Some("trigger-rule"));
        assert_eq!(closest("exec-command", &known), Some("execute-command"));
        assert_eq!(closest("Trigger-Rule", &known), Some("trigger-rule"));
        assert_eq!(closest("banana", &known), None);
        assert_eq!(
            did_you_mean("http-method", &known),
            r#" (did you mean "http-methods"?)"#
        );
        assert_eq!(did_you_mean("banana", &known), "");
    }

    #[test]
    fn display_has_file_hook_and_path() {
        let p = Problem {
            severity: Severity::Error,
            file: "hooks.json".into(),
            hook: Some("deploy".into()),
            path: "trigger-rule.and[1].match.regex".into(),
            message: "unclosed group".into(),
        };
        assert_eq!(
            p.to_string(),
            "hooks.json: hook \"deploy\": trigger-rule.and[1].match.regex: unclosed group"
        );
    }
}
