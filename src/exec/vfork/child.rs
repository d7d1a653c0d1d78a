//! The child's side, between its clone and exec: `child_main`, which makes raw system calls
//! only (see the parent module's theory of operation), and how it reports a failed step.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

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

/// The child, between its clone and exec: raw system calls only (see
/// [`super::clones::clone_and_exec`] and [`child_call`]).
#[allow(unsafe_code)]
pub(super) extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
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

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;
    use std::path::Path;

    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;

    use super::*;
    use crate::exec::vfork::child_stack::CHILD_STACK;
    use crate::exec::vfork::clones::clone_and_exec;
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
