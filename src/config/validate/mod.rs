//! Validation: the only way from a raw hook to a runtime `Hook`. Every problem is collected with
//! its field path (unknown keys included, as serde finds them: `keys`); nothing is compiled or
//! checked later, per request.
//!
//! With `-lenient` a hook with errors is still served, the way the reference serves it: the
//! reference accepts such a file and fails (or never matches) at request time. Where an error
//! has a request-time form (`tolerate`), the hook is built with it: an invalid regex is a rule
//! that answers 500 when a request reaches it, an argument with an unknown source passes `""`.
//! A hook with any other error is served with a rule that always fails (500), so its command
//! never runs, and never runs without its rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::compile_rules::compile_rule;
use super::hook::{Hook, Parameter, Rule};
use super::keys::UnknownKey;
use super::problem::{Problems, Severity};
use super::raw::RawHook;
use super::unknown_keys::Seen;

mod fields;

/// Context for validating the hooks of one file.
pub struct Validator<'a> {
    file: &'a Path,
    /// `file`, as every hook of the file holds it.
    shared_file: Arc<Path>,
    /// `-lenient`: unknown keys are warnings, and hooks with errors are served (see the module
    /// doc).
    lenient: bool,
    problems: &'a mut Problems,
    /// Errors of the current hook that have a request-time form (`tolerate`).
    tolerated: usize,
    /// Whether a mail server is configured (`-smtp`): without one, e-mail targets are errors.
    mail_server: bool,
    /// Commands already looked up, by program and working folder (with why they cannot run):
    /// the hooks of a big file mostly run the same few programs.
    commands: foldhash::HashMap<String, LookedUp>,
    /// Regexes already compiled, by pattern: hooks generated from one template repeat the same
    /// pattern, and share one compiled regex (a `Regex` clone would cost each hook 1.5 KB for a
    /// cache pool of its own: 7 MB for 5,000 hooks).
    regexes: foldhash::HashMap<String, Result<Arc<Regex>, regex::Error>>,
}

/// The working folders a program was looked up from, each with why it cannot run there.
type LookedUp = Vec<(Option<PathBuf>, Option<String>)>;

/// The raw hook in `value`, with the keys it does not know in `unknown`. Tracking the path of
/// every key (for the error's place) costs more than the rest of the reading, so only a hook
/// that cannot be read is read a second time, with paths.
fn deserialize_raw(
    value: &Value,
    unknown: &mut Vec<UnknownKey>,
) -> Result<RawHook, serde_path_to_error::Error<serde_json::Error>> {
    let mut note = |path: serde_ignored::Path| unknown.extend(UnknownKey::from_ignored(&path));
    if let Ok(raw) = RawHook::deserialize(serde_ignored::Deserializer::new(value, &mut note)) {
        return Ok(raw);
    }
    unknown.clear();
    let mut note = |path: serde_ignored::Path| unknown.extend(UnknownKey::from_ignored(&path));
    serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note))
}

/// Where in a hook a problem is: the hook's id and a field path. Every field of every hook has
/// a place, and few have a problem: the path is kept as a chain of borrowed steps, and written
/// out only for a problem (building each field's path as a `String` cost a 5,000-hook file
/// about a tenth of its load).
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub hook: &'a str,
    place: Place<'a>,
}

#[derive(Clone, Copy)]
enum Place<'a> {
    /// A path written out (`""`: the hook itself).
    Path(&'a str),
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    pub fn new(hook: &'a str, path: &'a str) -> Self {
        At {
            hook,
            place: Place::Path(path),
        }
    }

    /// The field `name` of this place.
    pub fn field<'b>(&'b self, name: &'b str) -> At<'b> {
        At {
            hook: self.hook,
            place: Place::Field(self, name),
        }
    }

    /// The item `i` of the list at this place.
    pub fn index(&self, i: usize) -> At<'_> {
        At {
            hook: self.hook,
            place: Place::Index(self, i),
        }
    }

    /// The field path, e.g. `trigger-rule.and[1].match.regex`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        self.write_path(&mut out);
        out
    }

    fn write_path(&self, out: &mut String) {
        match self.place {
            Place::Path(path) => out.push_str(path),
            Place::Field(parent, name) => {
                parent.write_path(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Place::Index(parent, i) => {
                use std::fmt::Write as _;
                parent.write_path(out);
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

impl<'a> Validator<'a> {
    pub fn new(
        file: &'a Path,
        lenient: bool,
        mail_server: bool,
        problems: &'a mut Problems,
    ) -> Self {
        Validator {
            file,
            shared_file: Arc::from(file),
            lenient,
            problems,
            tolerated: 0,
            mail_server,
            commands: foldhash::HashMap::default(),
            regexes: foldhash::HashMap::default(),
        }
    }

    /// How many problems were found so far (for `drop_problems_from`).
    pub(super) fn problem_count(&self) -> usize {
        self.problems.list.len()
    }

    /// Forgets the problems found since `problem_count` said `count`: a reading that is being
    /// done again.
    pub(super) fn drop_problems_from(&mut self, count: usize) {
        self.problems.list.truncate(count);
    }

    /// `pattern` compiled with Go's syntax (`goregex`), once per file.
    pub(super) fn regex(&mut self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        if let Some(compiled) = self.regexes.get(pattern) {
            return compiled.clone();
        }
        let compiled = super::goregex::compile(pattern).map(Arc::new);
        self.regexes.insert(pattern.to_string(), compiled.clone());
        compiled
    }

    /// An error in a hook. Without `-lenient` the hook is refused; with it, the hook is served
    /// with a rule that always fails (500), unless the error was `tolerate`d.
    pub(super) fn error(&mut self, at: &At, message: impl Into<String>) {
        self.problems.push(
            Severity::Error,
            self.file,
            Some(at.hook),
            at.path(),
            message,
        );
    }

    /// An error the reference meets only at request time. It is reported as an error either
    /// way; without `-lenient` the hook is refused (`false`), with it (`true`) the caller builds
    /// the hook the way the reference serves it.
    pub(super) fn tolerate(&mut self, at: &At, message: impl Into<String>) -> bool {
        self.error(at, message);
        if self.lenient {
            self.tolerated += 1;
        }
        self.lenient
    }

    pub(super) fn warn(&mut self, at: &At, message: impl Into<String>) {
        self.problems.push(
            Severity::Warning,
            self.file,
            Some(at.hook),
            at.path(),
            message,
        );
    }

    /// Validates one element of the hooks array.
    pub fn hook(&mut self, index: usize, value: &Value) -> Option<Hook> {
        let label = value
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{index}"));
        let at = At::new(&label, "");
        let mut raw = self.read(value, &at)?;
        let id = std::mem::take(&mut raw.id);
        let mut hook = self.check(&mut raw, &id, &at)?;
        hook.id = id;
        Some(hook)
    }

    /// Validates one element of the hooks array as read straight from the parser, with the
    /// unknown keys and the kind of `id` that reading saw.
    pub(super) fn read_hook(&mut self, index: usize, mut raw: RawHook, seen: Seen) -> Option<Hook> {
        // The id names the hook in its problems, then moves into it: no copy per hook.
        let id = std::mem::take(&mut raw.id);
        let numbered;
        let label = if seen.id_is_text && !id.is_empty() {
            id.as_str()
        } else {
            numbered = format!("#{index}");
            numbered.as_str()
        };
        let at = At::new(label, "");
        self.unknown_keys(seen.unknown, &at);
        let mut hook = self.check(&mut raw, &id, &at)?;
        hook.id = id;
        Some(hook)
    }

    /// Builds the hook from its raw form (its `id` taken out: the caller moves it into the
    /// hook), reporting every problem; `None` when it is refused. The texts the hook keeps are
    /// taken out of `raw`, which is borrowed rather than moved (it is most of a kilobyte).
    fn check(&mut self, raw: &mut RawHook, id: &str, at: &At) -> Option<Hook> {
        let before = self.problems.list.len();
        self.tolerated = 0;
        let has_rule = raw.trigger_rule.is_some();
        let hook = self.build(raw, id, at);
        let errors = self.problems.list[before..]
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        match errors {
            0 => Some(hook),
            _ if !self.lenient => None,
            _ => Some(self.served_leniently(hook, errors, has_rule, at)),
        }
    }

    /// Unknown keys: errors, or warnings with `-lenient`.
    fn unknown_keys(&mut self, unknown: Vec<UnknownKey>, at: &At) {
        for key in unknown {
            let path = key.object_path();
            let at = At::new(at.hook, &path);
            if self.lenient {
                self.warn(&at, key.message());
            } else {
                self.error(&at, key.message());
            }
        }
    }

    /// The raw hook, with unknown keys reported; `None` when it cannot be read at all.
    fn read(&mut self, value: &Value, at: &At) -> Option<RawHook> {
        if !value.is_object() {
            self.error(at, "a hook must be an object");
            return None;
        }
        let mut unknown = Vec::new();
        let raw = deserialize_raw(value, &mut unknown);
        self.unknown_keys(unknown, at);
        match raw {
            Ok(raw) => Some(raw),
            Err(e) => {
                // The reference cannot read such a file at all: not even with -lenient is a
                // hook served that could not be read.
                self.error(&at.field(&e.path().to_string()), e.into_inner().to_string());
                None
            }
        }
    }

    /// `-lenient`'s form of a hook with `errors`: as built, when every error was `tolerate`d
    /// (the reference's request-time forms); otherwise with a rule that refuses every request.
    /// Either way a hook never runs without the rules it was given.
    fn served_leniently(&mut self, mut hook: Hook, errors: usize, has_rule: bool, at: &At) -> Hook {
        if errors > self.tolerated || (has_rule && hook.rule.is_none()) {
            hook.rule = Some(Rule::Unusable {
                reads: None,
                error: Some("the hook is invalid (its problems are logged at start)".into()),
            });
            self.warn(
                at,
                "-lenient: served, but every request gets 500 (Error occurred while evaluating hook rules.); the command never runs",
            );
        } else {
            self.warn(
                at,
                "-lenient: served as the reference serves it; the problems above show at request time",
            );
        }
        hook
    }

    /// The hook, with an empty `id` for the caller to fill in: `id` is the one it had.
    fn build(&mut self, raw: &mut RawHook, id: &str, at: &At) -> Hook {
        if id.is_empty() {
            self.warn(
                &at.field("id"),
                "no id: the hook is served at the URL prefix itself (/hooks/ by default), as by the reference",
            );
        }
        let command = self.command(raw, at);
        let response_headers = self.response_headers(raw, &at.field("response-headers"));
        // The lists and the rule move out of the raw hook: their texts move into the hook.
        let env = self.env_arguments(std::mem::take(&mut raw.pass_environment_to_command), at);
        let args = self.parameters(
            std::mem::take(&mut raw.pass_arguments_to_command),
            &at.field("pass-arguments-to-command"),
        );
        let files = self.file_arguments(std::mem::take(&mut raw.pass_file_to_command), at);
        let json_parameters =
            self.json_parameters(std::mem::take(&mut raw.parse_parameters_as_json), at);
        let rule = raw
            .trigger_rule
            .take()
            .and_then(|r| compile_rule(self, r, &at.field("trigger-rule")));
        let methods = self.methods(&raw.http_methods, &at.field("http-methods"));
        let execution = self.execution(raw, at);
        let registry_event = raw
            .registry_event
            .as_ref()
            .and_then(|v| self.registry_event(v, &at.field("registry-event")));
        let notify = self.notify(&raw.notify, at);
        let mut reads_payload = args
            .iter()
            .chain(env.iter().map(|e| &e.value))
            .chain(files.iter().map(|f| &f.value))
            .chain(json_parameters.iter())
            .any(Parameter::reads_payload);
        if let Some(rule) = &rule {
            // Without collecting the rule's parameters into a list for each hook.
            rule.each_parameter(&mut |p| reads_payload |= p.reads_payload());
        }
        Hook {
            id: String::new(),
            file: self.shared_file.clone(),
            command,
            response_message: std::mem::take(&mut raw.response_message),
            response_headers,
            capture_output: raw.capture_output,
            capture_output_on_error: raw.capture_output_on_error,
            env,
            args,
            files,
            json_parameters,
            rule,
            mismatch_status: self.status(
                raw.trigger_rule_mismatch_http_response_code,
                &at.field("trigger-rule-mismatch-http-response-code"),
            ),
            success_status: self.status(
                raw.success_http_response_code,
                &at.field("success-http-response-code"),
            ),
            soft_signature_failures: raw.trigger_signature_soft_failures,
            content_type: Some(std::mem::take(&mut raw.incoming_payload_content_type))
                .filter(|s| !s.is_empty()),
            methods,
            execution,
            registry_event,
            notify,
            reads_payload,
        }
    }
}
