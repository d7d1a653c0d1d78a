//! Hooks configuration: finding hooks files (files, folders, globs), rendering templates,
//! parsing JSON/YAML, validating into a `HookSet`. Knows nothing about sockets or requests.

mod arguments;
pub mod captainhook;
pub mod command;
mod compile_rules;
mod fingerprint;
mod goregex;
pub mod hook;
mod keys;
pub mod problem;
pub mod raw;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod reading_check;
pub mod registry_event;
mod scalar;
mod source;
mod stream;
pub mod template;
mod unknown_keys;
pub mod validate;
pub mod verdict;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::Value;

pub use arguments::canonical_header_key;
pub use fingerprint::{files_fingerprint, fingerprint};
pub use hook::{Concurrency, Hook, Parameter, Rule};
pub use problem::{Problem, Severity};
pub use source::expand_sources;

use problem::Problems;
use template::TemplateEnv;
use validate::Validator;

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

/// A complete, validated set of hooks: what one request sees.
#[derive(Debug, Default)]
pub struct HookSet {
    hooks: HashMap<String, Arc<Hook>>,
    /// Files that were read, in order.
    pub files: Vec<PathBuf>,
    /// Hash of the files' names and contents as they were read for this set (see
    /// [`fingerprint`]): a reload compares it to skip files that did not change.
    pub fingerprint: u64,
    /// Files that `-template` renders read (`cat`, `credential`): mounted secrets that a
    /// reload must notice changing, as it notices the hooks files.
    pub files_read: Vec<PathBuf>,
}

impl HookSet {
    pub fn get(&self, id: &str) -> Option<&Arc<Hook>> {
        self.hooks.get(id)
    }

    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.hooks.keys().map(String::as_str)
    }

    /// How many hooks `file` defines in this set.
    pub fn count_from(&self, file: &Path) -> usize {
        self.hooks.values().filter(|h| h.file == file).count()
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
        for hook in load_bytes(file, bytes, opts, env, &mut problems, &mut set.files_read) {
            if let Some(first) = set.hooks.get(&hook.id).map(|h| &h.file) {
                let message = if first == file {
                    "duplicate hook id in the same file".to_string()
                } else {
                    defined_twice = true;
                    format!("duplicate hook id, already defined in {}", first.display())
                };
                problems.push(Severity::Error, file, Some(&hook.id), "id", message);
                continue;
            }
            set.hooks.insert(hook.id.clone(), hook);
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

/// Reads, renders and validates one file; problems go to `problems`, the files its template
/// read to `files_read`.
pub fn load_file(
    file: &Path,
    opts: &LoadOptions,
    env: &dyn TemplateEnv,
    problems: &mut Problems,
    files_read: &mut Vec<PathBuf>,
) -> Vec<Arc<Hook>> {
    load_bytes(file, std::fs::read(file), opts, env, problems, files_read)
}

/// Renders and validates one file's contents as read (or the error reading it), adding the
/// files its template read to `files_read`. Each hook goes into its `Arc` as soon as it is
/// built: a list of 5,000 `Hook`s would need 4 MB more, for a moment, than their pointers.
fn load_bytes(
    file: &Path,
    bytes: std::io::Result<Vec<u8>>,
    opts: &LoadOptions,
    env: &dyn TemplateEnv,
    problems: &mut Problems,
    files_read: &mut Vec<PathBuf>,
) -> Vec<Arc<Hook>> {
    let mut fail = |message: String| {
        problems.push(Severity::Error, file, None, "", message);
        Vec::new()
    };
    let text = match bytes {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return fail("cannot read: stream did not contain valid UTF-8".to_string()),
        },
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    if let Some(runner) = &opts.captainhook {
        return load_run_book(file, &text, runner, opts, problems);
    }
    let text = if opts.template {
        match template::render_hooks_file(&text, env) {
            Ok(rendered) => {
                files_read.extend(rendered.files_read);
                rendered.text
            }
            Err(e) => return fail(format!("template: {e}")),
        }
    } else {
        text
    };
    let unrendered = !opts.template && has_template_actions(&text);
    // The usual file, a JSON list, is validated hook by hook as it is parsed; anything else is
    // read as a whole document (YAML, errors), and what the first reading said is dropped.
    let before = problems.list.len();
    if let Some(hooks) = load_json_list(file, &text, opts, unrendered, problems) {
        return hooks;
    }
    problems.list.truncate(before);
    let mut fail = |message: String| {
        problems.push(Severity::Error, file, None, "", message);
        Vec::new()
    };
    let hint = if unrendered {
        " (the file holds template actions {{ … }}: start with -template to render it first)"
    } else {
        ""
    };
    let document = match parse_document(file, &text) {
        Ok(v) => v,
        Err(e) => return fail(format!("{e}{hint}")),
    };
    let items = match document {
        Value::Null => return Vec::new(),
        Value::Array(items) => items,
        _ => return fail(format!("a hooks file must be a list of hooks{hint}")),
    };
    if unrendered {
        warn_unrendered(file, problems);
    }
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| validator.hook(i, item).map(Arc::new))
        .collect()
}

/// A file of a captainhook folder: the hook serving its run book, if it is one.
fn load_run_book(
    file: &Path,
    text: &str,
    runner: &captainhook::Captainhook,
    opts: &LoadOptions,
    problems: &mut Problems,
) -> Vec<Arc<Hook>> {
    let Some(id) = captainhook::hook_id(file) else {
        return Vec::new();
    };
    let book = match captainhook::RunBook::parse(text) {
        Ok(book) => book,
        Err(e) => {
            problems.push(Severity::Error, file, Some(&id), "", e);
            return Vec::new();
        }
    };
    let raw = captainhook::raw_hook(&id, text, &book, runner);
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    validator.hook(0, &raw).map(Arc::new).into_iter().collect()
}

/// The hooks of `text` when it is one JSON list, each validated as soon as it is parsed;
/// `None` otherwise (problems pushed meanwhile are then to be dropped). Each hook is read
/// straight into its raw form; a file that cannot be read so is read again with a tree per
/// hook, the exact reading that places every error.
fn load_json_list(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    unrendered: bool,
    problems: &mut Problems,
) -> Option<Vec<Arc<Hook>>> {
    if unrendered {
        warn_unrendered(file, problems);
    }
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    let before = validator.problem_count();
    let mut hooks = Vec::new();
    let read = stream::each_hook(text, |i, raw, seen| {
        hooks.extend(validator.read_hook(i, raw, seen).map(Arc::new));
    });
    if read.is_some() {
        return Some(hooks);
    }
    // Something only a tree reads exactly (an error, a key written twice): start again with one
    // tree per hook, which reports it with its place.
    validator.drop_problems_from(before);
    hooks.clear();
    stream::each_element(text, |i, item| {
        hooks.extend(validator.hook(i, item).map(Arc::new));
    })?;
    Some(hooks)
}

fn warn_unrendered(file: &Path, problems: &mut Problems) {
    problems.push(
        Severity::Warning,
        file,
        None,
        "",
        "holds template actions {{ … }} that are read as written: start with -template to \
         render them",
    );
}

/// Whether `text` holds Go template actions (`{{ … }}`), which only `-template` renders.
fn has_template_actions(text: &str) -> bool {
    // memchr's SIMD search: str::find walks a big file byte by byte.
    let text = text.as_bytes();
    memchr::memmem::find(text, b"{{")
        .is_some_and(|at| memchr::memmem::find(&text[at..], b"}}").is_some())
}

/// JSON or YAML, as the reference accepts either whatever the extension (it parses both with a
/// YAML parser). The error shown is that of the parser the extension suggests.
fn parse_document(file: &Path, text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let json = serde_json::from_str::<Value>(text);
    if let Ok(v) = json {
        return Ok(v);
    }
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(yaml) => match json {
            Err(json) if is_json => Err(format!("invalid JSON: {json}")),
            _ => Err(format!("invalid YAML: {yaml}")),
        },
    }
}

/// Parses durations written like `90s`, `10m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e} (write e.g. \"90s\", \"10m\")"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {text:?}: must be more than zero"));
    }
    Ok(d)
}

/// Parses sizes written as bytes or with a unit (`10MiB`, `512KB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {text:?}: {e} (write e.g. \"10MiB\")"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, hooks: &Value) -> String {
        let path = dir.join(name);
        std::fs::write(&path, hooks.to_string()).unwrap();
        path.display().to_string()
    }

    fn load_with(sources: &[String], lenient: bool) -> Loaded {
        let opts = LoadOptions {
            template: false,
            lenient,
            mail_server: false,
            captainhook: None,
        };
        load(sources, &opts, &template::SystemEnv)
    }

    fn messages(loaded: &Loaded, severity: Severity) -> Vec<String> {
        loaded
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn lenient_serves_what_strict_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let bad_regex =
            json!({"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "x"}});
        let file = write(
            dir.path(),
            "hooks.json",
            &json!([
                {"id": "good", "execute-command": "/bin/true"},
                {"id": "bad", "execute-command": "/bin/true", "trigger-rule": {"match": bad_regex}},
                {"id": "env", "execute-command": "/bin/true",
                 "pass-environment-to-command": [{"source": "string", "name": "v", "envname": "A=B"}]}
            ]),
        );
        let strict = load_with(std::slice::from_ref(&file), false);
        assert!(strict.set.is_none());
        assert_eq!(
            messages(&strict, Severity::Error).len(),
            2,
            "{:?}",
            strict.problems
        );

        let lenient = load_with(&[file], true);
        let set = lenient.set.as_ref().expect("-lenient loads the file");
        assert_eq!(set.len(), 3);
        assert!(!lenient.files_left_out);
        // Still reported as errors, each hook with how it is served.
        assert_eq!(messages(&lenient, Severity::Error).len(), 2);
        let warnings = messages(&lenient, Severity::Warning).join("\n");
        assert!(
            warnings.contains(r#"hook "bad": -lenient: served as the reference"#),
            "{warnings}"
        );
        assert!(
            warnings.contains(r#"hook "env": -lenient: served, but every request gets 500"#),
            "{warnings}"
        );
        match &set.get("bad").unwrap().rule {
            Some(Rule::Unusable {
                reads: Some(_),
                error: Some(e),
            }) => {
                assert!(e.contains("invalid regex"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let env = set.get("env").unwrap();
        assert!(matches!(
            env.rule,
            Some(Rule::Unusable {
                reads: None,
                error: Some(_)
            })
        ));
    }

    #[test]
    fn lenient_leaves_out_unreadable_files_but_not_an_id_of_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(
            dir.path(),
            "good.json",
            &json!([{"id": "a", "execute-command": "x"}]),
        );
        let twice = write(
            dir.path(),
            "twice.json",
            &json!([{"id": "a", "execute-command": "x"}]),
        );
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "[{").unwrap();
        let broken = broken.display().to_string();
        let loaded = load_with(&[good.clone(), broken.clone()], true);
        assert_eq!(loaded.set.map(|s| s.len()), Some(1));
        assert!(loaded.files_left_out);
        assert!(load_with(&[good.clone(), broken], false).set.is_none());
        assert!(load_with(&[good, twice], true).set.is_none());
    }

    #[test]
    fn a_hook_without_an_id_is_served_at_the_empty_id() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "hooks.json",
            &json!([{"execute-command": "/bin/true"}]),
        );
        let loaded = load_with(&[file], false);
        let set = loaded.set.as_ref().expect("loads");
        assert!(set.get("").is_some());
        assert!(messages(&loaded, Severity::Warning)[0].contains("served at the URL prefix itself"));
    }

    /// A pattern is compiled once per file: every hook that repeats it still gets its own
    /// working rule, and an invalid pattern its own error.
    #[test]
    fn a_repeated_regex_serves_and_fails_in_every_hook() {
        let dir = tempfile::tempdir().unwrap();
        let rule = |regex: &str| {
            json!({"match": {"type": "regex", "regex": regex,
                             "parameter": {"source": "url", "name": "ref"}}})
        };
        let hooks: Vec<Value> = (0..3)
            .map(|i| {
                json!({"id": format!("h{i}"), "execute-command": "/bin/true",
                            "trigger-rule": rule("^refs/heads/(main|release/[0-9.]+)$")})
            })
            .chain((0..2).map(|i| {
                json!({"id": format!("bad{i}"), "execute-command": "/bin/true",
                                         "trigger-rule": rule("(")})
            }))
            .collect();
        let file = write(dir.path(), "hooks.json", &Value::Array(hooks));
        let loaded = load_with(&[file], true);
        let errors = messages(&loaded, Severity::Error);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains(r#"hook "bad0""#) && errors[0].contains("invalid regex"));
        assert!(errors[1].contains(r#"hook "bad1""#) && errors[1].contains("invalid regex"));
        let set = loaded.set.expect("-lenient loads the file");
        for id in ["h0", "h1", "h2"] {
            match &set.get(id).unwrap().rule {
                Some(Rule::Regex { regex, .. }) => {
                    assert!(regex.is_match("refs/heads/release/1.2"));
                    assert!(!regex.is_match("refs/heads/feature"));
                }
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    /// A hook that cannot be read is read again for the place of its error: the message names
    /// the field, and its unknown keys are reported once.
    #[test]
    fn an_unreadable_hook_names_the_field_and_its_unknown_keys_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "hooks.json",
            &json!([
                {"id": "ok", "execute-command": "/bin/true", "colour": "red"},
                {"id": "bad", "execute-command": "/bin/true", "colour": "red",
                 "trigger-rule": {"match": {"type": "value", "value": "x",
                     "parameter": {"source": "url", "name": ["not", "text"]}}}}
            ]),
        );
        let loaded = load_with(&[file], false);
        let errors = messages(&loaded, Severity::Error);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors
                .iter()
                .filter(|e| e.contains(r#"hook "bad": unknown key "colour""#))
                .count(),
            1,
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e
                    .contains(r#"hook "bad": trigger-rule.match.parameter.name: invalid type"#)),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains(r#"hook "ok": unknown key "colour""#)),
            "{errors:?}"
        );
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err());
    }
}
