//! A test fixture over the built binary: a temporary folder holding the hooks file and whatever
//! the commands write, a running `hookrun`, an HTTP client, job polling and `/proc` probes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{hookrun_bin, start, Server};

/// A `/bin/sh -c SCRIPT` hook; `args` become `$1`, `$2`... (each a parameter object).
pub fn sh_hook(id: &str, script: &str, args: &[Value]) -> Value {
    let mut argv = vec![
        json!({"source": "string", "name": "-c"}),
        json!({"source": "string", "name": script}),
        json!({"source": "string", "name": "sh"}),
    ];
    argv.extend(args.iter().cloned());
    json!({"id": id, "execute-command": "/bin/sh", "pass-arguments-to-command": argv})
}

/// Adds `extra`'s keys to the hook object `hook`.
pub fn with(mut hook: Value, extra: Value) -> Value {
    if let (Some(h), Some(e)) = (hook.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            h.insert(k.clone(), v.clone());
        }
    }
    hook
}

/// A temporary folder (the server's working directory) and a running server.
pub struct Fixture {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Fixture {
    /// Writes `hooks` to `hooks.json` and starts hookrun with `-hooks hooks.json` and `args`.
    pub fn start(hooks: &[Value], args: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        write_json(
            &dir.path().join("hooks.json"),
            &Value::Array(hooks.to_vec()),
        );
        let mut all = vec!["-hooks", "hooks.json"];
        all.extend_from_slice(args);
        Fixture::start_in(dir, &all)
    }

    /// Starts hookrun in `dir` with exactly `args` (plus the address).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Fixture {
        let server = start(&hookrun_bin(), args, dir.path(), &[]);
        Fixture {
            server,
            dir,
            http: client(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the server again in the same folder with exactly `args` (once the old process
    /// has exited: a restart after SIGTERM or SIGKILL).
    pub fn restart_in_place(&mut self, args: &[&str]) {
        self.server = start(&hookrun_bin(), args, self.dir.path(), &[]);
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// `POST path` without a body.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        let resp = self.http.post(self.url(path)).send().await;
        resp.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let resp = self.http.get(self.url(path)).send().await;
        resp.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST /hooks/{id}` with a JSON body.
    pub async fn trigger(&self, id: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/hooks/{id}")))
            .json(&body)
            .send()
            .await
            .expect("sending the hook request")
    }

    /// Triggers `id` and returns the job id from `Hookrun-Job-Id`.
    pub async fn trigger_job(&self, id: &str, body: Value) -> String {
        let resp = self.trigger(id, body).await;
        assert_eq!(resp.status(), 200, "triggering {id}");
        job_id(&resp)
    }

    /// `GET /jobs/{id}` as JSON.
    pub async fn job(&self, id: &str) -> Value {
        let resp = self
            .http
            .get(self.url(&format!("/jobs/{id}")))
            .send()
            .await
            .expect("getting the job");
        assert_eq!(resp.status(), 200, "GET /jobs/{id}");
        resp.json().await.expect("job JSON")
    }

    /// Polls the job until `pred` holds on it, for up to `limit`.
    pub async fn wait_job(
        &self,
        id: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + limit;
        loop {
            let job = self.job(id).await;
            if pred(&job) {
                return job;
            }
            assert!(Instant::now() < end, "job {id} never got there: {job:#}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the job has ended and returns it.
    pub async fn wait_done(&self, id: &str, limit: Duration) -> Value {
        self.wait_job(id, limit, |j| !matches!(state(j), "queued" | "running"))
            .await
    }

    pub fn log(&self) -> String {
        self.server.log_text()
    }

    /// Sends `sig` (`TERM`, `HUP`...) to the server.
    pub fn signal(&self, sig: &str) {
        self.server.signal(sig);
    }

    /// Waits (without blocking the runtime) for the server to exit; `None` if it did not.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.server.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Fixture {
    /// Kills the server and every process group it started that is still there, so a failing
    /// test (whose server is killed, not shut down) leaves no commands running.
    fn drop(&mut self) {
        let pid = |id: u32| i32::try_from(id).expect("pid fits i32");
        let own = proc_stat(pid(std::process::id())).map(|p| p.pgrp);
        let mut groups: Vec<i32> = descendants(pid(self.pid()))
            .iter()
            .map(|p| p.pgrp)
            .filter(|g| Some(*g) != own)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
        for g in groups {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(g),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("building the HTTP client")
}

pub fn state(job: &Value) -> &str {
    job["state"].as_str().unwrap_or_default()
}

/// The `Hookrun-Job-Id` header (the first id when a request started several jobs).
pub fn job_id(resp: &reqwest::Response) -> String {
    let v = resp
        .headers()
        .get("hookrun-job-id")
        .unwrap_or_else(|| panic!("no Hookrun-Job-Id header: {:?}", resp.headers()));
    let id = v.to_str().expect("ASCII job id").to_string();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "job id {id:?}"
    );
    id
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("JSON")).expect("writing JSON");
}

/// Polls `cond` every 20 ms for up to `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads a pid written by a command into `path`, waiting for it to appear.
pub async fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    eventually(Duration::from_secs(5), "a pid file", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.expect("pid")
}

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

pub fn proc_stat(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(Proc {
        pid,
        state,
        ppid,
        pgrp,
    })
}

/// Every process on the machine.
pub fn all_procs() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter_map(proc_stat)
                .collect()
        })
        .unwrap_or_default()
}

/// Every process below `root` (children, their children...).
pub fn descendants(root: i32) -> Vec<Proc> {
    let procs = all_procs();
    let mut found: Vec<Proc> = Vec::new();
    let mut parents = vec![root];
    while let Some(p) = parents.pop() {
        for c in procs.iter().filter(|c| c.ppid == p) {
            found.push(*c);
            parents.push(c.pid);
        }
    }
    found
}

/// Processes that are still alive (not zombies) in process group `pgrp`.
pub fn live_in_group(pgrp: i32) -> Vec<Proc> {
    all_procs()
        .into_iter()
        .filter(|p| p.pgrp == pgrp && p.state != 'Z')
        .collect()
}

/// Whether `pid` is running (exists and is not a zombie).
pub fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|p| p.state != 'Z')
}

/// The CPU time `pid` has used (user and system, all threads).
pub fn cpu_time(pid: u32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading stat");
    // After the command name: state is field 3, utime and stime are fields 14 and 15, in
    // USER_HZ ticks (100 per second in every Linux ABI).
    let rest = &text[text.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11..13]
        .iter()
        .map(|f| f.parse::<u64>().expect("a tick count"))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
