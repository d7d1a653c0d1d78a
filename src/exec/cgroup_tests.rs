//! Job cgroups with real processes: a grandchild that calls `setsid` is killed on timeout and at
//! shutdown, a daemon left on purpose moves out, a dead instance's leftovers are killed at the
//! next start; and the process-group fallback, where `setsid` still escapes. The cgroup tests
//! skip (saying so) where this machine has no writable cgroup v2 hierarchy.

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

/// A command started in its cgroup sees what std would have given it: the same argv, the same
/// environment in the same order, the same folder, fds 0-2 only, an empty signal mask and no
/// ignored SIGPIPE (hookrun ignores it), and the same errors.
#[tokio::test]
async fn a_command_in_a_cgroup_starts_as_std_starts_one() {
    let Some(cgroups) = cgroups() else { return };
    let process_groups = || Isolation::ProcessGroups {
        reason: "test".into(),
    };
    // What differs by design: the temporary files' random names; and glibc's own signals
    // (32 and up), which its posix_spawn ignores in the command and this leaves as they are:
    // only signals below 32 are compared.
    let comparable = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("HOOKRUN_RESULT=") && !l.starts_with("HOOKRUN_FILE="))
            .map(|l| match l.strip_prefix("SigIgn:\t") {
                Some(mask) => {
                    let mask = u64::from_str_radix(mask, 16).expect("a hex mask");
                    format!("SigIgn below 32: {:x}", mask & 0x7fff_ffff)
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let script = "env; pwd; ls /proc/self/fd; grep -E '^(SigBlk|SigIgn)' /proc/self/status; echo \"$0|$1|$2\"";
    let inv = || plain("/bin/sh", &["-c", script, "a b", "*"]);
    let (exit, std) = output_with(inv(), process_groups()).await;
    assert_eq!(exit, Exit::Code(0), "{std}");
    let (exit, cloned) = output_with(inv(), Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Code(0), "{cloned}");
    let cloned = comparable(&cloned);
    assert_eq!(cloned, comparable(&std));
    // A command ignores what the process that started hookrun had it ignore (`nohup`, a shell's
    // background job), as with std, but not the SIGPIPE that Rust's runtime ignores in hookrun.
    let ignored = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t").map(str::to_string))
        .expect("SigIgn in /proc/self/status");
    let ignored = u64::from_str_radix(&ignored, 16).expect("a hex mask");
    let inherited = ignored & 0x7fff_ffff & !(1 << (nix::libc::SIGPIPE - 1));
    let inherited = format!("SigIgn below 32: {inherited:x}");
    for line in [
        "HOOKRUN_A=replaced",
        "SigBlk:\t0000000000000000",
        inherited.as_str(),
        "a b|*|",
    ] {
        assert!(cloned.iter().any(|l| l == line), "{line} in {cloned:?}");
    }

    // Starts that fail: a missing program, a nul byte in an argument or in the environment,
    // and a step of the child's before its exec (its `chdir`), which a start by `clone3` learns
    // of when the clone returns (waiting for the exec) or once the child is reaped (not
    // waiting).
    let failing: [fn(Start) -> Invocation; 4] = [
        |start| Invocation {
            program: "/no/such/program".into(),
            env: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            program: "/bin/echo".into(),
            args: vec!["a\0b".to_string()],
            env: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            program: "/bin/echo".into(),
            env: vec![("HOOKRUN_NUL".to_string(), "a\0b".to_string())],
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            working_dir: Some(PathBuf::from("/no/such/folder")),
            files: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
    ];
    for failing in failing {
        for start in [Start::AtExec, Start::AtClone] {
            let (std_exit, _) = output_with(failing(start), process_groups()).await;
            let cloned = Isolation::Cgroups(cgroups.clone());
            let (cloned_exit, _) = output_with(failing(start), cloned).await;
            assert!(matches!(std_exit, Exit::SpawnFailed(_)), "{std_exit:?}");
            assert_eq!(cloned_exit, std_exit, "{start:?}");
        }
    }
}

/// Many commands started at once in their cgroups, from several threads: each runs once, in
/// a job cgroup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_started_together_in_cgroups_each_run_and_are_reaped() {
    let Some(cgroups) = cgroups() else { return };
    let runs = (0..200).map(|i| {
        let isolation = Isolation::Cgroups(cgroups.clone());
        tokio::spawn(async move {
            let inv = plain(
                "/bin/sh",
                &["-c", "echo $0; cat /proc/self/cgroup", &i.to_string()],
            );
            output_with(inv, isolation).await
        })
    });
    let mut seen = std::collections::BTreeSet::new();
    for run in futures_util::future::join_all(runs).await {
        let (exit, text) = run.expect("the run");
        assert_eq!(exit, Exit::Code(0), "{text}");
        let mut lines = text.lines();
        seen.insert(lines.next().expect("its number").to_string());
        let cgroup = lines.find(|l| l.starts_with("0::")).expect("its cgroup v2");
        let instance = cgroups.instance().file_name().unwrap().to_string_lossy();
        let (_, job) = cgroup
            .split_once(&format!("{instance}/"))
            .unwrap_or_else(|| panic!("{cgroup} is not a job cgroup"));
        assert!(job.starts_with("job-"), "{cgroup}");
    }
    assert_eq!(seen.len(), 200);
}

/// Commands that run at the same time never share a cgroup, also when emptied cgroups are used
/// again: each of these says it started, waits until all have, then says which cgroup it is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_running_at_once_never_share_a_cgroup() {
    let Some(cgroups) = cgroups() else { return };
    const AT_ONCE: usize = 16;
    for round in 0..3 {
        let dir = ::tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        std::fs::create_dir(&started).unwrap();
        let go = dir.path().join("go");
        let script = "touch \"$1/started/$0\"; n=0; while [ ! -e \"$1/go\" ]; do \
                      n=$((n + 1)); [ $n -lt 200 ] || exit 3; sleep 0.05; done; cat /proc/self/cgroup";
        let runs = (0..AT_ONCE).map(|i| {
            let isolation = Isolation::Cgroups(cgroups.clone());
            let inv = plain(
                "/bin/sh",
                &["-c", script, &i.to_string(), &dir.path().to_string_lossy()],
            );
            tokio::spawn(async move { output_with(inv, isolation).await })
        });
        let runs = tokio::spawn(futures_util::future::join_all(runs));
        let end = Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(&started).unwrap().count() < AT_ONCE {
            assert!(
                Instant::now() < end,
                "round {round}: not all started within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::fs::write(&go, b"").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for run in runs.await.unwrap() {
            let (exit, text) = run.expect("the run");
            assert_eq!(exit, Exit::Code(0), "round {round}: {text}");
            let cgroup = text
                .lines()
                .find(|l| l.starts_with("0::"))
                .expect("its cgroup v2");
            assert!(
                seen.insert(cgroup.to_string()),
                "round {round}: {cgroup} shared"
            );
        }
    }
}

/// An emptied job cgroup is kept for a later job; one that was killed, or that a command froze
/// or made cgroups in, is not; a process left in one is moved out first.
#[tokio::test]
async fn only_an_empty_unchanged_job_cgroup_is_used_again() {
    let Some(shared) = cgroups() else { return };
    let cgroups = shared.separate(&format!("test-reuse-{}", std::process::id()));
    let kept = cgroups.job().expect("a job cgroup");
    let kept_path = kept.path().to_path_buf();
    cgroups.finish(kept, true, None);
    assert!(
        cgroups.is_idle(&kept_path),
        "an emptied cgroup was not kept"
    );
    let again = cgroups.job().expect("a job cgroup");
    assert_eq!(again.path(), kept_path);

    again.kill();
    cgroups.finish(again, true, None);
    assert!(!kept_path.exists(), "a killed cgroup was kept");

    let again = cgroups.job().expect("a job cgroup");
    let kept_path = again.path().to_path_buf();
    cgroup::write_file(&again.path().join("cgroup.freeze"), b"1").expect("freezing it");
    cgroups.finish(again, true, None);
    assert!(!kept_path.exists(), "a frozen cgroup was kept");

    let parent = cgroups.job().expect("a job cgroup");
    let parent_path = parent.path().to_path_buf();
    std::fs::create_dir(parent_path.join("sub")).expect("a cgroup below the job's");
    cgroups.finish(parent, true, None);
    assert!(
        !cgroups.is_idle(&parent_path),
        "a cgroup with a child was kept"
    );
    std::fs::remove_dir(parent_path.join("sub")).unwrap();
    std::fs::remove_dir(&parent_path).unwrap();

    let left = cgroups.job().expect("a job cgroup");
    let left_path = left.path().to_path_buf();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let sleeper_pid = i32::try_from(sleeper.id()).unwrap();
    let _reap = Reap(sleeper_pid);
    cgroup::write_file(
        &left_path.join("cgroup.procs"),
        sleeper.id().to_string().as_bytes(),
    )
    .expect("moving the sleeper into the job cgroup");
    cgroups.finish(left, true, None);
    assert!(
        cgroups.is_idle(&left_path),
        "an emptied cgroup was not kept"
    );
    assert_eq!(
        cgroup_of(sleeper_pid).as_deref(),
        Some(cgroups.own_dir()),
        "the leftover was not moved out"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    cgroups.remove();
    assert!(
        !cgroups.instance().exists(),
        "the idle cgroups were not removed at exit"
    );
}

/// A command that kills its own cgroup (`cgroup.kill`, which hookrun does not see) leaves a
/// cgroup that is not used again: the next command runs, in another cgroup.
#[tokio::test]
async fn a_cgroup_its_command_killed_is_not_used_again() {
    let Some(shared) = cgroups() else { return };
    let cgroups = Arc::new(shared.separate(&format!("test-self-kill-{}", std::process::id())));
    let instance = cgroups.instance().to_string_lossy().into_owned();
    let self_kill = plain(
        "/bin/sh",
        &[
            "-c",
            "cat /proc/self/cgroup; for f in \"$0\"/job-*/cgroup.kill; do echo 1 > \"$f\"; done; sleep 5",
            &instance,
        ],
    );
    let (exit, text) = output_with(self_kill, Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Signal(9), "{text}");
    let job = |text: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with("0::"))
            .expect("its cgroup v2");
        let name = line.rsplit('/').next().expect("a job cgroup").to_string();
        cgroups.instance().join(name)
    };
    let killed = job(&text);
    assert!(!cgroups.is_idle(&killed), "{} was kept", killed.display());
    let next = plain("/bin/sh", &["-c", "cat /proc/self/cgroup"]);
    let (exit, text) = output_with(next, Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Code(0), "{text}");
    assert_ne!(job(&text), killed);
    cgroups.remove();
}

/// A child the kernel starts in its cgroup (`clone3`, where it can), with its start waiting
/// for the exec or not, and one that moves itself there (where it cannot) all run the command
/// in the job cgroup, and all report a failed start: at once where the start waited for the
/// exec, else once the child is reaped.
#[tokio::test]
async fn children_born_in_the_cgroup_and_children_that_move_there_both_run_in_it() {
    let Some(cgroups) = cgroups() else { return };
    type StartFn = fn(&vfork::Spawn) -> std::io::Result<vfork::Child>;
    // How it starts, whether it asks to wait for the exec, whether it returns before.
    let variants: [(StartFn, bool, bool); 3] = [
        (vfork::spawn, true, false),
        (vfork::spawn, false, vfork::returns_at_clone()),
        (vfork::spawn_moving, false, false),
    ];
    for (spawn, wait_for_exec, returns_at_clone) in variants {
        let job = cgroups.job().expect("a job cgroup");
        let (output, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let start = |path: &Path| {
            spawn(&vfork::Spawn {
                path,
                arg0: path.as_os_str(),
                args: &["-c".to_string(), "cat /proc/self/cgroup".to_string()],
                env: Vec::new(),
                dir: None,
                stdin: null.as_fd(),
                output: write.as_fd(),
                cgroup: job.dir(),
                wait_for_exec,
            })
        };
        let missing = match start(Path::new("/no/such/program")) {
            Ok(mut child) => {
                assert!(
                    returns_at_clone,
                    "a start that waited for the exec succeeded"
                );
                let status = child.wait().await.expect("reaped");
                assert_eq!(status.code(), Some(127));
                child.start_error().expect("the failed step")
            }
            Err(e) => {
                assert!(!returns_at_clone, "a start that did not wait failed: {e}");
                e
            }
        };
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound, "{missing}");
        let mut child = start(Path::new("/bin/sh")).expect("started");
        drop(write);
        let status = child.wait().await.expect("reaped");
        assert!(status.success(), "{status:?}");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(output), &mut text).unwrap();
        let instance = cgroups.instance().file_name().unwrap().to_string_lossy();
        let name = job.path().file_name().unwrap().to_string_lossy();
        let want = format!("/{instance}/{name}");
        let cgroup = text
            .lines()
            .find(|l| l.starts_with("0::"))
            .expect("its cgroup v2");
        assert!(cgroup.ends_with(&want), "{cgroup} is not {want}");
        assert!(!job.populated());
    }
}

/// Runs `script` (`sh -c`, which prints `$HOOKRUN_RESULT` first) with `isolation`; returns
/// how it ended, the result file's path and the rest of the output.
async fn result_run(script: &str, isolation: &Isolation) -> (Finished, PathBuf, String) {
    let full = format!("echo \"$HOOKRUN_RESULT\"\n{script}");
    let inv = plain("/bin/sh", &["-c", &full]);
    let log = Arc::new(OutputLog::new(64 * 1024));
    let finished = run_isolated(
        inv,
        log.clone(),
        &CancellationToken::new(),
        isolation.clone(),
    )
    .await;
    let text = String::from_utf8_lossy(&log.snapshot().combined).into_owned();
    let (path, rest) = text.split_once('\n').expect("the result file's path");
    (finished, PathBuf::from(path), rest.to_string())
}

/// A result file its command left empty serves the next job in the same cgroup; one written
/// to, replaced, linked, opened to others or turned into a symbolic link is not (what it holds
/// is read as before), nor is the file of a command that left a process running or was killed.
#[tokio::test]
async fn a_result_file_left_empty_and_unchanged_serves_the_next_job() {
    let Some(shared) = cgroups() else { return };
    let tmp = ::tempfile::tempdir().unwrap();
    let cgroups = Arc::new(
        shared
            .separate(&format!("test-result-reuse-{}", std::process::id()))
            .with_result_folder(tmp.path()),
    );
    let folder = cgroups.result_folder().unwrap().path().to_path_buf();
    let isolation = Isolation::Cgroups(cgroups.clone());
    // Every command finds its file there and empty.
    let check = "test -f \"$HOOKRUN_RESULT\" && test ! -s \"$HOOKRUN_RESULT\" && echo empty";
    let (first, path, text) = result_run(check, &isolation).await;
    assert_eq!((first.exit, text.as_str()), (Exit::Code(0), "empty\n"));
    assert_eq!(path.parent(), Some(folder.as_path()));
    let (second, again, text) = result_run(check, &isolation).await;
    assert_eq!((second.exit, text.as_str()), (Exit::Code(0), "empty\n"));
    assert_eq!(again, path, "the empty file was not used again");
    assert!(path.exists(), "the kept file");

    // Each of these leaves a file that must not serve again; then the next command gets a new
    // one, empty.
    let changes = [
        ("written to", "echo a=1 >> \"$HOOKRUN_RESULT\""),
        (
            "replaced",
            "f=\"$HOOKRUN_RESULT\"; cp \"$f\" \"$f.new\"; chmod 600 \"$f.new\"; mv \"$f.new\" \"$f\"",
        ),
        ("hard-linked", "ln \"$HOOKRUN_RESULT\" \"$HOOKRUN_RESULT.link\""),
        ("opened to others", "chmod 644 \"$HOOKRUN_RESULT\""),
        (
            "replaced by a symbolic link",
            "f=\"$HOOKRUN_RESULT\"; : > \"$f.t\"; ln -sf \"$f.t\" \"$f\"",
        ),
        ("left with a process running", "sleep 0.5 </dev/null >/dev/null 2>&1 &"),
        ("killed", "kill -9 $$"),
    ];
    let mut used = path;
    for (what, script) in changes {
        let (done, path, _) = result_run(script, &isolation).await;
        assert_eq!(path, used, "{what}: the command got the kept file");
        let (next, fresh, text) = result_run(check, &isolation).await;
        assert_eq!(next.exit, Exit::Code(0), "{what}: {text}");
        assert_eq!(text, "empty\n", "{what}");
        assert_ne!(fresh, path, "{what}: the file was used again");
        if what == "written to" {
            assert_eq!(
                done.result.values["a"], "1",
                "the results are read as before"
            );
            assert!(done.result.warnings.is_empty());
            assert!(!path.exists(), "a file with results is removed");
        }
        if what == "replaced by a symbolic link" {
            assert!(
                done.result.warnings[0].contains("result file"),
                "{:?}",
                done.result
            );
        }
        used = fresh;
    }
    cgroups.remove();
    assert!(!folder.exists(), "the result folder was left at exit");
}
