//! The clones that start a child: `clone3` born in the job cgroup (x86-64), or glibc's `clone`
//! with `CLONE_VFORK` where that is missing, each with every signal blocked where the start
//! waits for the exec.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::libc;

use super::child::child_main;
use super::plan::Plan;

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
/// only (`child::child_call`): no allocation, no lock, no unwinding (nothing in `child_main` can
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
