//! How the command is started: `pass-file-to-command` (content, base64, default names, where the
//! file is made and that it is gone afterwards), `command-working-directory`, relative commands,
//! commands that cannot be found, and what reaches stdin.

use super::case::Case;
use super::pair::Group;

const HOOKS: &str = r#"[
  {
    "id": "files",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-file-to-command": [
      {"source": "entire-payload", "envname": "PAYLOAD_FILE"},
      {"source": "payload", "name": "blob", "base64decode": true},
      {"source": "payload", "name": "text"},
      {"source": "payload", "name": "missing", "envname": "MISSING_FILE"},
      {"source": "header", "name": "X-Data", "envname": "HEADER_FILE"}
    ]
  },
  {
    "id": "files-in-dir",
    "execute-command": "@RECORDER@",
    "command-working-directory": "@DIR@/sub",
    "response-message": "queued",
    "pass-file-to-command": [
      {"source": "raw-request-body", "envname": "BODY_FILE"},
      {"source": "payload", "name": "bad64", "envname": "BAD64", "base64decode": true}
    ]
  },
  {
    "id": "cwd",
    "execute-command": "@RECORDER@",
    "command-working-directory": "@DIR@/sub",
    "include-command-output-in-response": true
  },
  {
    "id": "relative",
    "execute-command": "rec.py",
    "command-working-directory": "@DIR@/sub",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "string", "name": "relative"}]
  },
  {
    "id": "relative-dot",
    "execute-command": "./rec.py",
    "command-working-directory": "@DIR@/sub",
    "include-command-output-in-response": true
  },
  {
    "id": "on-path",
    "execute-command": "true",
    "include-command-output-in-response": true
  },
  {
    "id": "not-found",
    "execute-command": "@DIR@/no-such-command",
    "include-command-output-in-response": true
  },
  {
    "id": "not-found-on-error",
    "execute-command": "@DIR@/no-such-command",
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true
  },
  {
    "id": "not-found-async",
    "execute-command": "@DIR@/no-such-command",
    "response-message": "accepted anyway"
  },
  {
    "id": "with-space",
    "execute-command": "@RECORDER@ --flag",
    "include-command-output-in-response": true
  },
  {
    "id": "not-executable",
    "execute-command": "@DIR@/sub/plain.txt",
    "include-command-output-in-response": true
  },
  {
    "id": "bad-cwd",
    "execute-command": "@RECORDER@",
    "command-working-directory": "@DIR@/no-such-dir",
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true
  }
]"#;

#[test]
fn commands_start_like_the_reference() {
    let Some(pair) = Group::new("exec").file("hooks.json", HOOKS).start() else {
        return;
    };
    let sub = pair.work.join("sub");
    std::fs::create_dir_all(&sub).expect("creating sub");
    std::os::unix::fs::symlink(super::record::recorder(), sub.join("rec.py"))
        .expect("linking the recorder");
    std::fs::write(sub.join("plain.txt"), "not a program").expect("writing plain.txt");
    let payload = r#"{"blob":"aGVsbG8gd29ybGQ=","text":"plain text","bad64":"aGVsbG8*!!"}"#;
    let cases = vec![
        Case::post(
            "files from payload, base64, header; missing skipped",
            "/hooks/files",
        )
        .header("X-Data", "from a header")
        .json(payload)
        .runs(),
        Case::post("files with no payload", "/hooks/files").runs(),
        Case::post(
            "files in the working directory, fire and forget",
            "/hooks/files-in-dir",
        )
        .json(payload)
        .runs(),
        Case::post("working directory", "/hooks/cwd").runs(),
        Case::post(
            "relative command in the working directory",
            "/hooks/relative",
        )
        .runs(),
        Case::post(
            "dot-relative command in the working directory",
            "/hooks/relative-dot",
        )
        .runs(),
        Case::post("command found on PATH", "/hooks/on-path"),
        Case::post("command not found", "/hooks/not-found"),
        Case::post(
            "command not found, output on error",
            "/hooks/not-found-on-error",
        ),
        Case::post(
            "command not found, fire and forget",
            "/hooks/not-found-async",
        ),
        Case::post(
            "arguments written into execute-command",
            "/hooks/with-space",
        ),
        Case::post("command not executable", "/hooks/not-executable"),
        Case::post("working directory missing", "/hooks/bad-cwd"),
        Case::post("stdin is empty even with a body", "/hooks/cwd")
            .body("text/plain", "body is not stdin")
            .runs(),
    ];
    pair.run(&cases);
}
