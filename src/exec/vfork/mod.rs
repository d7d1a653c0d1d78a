//! Starting a command inside its job cgroup the way `posix_spawn` starts one: the child shares
//! hookrun's memory (`clone` with `CLONE_VM`) until it execs, so nothing is copied. std's
//! `Command::pre_exec`, the only way std offers to run code between fork and exec, forces a
//! real `fork`: it copies the page tables of the whole multi-threaded server, write-protects its
//! memory (a TLB shootdown on every core) and turns hookrun's next writes into page faults,
//! which halved the jobs a second this machine could start. glibc 2.39's
//! `posix_spawnattr_setcgroup_np` does what this module does; Debian bookworm has glibc 2.36.
//!
//! # Theory of operation
//! Everything the child reads is built first, in ordinary code ([`Plan`]): the program's path,
//! argv and envp as C strings (the environment as std builds it: hookrun's, then the job's
//! variables, sorted by name; hookrun's own is read once, at the first command, since it does
//! not change once the server runs), the folder, the descriptors. The child runs on a stack of
//! its own.
//!
//! The child is born in the job cgroup: `clone3` with `CLONE_INTO_CGROUP` (Linux 5.7) and the
//! cgroup's directory, which also returns its pidfd (`CLONE_PIDFD`), and with every caught
//! signal at its default (`CLONE_CLEAR_SIGHAND`), so that none of hookrun's handlers can run
//! in it. Whether the calling thread is suspended until the child's exec is the caller's
//! choice ([`Spawn::wait_for_exec`]): with `CLONE_VFORK` it sleeps until then, as in
//! `posix_spawn`, and the plan and stack are free when the clone returns; without, the clone
//! returns as soon as the child exists, and the plan and stack stay with the [`Child`] until
//! it is reaped. Moving a running process into a cgroup instead (writing to
//! `cgroup.procs`) makes the kernel wait for an RCU grace period while it holds a lock every
//! fork takes: about a millisecond on this 2-core machine. glibc has no `clone3` a program may
//! call, so the call is a few instructions of assembly (x86-64). Where `clone3` or
//! `CLONE_INTO_CGROUP` is missing (older kernels, valgrind, other architectures), the child is
//! started as `posix_spawn` starts one, with glibc's `clone` and `CLONE_VFORK` (the thread
//! blocks every signal and sleeps until the child has exec'd or exited), and its first step is
//! to write "0" to the cgroup's `cgroup.procs` (it enters the cgroup before the command can
//! fork).
//!
//! The child then makes raw system calls only: `setpgid(0, 0)`, `dup3` of /dev/null to stdin
//! and of the output pipe to stdout and stderr, `chdir`, each caught signal and SIGPIPE back
//! to its default and an empty signal mask (what std gives a command), then `execve`. Born by
//! `clone3`, it restores SIGPIPE alone; born by `clone`, it asks for each signal's disposition
//! first. A step that fails reports its errno and the child exits with 127: born by `clone3`,
//! it stores the errno in the plan, which hookrun reads when the clone returns if it waited
//! for the exec, else once it has reaped the child ([`Child::start_error`]); born by the fallback `clone`, it writes the errno to a
//! close-on-exec pipe that hookrun reads once the clone has returned (an exec closes it
//! unwritten: as std reports a failed exec), since under valgrind, which runs a vfork as a
//! fork, it shares no memory. hookrun watches the child's pidfd (opened with `pidfd_open`
//! after a plain `clone`; where none can be opened, as under valgrind: SIGCHLD): waiting reaps
//! a child that has ended and registers the pidfd with the runtime only for one that still
//! runs, killing is `pidfd_send_signal`, and the child is reaped once, so no other process can
//! ever be signalled under a reused pid.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;

use nix::libc;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

mod child;
mod child_stack;
mod clones;
mod plan;

use child::read_report;
use child_stack::ChildStack;
use clones::{clone_and_exec, clone_into_cgroup, NO_CLONE_INTO_CGROUP};
use plan::Plan;

/// The command to start and where its standard descriptors and cgroup are.
pub struct Spawn<'a> {
    /// The program's resolved path.
    pub path: &'a Path,
    pub arg0: &'a OsStr,
    pub args: &'a [String],
    /// Added to hookrun's environment, later values winning.
    pub env: Vec<(&'a OsStr, &'a OsStr)>,
    pub dir: Option<&'a Path>,
    pub stdin: BorrowedFd<'a>,
    /// Becomes both stdout and stderr.
    pub output: BorrowedFd<'a>,
    /// The job cgroup's directory, open (the child is started in it).
    pub cgroup: BorrowedFd<'a>,
    /// Whether the start waits for the child's exec where `clone3` starts it (`CLONE_VFORK`):
    /// see [`crate::exec::Start`]. The fallback's start always waits.
    pub wait_for_exec: bool,
}

/// A child started here; reaped by [`Child::wait`] only.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    exits: Exits,
    status: Option<ExitStatus>,
    /// What a child started by `clone3` reads and runs on until its exec: kept until it is
    /// reaped (only then is it sure to have exec'd or exited).
    launch: Option<Launch>,
    /// Why it ended without exec'ing, once reaped (a child started by `clone3` reports it in
    /// its plan).
    start_error: Option<std::io::Error>,
}

/// A child's plan and stack, which it uses until it has exec'd or exited.
struct Launch {
    plan: Box<Plan>,
    _stack: ChildStack,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Launch")
    }
}

impl Launch {
    /// The error of the step that failed in the child, if one did; read once it was reaped.
    fn failure(&self) -> Option<std::io::Error> {
        let errno = self.plan.failed.load(Ordering::Acquire);
        (errno != 0).then(|| std::io::Error::from_raw_os_error(errno))
    }
}

/// How the end of a child is noticed: its pidfd, or, where pidfds cannot be opened (valgrind
/// knows no pidfd_open), every SIGCHLD, after which the child is asked whether it ended.
#[derive(Debug)]
enum Exits {
    Pidfd(Pidfd),
    Sigchld(tokio::signal::unix::Signal),
}

/// A child's pidfd, registered with the runtime only once a wait finds the child running.
/// A registration costs an `epoll_ctl` to add it, one to remove it and the runtime's record
/// of it; most commands are waited for once their output has ended (see `exec::supervise`),
/// when they have usually exited already and one reap suffices.
#[derive(Debug)]
struct Pidfd {
    /// Declared before `fd`: dropped (and so deregistered) before `fd` is closed.
    watched: Option<AsyncFd<RawFd>>,
    fd: OwnedFd,
}

impl Pidfd {
    fn new(fd: OwnedFd) -> Self {
        Pidfd { watched: None, fd }
    }

    /// The pidfd, registered with the runtime: readable once the child has exited.
    fn watched(&mut self) -> std::io::Result<&AsyncFd<RawFd>> {
        match &mut self.watched {
            Some(watched) => Ok(watched),
            unwatched => Ok(unwatched.insert(watch(&self.fd)?)),
        }
    }
}

/// Starts the command (see the module's theory of operation). Where `clone3` can start it in
/// its cgroup and the start need not wait for the exec, returns as soon as the child exists;
/// else blocks the calling thread until the command has exec'd. A step of the child's that
/// fails before the exec is reported here when the thread waited for it, else by
/// [`Child::start_error`] once the child is reaped.
pub fn spawn(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, true)
}

/// [`spawn`] with a child that moves itself into the cgroup, as where `clone3` is missing.
#[cfg(test)]
pub fn spawn_moving(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, false)
}

/// Whether [`spawn`] can return without waiting for the child's exec (`clone3` into the
/// cgroup), where the start does not ask to wait.
pub fn returns_at_clone() -> bool {
    cfg!(target_arch = "x86_64") && !NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed)
}

/// A child just cloned: its pidfd (when the clone made one), what it runs on until its exec
/// (when the clone did not wait for that), and the error of its start when it is known.
struct Launched {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    launch: Option<Launch>,
    failure: Option<std::io::Error>,
}

/// Clones the child (see the module's theory of operation); `born_in_cgroup`: with `clone3`
/// where the kernel has it.
fn launch(spawn: &Spawn, born_in_cgroup: bool) -> std::io::Result<Launched> {
    let mut plan = Box::new(Plan::new(spawn)?);
    let mut stack = ChildStack::take();
    // Read by the child only if `clone3` starts it, which clears its handlers.
    plan.handlers_cleared = true;
    let wait = spawn.wait_for_exec;
    let cloned = born_in_cgroup
        .then(|| clone_into_cgroup(&plan, &mut stack, spawn.cgroup, wait))
        .flatten();
    if let Some(started) = cloned {
        let (pid, pidfd) = started?;
        if wait {
            // The child has exec'd or exited: its plan and stack are free, and a failure is
            // in the plan.
            let launch = Launch {
                plan,
                _stack: stack,
            };
            return Ok(Launched {
                pid: Pid::from_raw(pid),
                pidfd: Some(pidfd),
                launch: None,
                failure: launch.failure(),
            });
        }
        // The child runs on, on the plan and stack, while this thread goes on.
        return Ok(Launched {
            pid: Pid::from_raw(pid),
            pidfd: Some(pidfd),
            launch: Some(Launch {
                plan,
                _stack: stack,
            }),
            failure: None,
        });
    }
    // The child may not share this process's memory (valgrind): it reports a failure
    // through a pipe, as std's does. Started by `clone`, it has hookrun's handlers.
    plan.handlers_cleared = false;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    plan.report = Some(report_write.as_raw_fd());
    // Open until the child has exec'd: it writes to it.
    let procs = nix::fcntl::openat(
        spawn.cgroup,
        "cgroup.procs",
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    plan.procs = Some(procs.as_raw_fd());
    // Returns once the child has exec'd or exited (`CLONE_VFORK`).
    let pid = clone_and_exec(&plan, &mut stack)?;
    drop(report_write);
    Ok(Launched {
        pid: Pid::from_raw(pid),
        pidfd: None,
        launch: None,
        failure: read_report(report_read),
    })
}

/// [`spawn`] or [`spawn_moving`].
fn start(spawn: &Spawn, born_in_cgroup: bool) -> std::io::Result<Child> {
    if tokio::runtime::Handle::try_current().is_err() {
        // Only a caller outside any runtime gets here: it could not wait for the command.
        return Err(std::io::Error::other(
            "no runtime to wait for the command in",
        ));
    }
    let Launched {
        pid,
        pidfd,
        launch,
        failure,
    } = launch(spawn, born_in_cgroup)?;
    if let Some(error) = failure {
        // The child exited without exec'ing: reap it and say why.
        let _ = waitpid(pid, None);
        return Err(error);
    }
    let pidfd = match pidfd {
        Some(pidfd) => Ok(pidfd),
        None => rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid.as_raw()).expect("a child's pid is positive"),
            rustix::process::PidfdFlags::empty(),
        ),
    };
    let exits = match pidfd {
        Ok(pidfd) => Ok(Exits::Pidfd(Pidfd::new(pidfd))),
        Err(_) => tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .map(Exits::Sigchld),
    };
    match exits {
        Ok(exits) => Ok(Child {
            pid,
            exits,
            status: None,
            launch,
            start_error: None,
        }),
        Err(e) => {
            // Do not leave the command running unwatched.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
            drop(launch);
            Err(e)
        }
    }
}

/// Starts `spawn` in its cgroup and waits (blocking the thread) for it to end: for the
/// start-up probe, which starts a program that cannot exist and expects its start to fail.
/// Returns the start's error; a child that exec'd after all is killed after `limit`.
pub fn start_and_wait(spawn: &Spawn, limit: std::time::Duration) -> std::io::Result<()> {
    let Launched {
        pid,
        pidfd,
        launch,
        failure,
    } = launch(spawn, true)?;
    if let Some(pidfd) = pidfd {
        if !ended_within(&pidfd, limit) {
            let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
        }
    }
    let _ = waitpid(pid, None);
    match failure.or_else(|| launch.as_ref().and_then(Launch::failure)) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Whether the process of `pidfd` ends within `limit` (its pidfd becomes readable).
#[allow(unsafe_code)]
fn ended_within(pidfd: &OwnedFd, limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut ready = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd, on this stack, for the length of the call.
        match unsafe { libc::poll(&mut ready, 1, ms) } {
            1 => return true,
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
}

impl Drop for Child {
    /// A child dropped before it was reaped (its run was abandoned, which the job manager
    /// never does) is reaped when it exits, by a thread of its own, so it never stays a
    /// zombie; it is not killed, as std's `Child` is not.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                let pid = self.pid;
                // The child may still run on its plan and stack: they go with the reaper.
                let launch = self.launch.take();
                let reaper = std::thread::Builder::new()
                    .name("hookrun-reaper".into())
                    .spawn(move || {
                        let _ = waitpid(pid, None);
                        drop(launch);
                    });
                if let Err(e) = reaper {
                    tracing::warn!(error = %e, "cannot start a thread to reap an abandoned command");
                }
            }
            // Reaped now: its plan and stack are free.
            Ok(_) => {}
            // Not a child of this process any more (it cannot be: only this reaps it), so
            // nothing tells whether it still runs on its plan and stack: they are left.
            Err(_) => std::mem::forget(self.launch.take()),
        }
    }
}

impl Child {
    pub fn id(&self) -> Option<u32> {
        if self.status.is_some() {
            return None;
        }
        u32::try_from(self.pid.as_raw()).ok()
    }

    /// Waits for the child to exit and reaps it (once; later calls return the same status).
    /// A child that has exited is reaped at once, without registering its pidfd.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let pid = self.pid;
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            match &mut self.exits {
                Exits::Pidfd(pidfd) => match reap(pid)? {
                    Some(status) => self.reaped(status),
                    None => match pidfd.watched() {
                        // Readable once it has exited; the next turn reaps it.
                        Ok(watched) => watched.readable().await?.clear_ready(),
                        Err(e) => {
                            // Not left running unwatched: the caller cannot wait for it.
                            let _ = rustix::process::pidfd_send_signal(
                                &pidfd.fd,
                                rustix::process::Signal::KILL,
                            );
                            return Err(e);
                        }
                    },
                },
                // The stream exists since the spawn: a child that exits before this check
                // is seen by it, one that exits after it by the next signal.
                Exits::Sigchld(signals) => match reap(pid)? {
                    Some(status) => self.reaped(status),
                    None => {
                        signals.recv().await;
                    }
                },
            }
        }
    }

    /// Records the status of the reaped child, and the error of its start if it failed
    /// before its exec; its plan and stack are free.
    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        if let Some(launch) = self.launch.take() {
            self.start_error = launch.failure();
        }
    }

    /// Why the child ended without exec'ing, once reaped, when its start did not wait for
    /// the exec (see [`spawn`]); `None` if it exec'd (or has not been reaped yet).
    pub fn start_error(&mut self) -> Option<std::io::Error> {
        self.start_error.take()
    }

    /// Whether a wait registered the child's pidfd with the runtime.
    #[cfg(test)]
    pub fn pidfd_watched(&self) -> bool {
        matches!(&self.exits, Exits::Pidfd(pidfd) if pidfd.watched.is_some())
    }

    /// SIGKILL to the child, unless it has been reaped.
    pub fn start_kill(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match &self.exits {
            Exits::Pidfd(pidfd) => {
                rustix::process::pidfd_send_signal(&pidfd.fd, rustix::process::Signal::KILL)
                    .map_err(Into::into)
            }
            // Not reaped yet: the pid is still this child's.
            Exits::Sigchld(_) => {
                nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL)
                    .map_err(Into::into)
            }
        }
    }
}

/// The status of `pid` if it has ended (reaping it), `None` while it runs.
fn reap(pid: Pid) -> std::io::Result<Option<ExitStatus>> {
    Ok(match waitpid(pid, Some(WaitPidFlag::WNOHANG))? {
        WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        WaitStatus::Signaled(_, signal, core) => {
            let core = if core { 0x80 } else { 0 };
            Some(ExitStatus::from_raw(signal as i32 | core))
        }
        _ => None,
    })
}

/// Registers a pidfd with the runtime: it becomes readable when the process exits.
///
/// SAFETY: `register_with_interest` needs the descriptor to stay open and the same while the
/// `AsyncFd` holds it: the `AsyncFd` is kept in the [`Pidfd`] that owns `pidfd`, which drops
/// it first.
#[allow(unsafe_code)]
fn watch(pidfd: &OwnedFd) -> std::io::Result<AsyncFd<RawFd>> {
    // SAFETY: see above.
    unsafe { AsyncFd::register_with_interest(pidfd.as_raw_fd(), tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}
