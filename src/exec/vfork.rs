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
//! in it. The calling thread is not suspended until the child's exec (no `CLONE_VFORK`): the
//! clone returns as soon as the child exists, and the plan and stack stay with the [`Child`]
//! until it is reaped. Moving a running process into a cgroup instead (writing to
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
//! it stores the errno in the plan, which hookrun reads once it has reaped the child
//! ([`Child::start_error`]); born by the fallback `clone`, it writes the errno to a
//! close-on-exec pipe that hookrun reads once the clone has returned (an exec closes it
//! unwritten: as std reports a failed exec), since under valgrind, which runs a vfork as a
//! fork, it shares no memory. hookrun watches the child's pidfd (opened with `pidfd_open`
//! after a plain `clone`; where none can be opened, as under valgrind: SIGCHLD): waiting polls
//! it, killing is `pidfd_send_signal`, and the child is reaped once, so no other process can
//! ever be signalled under a reused pid.

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

// SAFETY: the pointers point into the strings the plan owns (on the heap: moving the plan
// does not move them), which nothing changes while the plan lives; the child only reads them.
#[allow(unsafe_code)]
unsafe impl Send for Plan {}

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

/// Bytes of the child's stack: it runs the few system calls of `child_main` and nothing else
/// (no signal handler can run on it either). Small, since a child started by `clone3` keeps
/// its stack until it is reaped.
const CHILD_STACK: usize = 16 * 1024;

/// Child stacks kept for later starts: as many as commands usually run at once on the bench's
/// loads; more are made when needed and freed after use.
const KEPT_STACKS: usize = 8;

/// A child's stack, taken from those earlier starts gave back (an allocation and a free per
/// command saved).
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
    /// Given back once the child has exec'd or exited (reaped, or the `vfork` clone returned):
    /// no process runs on it any more.
    fn drop(&mut self) {
        let mut kept = kept_stacks();
        if kept.len() < KEPT_STACKS {
            kept.push(std::mem::take(&mut self.0));
        }
    }
}

/// Starts the command (see the module's theory of operation). Where `clone3` can start it in
/// its cgroup, returns as soon as the child exists; elsewhere blocks the calling thread until
/// the command has exec'd. A step of the child's that fails before the exec is reported here
/// when the thread waited for it, else by [`Child::start_error`] once the child is reaped.
pub fn spawn(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, true)
}

/// [`spawn`] with a child that moves itself into the cgroup, as where `clone3` is missing.
#[cfg(test)]
pub fn spawn_moving(spawn: &Spawn) -> std::io::Result<Child> {
    start(spawn, false)
}

/// Whether [`spawn`] returns without waiting for the child's exec (`clone3` into the cgroup).
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
    let cloned = born_in_cgroup
        .then(|| clone_into_cgroup(&plan, &mut stack, spawn.cgroup))
        .flatten();
    if let Some(started) = cloned {
        // The child runs on, on the plan and stack, while this thread goes on.
        let (pid, pidfd) = started?;
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
        Ok(pidfd) => watch(pidfd).map(Exits::Pidfd),
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
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let pid = self.pid;
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            match &mut self.exits {
                Exits::Pidfd(pidfd) => {
                    let mut ready = pidfd.readable().await?;
                    match reap(pid)? {
                        Some(status) => self.reaped(status),
                        None => ready.clear_ready(),
                    }
                }
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

/// A system call of the child's, with up to four arguments: its result, or the errno of its
/// failure. On x86-64 made directly, not through glibc, whose wrappers store a failure's errno
/// in the thread's TLS: a child started by `clone3` runs beside the thread that started it,
/// whose TLS it would write to. Elsewhere children are only started by the `vfork` fallback,
/// whose thread is suspended meanwhile.
#[allow(unsafe_code)]
unsafe fn child_call(nr: libc::c_long, args: [usize; 4]) -> Result<usize, i32> {
    #[cfg(target_arch = "x86_64")]
    {
        let ret: isize;
        // SAFETY: the caller's: a system call with these arguments is safe to make.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        // -4095..-1 are errnos; nothing these calls return is that large otherwise.
        usize::try_from(ret).map_err(|_| i32::try_from(-ret).unwrap_or(libc::EINVAL))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as above; errno is this thread's (see the function's comment).
        let ret = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3]) };
        usize::try_from(ret).map_err(|_| unsafe { *libc::__errno_location() })
    }
}

/// The kernel's `struct sigaction` (`rt_sigaction` takes it, not glibc's).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Bytes of the kernel's signal set.
const KERNEL_SIGSET: usize = std::mem::size_of::<u64>();

/// The child, between its clone and exec: raw system calls only (see [`clone_and_exec`] and
/// [`child_call`]).
#[allow(unsafe_code)]
extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `plan` is the `&Plan` passed to the clone, alive until the child has exec'd or
    // exited.
    let plan = unsafe { &*(plan as *const Plan) };
    // SAFETY (for each call): plain system calls on descriptors, C strings and structures
    // built by `Plan::new` or on this stack, which outlive the child's use of them.
    let step = |nr: libc::c_long, args: [usize; 4]| unsafe { child_call(nr, args) };
    let result = (|| {
        if let Some(procs) = plan.procs {
            step(
                libc::SYS_write,
                [procs as usize, b"0".as_ptr() as usize, 1, 0],
            )?;
        }
        step(libc::SYS_setpgid, [0; 4])?;
        // hookrun's fds 0-2 are always open (Rust's runtime opens /dev/null on a closed
        // one at start), so the descriptors here are all above 2 (dup3 refuses equal ones)
        // and the copies do not inherit their close-on-exec flag.
        for (from, to) in [(plan.stdin, 0), (plan.output, 1), (plan.output, 2)] {
            step(libc::SYS_dup3, [from as usize, to, 0, 0])?;
        }
        if let Some(dir) = &plan.dir {
            step(libc::SYS_chdir, [dir.as_ptr() as usize, 0, 0, 0])?;
        }
        // hookrun ignores SIGPIPE (Rust's runtime does at start), which commands must not.
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        let set = |signal: libc::c_int| {
            let default = std::ptr::addr_of!(default) as usize;
            step(
                libc::SYS_rt_sigaction,
                [signal as usize, default, 0, KERNEL_SIGSET],
            )
        };
        if plan.handlers_cleared {
            // The kernel reset every caught signal at the clone; an ignored one stays ignored.
            let _ = set(libc::SIGPIPE);
        } else {
            for signal in 1..=plan.last_signal {
                if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                    continue;
                }
                let mut old = KernelSigaction { ..default };
                let query = [
                    signal as usize,
                    0,
                    std::ptr::addr_of_mut!(old) as usize,
                    KERNEL_SIGSET,
                ];
                if step(libc::SYS_rt_sigaction, query).is_err() {
                    continue;
                }
                let caught = old.handler != libc::SIG_DFL && old.handler != libc::SIG_IGN;
                if caught || signal == libc::SIGPIPE {
                    let _ = set(signal);
                }
            }
        }
        let empty: u64 = 0;
        let mask = std::ptr::addr_of!(empty) as usize;
        step(
            libc::SYS_rt_sigprocmask,
            [libc::SIG_SETMASK as usize, mask, 0, KERNEL_SIGSET],
        )?;
        let (path, argv, envp) = (plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        step(
            libc::SYS_execve,
            [path as usize, argv as usize, envp as usize, 0],
        )
    })();
    let errno = match result {
        Err(errno) => errno.max(1),
        // An execve that returns has failed.
        Ok(_) => libc::EINVAL,
    };
    match plan.report {
        // A write of 4 bytes to a pipe is atomic.
        Some(report) => {
            let errno = errno.to_ne_bytes();
            let _ = step(
                libc::SYS_write,
                [report as usize, errno.as_ptr() as usize, 4, 0],
            );
        }
        None => plan.failed.store(errno, Ordering::Release),
    }
    127
}

/// Where `clone3` cannot start the child in its cgroup: the clone of glibc's `posix_spawn`,
/// which suspends this thread until the child has exec'd or exited (`CLONE_VFORK`).
///
/// SAFETY: the child shares this process's memory until it execs or exits, and this thread is
/// suspended until then: nothing the child reads can change under it, and the only memory it
/// writes is its stack. The child runs on `stack`, which outlives it. It makes raw system calls
/// only: no allocation, no lock, no unwinding (nothing in `child_main` can panic). Every signal
/// is blocked in this thread before the clone, so the child starts with all of them blocked,
/// and it sets every caught signal back to its default before it unblocks them: no handler of
/// hookrun's can run in the child. The child's `exit` on failure ends only the child (the raw
/// `exit` system call of glibc's clone trampoline, which runs no atexit handler).
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

/// Starts the child born in the cgroup `cgroup` (a directory), with `clone3`; returns its pid
/// and pidfd as soon as it exists, while it runs on to its exec on `stack`, reading `plan`
/// (which both must outlive). `None` when this kernel (or valgrind) has no `clone3` with
/// `CLONE_INTO_CGROUP`: the caller then uses [`clone_and_exec`].
///
/// Unlike `posix_spawn`'s and [`clone_and_exec`]'s, this clone does not suspend the calling
/// thread until the exec (`CLONE_VFORK`): the thread sleeping there and the wake-up from the
/// child cost hookrun a context switch each way per command, and a runtime thread held so could
/// not answer requests meanwhile (so most starts hopped to the blocking pool). The child shares
/// hookrun's memory all the same (`CLONE_VM`: nothing is copied) and runs beside its threads:
///
/// SAFETY: the child reads only `plan` (which nothing changes while it lives) and writes only
/// its own `stack`, and, if a step fails, the plan's `failed` (an atomic, read once the child
/// is reaped). It makes raw system calls only ([`child_call`]): no allocation, no lock, no
/// unwinding (nothing in `child_main` can panic), no TLS (glibc's errno). No handler of
/// hookrun's can run in it: the kernel starts it with every caught signal at its default
/// (`CLONE_CLEAR_SIGHAND`, Linux 5.5, older than `CLONE_INTO_CGROUP`), so the calling thread
/// need not block signals around the clone. `clone3` has no glibc wrapper, and a child that
/// shares the caller's memory must not return from the system call into code that uses the
/// caller's stack: the few instructions below run in the child on `stack` (whose top the
/// kernel makes its stack pointer, 16-byte aligned as the ABI requires before a call), call
/// `child_main` with the plan and end the child with the raw `exit` system call. In this thread
/// the call returns as any system call (only rax, rcx and r11 change).
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
        // CLONE_CLEAR_SIGHAND: the kernel resets every signal hookrun catches to its default
        // in the child (see above), as the child would otherwise do itself, with a query of
        // each of the 64 signals' dispositions first (what glibc's posix_spawn does).
        flags: (libc::CLONE_VM | libc::CLONE_PIDFD) as u64
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
    let ret: libc::c_long;
    // SAFETY: see the function's comment; `args` and `pidfd` outlive the call.
    unsafe {
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
