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
//! variables, sorted by name; hookrun's own is read once, at the first command, since it does
//! not change once the server runs), the folder, the descriptors. The calling thread blocks
//! every signal, so that none of hookrun's handlers can run in the child while it shares
//! hookrun's memory, and the child starts on a stack of its own while the thread sleeps until
//! the child has exec'd or exited.
//!
//! The child is born in the job cgroup: `clone3` with `CLONE_INTO_CGROUP` (Linux 5.7) and the
//! cgroup's directory, which also returns its pidfd (`CLONE_PIDFD`). Moving a running process
//! into a cgroup instead (writing to `cgroup.procs`) makes the kernel wait for an RCU grace
//! period while it holds a lock every fork takes: about a millisecond on this 2-core machine,
//! during which the starting thread sleeps, which capped the commands a second hookrun could
//! start well below the machine's limit. glibc has no `clone3` a program may call, so the call
//! is a few instructions of assembly (x86-64). Where `clone3` or `CLONE_INTO_CGROUP` is missing
//! (older kernels, valgrind, other architectures), the child is started with glibc's `clone`
//! and its first step is to write "0" to the cgroup's `cgroup.procs` (it enters the cgroup
//! before the command can fork).
//!
//! The child then makes system calls only: `setpgid(0, 0)`, `dup2` of /dev/null to stdin and
//! of the output pipe to stdout and stderr, `chdir`, each caught signal and SIGPIPE back to its
//! default and an empty signal mask (what std gives a command), then `execve`. Born by `clone3`,
//! it is born with the caught signals at their defaults (`CLONE_CLEAR_SIGHAND`) and restores
//! SIGPIPE alone; born by `clone`, it asks for each signal's disposition first. A step that
//! fails reports its errno and the child exits with 127: born by `clone3`, it stores the errno
//! in the plan, in the memory it shares with hookrun (as glibc's `posix_spawn` does; the
//! thread reads it once the clone has returned, which is when the child has exec'd or
//! exited); born by the fallback `clone`, it writes the errno to a close-on-exec pipe that
//! hookrun reads (an exec closes it unwritten: as std reports a failed exec), since under
//! valgrind, which runs a vfork as a fork, it shares no memory. hookrun's thread
//! then restores its signal mask and, on success, watches the child's pidfd (opened with
//! `pidfd_open` after a plain `clone`; where none can be opened, as under valgrind: SIGCHLD):
//! waiting polls it, killing is `pidfd_send_signal`, and the child is reaped once, so no other
//! process can ever be signalled under a reused pid.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

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
    /// The job cgroup's directory, open (the child is started in it).
    pub cgroup: BorrowedFd<'a>,
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
    _env: Vec<u8>,
    envp: Vec<*const libc::c_char>,
    dir: Option<CString>,
    stdin: RawFd,
    output: RawFd,
    /// The job cgroup's `cgroup.procs`, open for writing, when the child must move itself
    /// into the cgroup (it was not born there: no `clone3`).
    procs: Option<RawFd>,
    /// The highest signal number, whose default the child may have to restore.
    last_signal: libc::c_int,
    /// Whether the kernel has reset the child's caught signals to their defaults
    /// (`CLONE_CLEAR_SIGHAND`, with `clone3`): the child then only restores SIGPIPE.
    handlers_cleared: bool,
    /// The write end of a close-on-exec pipe the child writes the errno of a step that failed
    /// to (an exec closes it unwritten), when it may not share hookrun's memory (no `clone3`);
    /// else it stores the errno in `failed`.
    report: Option<RawFd>,
    /// The errno of the step that failed, stored by a child that shares hookrun's memory; 0
    /// while none did.
    failed: AtomicI32,
}

fn c_string(bytes: &[u8]) -> std::io::Result<CString> {
    CString::new(bytes).map_err(|_| nul_byte())
}

/// std's words for a string with a nul byte in it, so a job's error reads the same either way.
fn nul_byte() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "nul byte found in provided data",
    )
}

/// hookrun's environment as every command inherits it: each variable's name and its
/// `NAME=value` entry, sorted by name. Read at the first command's start: hookrun takes out of
/// its environment what commands must not see (its own secrets, systemd's variables) at start,
/// before any command runs, and does not change it afterwards.
fn inherited_env() -> &'static [(OsString, CString)] {
    static ENV: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        vars.into_iter()
            .filter_map(|(name, value)| {
                // An environment has no nul byte in it: nothing is dropped here.
                let entry = CString::new([name.as_bytes(), b"=", value.as_bytes()].concat());
                Some((name, entry.ok()?))
            })
            .collect()
    })
}

/// The job's variables as the child reads them: in name order, a later value of a name
/// replacing an earlier one (as std's `Command::env`), each a nul-terminated `NAME=value` in
/// one buffer. One allocation for them all, where a C string each took two (the entry, then
/// its nul) behind a map's nodes.
struct JobEnv<'a> {
    vars: Vec<(&'a OsStr, &'a OsStr)>,
    /// The entries, one after the other, in `vars`' order.
    entries: Vec<u8>,
}

impl<'a> JobEnv<'a> {
    /// Refuses a name or value with a nul byte in it, as std does.
    fn new(vars: &[(&'a OsStr, &'a OsStr)]) -> std::io::Result<JobEnv<'a>> {
        let mut vars = vars.to_vec();
        // Stable: of one name's values the last stays last, and is the one kept.
        vars.sort_by(|a, b| a.0.cmp(b.0));
        vars.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                *earlier = *later;
            }
            same
        });
        let len = vars.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        let mut entries = Vec::with_capacity(len);
        for (name, value) in &vars {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if name.contains(&0) || value.contains(&0) {
                return Err(nul_byte());
            }
            entries.extend_from_slice(name);
            entries.push(b'=');
            entries.extend_from_slice(value);
            entries.push(0);
        }
        Ok(JobEnv { vars, entries })
    }

    /// Each variable's name and its entry, in name order.
    fn entries(&self) -> impl Iterator<Item = (&OsStr, *const libc::c_char)> {
        self.vars.iter().scan(0, |start, (name, value)| {
            let entry = self.entries[*start..].as_ptr().cast();
            *start += name.len() + value.len() + 2;
            Some((*name, entry))
        })
    }
}

/// The child's `envp`: `inherited` and `job` (both sorted by name) merged in name order, a
/// job variable replacing an inherited one of the same name; null-terminated.
fn merged_env(inherited: &'static [(OsString, CString)], job: &JobEnv) -> Vec<*const libc::c_char> {
    let mut envp = Vec::with_capacity(inherited.len() + job.vars.len() + 1);
    let mut job = job.entries().peekable();
    for (name, entry) in inherited {
        while let Some((_, own)) = job.next_if(|(own, _)| *own < name.as_os_str()) {
            envp.push(own);
        }
        // Replaced: the job's own entry comes next.
        if job.peek().is_none_or(|(own, _)| *own != name.as_os_str()) {
            envp.push(entry.as_ptr());
        }
    }
    envp.extend(job.map(|(_, own)| own));
    envp.push(std::ptr::null());
    envp
}

impl Plan {
    fn new(spawn: &Spawn) -> std::io::Result<Plan> {
        let mut args = vec![c_string(spawn.arg0.as_bytes())?];
        for arg in spawn.args {
            args.push(c_string(arg.as_bytes())?);
        }
        // The job's variables merged, in name order, with hookrun's, which they override.
        let env = JobEnv::new(&spawn.env)?;
        let envp = merged_env(inherited_env(), &env);
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        Ok(Plan {
            path: c_string(spawn.path.as_os_str().as_bytes())?,
            argv,
            _args: args,
            envp,
            _env: env.entries,
            dir: spawn
                .dir
                .map(|d| c_string(d.as_os_str().as_bytes()))
                .transpose()?,
            stdin: spawn.stdin.as_raw_fd(),
            output: spawn.output.as_raw_fd(),
            procs: None,
            last_signal: libc::SIGRTMAX(),
            handlers_cleared: false,
            report: None,
            failed: AtomicI32::new(0),
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

/// Child stacks kept for later starts: as many as starts usually run at once (one per core:
/// `fork_slots`); more are made when needed and freed after use.
const KEPT_STACKS: usize = 8;

/// A child's stack, taken from those earlier starts gave back. Allocating 64 KiB and freeing
/// it for every command cost glibc's allocator a consolidation of its free chunks each time
/// (a free of 64 KiB or more triggers one).
struct ChildStack(Box<[std::mem::MaybeUninit<u8>]>);

fn kept_stacks() -> std::sync::MutexGuard<'static, Vec<Box<[std::mem::MaybeUninit<u8>]>>> {
    static KEPT: std::sync::Mutex<Vec<Box<[std::mem::MaybeUninit<u8>]>>> =
        std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChildStack {
    fn take() -> ChildStack {
        // Not zeroed: the child writes before it reads, as any stack.
        let kept = kept_stacks().pop();
        ChildStack(kept.unwrap_or_else(|| Box::new_uninit_slice(CHILD_STACK)))
    }
}

impl std::ops::Deref for ChildStack {
    type Target = [std::mem::MaybeUninit<u8>];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildStack {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildStack {
    /// Given back once the child has exec'd or exited (the clone returns only then): no
    /// process runs on it any more.
    fn drop(&mut self) {
        let mut kept = kept_stacks();
        if kept.len() < KEPT_STACKS {
            kept.push(std::mem::take(&mut self.0));
        }
    }
}

/// Starts the command (see the module's theory of operation). Blocks the calling thread until
/// the command has exec'd: call it off the runtime's threads.
pub fn spawn(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, true)
}

/// [`spawn`] with a child that moves itself into the cgroup, as where `clone3` is missing.
#[cfg(test)]
pub fn spawn_moving(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, false)
}

/// [`spawn`]; `born_in_cgroup`: with `clone3` where the kernel has it.
fn start(spawn: &Spawn, born_in_cgroup: bool) -> std::io::Result<Child> {
    let mut plan = Plan::new(spawn)?;
    let mut stack = ChildStack::take();
    // Read by the child only if `clone3` starts it, which clears its handlers.
    plan.handlers_cleared = true;
    let cloned = born_in_cgroup
        .then(|| clone_into_cgroup(&plan, &mut stack, spawn.cgroup))
        .flatten();
    let (pid, pidfd, failure) = match cloned {
        Some(started) => {
            // The child shared this process's memory: a failure is in the plan.
            let (pid, pidfd) = started?;
            let errno = plan.failed.load(Ordering::Acquire);
            let failure = (errno != 0).then(|| std::io::Error::from_raw_os_error(errno));
            (pid, Some(pidfd), failure)
        }
        None => {
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
            let pid = clone_and_exec(&plan, &mut stack)?;
            drop(report_write);
            (pid, None, read_report(report_read))
        }
    };
    let pid = Pid::from_raw(pid);
    if let Some(error) = failure {
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
    let pidfd = match pidfd {
        Some(pidfd) => Ok(pidfd),
        None => rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid.as_raw()).expect("a child's pid is positive"),
            rustix::process::PidfdFlags::empty(),
        ),
    };
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

/// The child, between its clone and exec: system calls only (see [`clone_and_exec`]).
#[allow(unsafe_code)]
extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `plan` is the `&Plan` passed to the clone, alive while the parent waits.
    let plan = unsafe { &*(plan as *const Plan) };
    let fail = || {
        // SAFETY: errno is readable in any thread; it is this call's failure. The report
        // is a store to an atomic in the shared plan, or a write of 4 bytes to a pipe, which
        // is atomic.
        unsafe {
            let errno = (*libc::__errno_location()).max(1);
            match plan.report {
                Some(report) => {
                    let errno = errno.to_ne_bytes();
                    libc::write(report, errno.as_ptr().cast(), errno.len());
                }
                None => plan.failed.store(errno, Ordering::Release),
            }
        }
        127
    };
    // SAFETY (for each call): plain system calls on descriptors and C strings built by
    // `Plan::new`, which outlive the child.
    unsafe {
        if let Some(procs) = plan.procs {
            if libc::write(procs, b"0".as_ptr().cast(), 1) != 1 {
                return fail();
            }
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
        // hookrun ignores SIGPIPE (Rust's runtime does at start), which commands must not.
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        if plan.handlers_cleared {
            // The kernel reset every caught signal at the clone; an ignored one stays ignored.
            libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut());
        } else {
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
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
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

/// The other exception to `unsafe_code` in this module: the clone, and the child that runs
/// between it and exec.
///
/// SAFETY: the child shares this process's memory until it execs or exits, and this thread is
/// suspended until then (`CLONE_VFORK`): nothing the child reads can change under it, and
/// the only memory it writes is its stack, errno in the suspended thread's TLS, which
/// nobody reads before it is set again, and, born by `clone3`, the plan's `failed` (an
/// atomic, read by this thread once the clone has returned). The child runs on
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

/// Set once `clone3` with `CLONE_INTO_CGROUP` turned out missing (a kernel older than 5.7,
/// valgrind): every later child is started by [`clone_and_exec`] and moves itself.
static NO_CLONE_INTO_CGROUP: AtomicBool = AtomicBool::new(false);

/// `struct clone_args` of `clone3` (Linux 5.3, `cgroup` since 5.7).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP`, which the libc crate does not define for every target.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `CLONE_CLEAR_SIGHAND`, likewise.
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// Starts the child as [`clone_and_exec`] does, but born in the cgroup `cgroup` (a directory),
/// with `clone3`; returns its pid and pidfd. `None` when this kernel (or valgrind) has no
/// `clone3` with `CLONE_INTO_CGROUP`: the caller then uses [`clone_and_exec`].
///
/// SAFETY: as [`clone_and_exec`]'s. `clone3` has no glibc wrapper, and a child that shares the
/// caller's memory must not return from the system call into code that uses the caller's
/// stack: the few instructions below run in the child on `stack` (whose top the kernel makes
/// its stack pointer, 16-byte aligned as the ABI requires before a call), call `child_main`
/// with the plan and end the child with the raw `exit` system call. In this thread the call
/// returns as any system call (only rax, rcx and r11 change).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn clone_into_cgroup(
    plan: &Plan,
    stack: &mut [std::mem::MaybeUninit<u8>],
    cgroup: BorrowedFd,
) -> Option<std::io::Result<(libc::pid_t, OwnedFd)>> {
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return None;
    }
    let mut pidfd: libc::c_int = -1;
    let base = stack.as_mut_ptr() as usize;
    let top = (base + stack.len()) & !15;
    let args = CloneArgs {
        // CLONE_CLEAR_SIGHAND (Linux 5.5, older than CLONE_INTO_CGROUP): the kernel resets
        // every signal hookrun catches to its default in the child, as the child would
        // otherwise do itself, with a query of each of the 64 signals' dispositions first (what
        // glibc's posix_spawn does): 67 of the 73 system calls it made before its exec, while
        // this thread waits.
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64
            | CLONE_INTO_CGROUP
            | CLONE_CLEAR_SIGHAND,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: 0,
        parent_tid: 0,
        // 0 would not spare hookrun the SIGCHLD of a command's end: an exec sets the signal
        // back to SIGCHLD (the kernel's `de_thread`).
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: (top - base) as u64,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: sigset_t is plain data; the calls only read and write these two sets.
    let (all, mut old) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        (all, std::mem::zeroed::<libc::sigset_t>())
    };
    let ret: libc::c_long;
    // SAFETY: see the function's comment; `args`, `pidfd` and `plan` outlive the call, and
    // this thread sleeps until the child has exec'd or exited.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            // The child, on its own stack.
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") std::ptr::addr_of!(args),
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") plan as *const Plan,
            in("r13") child_main as extern "C" fn(*mut libc::c_void) -> libc::c_int,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    if ret < 0 {
        let errno = i32::try_from(-ret).unwrap_or(libc::EINVAL);
        // No clone3 (ENOSYS), no CLONE_INTO_CGROUP (EINVAL), a shorter clone_args (E2BIG).
        if matches!(errno, libc::ENOSYS | libc::EINVAL | libc::E2BIG) {
            NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
            return None;
        }
        return Some(Err(std::io::Error::from_raw_os_error(errno)));
    }
    let pid = libc::pid_t::try_from(ret).expect("a pid fits a pid_t");
    // SAFETY: the kernel opened this descriptor for this call (CLONE_PIDFD): nothing else
    // owns it.
    let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) };
    Some(Ok((pid, pidfd)))
}

/// Elsewhere than on x86-64 children are started by [`clone_and_exec`] and move themselves.
#[cfg(not(target_arch = "x86_64"))]
fn clone_into_cgroup(
    _plan: &Plan,
    _stack: &mut [std::mem::MaybeUninit<u8>],
    _cgroup: BorrowedFd,
) -> Option<std::io::Result<(libc::pid_t, OwnedFd)>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(envp: &[*const libc::c_char]) -> Vec<String> {
        let (end, entries) = envp.split_last().expect("a terminated list");
        assert!(end.is_null());
        entries
            .iter()
            // SAFETY: each pointer points into a C string (a CString, a JobEnv's entries) that
            // outlives this call.
            .map(|&p| {
                #[allow(unsafe_code)]
                let entry = unsafe { std::ffi::CStr::from_ptr(p) };
                entry.to_string_lossy().into_owned()
            })
            .collect()
    }

    #[test]
    fn the_job_environment_is_merged_in_name_order_replacing_inherited_names() {
        let inherited: &'static [(OsString, CString)] = Box::leak(
            ["B=1", "D=2", "F=3"]
                .iter()
                .map(|e| (OsString::from(&e[..1]), CString::new(*e).unwrap()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let job = |vars: &[&'static str]| -> Vec<(&'static OsStr, &'static OsStr)> {
            vars.iter()
                .map(|e| (OsStr::new(&e[..1]), OsStr::new(&e[2..])))
                .collect()
        };
        for (own, want) in [
            (vec![], vec!["B=1", "D=2", "F=3"]),
            (
                vec!["G=z", "D=y", "A=x"],
                vec!["A=x", "B=1", "D=y", "F=3", "G=z"],
            ),
            (vec!["B=x", "C=y", "F=z"], vec!["B=x", "C=y", "D=2", "F=z"]),
            (vec!["E=x"], vec!["B=1", "D=2", "E=x", "F=3"]),
            // A later value of a name replaces an earlier one, wherever it comes.
            (
                vec!["E=1", "A=1", "E=2", "D=1", "A=2", "E=3"],
                vec!["A=2", "B=1", "D=1", "E=3", "F=3"],
            ),
        ] {
            let own = JobEnv::new(&job(&own)).unwrap();
            assert_eq!(entries(&merged_env(inherited, &own)), want);
        }
        let own = JobEnv::new(&job(&["A=x", "A=", "C=y"])).unwrap();
        assert_eq!(entries(&merged_env(&[], &own)), ["A=", "C=y"]);
    }

    #[test]
    fn a_job_variable_with_a_nul_byte_is_refused() {
        for var in [("A\0B", "x"), ("A", "x\0y")] {
            let var = [(OsStr::new(var.0), OsStr::new(var.1))];
            let error = JobEnv::new(&var).err().expect("refused");
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(error.to_string(), "nul byte found in provided data");
        }
    }
}
