//! Real child processes: output capture, caps, timeouts that kill whole groups, spawn errors.

use super::supervise::{pipe_receiver, pump};
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts the starts made on runtime threads at once (all the tests' runtimes together, as
/// the bound is the process's), and the most seen.
pub(super) struct StartHere;

static STARTS_HERE: AtomicUsize = AtomicUsize::new(0);
static MOST_STARTS_HERE: AtomicUsize = AtomicUsize::new(0);

impl StartHere {
    pub(super) fn enter() -> StartHere {
        let now = STARTS_HERE.fetch_add(1, Ordering::SeqCst) + 1;
        MOST_STARTS_HERE.fetch_max(now, Ordering::SeqCst);
        StartHere
    }
}

impl Drop for StartHere {
    fn drop(&mut self) {
        STARTS_HERE.fetch_sub(1, Ordering::SeqCst);
    }
}

fn inv(program: &str, args: &[&str], timeout_ms: u64) -> Invocation {
    Invocation {
        env: vec![("HOOKRUN_TEST".into(), "v a l".into())],
        ..Invocation::command(program, args, Duration::from_millis(timeout_ms))
    }
}

async fn run_it(i: Invocation, cap: usize) -> (Exit, Snapshot) {
    let log = Arc::new(OutputLog::new(cap));
    let finished = run(i, log.clone(), &CancellationToken::new()).await;
    (finished.exit, log.snapshot())
}

#[tokio::test]
async fn the_result_file_is_read_after_the_command_and_removed() {
    let script = r#"printf 'target=swarm:web\nmessage<<EOF\nline 1\nline 2\nEOF\n' >> "$HOOKRUN_RESULT"; echo "$HOOKRUN_RESULT""#;
    let log = Arc::new(OutputLog::new(4096));
    let finished = run(
        inv("/bin/sh", &["-c", script], 5000),
        log.clone(),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(finished.exit, Exit::Code(0));
    assert_eq!(finished.result.values["target"], "swarm:web");
    assert_eq!(finished.result.values["message"], "line 1\nline 2");
    let path = String::from_utf8(log.snapshot().combined).unwrap();
    assert!(
        !std::path::Path::new(path.trim()).exists(),
        "{path} left behind"
    );
}

#[tokio::test]
async fn a_symlinked_result_file_is_refused_not_followed() {
    let dir = ::tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "password=hunter2\n").unwrap();
    let script = format!(
        r#"rm -f "$HOOKRUN_RESULT"; ln -s {} "$HOOKRUN_RESULT""#,
        secret.display()
    );
    let finished = run(
        inv("/bin/sh", &["-c", &script], 5000),
        Arc::new(OutputLog::new(4096)),
        &CancellationToken::new(),
    )
    .await;
    assert!(finished.result.values.is_empty(), "{:?}", finished.result);
    assert_eq!(finished.result.warnings.len(), 1);
}

#[tokio::test]
async fn the_output_pipe_is_read_without_blocking() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let receiver = pipe_receiver(read).unwrap();
    let flags = nix::fcntl::fcntl(&receiver, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    assert!(nix::fcntl::OFlag::from_bits_truncate(flags).contains(nix::fcntl::OFlag::O_NONBLOCK));
    nix::unistd::write(&write, b"x").unwrap();
    drop(write);
    let log = OutputLog::new(16);
    pump(receiver, &log).await;
    assert_eq!(log.snapshot().combined, b"x");
}

#[tokio::test]
async fn captures_stdout_and_stderr_in_write_order_and_the_exit_code() {
    let (exit, out) = run_it(
        inv(
            "/bin/sh",
            &[
                "-c",
                "echo out; echo err >&2; echo \"$HOOKRUN_TEST\"; echo err2 >&2; exit 3",
            ],
            5000,
        ),
        1024,
    )
    .await;
    assert_eq!(exit, Exit::Code(3));
    assert_eq!(out.combined, b"out\nerr\nv a l\nerr2\n");
}

/// Two pipes merged by arrival reorder a quick stdout-then-stderr pair now and then; one pipe
/// never does. 500 runs, no tolerance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_order_is_the_write_order_every_time() {
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..500 {
        runs.spawn(run_it(
            inv(
                "/bin/sh",
                &["-c", "echo out-line; echo err-line >&2"],
                10_000,
            ),
            1024,
        ));
    }
    let mut swapped = 0;
    while let Some(done) = runs.join_next().await {
        let (exit, out) = done.unwrap();
        assert!(exit.success(), "{exit:?}");
        if out.combined != b"out-line\nerr-line\n" {
            swapped += 1;
        }
    }
    assert_eq!(swapped, 0, "{swapped} of 500 runs were out of order");
}

/// Starts that hold their thread until the exec (those that wait for it in job cgroups, and
/// all in process groups, std's spawn) wait for each other rather than take every worker: at
/// most one fewer than there are cores run on the runtime's threads at once, so one worker is
/// always free to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_leave_one_runtime_worker_free() {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..200 {
        // Half in this machine's isolation (job cgroups where it can make them).
        let isolation = match i % 2 {
            0 => isolation().clone(),
            _ => Isolation::ProcessGroups {
                reason: "the test's".into(),
            },
        };
        runs.spawn(async move {
            let log = Arc::new(OutputLog::new(64));
            let inv = inv("/bin/true", &[], 10_000);
            let finished = run_isolated(inv, log, &CancellationToken::new(), isolation).await;
            (finished.exit, ())
        });
    }
    while let Some(done) = runs.join_next().await {
        let (exit, _) = done.unwrap();
        assert!(exit.success(), "{exit:?}");
    }
    let most = MOST_STARTS_HERE.load(Ordering::SeqCst);
    if cores > 1 {
        assert!(most >= 1, "no start was made on a runtime thread");
    }
    assert!(
        most < cores.max(2),
        "{most} starts ran on runtime threads at once with {cores} cores"
    );
}

#[tokio::test]
async fn argv_values_are_never_interpreted_by_a_shell() {
    let hostile = "$(touch /tmp/hookrun-pwned); `id`; x && y";
    let (exit, out) = run_it(inv("/bin/echo", &[hostile], 5000), 1024).await;
    assert!(exit.success());
    assert_eq!(out.combined, format!("{hostile}\n").as_bytes());
    assert!(!std::path::Path::new("/tmp/hookrun-pwned").exists());
}

#[tokio::test]
async fn output_beyond_the_cap_is_drained_not_blocking() {
    // 4 MiB through a 1 KiB cap: the child must not block on a full pipe.
    let (exit, out) = run_it(
        inv(
            "/bin/sh",
            &["-c", "head -c 4194304 /dev/zero; echo done >&2"],
            10_000,
        ),
        1024,
    )
    .await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(out.combined, vec![0u8; 1024]);
    assert!(out.truncated);
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn timeout_kills_term_ignoring_script_and_its_grandchild() {
    let dir = ::tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {p}; echo $$ >> {p}; while true; do sleep 1; done",
        p = pidfile.display()
    );
    let started = std::time::Instant::now();
    let (exit, _) = run_it(inv("/bin/bash", &["-c", &script], 700), 1024).await;
    assert_eq!(exit, Exit::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(5));
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    std::thread::sleep(Duration::from_millis(100));
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived the timeout");
    }
}

#[tokio::test]
async fn output_written_while_a_timed_out_command_stops_is_read_during_the_grace() {
    // More than a pipe holds (64 KiB), written as the command handles SIGTERM: unread, the
    // command would block on the full pipe until SIGKILL and the output would stop short.
    // The command gets SIGTERM twice (its process group, then each process of its cgroup):
    // the handler ignores the second.
    let script = "trap 'trap \"\" TERM; head -c 200000 /dev/zero | tr \"\\0\" \"\\001\"; exit 0' TERM; echo started; sleep 30 & wait";
    // A grace long enough for a loaded machine: the command exits as soon as it has written.
    let inv = Invocation {
        kill_grace: Duration::from_secs(5),
        start: Start::AtExec,
        ..inv("/bin/bash", &["-c", script], 300)
    };
    let (exit, out) = run_it(inv, 1 << 20).await;
    assert_eq!(exit, Exit::TimedOut);
    assert!(out.combined.starts_with(b"started\n"));
    // bash may also report its background `sleep`, stopped by the same SIGTERM, in the
    // output: the bytes written are a control character that no such message holds.
    let written = out.combined.iter().filter(|&&b| b == 1).count();
    assert_eq!(written, 200_000);
}

#[tokio::test]
async fn grandchild_holding_the_pipe_does_not_hang_the_runner() {
    let started = std::time::Instant::now();
    let (exit, out) = run_it(inv("/bin/sh", &["-c", "echo hi; sleep 30 &"], 20_000), 1024).await;
    assert!(exit.success());
    assert_eq!(out.combined, b"hi\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn missing_command_is_a_spawn_failure() {
    let (exit, _) = run_it(inv("/nonexistent/cmd", &[], 1000), 1024).await;
    assert!(matches!(exit, Exit::SpawnFailed(_)), "{exit:?}");
    let (exit, _) = run_it(inv("", &[], 1000), 1024).await;
    assert!(matches!(exit, Exit::SpawnFailed(_)), "{exit:?}");
}

/// An absolute program is not looked at before its start, only once it failed: the failure
/// still says why, as the reference's check before the start does, however the start waits.
#[tokio::test]
async fn a_program_that_cannot_run_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let dir = ::tempfile::tempdir().unwrap();
    let script = dir.path().join("deploy.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shown = |p: &Path| p.display().to_string();
    let cases = [
        (
            shown(&dir.path().join("missing")),
            format!("{}: no such file", shown(&dir.path().join("missing"))),
        ),
        (
            shown(&script),
            format!(
                "{}: is not executable (mode 0644; chmod +x it)",
                shown(&script)
            ),
        ),
        (shown(dir.path()), "is a folder, not a program".to_string()),
    ];
    for (program, why) in cases {
        for start in [Start::AtExec, Start::AtClone] {
            let (exit, out) = run_it(
                Invocation {
                    start,
                    ..inv(&program, &[], 2000)
                },
                1024,
            )
            .await;
            let Exit::SpawnFailed(error) = &exit else {
                panic!("{program} {start:?}: {exit:?}");
            };
            assert!(
                error.starts_with(&format!("exec: {program:?}: ")),
                "{error}"
            );
            assert!(error.ends_with(&why), "{start:?}: {error}");
            assert!(out.combined.is_empty(), "{program} ran");
        }
    }
}

#[tokio::test]
async fn files_exist_during_the_run_and_are_removed_after() {
    let dir = ::tempfile::tempdir().unwrap();
    let mut i = inv(
        "/bin/sh",
        &["-c", "cat \"$HOOK_F\"; echo \"$HOOK_F\""],
        5000,
    );
    i.working_dir = Some(dir.path().to_path_buf());
    i.files = vec![("HOOK_F".into(), b"secret-data\n".to_vec())];
    let (exit, out) = run_it(i, 4096).await;
    assert!(exit.success());
    let text = String::from_utf8(out.combined).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("secret-data"));
    let path = lines.next().unwrap();
    assert!(path.starts_with(&dir.path().display().to_string()));
    assert!(!std::path::Path::new(path).exists());
}

#[tokio::test]
async fn argv0_is_the_command_as_written() {
    let (exit, out) = run_it(inv("sh", &["-c", "echo $0"], 5000), 1024).await;
    assert!(exit.success());
    assert_eq!(out.combined, b"sh\n");
}

#[tokio::test]
async fn temporary_files_are_removed_however_the_command_ends() {
    // Each ending, with a `pass-file-to-command` file in a folder of its own: the command
    // prints where its files are, then fails, outlives its deadline or is canceled; or it
    // cannot start at all (an executable file the kernel cannot run: exec fails once the
    // files exist; its result file, never named to anyone, is made and dropped in the same
    // place as the `pass-file-to-command` file checked here).
    let script = r#"echo "$HOOKRUN_RESULT"; echo "$HOOK_F"; "#;
    let endings = [
        ("exit 3", 5000, None),
        ("sleep 30", 300, None),
        ("sleep 30", 20_000, Some(Duration::from_millis(300))),
    ];
    for (rest, timeout_ms, cancel_after) in endings {
        let dir = ::tempfile::tempdir().unwrap();
        let mut i = inv("/bin/sh", &["-c", &format!("{script}{rest}")], timeout_ms);
        i.working_dir = Some(dir.path().to_path_buf());
        i.files = vec![("HOOK_F".into(), b"data".to_vec())];
        let log = Arc::new(OutputLog::new(4096));
        let cancel = CancellationToken::new();
        if let Some(after) = cancel_after {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                cancel.cancel();
            });
        }
        let finished = run(i, log.clone(), &cancel).await;
        let want = match cancel_after {
            Some(_) => Exit::Canceled,
            None if timeout_ms < 1000 => Exit::TimedOut,
            None => Exit::Code(3),
        };
        assert_eq!(finished.exit, want);
        let out = String::from_utf8(log.snapshot().combined).unwrap();
        let paths: Vec<&str> = out.lines().take(2).collect();
        assert_eq!(paths.len(), 2, "{out:?}");
        // A result file left empty by a command that exited by itself is kept with its job
        // cgroup for the next job (`result_folder`; checked in `cgroup_tests`), and another test
        // may have taken it since: only the killed commands' result files are checked here.
        let kept = matches!(isolation(), Isolation::Cgroups(_)) && want == Exit::Code(3);
        let checked = if kept { &paths[1..] } else { &paths[..] };
        for path in checked {
            assert!(!Path::new(path).exists(), "{rest}: {path} left behind");
        }
    }
    let dir = ::tempfile::tempdir().unwrap();
    let program = dir.path().join("not-a-program");
    std::fs::write(&program, b"\x7fELF but not really").unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut i = inv(program.to_str().unwrap(), &[], 5000);
    i.working_dir = Some(dir.path().to_path_buf());
    i.files = vec![("HOOK_F".into(), b"data".to_vec())];
    let (exit, _) = run_it(i, 1024).await;
    assert!(matches!(exit, Exit::SpawnFailed(_)), "{exit:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("not-a-program")]);
}
