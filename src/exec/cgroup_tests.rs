//! Job cgroups with real processes: a grandchild that calls `setsid` is killed on timeout and at
//! shutdown, a daemon left on purpose moves out, a dead instance's leftovers are killed at the
//! next start; and the process-group fallback, where `setsid` still escapes. The cgroup tests
//! skip (saying so) where this machine has no writable cgroup v2 hierarchy. How commands start
//! in their cgroups is tested in `start`, the reuse of cgroups and result files in `reuse`.

mod reuse;
mod start;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::time::Instant;

use super::*;

/// Starts a grandchild in a new session (out of the job's process group) that writes its pid
/// to `$1` and sleeps; then sleeps itself unless `exit` is set.
fn setsid_script(exit: bool) -> String {
    let tail = if exit { "exit 0" } else { "sleep 30" };
    format!(
        "setsid sh -c 'echo $$ > \"$0\"; exec sleep 30' \"$1\" </dev/null >/dev/null 2>&1 &\n\
         while [ ! -s \"$1\" ]; do sleep 0.01; done\n{tail}"
    )
}

fn invocation(script: &str, pid_file: &Path, timeout: Duration) -> Invocation {
    let pid_file = pid_file.display().to_string();
    Invocation::command("/bin/sh", &["-c", script, "sh", &pid_file], timeout)
}

/// Kills the pid on drop, so a failing test leaves no sleep behind.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

fn read_pid(file: &Path) -> i32 {
    let text = std::fs::read_to_string(file).expect("the grandchild's pid file");
    text.trim().parse().expect("a pid")
}

/// Running and not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with(|c| c != 'Z')))
        .unwrap_or(false)
}

/// The cgroup2 folder process `pid` is in, if it is this process's or one below it.
fn cgroup_of(pid: i32) -> Option<PathBuf> {
    let relative = |proc: &str| {
        let text = std::fs::read_to_string(format!("/proc/{proc}/cgroup")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(PathBuf::from)
    };
    let (mine, theirs) = (relative("self")?, relative(&pid.to_string())?);
    let Isolation::Cgroups(c) = isolation() else {
        return None;
    };
    Some(c.own_dir().join(theirs.strip_prefix(&mine).ok()?))
}

async fn wait_dead(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

fn cgroups() -> Option<Arc<JobCgroups>> {
    match isolation() {
        Isolation::Cgroups(c) => Some(c.clone()),
        Isolation::ProcessGroups { reason } => {
            eprintln!("skipped: no writable cgroup v2 hierarchy ({reason})");
            None
        }
    }
}

#[tokio::test]
async fn timeout_kills_a_grandchild_that_left_the_process_group() {
    let Some(_) = cgroups() else { return };
    let dir = ::tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let inv = invocation(&setsid_script(false), &pid_file, Duration::from_millis(800));
    let log = Arc::new(OutputLog::new(1024));
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let (finished, grandchild) = tokio::join!(run(inv, log, &cancel), async {
        while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = read_pid(&pid_file);
        (pid, cgroup_of(pid))
    });
    let (grandchild, job_cgroup) = grandchild;
    let _reap = Reap(grandchild);
    assert_eq!(finished.exit, Exit::TimedOut);
    let job_cgroup = job_cgroup.expect("the grandchild's cgroup");
    assert!(
        job_cgroup.starts_with(cgroups().unwrap().instance()),
        "{job_cgroup:?}"
    );
    // 800 ms deadline + at most the 300 ms grace (sleep dies on SIGTERM).
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "{:?}",
        start.elapsed()
    );
    assert!(
        wait_dead(grandchild, Duration::from_secs(1)).await,
        "the setsid grandchild survived"
    );
    // Emptied: removed, or kept for a later job.
    assert!(
        !cgroup::populated(&job_cgroup),
        "{job_cgroup:?} still holds processes"
    );
}

#[tokio::test]
async fn shutdown_kills_every_process_in_the_jobs_cgroup() {
    let Some(_) = cgroups() else { return };
    let dir = ::tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let inv = invocation(&setsid_script(false), &pid_file, Duration::from_secs(60));
    let cancel = CancellationToken::new();
    let log = Arc::new(OutputLog::new(1024));
    let (finished, grandchild) = tokio::join!(run(inv, log, &cancel), async {
        while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        read_pid(&pid_file)
    });
    let _reap = Reap(grandchild);
    assert_eq!(finished.exit, Exit::Canceled);
    assert!(
        wait_dead(grandchild, Duration::from_secs(1)).await,
        "the setsid grandchild survived"
    );
}

#[tokio::test]
async fn a_daemon_left_on_purpose_moves_out_of_the_job_cgroup() {
    let Some(cgroups) = cgroups() else { return };
    let dir = ::tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("daemon.pid");
    let inv = invocation(&setsid_script(true), &pid_file, Duration::from_secs(10));
    let finished = run(
        inv,
        Arc::new(OutputLog::new(1024)),
        &CancellationToken::new(),
    )
    .await;
    let daemon = read_pid(&pid_file);
    let _reap = Reap(daemon);
    assert_eq!(finished.exit, Exit::Code(0));
    assert!(alive(daemon), "the daemon was killed");
    let now_in = cgroup_of(daemon).expect("the daemon's cgroup");
    assert_eq!(
        now_in,
        cgroups.own_dir(),
        "the daemon is still in a job cgroup"
    );
}

#[tokio::test]
async fn process_groups_alone_keep_working_but_cannot_hold_setsid() {
    let fallback = Isolation::ProcessGroups {
        reason: "test".into(),
    };
    let dir = ::tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let inv = invocation(&setsid_script(false), &pid_file, Duration::from_millis(500));
    let log = Arc::new(OutputLog::new(1024));
    let finished = run_isolated(inv, log, &CancellationToken::new(), fallback).await;
    let grandchild = read_pid(&pid_file);
    let _reap = Reap(grandchild);
    assert_eq!(finished.exit, Exit::TimedOut);
    // The limit cgroups lift: the grandchild is in another session and survives.
    assert!(!wait_dead(grandchild, Duration::from_millis(300)).await);
}

/// A cgroup of this test's own, named as no hookrun's instance is, removed on drop: the dead
/// instance the test makes lives under it. Made next to the instances (in the machine's shared
/// cgroup) it would be a real leftover to every hookrun that starts on this machine meanwhile
/// (another test process, a server of the integration tests), whose start-up clean-up would
/// kill and remove it while the test uses it: moving the sleeper in then failed with ENOENT.
struct PrivateParent(PathBuf);

impl Drop for PrivateParent {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for entry in entries.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test]
async fn the_leftovers_of_a_dead_instance_are_killed_and_removed() {
    let Some(cgroups) = cgroups() else { return };
    let parent = PrivateParent(
        cgroups
            .own_dir()
            .join(format!("test-leftovers-{}", std::process::id())),
    );
    std::fs::create_dir(&parent.0).expect("a private parent cgroup");
    let own = parent.0.clone();
    // An instance whose owner is gone: a pid that has exited.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let me = cgroup::Owner::of_pid(std::process::id()).unwrap();
    let dead = me.with_pid(gone.id(), 1);
    let leftover = JobCgroups::create_in(own.clone(), &dead).expect("a dead instance");
    let live = JobCgroups::create_in(own.clone(), &me).expect("this process's instance");
    let job = leftover.job().unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let _reap = Reap(i32::try_from(sleeper.id()).unwrap());
    cgroup::write_file(
        &job.path().join("cgroup.procs"),
        sleeper.id().to_string().as_bytes(),
    )
    .expect("moving the sleeper into the leftover job cgroup");
    assert!(job.populated());
    drop(job);
    // A live instance (this process's) is left alone, by the dead one's clean-up too.
    cgroup_leftovers::clean(&own, &dead);
    assert!(live.instance().exists());
    assert!(leftover.instance().exists());
    cgroup_leftovers::clean(&own, &me);
    let status = sleeper.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(!leftover.instance().exists());
    assert!(live.instance().exists());
    live.remove();
}

/// Runs `inv` with `isolation` and returns how it ended and its output.
async fn output_with(inv: Invocation, isolation: Isolation) -> (Exit, String) {
    let log = Arc::new(OutputLog::new(64 * 1024));
    let finished = run_isolated(inv, log.clone(), &CancellationToken::new(), isolation).await;
    let text = String::from_utf8_lossy(&log.snapshot().combined).into_owned();
    (finished.exit, text)
}

fn plain(program: &str, args: &[&str]) -> Invocation {
    Invocation {
        env: vec![
            ("HOOKRUN_B".into(), "second".into()),
            ("HOOKRUN_A".into(), "first".into()),
            ("HOOKRUN_A".into(), "replaced".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
        ],
        working_dir: Some(std::env::temp_dir()),
        files: vec![("HOOKRUN_FILE".into(), b"data".to_vec())],
        ..Invocation::command(program, args, Duration::from_secs(10))
    }
}
