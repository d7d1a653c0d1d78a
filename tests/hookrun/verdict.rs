//! `hookrun validate` gives the server's start verdict: for each broken (or suspicious) hooks
//! file, `validate`'s exit status is what the server does with the same file and flags — exit 1,
//! or start (0) — and both say why in the same words.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, hookrun_bin, listens};

/// How the server took the files: `Ok(output)` it started (and was stopped), `Err((code,
/// output))` it exited.
fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, (i32, String)> {
    for _ in 0..5 {
        let port = free_port();
        let log = dir.join(format!("server-{port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(hookrun_bin());
        cmd.args(args)
            .args(["-ip", "127.0.0.1", "-port", &port.to_string()])
            .current_dir(dir)
            .env_remove("CREDENTIALS_DIRECTORY")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file);
        let mut child = cmd.spawn().expect("starting hookrun");
        let end = Instant::now() + Duration::from_secs(10);
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let output = read();
                if output.contains("in use") {
                    break; // Another test took the port: try another.
                }
                return Err((status.code().unwrap_or(-1), output));
            }
            if listens(child.id(), port) {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(read());
            }
            assert!(
                Instant::now() < end,
                "neither started nor exited: {}",
                read()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("no free port after 5 attempts");
}

/// `hookrun validate ARGS`: exit status and output.
fn validate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(hookrun_bin())
        .arg("validate")
        .args(args)
        .current_dir(dir)
        .env_remove("CREDENTIALS_DIRECTORY")
        .envs(env.iter().copied())
        .output()
        .expect("running hookrun validate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

struct Case {
    name: &'static str,
    /// Files to write (path, contents); a path ending in `/` is a folder.
    files: &'static [(&'static str, &'static str)],
    /// Flags besides the hooks path, the same for `validate` and the server.
    flags: &'static [&'static str],
    hooks: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Whether the server starts.
    starts: bool,
    /// What both outputs must say.
    says: &'static str,
}

const TEMPLATED: &str = r#"[{"id": "deploy", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "value", "value": {{ getenv "TOKEN" | printf "%q" }},
                             "parameter": {"source": "url", "name": "token"}}}}]"#;
const TEMPLATED_STRING: &str = r#"[{"id": "deploy", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "value", "value": "{{ getenv \"TOKEN\" }}",
                             "parameter": {"source": "url", "name": "token"}}}}]"#;
const CREDENTIAL: &str = r#"[{"id": "deploy", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "value", "value": "{{ credential "token" }}",
                             "parameter": {"source": "url", "name": "token"}}}}]"#;

const CASES: &[Case] = &[
    Case {
        name: "a valid file",
        files: &[(
            "hooks.json",
            r#"[{"id": "a", "execute-command": "/bin/true"}]"#,
        )],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: true,
        says: "",
    },
    Case {
        name: "an empty folder",
        files: &[("hooks.d/", "")],
        flags: &[],
        hooks: "hooks.d",
        env: &[],
        starts: false,
        says: "hooks.d: no hooks files in this folder",
    },
    Case {
        name: "a file without hooks",
        files: &[("hooks.json", "[]")],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: false,
        says: "hooks.json: no hooks in this file",
    },
    Case {
        name: "a template without -template",
        files: &[("hooks.json", TEMPLATED)],
        flags: &[],
        hooks: "hooks.json",
        env: &[("TOKEN", "s3cret")],
        starts: false,
        says: "start with -template to render it first",
    },
    Case {
        name: "the same template with -template",
        files: &[("hooks.json", TEMPLATED)],
        flags: &["-template"],
        hooks: "hooks.json",
        env: &[("TOKEN", "s3cret")],
        starts: true,
        says: "",
    },
    Case {
        name: "template actions in strings without -template",
        files: &[("hooks.json", TEMPLATED_STRING)],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: true,
        says: "holds template actions {{ … }} that are read as written",
    },
    Case {
        name: "a missing executable",
        files: &[(
            "hooks.json",
            r#"[{"id": "a", "execute-command": "./deploy.sh"}]"#,
        )],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: true,
        says: "cannot run ./deploy.sh: ./deploy.sh: no such file",
    },
    Case {
        name: "a script that is not executable",
        files: &[
            ("deploy.sh", "#!/bin/sh\n"),
            (
                "hooks.json",
                r#"[{"id": "a", "execute-command": "./deploy.sh"}]"#,
            ),
        ],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: true,
        says: "deploy.sh: is not executable (mode 0644; chmod +x it)",
    },
    Case {
        name: "a command not in PATH",
        files: &[(
            "hooks.json",
            r#"[{"id": "a", "execute-command": "no-such-deployer"}]"#,
        )],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: true,
        says: "cannot run no-such-deployer: not found in PATH",
    },
    Case {
        name: "a credential without CREDENTIALS_DIRECTORY",
        files: &[("hooks.json", CREDENTIAL)],
        flags: &["-template"],
        hooks: "hooks.json",
        env: &[],
        starts: false,
        says: "$CREDENTIALS_DIRECTORY is not set",
    },
    Case {
        name: "a credential missing from CREDENTIALS_DIRECTORY",
        files: &[("hooks.json", CREDENTIAL), ("creds/", "")],
        flags: &["-template"],
        hooks: "hooks.json",
        env: &[("CREDENTIALS_DIRECTORY", "creds")],
        starts: false,
        says: "credential \"token\": cannot read creds/token",
    },
    Case {
        name: "a broken file",
        files: &[(
            "hooks.json",
            r#"[{"id": "a", "execute-command": "/bin/true""#,
        )],
        flags: &[],
        hooks: "hooks.json",
        env: &[],
        starts: false,
        says: "hooks.json: invalid JSON",
    },
];

#[test]
fn validate_gives_the_servers_start_verdict() {
    for case in CASES {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in case.files {
            let path = dir.path().join(path);
            if path.to_string_lossy().ends_with('/') {
                std::fs::create_dir_all(&path).expect("mkdir");
            } else {
                std::fs::write(&path, text).expect("write");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
            }
        }
        let mut args: Vec<&str> = case.flags.to_vec();
        args.push(case.hooks);
        let (code, checked) = validate(dir.path(), &args, case.env);
        let mut flags: Vec<&str> = case.flags.to_vec();
        flags.extend(["-hooks", case.hooks]);
        let served = serve(dir.path(), &flags, case.env);
        let name = case.name;
        let (server_code, output) = match &served {
            Ok(output) => (0, output),
            Err((code, output)) => (*code, output),
        };
        assert_eq!(
            code, server_code,
            "{name}: validate {code}, server {server_code}\nvalidate:\n{checked}\nserver:\n{output}"
        );
        assert_eq!(served.is_ok(), case.starts, "{name}: {output}");
        assert_eq!(code, if case.starts { 0 } else { 1 }, "{name}: {checked}");
        for text in [&checked, output] {
            assert!(
                text.contains(case.says),
                "{name}: {:?} not in:\n{text}",
                case.says
            );
        }
        // Said once each: a problem is not repeated.
        if !case.says.is_empty() {
            assert_eq!(output.matches(case.says).count(), 1, "{name}: {output}");
            assert_eq!(checked.matches(case.says).count(), 1, "{name}: {checked}");
        }
    }
}
