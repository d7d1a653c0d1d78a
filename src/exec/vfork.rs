//! Starting a command inside its job cgroup the way `posix_spawn` starts one: the child shares
//! hookrun's memory (`clone` with `CLONE_VM | CLONE_VFORK`) until it execs. std's
//! `Command::pre_exec`, the only way std offers to run code between fork and exec, forces a
//! real `fork`: it copies the page tables of the whole multi-threaded server, write-protects its
//! memory (a TLB shootdown on every core) and turns hookrun's next writes into page faults,
//! which halved the jobs a second this machine could start. glibc 2.39's
//! `posix_spawnattr_setcgroup_np` does what this module does; Debian bookworm has glibc 2.36.
//!
//! # Theory of operation
//! Everything the child reads is built first, in ordinary code ([`Plan`]): the program's path,
//! argv and envp as C strings (the environment as std builds it: hookrun's, then the job's
//! variables, sorted by name), the folder, the descriptors. The calling thread blocks every
//! signal, so that none of hookrun's handlers can run in the child while it shares hookrun's
//! memory, and `clone` starts the child on a stack of its own while the thread sleeps until the
//! child has exec'd or exited. The child makes system calls only: "0" written to the job
//! cgroup's `cgroup.procs` (it enters the cgroup before the command can fork), `setpgid(0, 0)`,
//! `dup2` of /dev/null to stdin and of the output pipe to stdout and stderr, `chdir`, each
//! caught signal and SIGPIPE back to its default and an empty signal mask (what std gives a
//! command), then `execve`. A step that fails writes its errno to a close-on-exec pipe that
//! hookrun reads (an exec closes it unwritten: as std reports a failed exec) and the child
//! exits with 127. hookrun's thread then restores its signal mask and, on success, opens a
//! pidfd for the child (where none can be opened, as under valgrind: SIGCHLD): waiting polls
//! it, killing is `pidfd_send_signal`, and the child is
//! reaped once, so no other process can ever be signalled under a reused pid.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use nix::libc;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

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
    /// The job cgroup's `cgroup.procs`, open for writing.
    pub cgroup_procs: BorrowedFd<'a>,
}

/// A child started here; reaped by [`Child::wait`] only.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    exits: Exits,
    status: Option<ExitStatus>,
}

/// How the end of a child is noticed: its pidfd, or, where pidfds cannot be opened (valgrind
/// knows no pidfd_open), every SIGCHLD, after which the child is asked whether it ended.
#[derive(Debug)]
enum Exits {
    Pidfd(AsyncFd<OwnedFd>),
    Sigchld(tokio::signal::unix::Signal),
}

/// What the child reads, all of it made before the clone. The pointers point into the strings
/// held next to them.
struct Plan {
    path: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    dir: Option<CString>,
    stdin: RawFd,
    output: RawFd,
    procs: RawFd,
    /// The highest signal number, whose default the child may have to restore.
    last_signal: libc::c_int,
    /// The write end of a close-on-exec pipe: the child writes the errno of a step that
    /// failed to it; an exec closes it unwritten.
    report: RawFd,
}

fn c_string(bytes: &[u8]) -> std::io::Result<CString> {
    // std's words for the same refusal, so a job's error reads the same either way.
    CString::new(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

impl Plan {
    fn new(spawn: &Spawn, report: BorrowedFd) -> std::io::Result<Plan> {
        let mut args = vec![c_string(spawn.arg0.as_bytes())?];
        for arg in spawn.args {
            args.push(c_string(arg.as_bytes())?);
        }
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (name, value) in &spawn.env {
            vars.insert(name.to_os_string(), value.to_os_string());
        }
        let env = vars
            .iter()
            .map(|(name, value)| c_string(&[name.as_bytes(), b"=", value.as_bytes()].concat()))
            .collect::<std::io::Result<Vec<CString>>>()?;
        let pointers = |strings: &[CString]| {
            let mut list: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
            list.push(std::ptr::null());
            list
        };
        Ok(Plan {
            path: c_string(spawn.path.as_os_str().as_bytes())?,
            argv: pointers(&args),
            _args: args,
            envp: pointers(&env),
            _env: env,
            dir: spawn
                .dir
                .map(|d| c_string(d.as_os_str().as_bytes()))
                .transpose()?,
            stdin: spawn.stdin.as_raw_fd(),
            output: spawn.output.as_raw_fd(),
            procs: spawn.cgroup_procs.as_raw_fd(),
            last_signal: libc::SIGRTMAX(),
            report: report.as_raw_fd(),
        })
    }
}

/// What the child reported: nothing when it exec'd (the pipe closed unwritten), else the
/// error of the step that failed.
fn read_report(report: OwnedFd) -> Option<std::io::Error> {
    let mut report = std::fs::File::from(report);
    let mut errno = [0u8; 4];
    let mut read = 0;
    while read < errno.len() {
        match report.read(&mut errno[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Some(e),
        }
    }
    match read {
        0 => None,
        4 => Some(std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno))),
        _ => Some(std::io::Error::other(
            "the command's start reported a partial error",
        )),
    }
}

/// Bytes of the child's stack: it runs the few calls of `child_main` and nothing else.
const CHILD_STACK: usize = 64 * 1024;

/// Starts the command (see the module's theory of operation). Blocks the calling thread until
/// the command has exec'd: call it off the runtime's threads.
pub fn spawn(spawn: &Spawn) -> std::io::Result<Child> {
    // The child reports a failure through a pipe, as std's does, not through the memory it
    // shares: under valgrind (which runs a vfork as a fork) it shares none.
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let plan = Plan::new(spawn, report_write.as_fd())?;
    // Not zeroed: the child writes before it reads, as any stack.
    let mut stack = Box::<[u8]>::new_uninit_slice(CHILD_STACK);
    let pid = clone_and_exec(&plan, &mut stack)?;
    let pid = Pid::from_raw(pid);
    drop(report_write);
    if let Some(error) = read_report(report_read) {
        // The child exited without exec'ing: reap it and say why.
        let _ = waitpid(pid, None);
        return Err(error);
    }
    if tokio::runtime::Handle::try_current().is_err() {
        // Only a caller outside any runtime (the start-up probe, which expects no command to
        // start) gets here: it cannot wait for the command, so it does not run.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(std::io::Error::other(
            "no runtime to wait for the command in",
        ));
    }
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid.as_raw()).expect("a child's pid is positive"),
        rustix::process::PidfdFlags::empty(),
    );
    let exits = match pidfd {
        Ok(pidfd) => watch(pidfd).map(Exits::Pidfd),
        Err(_) => tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .map(Exits::Sigchld),
    };
    match exits {
        Ok(exits) => Ok(Child {
            pid,
            exits,
            status: None,
        }),
        Err(e) => {
            // Do not leave the command running unwatched.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
            Err(e)
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
        if let Ok(WaitStatus::StillAlive) = waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            let pid = self.pid;
            let _ = std::thread::Builder::new()
                .name("hookrun-reaper".into())
                .spawn(move || waitpid(pid, None));
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
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let pid = self.pid;
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            match &mut self.exits {
                Exits::Pidfd(pidfd) => {
                    let mut ready = pidfd.readable().await?;
                    self.status = reap(pid)?;
                    if self.status.is_none() {
                        ready.clear_ready();
                    }
                }
                // The stream exists since the spawn: a child that exits before this check
                // is seen by it, one that exits after it by the next signal.
                Exits::Sigchld(signals) => {
                    self.status = reap(pid)?;
                    if self.status.is_none() {
                        signals.recv().await;
                    }
                }
            }
        }
    }

    /// SIGKILL, and waits for the child to end, blocking the thread.
    pub fn kill_and_reap(&mut self) {
        if self.status.is_none() {
            let _ = self.start_kill();
            let _ = waitpid(self.pid, None);
            // Reaped: its pid may belong to another process from now on.
            self.status = Some(ExitStatus::from_raw(libc::SIGKILL));
        }
    }

    /// SIGKILL to the child, unless it has been reaped.
    pub fn start_kill(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match &self.exits {
            Exits::Pidfd(pidfd) => {
                rustix::process::pidfd_send_signal(pidfd.get_ref(), rustix::process::Signal::KILL)
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
/// `AsyncFd` owns it: an `OwnedFd` is closed only when dropped, with the `AsyncFd`.
#[allow(unsafe_code)]
fn watch(pidfd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: see above.
    unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The other exception to `unsafe_code` in this module: the clone, and the child that runs
/// between it and exec.
///
/// SAFETY: the child shares this process's memory until it execs or exits, and this thread is
/// suspended until then (`CLONE_VFORK`): nothing the child reads can change under it, and
/// the only memory it writes is its stack and errno in the suspended thread's TLS, which
/// nobody reads before it is set again. The child runs on
/// `stack`, which outlives it. It makes raw system calls only: no allocation, no lock, no
/// unwinding (nothing in `child_main` can panic). Every signal is blocked in this thread
/// before the clone, so the child starts with all of them blocked, and it sets every caught
/// signal back to its default before it unblocks them: no handler of hookrun's can run in the
/// child. The child's `exit` on failure ends only the child (the raw `exit` system call of
/// glibc's clone trampoline, which runs no atexit handler).
#[allow(unsafe_code)]
fn clone_and_exec(
    plan: &Plan,
    stack: &mut [std::mem::MaybeUninit<u8>],
) -> std::io::Result<libc::pid_t> {
    extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `plan` is the `&Plan` passed to clone below, alive while the parent waits.
        let plan = unsafe { &*(plan as *const Plan) };
        let fail = || {
            // SAFETY: errno is readable in any thread; it is this call's failure. The report
            // is a write of 4 bytes to a pipe, which is atomic.
            unsafe {
                let errno = (*libc::__errno_location()).max(1).to_ne_bytes();
                libc::write(plan.report, errno.as_ptr().cast(), errno.len());
            }
            127
        };
        // SAFETY (for each call): plain system calls on descriptors and C strings built by
        // `Plan::new`, which outlive the child.
        unsafe {
            if libc::write(plan.procs, b"0".as_ptr().cast(), 1) != 1 {
                return fail();
            }
            if libc::setpgid(0, 0) != 0 {
                return fail();
            }
            // hookrun's fds 0-2 are always open (Rust's runtime opens /dev/null on a closed
            // one at start), so the descriptors here are all above 2 and dup2 clears their
            // close-on-exec flag.
            for (from, to) in [(plan.stdin, 0), (plan.output, 1), (plan.output, 2)] {
                if libc::dup2(from, to) != to {
                    return fail();
                }
            }
            if let Some(dir) = &plan.dir {
                if libc::chdir(dir.as_ptr()) != 0 {
                    return fail();
                }
            }
            for signal in 1..=plan.last_signal {
                if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                    continue;
                }
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                    continue; // a signal glibc reserves for itself
                }
                let caught = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
                if caught || signal == libc::SIGPIPE {
                    let mut default: libc::sigaction = std::mem::zeroed();
                    default.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return fail();
            }
            libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        }
        fail()
    }

    // SAFETY: sigset_t is plain data; the calls only read and write these two sets.
    let (all, mut old) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        (all, std::mem::zeroed::<libc::sigset_t>())
    };
    // SAFETY: see the function's comment. The stack pointer handed to clone is the top of
    // `stack`, aligned down to 16 bytes as the x86-64 and aarch64 ABIs require.
    let pid = unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let top = stack.as_mut_ptr().add(stack.len());
        let top = top.sub(top as usize % 16);
        let pid = libc::clone(
            child_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            plan as *const Plan as *mut libc::c_void,
        );
        let errno = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(errno);
        }
        pid
    };
    Ok(pid)
}
