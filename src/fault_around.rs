//! How the kernel maps the process's file mappings (its own code and constants, and the shared
//! libraries'): one page per page fault, not the window of cached pages around it. Owns that
//! setting only: it never unmaps, discards or locks a page.
//!
//! # Theory of operation
//! On a read fault in a file mapping Linux maps not only the page, but every page of the page
//! cache in the 64 KiB window around it (fault-around, `do_fault_around` in mm/memory.c), so
//! the code and constants an idle server keeps resident follow how many windows start-up
//! touches, not how many pages. `MADV_RANDOM` does not change that (it turns off read-ahead
//! from disk; cached pages are still mapped around a fault, measured on Linux 6.18). The
//! kernel does skip fault-around in a mapping registered with a userfaultfd for
//! write-protection (`uffd_disable_fault_around`), and since Linux 6.7 an *asynchronous*
//! write-protect registration (`UFFD_FEATURE_WP_ASYNC`) is accepted on any mapping and needs
//! nobody to answer faults: the kernel resolves them itself. No page is ever write-protected
//! here, so the registration changes nothing but fault-around: every other fault, and every
//! write, goes as before. The descriptor stays open for the life of the process (closing it
//! ends the registration); it is close-on-exec, so commands never inherit it.
//!
//! What the dynamic loader and libc's start-up mapped before `main` stays mapped, until
//! `clean_pages` releases the clean pages once the server serves (they are faulted back a page
//! at a time: the registration stays on the mapping). Mappings made later (a library loaded
//! for a name lookup) keep fault-around. Where userfaultfd is
//! missing, refused (a seccomp filter, `vm.unprivileged_userfaultfd` does not matter: only
//! user-mode faults are asked for) or older than 6.7, nothing changes and the process maps
//! as it always did.

use std::io;
use std::ops::Range;
use std::os::fd::{FromRawFd, OwnedFd};

/// The userfaultfd API version (`UFFD_API` of linux/userfaultfd.h).
const UFFD_API: u64 = 0xAA;
/// Handle faults of user-mode code only: what an unprivileged process may ask for.
const UFFD_USER_MODE_ONLY: nix::libc::c_int = 1;
/// Write faults on write-protected pages are resolved by the kernel (Linux 6.7).
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
/// `_IOWR(0xAA, 0x3F, struct uffdio_api)`. The request's C type is the C library's: glibc's
/// `unsigned long`, musl's `int` (the same 32 bits, hence the cast of the `u32`).
const UFFDIO_API: nix::libc::Ioctl = 0xC018_AA3F_u32 as nix::libc::Ioctl;
/// `_IOWR(0xAA, 0x00, struct uffdio_register)`.
const UFFDIO_REGISTER: nix::libc::Ioctl = 0xC020_AA00_u32 as nix::libc::Ioctl;

/// `struct uffdio_api`.
#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_register` (its `struct uffdio_range` inlined).
#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

/// Turns fault-around off for every file mapping the process has; returns how many mappings
/// it did so for. Call it first in `main`: pages already mapped stay mapped.
#[cfg(target_os = "linux")]
pub fn map_touched_pages_only() -> io::Result<usize> {
    let uffd = open_userfaultfd()?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut registered = 0;
    for range in file_mappings(&maps) {
        // A mapping that cannot be registered (one unmapped since the file was read) keeps
        // fault-around; the others are still worth it.
        if register(&uffd, range).is_ok() {
            registered += 1;
        }
    }
    // Closing it would end the registration: it lives as long as the process.
    std::mem::forget(uffd);
    Ok(registered)
}

/// Nothing to do on other systems.
#[cfg(not(target_os = "linux"))]
pub fn map_touched_pages_only() -> io::Result<usize> {
    Ok(0)
}

/// A userfaultfd with asynchronous write-protection, or why there is none.
#[cfg(target_os = "linux")]
fn open_userfaultfd() -> io::Result<OwnedFd> {
    let flags = nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK | UFFD_USER_MODE_ONLY;
    // SAFETY: userfaultfd(2) takes flags only and returns a new descriptor or -1. (A reviewed
    // exception to `unsafe_code`, with the two ioctls below.)
    #[allow(unsafe_code)]
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_userfaultfd, flags) };
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is the descriptor the call above just opened, owned by nobody else.
    #[allow(unsafe_code)]
    let uffd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut api = UffdioApi {
        api: UFFD_API,
        features: UFFD_FEATURE_WP_ASYNC,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes exactly one `struct uffdio_api`, which `api` is
    // (repr(C), three u64), alive for the call. It fails with EINVAL on a kernel without the
    // feature, and the descriptor is then dropped.
    #[allow(unsafe_code)]
    let done = unsafe { nix::libc::ioctl(fd, UFFDIO_API, &mut api as *mut UffdioApi) };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uffd)
}

/// Registers `range` for asynchronous write-protection, which turns fault-around off there.
#[cfg(target_os = "linux")]
fn register(uffd: &OwnedFd, range: Range<u64>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut request = UffdioRegister {
        start: range.start,
        len: range.end - range.start,
        mode: UFFDIO_REGISTER_MODE_WP,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_REGISTER reads and writes exactly one `struct uffdio_register`, which
    // `request` is (repr(C), four u64), alive for the call. It changes no memory of the
    // process: it marks the mappings of the range, and with no page write-protected and
    // faults resolved by the kernel, nothing but fault-around changes for them.
    #[allow(unsafe_code)]
    let done = unsafe {
        nix::libc::ioctl(
            uffd.as_raw_fd(),
            UFFDIO_REGISTER,
            &mut request as *mut UffdioRegister,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The address ranges of the file mappings in the text of `/proc/PID/maps`: lines whose
/// path (the sixth field on) is absolute. Anonymous memory, the heap, stacks and the kernel's
/// `[vdso]` are left out: fault-around is for files only.
fn file_mappings(maps: &str) -> Vec<Range<u64>> {
    crate::maps::mappings(maps)
        .filter(|m| m.is_file())
        .map(|m| m.range)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_mappings_are_the_lines_with_an_absolute_path() {
        let maps = "\
55d0c0a00000-55d0c0d9c000 r--p 00000000 fe:00 10011539                   /usr/bin/hookrun
55d0c0d9c000-55d0c1af9000 r-xp 0039b000 fe:00 10011539                   /usr/bin/hookrun
55d0c2a5e000-55d0c2abf000 rw-p 00000000 00:00 0                          [heap]
7f2cde600000-7f2cde800000 rw-p 00000000 00:00 0 
7f2cde9a0000-7f2cde9c6000 r--p 00000000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f2cdea00000-7f2cdea01000 r--p 00000000 fe:00 99                         /tmp/a name with spaces (deleted)
7ffd1b5f0000-7ffd1b5f2000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        assert_eq!(
            file_mappings(maps),
            vec![
                0x55d0_c0a0_0000..0x55d0_c0d9_c000,
                0x55d0_c0d9_c000..0x55d0_c1af_9000,
                0x7f2c_de9a_0000..0x7f2c_de9c_6000,
                0x7f2c_dea0_0000..0x7f2c_dea0_1000,
            ]
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for line in [
            "",
            "zz-10 r--p 0 fe:00 1 /bin/x",
            "20-10 r--p 0 fe:00 1 /bin/x",
            "10-20 r--p 0 fe:00",
        ] {
            assert_eq!(file_mappings(line), Vec::<Range<u64>>::new(), "{line:?}");
        }
    }
}
