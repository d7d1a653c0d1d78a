//! A group of cases sharing hooks files and flags: both servers are started once for the group
//! (in parallel, same working directory, each with its own record folder), every case is sent
//! to both at once, and every difference is collected into one report per group.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::case::{Case, Runs};
use super::compare;
use super::http::{self, RawRequest, RawResponse};
use super::record;
use crate::common::{self, Server};

/// How long a command that should run may take to leave its record.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// The reference binary; `None` (skip) only when it is not installed and not asked for.
pub fn reference() -> Option<PathBuf> {
    match common::reference_bin() {
        Some(p) => Some(p),
        None if std::env::var_os("HOOKRUN_REFERENCE").is_some() => {
            panic!("HOOKRUN_REFERENCE names a missing binary")
        }
        None => {
            eprintln!("differential: /usr/bin/webhook is not installed; skipping");
            None
        }
    }
}

/// Hooks files, flags and environment shared by a group's cases.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    files: Vec<(String, String)>,
    flags: Vec<String>,
    /// Flags only hookrun knows (`-lenient`), after the shared ones.
    hookrun_flags: Vec<String>,
    env: Vec<(String, String)>,
    env_names: Vec<String>,
    file_vars: Vec<String>,
    /// Pass each file with `-hooks` (off when the flags name the files themselves).
    auto_hooks: bool,
}

impl Group {
    pub fn new(name: &str) -> Self {
        Group {
            name: name.to_string(),
            auto_hooks: true,
            ..Default::default()
        }
    }

    /// A hooks file; `@RECORDER@` and `@DIR@` (the servers' working directory) are filled in.
    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.push((name.to_string(), content.to_string()));
        self
    }

    /// Flags for both servers; `@DIR@` is filled in.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|s| s.to_string()));
        self
    }

    /// Flags for hookrun only (hookrun's own flags, such as `-lenient`).
    pub fn hookrun_flags(mut self, flags: &[&str]) -> Self {
        self.hookrun_flags
            .extend(flags.iter().map(|s| s.to_string()));
        self
    }

    /// Do not add `-hooks FILE` for each file: the flags say which files to load.
    pub fn manual_hooks(mut self) -> Self {
        self.auto_hooks = false;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Starts both servers, or `None` when the reference is not installed.
    pub fn start(self) -> Option<Pair> {
        self.start_with(|_| {})
    }

    /// Like `start`, after `setup` has prepared the working directory.
    pub fn start_with(self, setup: impl FnOnce(&Path)) -> Option<Pair> {
        let reference = reference()?;
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let work = dir.path().join("work");
        std::fs::create_dir(&work).expect("creating the working folder");
        setup(&work);
        let recorder = record::recorder();
        let fill = |s: &str| {
            s.replace("@RECORDER@", &recorder.display().to_string())
                .replace("@DIR@", &work.display().to_string())
        };
        let mut group = self;
        let mut args: Vec<String> = vec!["-verbose".into()];
        for (name, content) in &group.files {
            let text = fill(content);
            scan_names(&text, &mut group.env_names, &mut group.file_vars);
            let path = work.join(name);
            std::fs::write(&path, text).expect("writing a hooks file");
            if group.auto_hooks {
                args.push("-hooks".into());
                args.push(path.display().to_string());
            }
        }
        args.extend(group.flags.iter().map(|f| fill(f)));
        let records = [
            dir.path().join("records-hookrun"),
            dir.path().join("records-reference"),
        ];
        for r in &records {
            std::fs::create_dir(r).expect("creating a record folder");
        }
        let env_names = group.env_names.join(",");
        let file_vars = group.file_vars.join(",");
        let hookrun_args: Vec<String> = args
            .iter()
            .cloned()
            .chain(group.hookrun_flags.iter().map(|f| fill(f)))
            .collect();
        let start = |bin: &Path, records: &Path, args: &[String]| {
            let filled: Vec<(String, String)> = group
                .env
                .iter()
                .map(|(k, v)| (k.clone(), fill(v)))
                .collect();
            let mut env: Vec<(&str, &str)> = filled
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let rec = records.display().to_string();
            env.push(("RECORDER_DIR", &rec));
            env.push(("RECORDER_ENV_NAMES", &env_names));
            env.push(("RECORDER_FILE_VARS", &file_vars));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::start(bin, &args, &work, &env)
        };
        let (hookrun, reference) = std::thread::scope(|s| {
            let h = s.spawn(|| start(&common::hookrun_bin(), &records[0], &hookrun_args));
            let r = start(&reference, &records[1], &args);
            (h.join().expect("starting hookrun"), r)
        });
        Some(Pair {
            name: group.name.clone(),
            work,
            records,
            hookrun,
            reference,
            _dir: dir,
        })
    }
}

/// Finds the variable names a hooks file passes to commands, for the recorder.
fn scan_names(text: &str, env_names: &mut Vec<String>, file_vars: &mut Vec<String>) {
    let doc: Option<Value> = serde_json::from_str(text)
        .ok()
        .or_else(|| serde_yaml_ng::from_str(text).ok());
    let Some(Value::Array(hooks)) = doc else {
        return;
    };
    for hook in &hooks {
        for (field, target, upper) in [
            ("pass-environment-to-command", &mut *env_names, false),
            ("pass-file-to-command", &mut *file_vars, true),
        ] {
            for arg in hook[field].as_array().into_iter().flatten() {
                let name = match arg["envname"].as_str().filter(|s| !s.is_empty()) {
                    Some(n) => n.to_string(),
                    None if upper => {
                        format!("HOOK_{}", arg["name"].as_str().unwrap_or("").to_uppercase())
                    }
                    None => format!("HOOK_{}", arg["name"].as_str().unwrap_or("")),
                };
                if !target.contains(&name) {
                    target.push(name);
                }
            }
        }
    }
}

/// Both servers of a group, started with the same hooks and flags.
pub struct Pair {
    pub name: String,
    /// The servers' working directory, where the hooks files are.
    pub work: PathBuf,
    records: [PathBuf; 2],
    pub hookrun: Server,
    pub reference: Server,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Sends `req` to both servers at the same time: (hookrun, reference).
    pub fn send(
        &self,
        req: &RawRequest,
    ) -> (Result<RawResponse, String>, Result<RawResponse, String>) {
        std::thread::scope(|s| {
            let h = s.spawn(|| http::send(self.hookrun.port, req));
            let r = http::send(self.reference.port, req);
            (h.join().expect("hookrun request thread"), r)
        })
    }

    /// Runs one case; returns its differences (empty when the servers agree).
    pub fn check(&self, case: &Case) -> Vec<String> {
        let mut problems = self.stray_records("before the case");
        let (h, r) = match self.send(&case.request) {
            (Ok(h), Ok(r)) => (h, r),
            (h, r) => {
                problems.push(format!(
                    "request failed: hookrun {:?} / reference {:?}",
                    h.err(),
                    r.err()
                ));
                return problems;
            }
        };
        let (rec_h, rec_r) = self.collect_records(case);
        if std::env::var("DIFF_SHOW").is_ok_and(|f| case.name.contains(&f)) {
            eprintln!(
                "case {:?}\n  hookrun: {h:?}\n  {rec_h:?}\n  reference: {r:?}\n  {rec_r:?}",
                case.name
            );
        }
        problems.extend(judge(case, (&h, &rec_h), (&r, &rec_r)));
        let files: Vec<PathBuf> = rec_h
            .iter()
            .chain(&rec_r)
            .flat_map(record::passed_files)
            .collect();
        for left in record::wait_removed(&files, Duration::from_secs(3)) {
            problems.push(format!(
                "passed file {} still exists after the command",
                left.display()
            ));
        }
        problems
    }

    /// Records left in either folder (a command that ran when no case expected it).
    fn stray_records(&self, when: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (who, dir) in ["hookrun", "reference"].iter().zip(&self.records) {
            let stray = record::take(dir);
            if !stray.is_empty() {
                problems.push(format!(
                    "{who}: {} stray record(s) {when}: {stray:?}",
                    stray.len()
                ));
            }
        }
        problems
    }

    /// Each server's records for `case`, waiting (in parallel) for the runs it expects.
    fn collect_records(&self, case: &Case) -> (Vec<Value>, Vec<Value>) {
        let want = |runs: Runs| usize::from(runs == Runs::Once);
        let (want_h, want_r) = match &case.deliberate {
            Some(d) => (want(d.hookrun.runs), want(d.reference.runs)),
            None => (want(case.runs), want(case.runs)),
        };
        let wait = |dir: &Path, n: usize| {
            record::wait(dir, n, if n > 0 { RUN_TIMEOUT } else { Duration::ZERO })
        };
        std::thread::scope(|s| {
            let h = s.spawn(|| wait(&self.records[0], want_h));
            let r = wait(&self.records[1], want_r);
            (h.join().expect("waiting for hookrun's records"), r)
        })
    }

    /// Runs every case and fails with one report listing all differences.
    pub fn run(&self, cases: &[Case]) {
        let mut report = Vec::new();
        for case in cases {
            let t = std::time::Instant::now();
            let problems = self.check(case);
            if std::env::var_os("DIFF_TIMING").is_some() {
                eprintln!("{:?}: {:?}", case.name, t.elapsed());
            }
            if !problems.is_empty() {
                report.push(format!(
                    "  case {:?}:\n    {}",
                    case.name,
                    problems.join("\n    ")
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        report.extend(
            self.stray_records("after the last case")
                .into_iter()
                .map(|p| format!("  {p}")),
        );
        eprintln!(
            "differential group {:?}: {} case(s), {} differ",
            self.name,
            cases.len(),
            report.len()
        );
        assert!(
            report.is_empty(),
            "differential group {:?}: {} of {} case(s) differ\n{}\nhookrun log:\n{}\nreference log:\n{}",
            self.name,
            report.len(),
            cases.len(),
            report.join("\n"),
            tail(&self.hookrun.log_text()),
            tail(&self.reference.log_text()),
        );
    }

    /// Polls both servers with `req` until `done` holds for both answers, or `timeout` passes;
    /// returns which servers never got there.
    pub fn wait_until(
        &self,
        req: &RawRequest,
        timeout: Duration,
        done: impl Fn(&RawResponse) -> bool,
    ) -> Vec<&'static str> {
        let end = std::time::Instant::now() + timeout;
        loop {
            let (h, r) = self.send(req);
            let mut pending = Vec::new();
            if !h.as_ref().is_ok_and(&done) {
                pending.push("hookrun");
            }
            if !r.as_ref().is_ok_and(&done) {
                pending.push("reference");
            }
            if pending.is_empty() || std::time::Instant::now() >= end {
                return pending;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` (e.g. "USR1") to both servers.
    pub fn signal(&self, sig: &str) {
        self.hookrun.signal(sig);
        self.reference.signal(sig);
    }

    /// Rewrites a file in the working directory (`@RECORDER@`/`@DIR@` filled in).
    pub fn write(&self, name: &str, content: &str) {
        let text = content
            .replace("@RECORDER@", &record::recorder().display().to_string())
            .replace("@DIR@", &self.work.display().to_string());
        std::fs::write(self.work.join(name), text).expect("rewriting a hooks file");
    }
}

/// The differences one case shows: the two answers and records compared, or, for a
/// deliberate difference, each checked against what the case expects of it.
fn judge(
    case: &Case,
    hookrun: (&RawResponse, &[Value]),
    reference: (&RawResponse, &[Value]),
) -> Vec<String> {
    let (h, rec_h) = hookrun;
    let (r, rec_r) = reference;
    let mut problems = Vec::new();
    match &case.deliberate {
        None => {
            problems.extend(compare::responses(h, r));
            problems.extend(compare::records(rec_h, rec_r));
            let want = usize::from(case.runs == Runs::Once);
            if rec_h.len() == rec_r.len() && rec_h.len() != want {
                problems.push(format!(
                    "the case expects {want} run(s); both servers ran the command {} time(s)",
                    rec_h.len()
                ));
            }
        }
        Some(d) => {
            problems.extend(compare::expected("hookrun", h, rec_h, &d.hookrun));
            problems.extend(compare::expected("reference", r, rec_r, &d.reference));
            if !problems.is_empty() {
                problems.push(format!("(deliberate difference: {})", d.reason));
            }
        }
    }
    problems
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
