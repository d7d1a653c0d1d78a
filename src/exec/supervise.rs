//! A started command's supervision: its output copied into the log, its deadline and
//! cancellation (SIGTERM, grace period, SIGKILL to its group and cgroup), and its reaping.

use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::spawn::Process;
use super::{Exit, Invocation, JobCgroup, OutputLog};

/// How long [`supervise`] waits for the end of a command's output before it also waits for
/// the command's own end.
///
/// Most commands end their output by exiting: once the pipe has reached its end, one reap
/// (`waitpid` with `WNOHANG`) usually finds the command ended, and its pidfd never has to be
/// registered with the runtime (an `epoll_ctl` to add it, one to remove it, the runtime's
/// record of it; see `vfork::Child::wait`). A command whose output outlives it (a grandchild
/// holding the pipe) is noticed to have ended at most this late, which delays the linger that
/// follows its end by as much.
pub(super) const PIPE_FIRST: Duration = Duration::from_millis(100);

/// Waits for the child under its deadline, copying output, killing the group when needed.
///
/// The output is copied in this task, next to the wait, not in a task of its own: spawning
/// one cost every command a task allocation and, often, a wake-up of another worker thread
/// that then had nothing to do but read an empty pipe.
pub(super) async fn supervise(
    child: &mut Process,
    output: OwnedFd,
    inv: &Invocation,
    log: &OutputLog,
    cancel: &CancellationToken,
    cgroup: Option<&JobCgroup>,
) -> Exit {
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let pipe = match pipe_receiver(output) {
        Ok(pipe) => Some(pipe),
        Err(e) => {
            // Cannot happen for a pipe this module made; the command still runs, unread
            // output aside (the pipe is closed, so the command's writes fail).
            tracing::warn!(error = %e, "cannot read the command's output");
            None
        }
    };
    let mut pumped = pipe.is_none();
    let pump = async {
        if let Some(pipe) = pipe {
            pump(pipe, log).await;
        }
    };
    tokio::pin!(pump);
    let now = Instant::now();
    let deadline = now + inv.timeout;
    // The end of the output usually comes with the command's: it is waited for alone first,
    // then the command reaped (see [`PIPE_FIRST`]).
    let mut waiting = pumped;
    let mut timer_at_deadline = deadline <= now + PIPE_FIRST;
    let timer = tokio::time::sleep_until(deadline.min(now + PIPE_FIRST));
    tokio::pin!(timer);
    let ended = loop {
        tokio::select! {
            status = child.wait(), if waiting => break Ok(status),
            () = &mut pump, if !pumped => (pumped, waiting) = (true, true),
            () = &mut timer => {
                if timer_at_deadline {
                    break Err(Exit::TimedOut);
                }
                (waiting, timer_at_deadline) = (true, true);
                timer.as_mut().reset(deadline);
            }
            () = cancel.cancelled() => break Err(Exit::Canceled),
        }
    };
    let (exit, linger_until) = match ended {
        Ok(status) => {
            // Let the reader drain what is buffered, but never past the deadline or a linger:
            // a backgrounded grandchild may hold the pipe open indefinitely.
            let linger = Instant::now() + inv.kill_grace.min(Duration::from_secs(2));
            (status_to_exit(status), linger.min(deadline))
        }
        Err(reason) => {
            // The output is still read while the job is stopped: a command that writes as it
            // handles SIGTERM must not block on a full pipe until SIGKILL.
            let kill = kill_job(child, pgid, cgroup, inv.kill_grace);
            tokio::pin!(kill);
            loop {
                tokio::select! {
                    () = &mut kill => break,
                    () = &mut pump, if !pumped => pumped = true,
                }
            }
            (reason, Instant::now() + Duration::from_millis(200))
        }
    };
    if !pumped {
        // Past the linger the reader is dropped with its end of the pipe.
        let _ = tokio::time::timeout_at(linger_until, pump).await;
    }
    exit
}

/// The read end of the output pipe, non-blocking, for the runtime. `Receiver::from_owned_fd`
/// would first check what `spawn` knows (an `fstat` that it is a FIFO, an `F_GETFL` that it is
/// open for reading) and then set the flag: three system calls per command where one does.
pub(super) fn pipe_receiver(output: OwnedFd) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    rustix::io::ioctl_fionbio(&output, true)?;
    tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(output)
}

/// SIGTERM to the group and to every process in the job's cgroup, SIGKILL to both after
/// `grace` (`cgroup.kill`), then reap the child (always) and wait for the cgroup to empty.
async fn kill_job(
    child: &mut Process,
    pgid: Option<Pid>,
    cgroup: Option<&JobCgroup>,
    grace: Duration,
) {
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGTERM);
    }
    if let Some(cgroup) = cgroup {
        cgroup.signal(Signal::SIGTERM);
    }
    let grace_end = Instant::now() + grace;
    let _ = tokio::time::timeout_at(grace_end, child.wait()).await;
    // Grandchildren may outlive the leader: give them all the grace period.
    let alive = || pgid.is_some_and(group_alive) || cgroup.is_some_and(JobCgroup::populated);
    while Instant::now() < grace_end && alive() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    if let Some(cgroup) = cgroup {
        cgroup.kill();
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    if let Some(cgroup) = cgroup {
        if !cgroup.emptied(Duration::from_secs(2)).await {
            tracing::warn!(cgroup = %cgroup.path().display(), "processes of a killed job are still in its cgroup");
        }
    }
}

fn group_alive(pgid: Pid) -> bool {
    killpg(pgid, None).is_ok()
}

fn status_to_exit(status: std::io::Result<ExitStatus>) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Code(-1),
        },
        Err(e) => Exit::SpawnFailed(format!("waiting for the command: {e}")),
    }
}

/// Copies the pipe into the log until EOF, reading (and dropping) past the cap.
///
/// Most commands write a line or nothing: a read goes to a small buffer on the stack (not kept
/// in the task between reads) until one fills it; only then is a larger buffer allocated.
/// Allocating 16 KiB up front for every command cost glibc's allocator a large-bin search and,
/// often, a consolidation of its fast bins per command. The larger buffer is read into spare
/// capacity: zeroing it cost a 16 KiB memset per job.
pub(super) async fn pump(pipe: tokio::net::unix::pipe::Receiver, log: &OutputLog) {
    let mut large: Vec<u8> = Vec::new();
    loop {
        if pipe.readable().await.is_err() {
            return;
        }
        let read = if large.capacity() == 0 {
            let mut small = [0u8; 512];
            let read = pipe.try_read(&mut small);
            if let Ok(n @ 1..) = read {
                log.append(&small[..n]);
                if n == small.len() {
                    large.reserve(16 * 1024);
                }
            }
            read
        } else {
            large.clear();
            let read = pipe.try_read_buf(&mut large);
            if let Ok(1..) = read {
                log.append(&large);
            }
            read
        };
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
