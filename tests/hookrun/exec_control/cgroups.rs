//! A cgroup (v2) per job, through the built binary: a grandchild that leaves its process group
//! with `setsid` is killed on timeout, the jobs of a hookrun killed with SIGKILL are killed when
//! the next one starts (and its folder of result files removed), and where hookrun may not create cgroups it says so once and jobs still
//! run (the start says which). The cgroup tests skip (saying so) where this machine has no writable cgroup v2 hierarchy.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{hookrun_bin, start, Server};
use crate::fixture::{
    alive, client, eventually, read_pid, sh_hook, state, with, write_json, Fixture,
};

/// What the server logs at start when each job gets its own cgroup.
const CGROUPS: &str = "each job runs in its own cgroup";
/// ... and when it has only process groups.
const FALLBACK: &str = "no writable cgroup v2 hierarchy";

/// Starts a grandchild in a new session (out of the job's process group) that writes its pid to
/// `grandchild.pid`, writes its own pid to `main.pid`, then waits.
const SETSID: &str = r#"
setsid sh -c 'echo $$ > grandchild.pid; exec sleep 30' </dev/null >/dev/null 2>&1 &
echo $$ > main.pid
while :; do sleep 0.05; done
"#;

/// Whether the server logged that it uses cgroups (waiting for the line: it comes once the
/// server listens, after the clean-up of dead instances).
async fn uses_cgroups(f: &Fixture) -> bool {
    eventually(Duration::from_secs(5), "the isolation log line", || {
        let log = f.log();
        log.contains(CGROUPS) || log.contains(FALLBACK)
    })
    .await;
    if f.log().contains(CGROUPS) {
        return true;
    }
    eprintln!("skipped: no writable cgroup v2 hierarchy here");
    false
}

/// The cgroup v2 path (relative to the hierarchy's root) process `pid` is in.
fn cgroup_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
}

async fn dead_within(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test]
async fn timeout_kills_a_grandchild_that_called_setsid() {
    let hook = with(
        sh_hook("escape", SETSID, &[]),
        json!({"command-timeout": "800ms"}),
    );
    let f = Fixture::start(&[hook], &["-kill-grace", "300ms"]);
    if !uses_cgroups(&f).await {
        return;
    }
    let id = f.trigger_job("escape", json!({})).await;
    let grandchild = read_pid(&f.path("grandchild.pid")).await;
    let main = read_pid(&f.path("main.pid")).await;
    let session = crate::fixture::proc_stat(grandchild).map(|p| p.pgrp);
    assert_eq!(
        session,
        Some(grandchild),
        "the grandchild leads its own group"
    );
    let cgroup = cgroup_of(grandchild).expect("the grandchild's cgroup");
    assert!(cgroup.contains("/hookrun-"), "{cgroup}");
    let job = f.wait_done(&id, Duration::from_secs(5)).await;
    assert_eq!(state(&job), "timed_out", "{job:#}");
    // 800 ms + at most the 300 ms grace: `sleep` dies of the SIGTERM.
    let ms = job["duration_ms"].as_u64().expect("duration");
    assert!((800..2_000).contains(&ms), "duration {ms} ms");
    assert!(!alive(main), "the command survived its timeout");
    assert!(
        dead_within(grandchild, Duration::from_millis(500)).await,
        "the setsid grandchild survived the timeout"
    );
}

#[tokio::test]
async fn the_jobs_of_a_killed_hookrun_are_killed_when_the_next_one_starts() {
    // Every hookrun that starts cleans up after dead ones in its cgroup: one of its own keeps
    // the servers other tests start at the same time out of this test.
    let Some(cgroup) = TestCgroup::new() else {
        eprintln!("skipped: no writable cgroup v2 hierarchy here");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_json(
        &dir.path().join("hooks.json"),
        &json!([
            sh_hook("escape", SETSID, &[]),
            sh_hook("quick", "echo \"$HOOKRUN_RESULT\"", &[])
        ]),
    );
    let mut f = Fixture {
        server: cgroup.start(dir.path()),
        dir,
        http: client(),
    };
    if !uses_cgroups(&f).await {
        return;
    }
    // A job that leaves its result file empty: the file is kept in the instance's folder.
    let quick = f.trigger_job("quick", json!({})).await;
    let done = f.wait_done(&quick, Duration::from_secs(10)).await;
    let kept = PathBuf::from(done["output"].as_str().expect("its output").trim());
    let folder = kept.parent().expect("the result folder").to_path_buf();
    assert_eq!(folder.parent(), Some(cgroup.tmp(f.dir.path()).as_path()));
    f.trigger_job("escape", json!({})).await;
    let grandchild = read_pid(&f.path("grandchild.pid")).await;
    let main = read_pid(&f.path("main.pid")).await;
    let job_cgroup = cgroup_of(main).expect("the job's cgroup");
    assert!(job_cgroup.starts_with(&cgroup.relative), "{job_cgroup}");
    f.signal("KILL");
    assert!(f.exited_within(Duration::from_secs(5)).await.is_some());
    // Nothing kills them now: no process group reaches both, and hookrun is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        alive(main) && alive(grandchild),
        "they should outlive hookrun"
    );
    let dead = cgroup.instances();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(kept.exists(), "the killed hookrun's kept result file");

    f.server = cgroup.start(f.dir.path());
    assert!(uses_cgroups(&f).await);
    // Cleaned before the start says it uses cgroups, and said so.
    assert!(!alive(main), "{main} lives");
    assert!(!alive(grandchild), "{grandchild} lives");
    let log = f.log();
    assert_eq!(
        log.matches(
            "killed the processes of jobs left by a hookrun that ended without shutting down"
        )
        .count(),
        1,
        "{log}"
    );
    let now = cgroup.instances();
    assert!(!now.contains(&dead[0]), "{:?} was not removed", dead[0]);
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(
        !folder.exists(),
        "the dead instance's result folder was left"
    );
    // The new instance's folder is named as its cgroup and removed when it shuts down.
    let folders = |tmp: &Path| -> Vec<String> {
        std::fs::read_dir(tmp)
            .expect("the test's TMPDIR")
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("hookrun-"))
            .collect()
    };
    let tmp = cgroup.tmp(f.dir.path());
    assert_eq!(
        folders(&tmp),
        now,
        "one folder, named as the instance cgroup"
    );
    f.signal("TERM");
    assert!(f.exited_within(Duration::from_secs(10)).await.is_some());
    assert_eq!(folders(&tmp), Vec::<String>::new(), "left at exit");
}

/// A cgroup of the test's own, below this process's, that servers are started in; on drop
/// everything in it is killed and it is removed.
struct TestCgroup {
    dir: PathBuf,
    /// Its path in the hierarchy, as `/proc/<pid>/cgroup` shows it.
    relative: String,
}

impl TestCgroup {
    fn new() -> Option<TestCgroup> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let own = cgroup_of(i32::try_from(std::process::id()).ok()?)?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let own_dir = mounts
            .lines()
            .filter(|l| l.contains(" - cgroup2 "))
            .filter_map(|l| {
                let mut fields = l.split(' ').skip(3);
                let (root, mount_point) = (fields.next()?, fields.next()?);
                let rel = Path::new(&own).strip_prefix(root).ok()?;
                Some(Path::new(mount_point).join(rel))
            })
            .find(|d| d.join("cgroup.procs").exists())?;
        // Not `hookrun-<n>-<n>-<n>`: no hookrun takes it for an instance of its own.
        let name = format!(
            "hookrun-test.{}.{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::create_dir(own_dir.join(&name)).ok()?;
        Some(TestCgroup {
            dir: own_dir.join(&name),
            relative: format!("{}/{name}", own.trim_end_matches('/')),
        })
    }

    /// The `TMPDIR` of the servers started in `cwd`, where their result files are made.
    fn tmp(&self, cwd: &Path) -> PathBuf {
        cwd.join("tmp")
    }

    /// Starts hookrun (`-hooks hooks.json`) in `cwd`, in this cgroup: a shell moves
    /// itself in, then becomes hookrun.
    fn start(&self, cwd: &Path) -> Server {
        let tmp = self.tmp(cwd);
        std::fs::create_dir_all(&tmp).expect("a TMPDIR");
        let procs = self.dir.join("cgroup.procs");
        let script = r#"echo $$ > "$1" && shift && exec "$@""#;
        let bin = hookrun_bin();
        let args = [
            "-c",
            script,
            "sh",
            procs.to_str().expect("a UTF-8 path"),
            bin.to_str().expect("a UTF-8 path"),
            "-hooks",
            "hooks.json",
        ];
        let tmp = tmp.to_str().expect("a UTF-8 path");
        start(Path::new("/bin/sh"), &args, cwd, &[("TMPDIR", tmp)])
    }

    /// The instance cgroups in it.
    fn instances(&self) -> Vec<String> {
        let entries = std::fs::read_dir(&self.dir).expect("reading the test cgroup");
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let end = Instant::now() + Duration::from_secs(2);
        let populated = |d: &Path| {
            std::fs::read_to_string(d.join("cgroup.events"))
                .is_ok_and(|t| t.lines().any(|l| l == "populated 1"))
        };
        while populated(&self.dir) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_tree(&self.dir);
    }
}

/// Removes a cgroup folder and the ones below it (deepest first).
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            if entry.path().is_dir() {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[tokio::test]
async fn without_a_writable_hierarchy_jobs_run_in_process_groups_and_the_log_says_so_once() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to start hookrun with -setuid");
        return;
    }
    // As nobody, hookrun may not write the cgroup files root owns.
    let hook = with(
        sh_hook("ok", "echo fine", &[]),
        json!({"command-working-directory": "/"}),
    );
    let f = Fixture::start(&[hook], &["-setuid", "65534", "-setgid", "65534"]);
    for _ in 0..3 {
        let id = f.trigger_job("ok", json!({})).await;
        let job = f.wait_done(&id, Duration::from_secs(5)).await;
        assert_eq!(state(&job), "succeeded", "{job:#}");
        assert_eq!(job["stdout"], "fine\n");
    }
    let log = f.log();
    assert_eq!(log.matches(FALLBACK).count(), 1, "{log}");
    assert!(!log.contains(CGROUPS), "{log}");
}
