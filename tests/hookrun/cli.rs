//! The command line: `hookrun validate` exit codes and problem reports (the server's start
//! verdict, file by file), folders and globs as `-hooks`, duplicate ids across files, help and
//! usage errors, start-up errors said once.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::common::hookrun_bin;
use crate::fixture::{sh_hook, write_json, Fixture};

/// Runs `hookrun ARGS` in `dir`; returns the exit code and stdout+stderr.
fn hookrun(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(hookrun_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running hookrun");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn validate_accepts_a_valid_file_with_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_json(
        &dir.path().join("hooks.json"),
        &json!([sh_hook("ok", "true", &[])]),
    );
    let (code, out) = hookrun(dir.path(), &["validate", "hooks.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 1 hook(s) in 1 file(s)"), "{out}");
}

#[test]
fn validate_reports_every_problem_with_file_hook_and_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = json!({"and": [
        {"match": {"type": "value", "value": "a", "parameter": {"source": "header", "name": "X"}}},
        {"match": {"type": "regex", "regex": "(unclosed", "parameter": {"source": "header", "name": "Y"}}}
    ]});
    let file = json!([
        {"id": "x", "execute-command": "/bin/true", "trigger-rule": rule},
        {"id": "typo", "execute-command": "/bin/true", "trigger-rules": {"match": {}}},
        {"id": "mode", "execute-command": "/bin/true", "concurrency": "sometimes"},
    ]);
    write_json(&dir.path().join("hooks.json"), &file);
    let (code, out) = hookrun(dir.path(), &["validate", "hooks.json"]);
    assert_eq!(code, 1, "{out}");
    let expected = [
        "hooks.json: hook \"x\": trigger-rule.and[1].match.regex: ",
        "hooks.json: hook \"typo\": unknown key \"trigger-rules\" (did you mean \"trigger-rule\"?)",
        "hooks.json: hook \"mode\": concurrency: unknown mode \"sometimes\"",
        "invalid: 3 error(s)",
    ];
    for line in expected {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn duplicate_ids_across_files_name_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_json(
        &dir.path().join("a.json"),
        &json!([sh_hook("same", "true", &[])]),
    );
    write_json(
        &dir.path().join("b.json"),
        &json!([sh_hook("same", "true", &[])]),
    );
    let (code, out) = hookrun(dir.path(), &["validate", "a.json", "b.json"]);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("duplicate hook id"))
        .unwrap_or_else(|| panic!("no duplicate reported:\n{out}"));
    assert!(line.contains("a.json") && line.contains("b.json"), "{line}");
    // Serving refuses to start, with the same report.
    let (code, out) = hookrun(
        dir.path(),
        &[
            "-hooks",
            "a.json",
            "-hooks",
            "b.json",
            "-ip",
            "127.0.0.1",
            "-port",
            "0",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a.json") && out.contains("b.json"), "{out}");
}

fn hooks_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("hooks.d");
    std::fs::create_dir(&d).expect("mkdir");
    write_json(&d.join("a.json"), &json!([sh_hook("from-a", "true", &[])]));
    let yaml = "- id: from-b\n  execute-command: /bin/true\n";
    std::fs::write(d.join("b.yaml"), yaml).expect("write");
    std::fs::write(d.join("notes.txt"), "not hooks").expect("write");
    dir
}

async fn status(f: &Fixture, hook: &str) -> u16 {
    let resp = f.http.post(f.url(&format!("/hooks/{hook}"))).send().await;
    resp.expect("POST").status().as_u16()
}

#[tokio::test]
async fn a_folder_of_hooks_files_is_served() {
    let f = Fixture::start_in(hooks_folder(), &["-hooks", "hooks.d"]);
    assert_eq!(status(&f, "from-a").await, 200);
    assert_eq!(status(&f, "from-b").await, 200);
}

#[tokio::test]
async fn a_glob_of_hooks_files_is_served() {
    let f = Fixture::start_in(hooks_folder(), &["-hooks", "hooks.d/*.json"]);
    assert_eq!(status(&f, "from-a").await, 200);
    assert_eq!(status(&f, "from-b").await, 404);
}

#[test]
fn validate_takes_folders_and_globs() {
    let dir = hooks_folder();
    let (code, out) = hookrun(dir.path(), &["validate", "hooks.d"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 2 hook(s) in 2 file(s)"), "{out}");
    let (code, out) = hookrun(dir.path(), &["validate", "hooks.d/*.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 1 hook(s) in 1 file(s)"), "{out}");
}

#[test]
fn help_is_one_line_per_flag_and_near_misses_get_a_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["-help"][..],
        &["--help"],
        &["-h"],
        &["validate", "-help"],
        &["notify", "-help"],
    ] {
        let (code, out) = hookrun(dir.path(), args);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(!out.contains("[=<"), "{args:?}: {out}");
        assert!(!out.contains("[default: \"\"]"), "{args:?}: {out}");
        assert!(
            out.contains("Usage: hookrun") || out.contains("Usage:\n"),
            "{out}"
        );
    }
    let (code, out) = hookrun(dir.path(), &["-prot", "9000"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("hookrun: unknown flag -prot (did you mean -port?)\n"),
        "{out}"
    );
    let (code, out) = hookrun(dir.path(), &["valdate", "hooks.json"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unknown command \"valdate\" (did you mean validate?)"),
        "{out}"
    );
    let out = Command::new(hookrun_bin())
        .args(["-hooks", "hooks.json"])
        .current_dir(dir.path())
        .env("HOOKRUN_PORT", "nine")
        .output()
        .expect("running hookrun");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("hookrun: invalid value \"nine\" for HOOKRUN_PORT (-port)"),
        "{text}"
    );
    // A reader that stops early (`| head -1`) is no reason to panic.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' -help | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}",
            hookrun_bin().display()
        ))
        .output()
        .expect("running bash");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("panicked"), "{text}");
    let (code, out) = hookrun(dir.path(), &["-V"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("hookrun version "), "{out}");
}

#[test]
fn flags_are_read_from_the_environment_and_the_command_line_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_json(
        &dir.path().join("hooks.json"),
        &json!([sh_hook("a", "true", &[])]),
    );
    let out = Command::new(hookrun_bin())
        .args(["validate", "hooks.json"])
        .current_dir(dir.path())
        .env("HOOKRUN_TEMPLATE", "true")
        .env("HOOKRUN_PORT", "1")
        .output()
        .expect("running hookrun");
    assert!(out.status.success(), "{out:?}");
    // -template read from the environment: the file is rendered (it has no actions to render).
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{{ nope }}]").expect("write");
    let out = Command::new(hookrun_bin())
        .args(["validate", "broken.json"])
        .current_dir(dir.path())
        .env("HOOKRUN_TEMPLATE", "true")
        .output()
        .expect("running hookrun");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("template:"), "{text}");
    let out = Command::new(hookrun_bin())
        .args(["validate", "-template=false", "broken.json"])
        .current_dir(dir.path())
        .env("HOOKRUN_TEMPLATE", "true")
        .output()
        .expect("running hookrun");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("start with -template"), "{text}");
}

#[test]
fn startup_errors_are_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_json(
        &dir.path().join("hooks.json"),
        &json!([{"id": "x", "execute-command": "/bin/true", "trigger-rules": {}}]),
    );
    let port = crate::common::free_port().to_string();
    let (code, out) = hookrun(
        dir.path(),
        &["-hooks", "hooks.json", "-ip", "127.0.0.1", "-port", &port],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("unknown key \"trigger-rules\"").count(),
        1,
        "{out}"
    );
    // -secure without a certificate: the operating system's error once.
    write_json(
        &dir.path().join("ok.json"),
        &json!([sh_hook("a", "true", &[])]),
    );
    let (code, out) = hookrun(
        dir.path(),
        &[
            "-hooks",
            "ok.json",
            "-secure",
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("-secure: reading cert.pem: No such file or directory"),
        "{out}"
    );
    assert_eq!(out.matches("No such file or directory").count(), 1, "{out}");
}
