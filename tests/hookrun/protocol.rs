//! HTTP/1 at the connection: the Host check of RFC 9112 §3.2 (compared with the reference where
//! it is installed) and clients that half-close their connection after sending a request.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{reference_bin, start, Server};
use crate::fixture::{sh_hook, with, write_json};

/// An answer as it came off the wire.
#[derive(Debug)]
struct Answer {
    status_line: String,
    head: String,
    body: String,
    /// From the end of the request to the end of the answer (the server closed).
    took: Duration,
}

/// Sends `request` to `port`; with `half_close` shuts the write side right after it (as
/// `nc -N` does); then reads until the server closes.
fn exchange(port: u16, request: &[u8], half_close: bool) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("write");
    if half_close {
        s.shutdown(Shutdown::Write).expect("shutdown(Write)");
    }
    let sent = Instant::now();
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let took = sent.elapsed();
    assert!(read.is_ok(), "{read:?} after {raw:?}");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status_line: head.lines().next().unwrap_or_default().to_string(),
        head: head.to_string(),
        body: body.to_string(),
        took,
    }
}

fn hooks() -> Vec<Value> {
    vec![
        with(
            sh_hook("echo", "echo hello", &[]),
            json!({"include-command-output-in-response": true}),
        ),
        with(
            sh_hook("slow", "sleep 1; echo slept", &[]),
            json!({"include-command-output-in-response": true}),
        ),
        with(
            sh_hook(
                "body",
                "printf %s \"$1\"",
                &[json!({"source": "payload", "name": "k"})],
            ),
            json!({"include-command-output-in-response": true}),
        ),
        sh_hook("plain", "true", &[]),
    ]
}

/// hookrun, and the reference when installed, serving [`hooks`] (both log to the folder).
fn servers(dir: &tempfile::TempDir) -> (Server, Option<Server>) {
    write_json(&dir.path().join("hooks.json"), &Value::Array(hooks()));
    let args = ["-hooks", "hooks.json"];
    let hookrun = start(&crate::common::hookrun_bin(), &args, dir.path(), &[]);
    let reference = reference_bin().map(|bin| start(&bin, &args, dir.path(), &[]));
    (hookrun, reference)
}

fn request(first_line: &str, headers: &[&str]) -> Vec<u8> {
    let mut r = format!("{first_line}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r.into_bytes()
}

#[test]
fn host_is_checked_as_rfc_9112_asks_and_as_the_reference_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hookrun, reference) = servers(&dir);
    let post11 = "POST /hooks/plain HTTP/1.1";
    let post10 = "POST /hooks/plain HTTP/1.0";
    let missing = "HTTP/1.1 400 Bad Request: missing required Host header";
    let malformed = "HTTP/1.1 400 Bad Request: malformed Host header";
    // (what, request line, headers, hookrun's status line, same as the reference)
    let cases: &[(&str, &str, &[&str], &str, bool)] = &[
        (
            "a Host",
            post11,
            &["Host: example.com:9000"],
            "HTTP/1.1 200 OK",
            true,
        ),
        ("no Host in HTTP/1.1", post11, &[], missing, true),
        ("no Host in HTTP/1.0", post10, &[], "HTTP/1.0 200 OK", true),
        (
            "two Hosts",
            post11,
            &["Host: a", "Host: b"],
            "HTTP/1.1 400 Bad Request",
            true,
        ),
        ("a space", post11, &["Host: a b"], malformed, true),
        ("a slash", post11, &["Host: a/b"], malformed, true),
        ("an empty Host", post11, &["Host:"], "HTTP/1.1 200 OK", true),
        (
            "an IPv6 literal",
            post11,
            &["Host: [::1]:9000"],
            "HTTP/1.1 200 OK",
            true,
        ),
        (
            "absolute form without Host",
            "POST http://x/hooks/plain HTTP/1.1",
            &[],
            missing,
            true,
        ),
        // Go checks the bytes, not the grammar (README: Compatibility).
        ("two colons", post11, &["Host: a:b:c"], malformed, false),
        ("a bad escape", post11, &["Host: %zz"], malformed, false),
        ("an open bracket", post11, &["Host: [::1"], malformed, false),
    ];
    for (what, line, headers, want, same) in cases {
        let mut headers = headers.to_vec();
        headers.push("Connection: close");
        let req = request(line, &headers);
        let got = exchange(hookrun.port, &req, false);
        assert_eq!(got.status_line, *want, "{what}: {got:?}");
        if want.contains(" 400 ") {
            let text = want.split_once(' ').map(|(_, t)| t).unwrap_or_default();
            assert_eq!(got.body, text, "{what}");
            assert!(got.head.contains("Connection: close"), "{what}: {got:?}");
        }
        let Some(reference) = &reference else {
            continue;
        };
        let theirs = exchange(reference.port, &req, false);
        let code = |a: &Answer| a.status_line.split(' ').nth(1).map(str::to_owned);
        if *same {
            assert_eq!(code(&got), code(&theirs), "{what}: reference {theirs:?}");
            if want.contains(" 400 ") {
                assert_eq!(got.body, theirs.body, "{what}");
            }
        } else {
            assert_eq!(code(&theirs).as_deref(), Some("200"), "{what}: {theirs:?}");
        }
    }
}

#[test]
fn a_half_closed_connection_gets_its_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hookrun, reference) = servers(&dir);
    let body = br#"{"k": "from the body"}"#;
    let mut with_body = format!(
        "POST /hooks/body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    with_body.extend_from_slice(body);
    // (what, request, body of the answer, least time the answer takes)
    let cases: Vec<(&str, Vec<u8>, &str, Duration)> = vec![
        (
            "the root",
            request("GET / HTTP/1.1", &["Host: x"]),
            "OK",
            Duration::ZERO,
        ),
        (
            "a hook",
            request("POST /hooks/plain HTTP/1.1", &["Host: x"]),
            "",
            Duration::ZERO,
        ),
        (
            "a command's output",
            request("POST /hooks/echo HTTP/1.1", &["Host: x"]),
            "hello\n",
            Duration::ZERO,
        ),
        (
            "a body read after the shutdown",
            with_body,
            "from the body",
            Duration::ZERO,
        ),
        // The EOF arrives while the command runs: the answer must still come.
        (
            "a command running 1 s",
            request("POST /hooks/slow HTTP/1.1", &["Host: x"]),
            "slept\n",
            Duration::from_secs(1),
        ),
        (
            "HTTP/1.0",
            request("POST /hooks/echo HTTP/1.0", &[]),
            "hello\n",
            Duration::ZERO,
        ),
    ];
    for _ in 0..5 {
        for (what, req, want, least) in &cases {
            let got = exchange(hookrun.port, req, true);
            assert!(got.status_line.ends_with(" 200 OK"), "{what}: {got:?}");
            assert_eq!(got.body, *want, "{what}");
            assert!(
                got.took >= *least && got.took < *least + Duration::from_secs(3),
                "{what}: answered after {:?}",
                got.took
            );
        }
    }
    if let Some(reference) = reference {
        for (what, req, want, _) in &cases {
            let theirs = exchange(reference.port, req, true);
            assert!(
                theirs.status_line.ends_with(" 200 OK"),
                "reference, {what}: {theirs:?}"
            );
            assert_eq!(theirs.body, *want, "reference, {what}");
        }
    }
}
