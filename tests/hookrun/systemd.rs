//! systemd without systemd as PID 1: socket activation through `systemd-socket-activate`
//! (package `systemd`), and the notify protocol through a datagram socket standing in for
//! systemd's.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{free_port, hookrun_bin, start, Server};
use crate::fixture::{client, sh_hook, write_json};

/// Kills the wrapped process on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn socket_activate(listen: &str, dir: &std::path::Path) -> Killed {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new("systemd-socket-activate")
        .args(["-l", listen])
        .arg(hookrun_bin())
        // The inherited socket wins over these.
        .args(["-hooks", "hooks.json", "-ip", "127.0.0.1", "-port", "1"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("systemd-socket-activate (package systemd) runs");
    Killed(child)
}

#[tokio::test]
async fn serves_on_the_socket_systemd_opened() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        &dir.path().join("hooks.json"),
        &json!([with_output(sh_hook(
            "who",
            "echo \"fds=${LISTEN_FDS-unset}\"",
            &[]
        ))]),
    );
    let port = free_port();
    let _activator = socket_activate(&format!("127.0.0.1:{port}"), dir.path());
    let http = client();
    let url = format!("http://127.0.0.1:{port}/hooks/who");
    // systemd-socket-activate listens at once and starts hookrun on the first connection.
    let end = Instant::now() + Duration::from_secs(10);
    let resp = loop {
        match http.post(&url).send().await {
            Ok(resp) => break resp,
            Err(e) => {
                assert!(
                    Instant::now() < end,
                    "no answer on the activated socket: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(resp.status(), 200);
    // The listener's variables do not reach hook commands.
    assert_eq!(resp.text().await.unwrap(), "fds=unset\n");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("(systemd)"), "{log}");
}

#[tokio::test]
async fn serves_on_a_unix_socket_systemd_opened() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        &dir.path().join("hooks.json"),
        &json!([with_output(sh_hook("hi", "echo hi", &[]))]),
    );
    let socket = dir.path().join("hookrun.sock");
    let _activator = socket_activate(&socket.display().to_string(), dir.path());
    let end = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < end,
            "systemd-socket-activate never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-X", "POST", "--unix-socket"])
        .arg(&socket)
        .arg("http://localhost/hooks/hi")
        .output()
        .await
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

fn with_output(hook: serde_json::Value) -> serde_json::Value {
    crate::fixture::with(hook, json!({"include-command-output-in-response": true}))
}

/// Reads the next datagram, for up to 10 s.
fn next_message(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notify message");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn start_notified(dir: &std::path::Path, notify_socket: &str) -> Server {
    start(
        &hookrun_bin(),
        &["-hooks", "hooks.json"],
        dir,
        &[("NOTIFY_SOCKET", notify_socket)],
    )
}

#[tokio::test]
async fn tells_systemd_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    write_json(
        &dir.path().join("hooks.json"),
        &json!([with_output(sh_hook(
            "env",
            "echo \"notify=${NOTIFY_SOCKET-unset}\"",
            &[]
        ))]),
    );
    let path = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&path).unwrap();
    let mut server = start_notified(dir.path(), &path.display().to_string());
    let ready = next_message(&listener);
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving 1 hook(s) on http://127.0.0.1:"),
        "{ready}"
    );

    let out = client()
        .post(server.url("/hooks/env"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        out, "notify=unset\n",
        "hook commands cannot speak for hookrun"
    );

    server.signal("HUP");
    let reloading = next_message(&listener);
    let lines: Vec<&str> = reloading.lines().collect();
    assert_eq!(lines[0], "RELOADING=1", "{reloading}");
    let usec: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{reloading}"));
    assert!(usec > 0);
    assert_eq!(next_message(&listener), "READY=1\nSTATUS=serving 1 hook(s)");

    server.signal("TERM");
    assert_eq!(
        next_message(&listener),
        "STOPPING=1\nSTATUS=finishing running jobs"
    );
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success());
}

#[tokio::test]
async fn notifies_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().unwrap();
    write_json(
        &dir.path().join("hooks.json"),
        &json!([sh_hook("hi", "echo hi", &[])]),
    );
    let name = format!("hookrun-test-{}-{}", std::process::id(), free_port());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixDatagram::bind_addr(&addr).unwrap();
    let _server = start_notified(dir.path(), &format!("@{name}"));
    assert!(next_message(&listener).starts_with("READY=1\n"));
}

/// The unit files in contrib/systemd pass `systemd-analyze verify` (with the built binary in
/// place of /usr/local/bin/hookrun), and the service asks for what this file tests.
#[test]
fn unit_files_verify() {
    let dir = tempfile::tempdir().unwrap();
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let service = std::fs::read_to_string(contrib.join("hookrun.service")).unwrap();
    for needed in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=hookrun-admin-token:",
        "NoNewPrivileges=yes",
    ] {
        assert!(service.contains(needed), "{needed}");
    }
    let bin = hookrun_bin().display().to_string();
    std::fs::write(
        dir.path().join("hookrun.service"),
        service.replace("/usr/local/bin/hookrun", &bin),
    )
    .unwrap();
    std::fs::copy(
        contrib.join("hookrun.socket"),
        dir.path().join("hookrun.socket"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("hookrun.service"))
        .arg(dir.path().join("hookrun.socket"))
        .output()
        .expect("systemd-analyze (package systemd) runs");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
}
