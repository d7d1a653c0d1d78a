//! `hookrun captainhook-run`: runs one captainhook run book inside a job, as
//! bketelsen/captainhook's handler does: the scripts one after the other (a failing one does
//! not stop the next), `{{POST}}` in an argument replaced by the request body when there is
//! one, each script's stdout and stderr kept apart, and the results printed as captainhook's
//! `-echo` answer (Go's `json.MarshalIndent` with two spaces). The job that runs this is the
//! hook's: timeouts, concurrency and shutdown kill this process's group, scripts included.
//!
//! It prints nothing else: its output is the answer.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, ExitCode, Stdio};

use serde::Serialize;

use crate::config::captainhook::{RunBook, Script, POST_ENV, RUNBOOK_ENV};

#[derive(Debug, Serialize)]
struct Answer {
    results: Vec<ScriptResult>,
}

/// One script's result, named as captainhook names it.
#[derive(Debug, Serialize)]
struct ScriptResult {
    stdout: String,
    stderr: String,
    /// 0 when the script exited 0; -1 otherwise (captainhook reports -1 for any error,
    /// a non-zero exit included).
    status_code: i32,
}

/// Runs the run book named by the job's environment and prints the answer.
pub fn run_from_env() -> ExitCode {
    let Some(book) = std::env::var_os(RUNBOOK_ENV) else {
        eprintln!("hookrun captainhook-run: {RUNBOOK_ENV} is not set (this runs inside captainhook hooks' jobs)");
        return ExitCode::from(2);
    };
    let book = match std::fs::read_to_string(&book).map_err(|e| e.to_string()) {
        Ok(text) => RunBook::parse(&text),
        Err(e) => Err(e),
    };
    let book = match book {
        Ok(book) => book,
        Err(e) => {
            eprintln!("hookrun captainhook-run: {e}");
            return ExitCode::from(1);
        }
    };
    // captainhook substitutes only a body it was told the length of.
    let post = std::env::var_os(POST_ENV)
        .and_then(|path| std::fs::read(path).ok())
        .filter(|body| !body.is_empty());
    // The scripts get the environment hookrun gives hooks, without these two.
    std::env::remove_var(RUNBOOK_ENV);
    std::env::remove_var(POST_ENV);
    let results = book
        .scripts
        .iter()
        .map(|s| run_script(s, post.as_deref()))
        .collect();
    let text = go_json(&Answer { results });
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

fn run_script(script: &Script, post: Option<&[u8]>) -> ScriptResult {
    let args: Vec<OsString> = script.args.iter().map(|a| substitute(a, post)).collect();
    let output = Command::new(&script.command)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) => ScriptResult {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            status_code: if out.status.success() { 0 } else { -1 },
        },
        Err(_) => ScriptResult {
            stdout: String::new(),
            stderr: String::new(),
            status_code: -1,
        },
    }
}

/// `arg` with every `{{POST}}` replaced by the body, byte for byte (an argument is bytes, not
/// text); unchanged without a body, as captainhook leaves it.
fn substitute(arg: &str, post: Option<&[u8]>) -> OsString {
    const MARK: &str = "{{POST}}";
    let Some(body) = post else {
        return OsString::from(arg);
    };
    let mut out: Vec<u8> = Vec::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find(MARK) {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        out.extend_from_slice(body);
        rest = &rest[at + MARK.len()..];
    }
    out.extend_from_slice(rest.as_bytes());
    OsString::from_vec(out)
}

/// JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it: serde_json's pretty form, plus
/// the escapes Go adds for HTML (`<`, `>`, `&`) and for U+2028 and U+2029. These characters
/// only occur inside strings here, so replacing them in the text is exact.
fn go_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_written_as_go_writes_them() {
        let answer = Answer {
            results: vec![ScriptResult {
                stdout: "<b>&\n".into(),
                stderr: String::new(),
                status_code: 0,
            }],
        };
        assert_eq!(
            go_json(&answer),
            "{\n  \"results\": [\n    {\n      \"stdout\": \"\\u003cb\\u003e\\u0026\\n\",\n      \"stderr\": \"\",\n      \"status_code\": 0\n    }\n  ]\n}"
        );
        assert_eq!(
            go_json(&Answer { results: vec![] }),
            "{\n  \"results\": []\n}"
        );
    }

    #[test]
    fn post_replaces_every_mark_only_with_a_body() {
        assert_eq!(
            substitute("a{{POST}}b{{POST}}", Some(b"X")),
            OsString::from("aXbX")
        );
        assert_eq!(substitute("{{POST}}", None), OsString::from("{{POST}}"));
        assert_eq!(
            substitute("{{POST}}", Some(b"\xff")),
            OsString::from_vec(vec![0xff])
        );
    }
}
