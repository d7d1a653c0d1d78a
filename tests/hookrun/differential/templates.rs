//! `-template` against the reference, case by case (`template_cases`): each rendering case is
//! one hook whose `response-message` is the template, so both servers must answer every case
//! with the same text; each failing case is a hooks file of its own, which the reference skips
//! with an error in its log and hookrun refuses with its own, and the two must name the same
//! line and the same problem (and, where Go gives one, the same column: Go counts bytes from 0,
//! hookrun characters from 1).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::case::Case;
use super::pair::{reference, Group};
use super::template_cases::{ERROR_CASES, RENDER_CASES};
use crate::common::{free_port, hookrun_bin};

/// The environment both servers render with.
const ENV: [(&str, &str); 3] = [("A", "alpha"), ("EMPTY", ""), ("QUOTED", "say \"hi\" <b>")];

/// One hook per case; the template sits in a single-quoted YAML scalar, so its output must
/// not contain `'` or a line break (the cases print those through `printf "%q"` or `urlquery`).
fn hook(id: &str, template: &str) -> String {
    format!("- id: {id}\n  execute-command: /bin/true\n  response-message: '{template}'\n")
}

#[test]
fn templates_render_like_the_reference() {
    assert!(
        RENDER_CASES.len() >= 150,
        "the table keeps at least 150 rendering cases"
    );
    let file: String = RENDER_CASES
        .iter()
        .enumerate()
        .map(|(i, (_, template))| hook(&format!("t{i}"), template))
        .collect();
    let mut group = Group::new("template-cases")
        .file("cases.yaml", &file)
        .flags(&["-template"]);
    for (name, value) in ENV {
        group = group.env(name, value);
    }
    let Some(pair) = group.start() else {
        return;
    };
    let cases: Vec<Case> = RENDER_CASES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Case::post(name, &format!("/hooks/t{i}")))
        .collect();
    pair.run(&cases);
}

/// Starts `bin` on `files` and returns what it logged once it exited or began serving.
fn launch_log(bin: &Path, dir: &Path, files: &[String]) -> String {
    let port = free_port();
    let log = dir.join(format!("launch-{port}.log"));
    let out = std::fs::File::create(&log).expect("creating the launch log");
    let mut cmd = Command::new(bin);
    cmd.args(["-verbose", "-template", "-ip", "127.0.0.1", "-port"])
        .arg(port.to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("cloning the log handle"))
        .stderr(out);
    for f in files {
        cmd.args(["-hooks", f]);
    }
    for (name, value) in ENV {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().expect("starting the server");
    // Done when it exits (hookrun refusing the files) or says it serves (the reference, after
    // logging every file); the port alone could be another test's server.
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("serving hooks on") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap_or_default()
}

/// A load error as (line, column if given, problem): from Go's `template: hooks:3:24:
/// executing "hooks" at <len 3>: problem` or `template: hooks:3: problem`, or from hookrun's
/// `template: line 3:25: problem`.
#[derive(Debug, PartialEq)]
struct LoadError {
    line: usize,
    col: Option<usize>,
    problem: String,
}

fn parse_go_error(text: &str) -> Option<LoadError> {
    let rest = text.strip_prefix("template: hooks:")?;
    let (line, rest) = rest.split_once(':')?;
    let line = line.parse().ok()?;
    let (col, rest) = match rest.split_once(':') {
        Some((c, r)) if c.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty() => {
            (c.parse().ok(), r)
        }
        _ => (None, rest),
    };
    let rest = rest.trim_start();
    let problem = match rest.strip_prefix("executing \"hooks\" at <") {
        Some(r) => r.split_once(">: ")?.1,
        None => rest,
    };
    Some(LoadError {
        line,
        col,
        problem: problem.to_string(),
    })
}

fn parse_hookrun_error(text: &str) -> Option<LoadError> {
    let rest = text.strip_prefix("template: line ")?;
    let (line, rest) = rest.split_once(':')?;
    let (col, problem) = rest.split_once(": ")?;
    Some(LoadError {
        line: line.parse().ok()?,
        col: col.parse().ok(),
        problem: problem.to_string(),
    })
}

/// The error logged for `file`: the reference logs "attempting to load hooks from FILE" and then
/// "couldn't load hooks from file! ERROR"; hookrun lists "FILE: ERROR".
fn reference_errors(log: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in log.lines() {
        if let Some((_, file)) = line.split_once("attempting to load hooks from ") {
            current = file.trim().to_string();
        } else if let Some((_, err)) = line.split_once("couldn't load hooks from file! ") {
            out.push((current.clone(), err.to_string()));
        }
    }
    out
}

#[test]
fn template_errors_name_the_same_line_and_problem_as_the_reference() {
    let Some(reference) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().expect("creating a temporary folder");
    let files: Vec<String> = ERROR_CASES
        .iter()
        .enumerate()
        .map(|(i, (_, template))| {
            let path = dir.path().join(format!("e{i}.yaml"));
            std::fs::write(&path, hook(&format!("e{i}"), template)).expect("writing a case");
            path.display().to_string()
        })
        .collect();
    let reference_log = launch_log(&reference, dir.path(), &files);
    let hookrun_log = launch_log(&hookrun_bin(), dir.path(), &files);
    let reference_errors = reference_errors(&reference_log);
    let mut report = Vec::new();
    for (i, ((name, template), file)) in ERROR_CASES.iter().zip(&files).enumerate() {
        let go = reference_errors
            .iter()
            .find(|(f, _)| f == file)
            .and_then(|(_, e)| parse_go_error(e));
        let marker = format!("/e{i}.yaml: ");
        let ours = hookrun_log
            .lines()
            .find_map(|l| l.split_once(&marker).map(|(_, e)| e.to_string()))
            .and_then(|e| parse_hookrun_error(&e));
        let agree = match (&go, &ours) {
            (Some(g), Some(o)) => {
                g.line == o.line
                    && g.problem == o.problem
                    && g.col.is_none_or(|c| o.col == Some(c + 1))
            }
            _ => false,
        };
        if !agree {
            report.push(format!(
                "  case {name:?} ({template}):\n    reference: {go:?}\n    hookrun:   {ours:?}"
            ));
        }
    }
    eprintln!(
        "differential template errors: {} case(s), {} differ",
        ERROR_CASES.len(),
        report.len()
    );
    assert!(
        report.is_empty(),
        "{} of {} template error case(s) differ\n{}\nhookrun log:\n{hookrun_log}",
        report.len(),
        ERROR_CASES.len(),
        report.join("\n")
    );
}
