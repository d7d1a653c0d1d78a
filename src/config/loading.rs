//! Loading hooks files into one `HookSet`: the sources expanded into files, each file read
//! once (its bytes also make the set's fingerprint), an id defined twice refused as the
//! reference refuses it, and every problem collected; `-lenient` decides what still loads.

use super::fingerprint;
use super::hook_set::ById;
use super::hooks_file::load_bytes;
use super::problem::Problems;
use super::template::TemplateEnv;
use super::{captainhook, expand_sources, HookSet, Problem, Severity};

/// How hooks files are read.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// `-template`: render each file as a Go template first.
    pub template: bool,
    /// `-lenient`: load whatever the reference would load. Unknown keys are warnings, a hook
    /// with errors is served as the reference serves it (`validate`), a file that cannot be
    /// read is left out; only hook ids defined in two files stop the load, as they stop the
    /// reference.
    pub lenient: bool,
    /// A mail server is configured (`-smtp`), so hooks may have e-mail targets.
    pub mail_server: bool,
    /// `-captainhook`: the files are captainhook run books, not hooks files.
    pub captainhook: Option<captainhook::Captainhook>,
}

/// The outcome of loading: the set (only when there were no errors, or with `-lenient`) and
/// every problem found.
pub struct Loaded {
    pub set: Option<HookSet>,
    pub problems: Vec<Problem>,
    /// Hash of the files as they were read, whether or not they were valid.
    pub fingerprint: u64,
    /// With `-lenient`: some file or source could not be read and is not in the set (a reload
    /// then keeps the previous set rather than drop that file's hooks).
    pub files_left_out: bool,
}

impl Loaded {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// Logs every problem at its severity (start-up and reloads).
    pub fn log_problems(&self) {
        log_problems(&self.problems);
    }
}

/// Logs each problem at its severity, with its file, hook and field as fields of their own.
pub fn log_problems(problems: &[Problem]) {
    for p in problems {
        let file = p.file.display();
        let hook = p.hook.as_deref().unwrap_or_default();
        let (field, problem) = (p.path.as_str(), p.message.as_str());
        match p.severity {
            Severity::Error => {
                tracing::error!(%file, hook, field, problem, "hooks file problem");
            }
            Severity::Warning => {
                tracing::warn!(%file, hook, field, problem, "hooks file warning");
            }
        }
    }
}

/// Loads every hooks file named by `sources` (files, folders, globs) into one set. Any error
/// anywhere means no set (a reload must never half-apply), unless `-lenient` (see
/// `LoadOptions::lenient`).
pub fn load(sources: &[String], opts: &LoadOptions, env: &dyn TemplateEnv) -> Loaded {
    let mut problems = Problems::default();
    let files = expand_sources(sources, &mut problems);
    let mut set = HookSet::default();
    let mut fingerprint = fingerprint::Hasher::default();
    // The reference refuses to start on an id defined in two files, and serves the first of
    // two in one file.
    let mut defined_twice = false;
    for file in &files {
        // Read once: the fingerprint must describe exactly the bytes these hooks come from.
        let bytes = std::fs::read(file);
        fingerprint.add(file, bytes.as_deref().ok());
        let hooks = load_bytes(file, bytes, opts, env, &mut problems, &mut set.files_read);
        set.hooks.reserve(hooks.len());
        for hook in hooks {
            if let Some(first) = set.get(&hook.id).map(|h| &h.file) {
                let message = if **first == **file {
                    "duplicate hook id in the same file".to_string()
                } else {
                    defined_twice = true;
                    format!("duplicate hook id, already defined in {}", first.display())
                };
                problems.push(Severity::Error, file, Some(&hook.id), "id", message);
                continue;
            }
            set.hooks.insert(ById(hook));
        }
    }
    set.files = files;
    set.fingerprint = fingerprint.finish();
    // Problems of a whole file or source name no hook.
    let files_left_out = problems
        .list
        .iter()
        .any(|p| p.severity == Severity::Error && p.hook.is_none());
    let ok = !problems.has_errors() || (opts.lenient && !defined_twice);
    Loaded {
        fingerprint: set.fingerprint,
        set: ok.then_some(set),
        problems: problems.list,
        files_left_out: ok && files_left_out,
    }
}
