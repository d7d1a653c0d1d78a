//! The child's side, between its clone and exec: its stack, the clones that start it
//! (`clone3` into the job cgroup, or glibc's `clone` with `CLONE_VFORK`), and `child_main`,
//! which makes raw system calls only (see the parent module's theory of operation).

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::libc;

use super::plan::Plan;

/// What the child reported: nothing when it exec'd (the pipe closed unwritten), else the
/// error of the step that failed.
pub(super) fn read_report(report: OwnedFd) -> Option<std::io::Error> {
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
pub(super) struct ChildStack(Box<[std::mem::MaybeUninit<u8>]>);

fn kept_stacks() -> std::sync::MutexGuard<'static, Vec<Box<[std::mem::MaybeUninit<u8>]>>> {
    static KEPT: std::sync::Mutex<Vec<Box<[std::mem::MaybeUninit<u8>]>>> =
        std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChildStack {
    pub(super) fn take() -> ChildStack {
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
pub(super) fn clone_and_exec(
    plan: &Plan,
    stack: &mut [std::mem::MaybeUninit<u8>],
) -> std::io::Result<libc::pid_t> {
    let blocked = BlockedSignals::all();
    // SAFETY: see the function's comment. The stack pointer handed to clone is the top of
    // `stack`, aligned down to 16 bytes as the x86-64 and aarch64 ABIs require.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len());
        let top = top.sub(top as usize % 16);
        libc::clone(
            child_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            plan as *const Plan as *mut libc::c_void,
        )
    };
    let errno = std::io::Error::last_os_error();
    drop(blocked);
    if pid < 0 {
        return Err(errno);
    }
    Ok(pid)
}

/// Every signal blocked in this thread until dropped, when its mask is restored: around a
/// clone whose child shares this thread's memory until its exec.
struct BlockedSignals(libc::sigset_t);

#[allow(unsafe_code)]
impl BlockedSignals {
    fn all() -> BlockedSignals {
        // SAFETY: sigset_t is plain data; the calls only read and write these two sets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            BlockedSignals(old)
        }
    }
}

#[allow(unsafe_code)]
impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `all`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Set once `clone3` with `CLONE_INTO_CGROUP` turned out missing (a kernel older than 5.7,
/// valgrind): every later child is started by [`clone_and_exec`] and moves itself.
pub(super) static NO_CLONE_INTO_CGROUP: AtomicBool = AtomicBool::new(false);

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
/// and pidfd once it has exec'd or exited if `wait_for_exec` (`CLONE_VFORK`, as
/// `posix_spawn`'s and [`clone_and_exec`]'s clones), else as soon as it exists, while it runs
/// on to its exec on `stack`, reading `plan` (which both must outlive). `None` when this
/// kernel (or valgrind) has no `clone3` with `CLONE_INTO_CGROUP`: the caller then uses
/// [`clone_and_exec`].
///
/// Without `CLONE_VFORK` the thread sleeping in the clone and the wake-up from the child do
/// not cost hookrun a context switch each way, and the start does not hold a runtime thread;
/// with it, the child's start-up after its exec waits until the woken thread has run (see
/// [`crate::exec::Start`]). The child shares hookrun's memory either way (`CLONE_VM`: nothing
/// is copied); without `CLONE_VFORK` it runs beside hookrun's threads:
///
/// SAFETY: the child reads only `plan` (which nothing changes while it lives) and writes only
/// its own `stack`, and, if a step fails, the plan's `failed` (an atomic, read once the clone
/// has returned with `CLONE_VFORK`, else once the child is reaped). It makes raw system calls
/// only ([`child_call`]): no allocation, no lock, no unwinding (nothing in `child_main` can
/// panic), no TLS (glibc's errno). No handler of hookrun's can run in it: the kernel starts it
/// with every caught signal at its default (`CLONE_CLEAR_SIGHAND`, Linux 5.5, older than
/// `CLONE_INTO_CGROUP`), so signals need not be blocked around the clone for its sake (a start
/// that waits blocks them for another reason, below). `clone3` has no glibc wrapper, and a child that
/// shares the caller's memory must not return from the system call into code that uses the
/// caller's stack: the few instructions below run in the child on `stack` (whose top the
/// kernel makes its stack pointer, 16-byte aligned as the ABI requires before a call), call
/// `child_main` with the plan and end the child with the raw `exit` system call. In this thread
/// the call returns as any system call (only rax, rcx and r11 change).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub(super) fn clone_into_cgroup(
    plan: &Plan,
    stack: &mut [std::mem::MaybeUninit<u8>],
    cgroup: BorrowedFd,
    wait_for_exec: bool,
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
            | CLONE_CLEAR_SIGHAND
            | if wait_for_exec {
                libc::CLONE_VFORK as u64
            } else {
                0
            },
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
    // A start that waits for the exec blocks every signal in this thread around the clone, as
    // glibc's `posix_spawn` does: a signal that comes for this thread while the kernel builds
    // the child (in a burst, most often the SIGCHLD of an earlier command) makes it throw the
    // child away and redo the clone once the handler has run (ERESTARTNOINTR: 11 of 412 clones
    // under strace for 400 fire-and-forget `/bin/true`, none with the mask). Blocked here, the
    // signal goes to another thread. The child starts with them blocked and unblocks them
    // before its exec. A start that does not wait spares the two calls, as measured.
    let blocked = wait_for_exec.then(BlockedSignals::all);
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
    drop(blocked);
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
pub(super) fn clone_into_cgroup(
    _plan: &Plan,
    _stack: &mut [std::mem::MaybeUninit<u8>],
    _cgroup: BorrowedFd,
    _wait_for_exec: bool,
) -> Option<std::io::Result<(libc::pid_t, OwnedFd)>> {
    None
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;
    use std::path::Path;

    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;

    use super::*;
    use crate::exec::vfork::Spawn;

    /// A child started by `clone3` runs on its stack beside hookrun's threads, and the stack
    /// (a heap block, reused) has no guard page: running past its end would write into
    /// hookrun's memory. So `child_main`'s deepest path — every signal's disposition asked
    /// for, a step that fails, its error reported — must use a small part of it, here in an
    /// unoptimised build, whose frames are the largest.
    #[test]
    fn the_child_uses_a_small_part_of_its_stack() {
        const PATTERN: u8 = 0xa5;
        let null = std::fs::File::open("/dev/null").expect("/dev/null");
        let root = std::fs::File::open("/").expect("/");
        let cases = [
            ("/bin/true", None),
            ("/no/such/program", None),
            ("/bin/true", Some(Path::new("/no/such/folder"))),
        ];
        for (program, dir) in cases {
            let path = Path::new(program);
            let spawn = Spawn {
                path,
                arg0: path.as_os_str(),
                args: &[],
                env: Vec::new(),
                dir,
                stdin: null.as_fd(),
                output: null.as_fd(),
                // Not read: `clone_and_exec` starts the child where this process is.
                cgroup: root.as_fd(),
                wait_for_exec: true,
            };
            let mut plan = Plan::new(&spawn).expect("a plan");
            plan.handlers_cleared = false;
            let mut stack = vec![MaybeUninit::new(PATTERN); CHILD_STACK];
            let pid = clone_and_exec(&plan, &mut stack).expect("cloned");
            let status = waitpid(Pid::from_raw(pid), None).expect("reaped");
            let want = if program == "/bin/true" && dir.is_none() {
                0
            } else {
                127
            };
            assert_eq!(
                status,
                WaitStatus::Exited(Pid::from_raw(pid), want),
                "{program}"
            );
            // SAFETY: every byte was initialised with the pattern; the child wrote others.
            #[allow(unsafe_code)]
            let untouched = stack
                .iter()
                .position(|b| unsafe { b.assume_init() } != PATTERN)
                .expect("the child used its stack");
            let used = CHILD_STACK - untouched;
            assert!(
                used <= CHILD_STACK / 4,
                "{program}: the child used {used} of its {CHILD_STACK} bytes of stack"
            );
        }
    }
}
