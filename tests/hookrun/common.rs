//! Shared test helpers: free ports, starting the built `hookrun` binary (or the reference
//! `webhook`) with flags, waiting until it answers, and stopping it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hookrun binary under test: `HOOKRUN_BIN` when set (scripts/test runs the memory test
/// against the release binary this way), else the one this test crate was built with.
pub fn hookrun_bin() -> PathBuf {
    std::env::var_os("HOOKRUN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hookrun")))
}

/// The reference implementation, when installed (`HOOKRUN_REFERENCE` or /usr/bin/webhook).
pub fn reference_bin() -> Option<PathBuf> {
    let p = std::env::var_os("HOOKRUN_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/webhook"));
    p.exists().then_some(p)
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// A running server process, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` with `args` plus `-ip 127.0.0.1 -port <free>`, in `cwd`, logging to a file, and
/// waits until the process itself listens on the port. A port taken by another process between
/// `free_port` and the bind (tests run in parallel) is retried with a new one.
pub fn start(bin: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Server {
    for _ in 0..5 {
        let port = free_port();
        let log = cwd.join(format!("server-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("creating server log");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .args(["-ip", "127.0.0.1", "-port", &port.to_string()])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning log handle"))
            .stderr(log_file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starting server");
        let mut server = Server {
            child,
            port,
            log,
            _dir: None,
        };
        match wait_ready(&mut server) {
            Ready::Listening => return server,
            Ready::PortTaken => continue,
        }
    }
    panic!("no free port after 5 attempts");
}

enum Ready {
    Listening,
    PortTaken,
}

fn wait_ready(server: &mut Server) -> Ready {
    let end = Instant::now() + Duration::from_secs(10);
    let pid = server.child.id();
    while Instant::now() < end {
        if listens(pid, server.port) {
            return Ready::Listening;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = server.log_text();
            if log.contains("in use") {
                return Ready::PortTaken;
            }
            panic!("server exited early ({status}): {log}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("server did not start listening: {}", server.log_text());
}

/// Whether process `pid` (or one of its descendants: a server started under `unshare` or
/// tini) has a TCP socket listening on 127.0.0.1:`port` — from /proc: the socket inodes among
/// their descriptors, matched against /proc/net/tcp's LISTEN entries.
pub fn listens(pid: u32, port: u16) -> bool {
    let inodes: Vec<String> = family(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() > 9 && cols[1] == local && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9])
    })
}

/// `pid` and its descendants.
fn family(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| {
                let p: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                let after = &stat[stat.rfind(')')? + 2..];
                let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
                Some((p, ppid))
            })
            .collect()
        })
        .unwrap_or_default();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    out
}
