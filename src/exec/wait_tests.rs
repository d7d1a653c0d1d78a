//! How a command's end is awaited: the output's end first, then one reap, the pidfd
//! registered only for a command still running; what ends a run either way.

use std::os::fd::AsFd;
use std::time::Duration;

use super::supervise::PIPE_FIRST;
use super::*;

fn sh(script: &str, timeout: Duration) -> Invocation {
    Invocation::command("/bin/sh", &["-c", script], timeout)
}

async fn run_timed(inv: Invocation) -> (Exit, Vec<u8>, Duration) {
    let log = Arc::new(OutputLog::new(4096));
    let started = std::time::Instant::now();
    let finished = run(inv, log.clone(), &CancellationToken::new()).await;
    (finished.exit, log.snapshot().combined, started.elapsed())
}

/// The end of the output is not the end of the command: one that closes its output and runs
/// on is waited for, and its exit code is its own.
#[tokio::test]
async fn a_command_closing_its_output_early_is_waited_for() {
    let script = "echo early; exec >&- 2>&-; sleep 0.4; exit 3";
    let (exit, out, took) = run_timed(sh(script, Duration::from_secs(10))).await;
    assert_eq!(exit, Exit::Code(3));
    assert_eq!(out, b"early\n");
    assert!(took >= Duration::from_millis(400), "{took:?}");
}

/// The deadline holds in each phase of the wait: before [`PIPE_FIRST`] has passed, with the
/// output still open, and once the output has ended.
#[tokio::test]
async fn the_deadline_holds_whether_or_not_the_output_has_ended() {
    let cases = [
        ("sleep 30", 50),
        ("sleep 30", PIPE_FIRST.as_millis() as u64 + 300),
        ("exec >&- 2>&-; sleep 30", 50),
        (
            "exec >&- 2>&-; sleep 30",
            PIPE_FIRST.as_millis() as u64 + 300,
        ),
    ];
    for (script, timeout_ms) in cases {
        let timeout = Duration::from_millis(timeout_ms);
        let (exit, _, took) = run_timed(sh(script, timeout)).await;
        assert_eq!(exit, Exit::TimedOut, "{script} ({timeout_ms} ms)");
        assert!(took >= timeout, "{script}: ended after {took:?}");
        assert!(
            took < timeout + Duration::from_secs(3),
            "{script}: {took:?}"
        );
    }
}

/// A grandchild holding the pipe keeps the run only for the linger after the command's end,
/// which is noticed at most [`PIPE_FIRST`] late; what the command wrote is all there.
#[tokio::test]
async fn a_grandchild_holding_the_pipe_keeps_the_run_only_for_the_linger() {
    let (exit, out, took) = run_timed(sh("echo hi; sleep 30 &", Duration::from_secs(20))).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(out, b"hi\n");
    // The linger is the kill grace (300 ms) here.
    let longest = PIPE_FIRST + Duration::from_millis(300);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < longest + Duration::from_millis(700), "{took:?}");
}

/// Started in a job cgroup: a child that has exited by the time it is waited for is reaped
/// without registering its pidfd with the runtime; one still running is watched.
#[tokio::test]
async fn a_child_ended_before_its_wait_is_reaped_without_watching_its_pidfd() {
    let Isolation::Cgroups(cgroups) = isolation() else {
        eprintln!("skipped: no writable cgroup v2 hierarchy");
        return;
    };
    let null = std::fs::File::open("/dev/null").unwrap();
    for (script, exits_first) in [("exit 4", true), ("sleep 0.2; exit 4", false)] {
        let job = cgroups.job().expect("a job cgroup");
        let (_output, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let args = ["-c".to_string(), script.to_string()];
        let mut child = vfork::spawn(&vfork::Spawn {
            path: Path::new("/bin/sh"),
            arg0: "sh".as_ref(),
            args: &args,
            env: Vec::new(),
            dir: None,
            stdin: null.as_fd(),
            output: write.as_fd(),
            cgroup: job.dir(),
            wait_for_exec: true,
        })
        .expect("started");
        if exits_first {
            let pid = child.id().expect("not reaped yet");
            while !zombie(pid) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let status = child.wait().await.expect("reaped");
        assert_eq!(status.code(), Some(4));
        assert_eq!(child.pidfd_watched(), !exits_first, "{script}");
        cgroups.finish(job, true, None);
    }
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with('Z')))
        .unwrap_or(false)
}
