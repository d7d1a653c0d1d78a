//! Start-up with hooks files that cannot be used: both servers refuse to start without hooks
//! (non-zero exit and a message); where the reference starts anyway (`-verbose`, one good file
//! among broken ones) or accepts what hookrun rejects at load, the difference is asserted on
//! both sides. Also the default `hooks.json` and `-nopanic`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::case::Case;
use super::pair::{reference, Group};
use crate::common::{free_port, hookrun_bin, listens};

/// How a start attempt ended.
#[derive(Debug)]
pub(super) enum Outcome {
    Exited {
        code: Option<i32>,
        output: String,
    },
    /// Still running and accepting connections; answered `probe_status` to `POST /hooks/x`.
    Serving {
        probe_status: u16,
    },
}

/// Starts `bin` with `args` in `dir` and sees whether it exits or serves.
pub(super) fn launch(bin: &Path, dir: &Path, args: &[&str]) -> Outcome {
    let port = free_port();
    let out = dir.join(format!("launch-{port}.log"));
    let file = std::fs::File::create(&out).expect("creating the launch log");
    let mut child = Command::new(bin)
        .args(args)
        .args(["-ip", "127.0.0.1", "-port", &port.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("cloning the log handle"))
        .stderr(file)
        .spawn()
        .expect("starting the server");
    let end = Instant::now() + Duration::from_secs(5);
    let outcome = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(&out).unwrap_or_default();
            break Outcome::Exited {
                code: status.code(),
                output,
            };
        }
        // The child itself must hold the listening socket: another test's server may have
        // taken the same free port in the meantime.
        if listens(child.id(), port) && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let probe = super::http::RawRequest {
                method: "POST".into(),
                target: "/hooks/x".into(),
                ..Default::default()
            };
            // The reference listens before it loads hooks: a start that fails while loading
            // shows as a probe that gets no answer, then an exit.
            match super::http::send(port, &probe) {
                Ok(r) => {
                    break Outcome::Serving {
                        probe_status: r.status,
                    }
                }
                Err(_) if Instant::now() < end => {}
                Err(_) => break Outcome::Serving { probe_status: 0 },
            }
        }
        assert!(
            Instant::now() < end,
            "{} neither exited nor served",
            bin.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn hookrun(dir: &Path, args: &[&str]) -> Outcome {
    launch(&hookrun_bin(), dir, args)
}

fn refuses(outcome: &Outcome, who: &str, mentions: &str) {
    match outcome {
        Outcome::Exited { code, output } => {
            assert_ne!(*code, Some(0), "{who} exited with 0: {output}");
            assert!(
                output.contains(mentions),
                "{who}'s message does not mention {mentions:?}: {output}"
            );
        }
        Outcome::Serving { .. } => panic!("{who} started; it should have refused"),
    }
}

fn serves(outcome: &Outcome, who: &str, probe: u16) {
    match outcome {
        Outcome::Serving { probe_status } => assert_eq!(*probe_status, probe, "{who}"),
        Outcome::Exited { code, output } => panic!("{who} exited ({code:?}): {output}"),
    }
}

const GOOD: &str = r#"[{"id": "x", "execute-command": "/bin/true", "response-message": "x ran"}]"#;
const BROKEN: &str = r#"[{"id": "x", "execute-command": "/bin/true""#;

#[test]
fn broken_hooks_files_stop_the_start_like_the_reference() {
    let Some(reference) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let d = dir.path();
    for (name, text) in [
        ("good.json", GOOD),
        ("broken.json", BROKEN),
        ("empty.json", "[]"),
        ("dup.json", GOOD),
    ] {
        std::fs::write(d.join(name), text).expect("writing a hooks file");
    }
    let webhook = |args: &[&str]| launch(&reference, d, args);

    // Both refuse: a broken file, a missing file, a file without hooks, a duplicate id.
    for args in [
        &["-hooks", "broken.json"][..],
        &["-hooks", "missing.json"],
        &["-hooks", "empty.json"],
    ] {
        refuses(&webhook(args), "reference", "couldn't load any hooks");
        refuses(&hookrun(d, args), "hookrun", "couldn't load");
    }
    let dup = ["-verbose", "-hooks", "good.json", "-hooks", "dup.json"];
    refuses(&webhook(&dup), "reference", "has already been loaded");
    refuses(&hookrun(d, &dup), "hookrun", "duplicate hook id");

    // Both refuse bad flags: an unknown flag, a -header without "=".
    for args in [
        &["-hooks", "good.json", "-no-such-flag"][..],
        &["-hooks", "good.json", "-header", "X-Only"],
    ] {
        for (who, outcome) in [("reference", webhook(args)), ("hookrun", hookrun(d, args))] {
            match outcome {
                Outcome::Exited { code, .. } => assert_ne!(code, Some(0), "{who} {args:?}"),
                Outcome::Serving { .. } => panic!("{who} started with {args:?}"),
            }
        }
    }

    // Both start: -nopanic, and -verbose with a file that has no hooks.
    serves(
        &webhook(&["-nopanic", "-hooks", "broken.json"]),
        "reference",
        404,
    );
    serves(
        &hookrun(d, &["-nopanic", "-hooks", "broken.json"]),
        "hookrun",
        404,
    );
    serves(
        &webhook(&["-verbose", "-hooks", "empty.json"]),
        "reference",
        404,
    );
    serves(
        &hookrun(d, &["-verbose", "-hooks", "empty.json"]),
        "hookrun",
        404,
    );

    // Deliberate: hookrun never starts on a broken file unless -nopanic; the reference starts
    // with -verbose, or when another file loaded, silently serving fewer hooks than configured.
    let verbose = ["-verbose", "-hooks", "broken.json"];
    serves(&webhook(&verbose), "reference", 404);
    refuses(&hookrun(d, &verbose), "hookrun", "broken.json");
    let mixed = ["-hooks", "good.json", "-hooks", "broken.json"];
    serves(&webhook(&mixed), "reference", 200);
    refuses(&hookrun(d, &mixed), "hookrun", "broken.json");
}

#[test]
fn default_hooks_file_is_hooks_json_like_the_reference() {
    let Some(pair) = Group::new("default-hooks-file")
        .file(
            "hooks.json",
            r#"[{"id": "default", "execute-command": "@RECORDER@", "response-message": "found"}]"#,
        )
        .manual_hooks()
        .start()
    else {
        return;
    };
    pair.run(&[Case::post(
        "hooks.json in the working directory is loaded",
        "/hooks/default",
    )
    .runs()]);
}

#[test]
fn nopanic_serves_without_hooks_like_the_reference() {
    let Some(pair) = Group::new("nopanic")
        .file("broken.json", BROKEN)
        .flags(&["-nopanic"])
        .start()
    else {
        return;
    };
    pair.run(&[
        Case::post("no hooks loaded", "/hooks/x"),
        Case::get("root still answers", "/"),
    ]);
}

/// The pid file's text once it is written: the reference (2.8.0) opens its listener before it
/// writes the pid file, so a server that listens may not have written it yet.
fn pid_file_text(pidfile: &Path, who: &str) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::read_to_string(pidfile) {
            Ok(text) if !text.is_empty() => return text,
            result if Instant::now() >= end => {
                panic!(
                    "{who}: no pid file {} after 10 s: {result:?}",
                    pidfile.display()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn pid_file_in_a_missing_folder_like_the_reference() {
    use std::os::unix::fs::PermissionsExt;
    let Some(reference) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let d = dir.path();
    std::fs::write(d.join("good.json"), GOOD).expect("writing a hooks file");
    for (who, bin) in [("reference", reference), ("hookrun", hookrun_bin())] {
        let pidfile = d.join(who).join("run/deeper/server.pid");
        let pidfile_arg = pidfile.display().to_string();
        let args = ["-verbose", "-hooks", "good.json", "-pidfile", &pidfile_arg];
        let server = crate::common::start(&bin, &args, d, &[]);
        let text = pid_file_text(&pidfile, who);
        assert_eq!(
            text,
            server.child.id().to_string(),
            "{who}: pid file content"
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&pidfile), 0o600, "{who}: pid file mode");
        assert_eq!(mode(pidfile.parent().expect("parent")), 0o755, "{who}");
        // A second server with the same pid file refuses while the first runs.
        refuses(&launch(&bin, d, &args), who, "pid file found");
        drop(server);
    }
}

/// `-lenient` starts exactly when the reference starts: a broken file next to a good one, or
/// with `-verbose`; not with only broken files, nor with an id defined in two files.
#[test]
fn lenient_starts_whenever_the_reference_starts() {
    let Some(reference) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let d = dir.path();
    let bad_regex = r#"[{"id": "x", "execute-command": "/bin/true", "response-message": "x ran",
        "trigger-rule": {"match": {"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "q"}}}}]"#;
    for (name, text) in [
        ("good.json", GOOD),
        ("broken.json", BROKEN),
        ("dup.json", GOOD),
        ("bad-regex.json", bad_regex),
    ] {
        std::fs::write(d.join(name), text).expect("writing a hooks file");
    }
    let both = |args: &[&str]| {
        let mut lenient = vec!["-lenient"];
        lenient.extend_from_slice(args);
        (launch(&reference, d, args), hookrun(d, &lenient))
    };
    let (r, h) = both(&["-hooks", "good.json", "-hooks", "broken.json"]);
    serves(&r, "reference", 200);
    serves(&h, "hookrun -lenient", 200);
    let (r, h) = both(&["-verbose", "-hooks", "broken.json"]);
    serves(&r, "reference", 404);
    serves(&h, "hookrun -lenient", 404);
    let (r, h) = both(&["-hooks", "broken.json"]);
    refuses(&r, "reference", "couldn't load any hooks");
    refuses(&h, "hookrun -lenient", "couldn't load any hooks");
    let (r, h) = both(&["-verbose", "-hooks", "good.json", "-hooks", "dup.json"]);
    refuses(&r, "reference", "has already been loaded");
    refuses(&h, "hookrun -lenient", "duplicate hook id");
    // The invalid hook is served (500 once its rule is reached, as in the reference: `x`'s
    // probe request has no `q`, so its rule does not hold); without -lenient the refusal
    // says that -lenient would start.
    let (r, h) = both(&["-hooks", "bad-regex.json"]);
    serves(&r, "reference", 200);
    serves(&h, "hookrun -lenient", 200);
    refuses(
        &hookrun(d, &["-hooks", "bad-regex.json"]),
        "hookrun",
        "-lenient starts too",
    );
}
