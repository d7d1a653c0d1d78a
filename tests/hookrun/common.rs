//! Shared test helpers: free ports, starting the built `hookrun` binary (or the reference
//! `webhook`) with flags, waiting until it answers, and stopping it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hookrun binary under test.
pub fn hookrun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hookrun"))
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
/// waits until the port accepts connections.
pub fn start(bin: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Server {
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
    wait_ready(&mut server);
    server
}

fn wait_ready(server: &mut Server) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited early ({status}): {}", server.log_text());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("server did not start listening: {}", server.log_text());
}
