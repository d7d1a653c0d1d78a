//! Letting go of the file pages start-up mapped once the server is ready: the pages of the
//! binary's and the libraries' code and constants that are still the page cache's own are
//! taken out of the process's page tables, so that an idle server holds what serving touches,
//! not what start-up did. A reload runs the hooks file's reader, validation and template
//! compilation again and maps their code back: the reloader releases again once it is done
//! (`reload`), with the same page map. Owns that release; it never touches a page the process
//! wrote.
//!
//! # Theory of operation
//! A page of a private file mapping is either the page cache's page, mapped as it is, or a
//! private copy made when the process (or the dynamic loader for it) wrote to the page. The
//! page cache's pages can leave the page tables with `madvise(MADV_DONTNEED)` and lose
//! nothing: the cache keeps them, and the next read is a minor fault that maps the same page
//! again (a single page, since `fault_around` turned fault-around off in the mappings that
//! existed at `main`; the registration is a flag of the mapping, which `MADV_DONTNEED` leaves
//! as it is). A private copy must never be dropped: the next read would map the file's
//! content, and in the data the loader relocated (RELRO, read-only once relocated) that means
//! unrelocated pointers. So every page is classified from `/proc/self/pagemap` before it is
//! dropped: present or swapped out without the file-page bit (61) is a private copy (or
//! something this code does not know, such as a guard or a device page), and the mapping's
//! pages are released in runs that hold none. Only private, non-writable mappings of a file
//! are looked at: a writable one may be written at any time, a shared one's pages are other
//! processes' too, and `[vdso]` and the like are not files. Whatever cannot be read or
//! classified is left as it is: the release only ever saves memory.
//!
//! Why this is safe with other threads running: a page that is not writable can only become a
//! private copy by a `mprotect` and a write (the loader does that to a library it loads, on the
//! library's own, new mappings), by a debugger's or uprobe's write (which makes a private copy:
//! kept, since the pages are classified one by one) or by a mapping replaced at the same
//! address between the classification and the release, which takes a library unloaded and
//! another loaded there within microseconds (glibc never unloads the name-service modules it
//! loads, and hookrun loads nothing else). A thread running code on a page being released
//! faults on its next fetch and continues on the same bytes. The pages stay the file's as they
//! were at start, even for a binary replaced by a package upgrade: the upgrade renames a new
//! file over the old one, whose inode (and its page cache) lives on as long as it is mapped.
//! A large folio or a huge page of the cache is simply unmapped, in part or whole; the cache
//! keeps it. Under valgrind (`scripts/cost-budget`) the same happens to valgrind's own mappings
//! and the client's, which it maps itself: clean pages again, faulted back in on use.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

/// What a release let go of.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// The mappings looked at: private, not writable, of a file.
    pub mappings: usize,
    /// The resident pages dropped from them, in bytes.
    pub bytes: u64,
    /// The pages kept because they are private copies, in bytes.
    pub kept_bytes: u64,
}

/// A page's entry in `/proc/PID/pagemap` (Documentation/admin-guide/mm/pagemap.rst).
const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_PAGE: u64 = 1 << 61;

/// How many pagemap entries are read at a time, and so the most pages classified before their
/// release.
const CHUNK: usize = 512;

/// The process's `/proc/self/pagemap`, open. Open it before dropping privileges, once, and
/// keep it for the life of the process: a process whose user changed is no longer dumpable,
/// and its `/proc/self` files are then root's, so it cannot be opened again for a reload.
#[derive(Debug)]
pub struct PageMap {
    /// Locked for a whole release: start-up's and a reload's (or two reloads') never overlap,
    /// so each reads the maps and classifies the pages with nobody else dropping them.
    file: Mutex<File>,
}

impl PageMap {
    pub fn open() -> io::Result<PageMap> {
        Ok(PageMap {
            file: Mutex::new(File::open("/proc/self/pagemap")?),
        })
    }

    /// Drops every resident page of the process's private, non-writable file mappings that is
    /// the page cache's own (never a page the process wrote). Call it once start-up is done
    /// and after each reload, off the request path (it took 0.3 ms at start-up); a release
    /// waits for one under way.
    #[cfg(target_os = "linux")]
    pub fn release(&self) -> io::Result<Released> {
        // A release that panicked left nothing half-done that matters: each run is dropped
        // or not on its own.
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let page = page_size()?;
        let mut released = Released::default();
        for range in unwritable_file_mappings(&maps) {
            released.mappings += 1;
            // A mapping unmapped since maps was read has no entries left to drop; the others
            // are still worth it.
            let _ = release_mapping(&file, range, page, &mut released);
        }
        Ok(released)
    }

    /// Nothing to do on other systems.
    #[cfg(not(target_os = "linux"))]
    pub fn release(&self) -> io::Result<Released> {
        Ok(Released::default())
    }
}

#[cfg(target_os = "linux")]
fn page_size() -> io::Result<u64> {
    // SAFETY: sysconf reads a constant of the C library and takes a plain integer. (A
    // reviewed exception to `unsafe_code`, with `madvise` below.)
    #[allow(unsafe_code)]
    let size = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    u64::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .ok_or_else(|| io::Error::other("no page size"))
}

/// Releases the pages of `range` that are the file's, chunk by chunk, in runs that hold no
/// private copy.
#[cfg(target_os = "linux")]
fn release_mapping(
    pagemap: &File,
    range: Range<u64>,
    page: u64,
    released: &mut Released,
) -> io::Result<()> {
    let mut entries = [0u8; CHUNK * 8];
    let mut at = range.start;
    while at < range.end {
        let pages = ((range.end - at) / page).min(CHUNK as u64);
        if pages == 0 {
            break;
        }
        let bytes = &mut entries[..pages as usize * 8];
        pagemap.read_exact_at(bytes, at / page * 8)?;
        let chunk = at..at + pages * page;
        for (run, resident) in clean_runs(bytes, chunk, page) {
            if madvise_dontneed(run.clone()).is_ok() {
                released.bytes += resident;
            }
        }
        released.kept_bytes += private_pages(bytes) * page;
        at += pages * page;
    }
    Ok(())
}

/// The runs of `chunk` (whose pagemap entries are `entries`) that hold no private copy and at
/// least one resident page, each with how many bytes are resident in it.
fn clean_runs(entries: &[u8], chunk: Range<u64>, page: u64) -> Vec<(Range<u64>, u64)> {
    let mut runs = Vec::new();
    let (mut start, mut resident) = (chunk.start, 0);
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let entry = u64::from_ne_bytes(entry.try_into().expect("chunks of 8 bytes"));
        let addr = chunk.start + i as u64 * page;
        if is_private(entry) {
            if resident > 0 {
                runs.push((start..addr, resident));
            }
            (start, resident) = (addr + page, 0);
        } else if entry & PRESENT != 0 {
            resident += page;
        }
    }
    if resident > 0 {
        runs.push((start..chunk.end, resident));
    }
    runs
}

/// Whether a page is, or may be, the process's own copy: anything present or swapped out that
/// the kernel does not call a file page.
fn is_private(entry: u64) -> bool {
    entry & (PRESENT | SWAPPED) != 0 && entry & FILE_PAGE == 0
}

fn private_pages(entries: &[u8]) -> u64 {
    entries
        .chunks_exact(8)
        .map(|e| u64::from_ne_bytes(e.try_into().expect("chunks of 8 bytes")))
        .filter(|&e| is_private(e))
        .count() as u64
}

#[cfg(target_os = "linux")]
fn madvise_dontneed(run: Range<u64>) -> io::Result<()> {
    let (Ok(addr), Ok(len)) = (
        usize::try_from(run.start),
        usize::try_from(run.end - run.start),
    ) else {
        return Err(io::Error::other("address out of range"));
    };
    // SAFETY: the run lies in a private, non-writable file mapping and holds no private copy
    // (checked just above from pagemap), so every page it drops is the page cache's: the
    // next access maps the same bytes again and no memory the process relies on changes.
    // The kernel refuses (EINVAL, ENOMEM) a run it cannot advise; nothing is dropped then.
    #[allow(unsafe_code)]
    let done = unsafe {
        nix::libc::madvise(
            addr as *mut nix::libc::c_void,
            len,
            nix::libc::MADV_DONTNEED,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The address ranges of the private, non-writable, readable or executable mappings of a file
/// in the text of `/proc/PID/maps` (the sixth field on is an absolute path).
fn unwritable_file_mappings(maps: &str) -> Vec<Range<u64>> {
    crate::maps::mappings(maps)
        .filter(|m| m.is_private_unwritable() && m.is_file())
        .map(|m| m.range)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_unwritable_file_mappings_are_selected() {
        let maps = "\
55d0c0a00000-55d0c0d9c000 r--p 00000000 fe:00 10011539                   /usr/bin/hookrun
55d0c0d9c000-55d0c1af9000 r-xp 0039b000 fe:00 10011539                   /usr/bin/hookrun
55d0c1af9000-55d0c1b80000 rw-p 00cf8000 fe:00 10011539                   /usr/bin/hookrun
55d0c2a5e000-55d0c2abf000 rw-p 00000000 00:00 0                          [heap]
7f2cde600000-7f2cde800000 r--p 00000000 00:00 0 
7f2cde9a0000-7f2cde9c6000 r--s 00000000 fe:00 326279                     /dev/shm/shared
7f2cde9c6000-7f2cde9c8000 ---p 00026000 fe:00 326279                     /usr/lib/libc.so.6
7f2cdea00000-7f2cdea01000 r--p 00000000 fe:00 99                         /tmp/a name (deleted)
7ffd1b5f0000-7ffd1b5f2000 r-xp 00000000 00:00 0                          [vdso]
7ffd1b5f2000-7ffd1b5f4000 r--p 00000000 00:00 0                          [vvar]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        assert_eq!(
            unwritable_file_mappings(maps),
            vec![
                0x55d0_c0a0_0000..0x55d0_c0d9_c000,
                0x55d0_c0d9_c000..0x55d0_c1af_9000,
                0x7f2c_dea0_0000..0x7f2c_dea0_1000,
            ]
        );
        for line in [
            "",
            "zz-10 r--p 0 fe:00 1 /bin/x",
            "20-10 r--p 0 fe:00 1 /bin/x",
        ] {
            assert_eq!(unwritable_file_mappings(line), vec![], "{line:?}");
        }
    }

    fn entries(pages: &[u64]) -> Vec<u8> {
        pages.iter().flat_map(|e| e.to_ne_bytes()).collect()
    }

    /// Pagemap entries, and the runs wanted: page ranges and their resident pages.
    type Case = (&'static [u64], Vec<(Range<u64>, u64)>);

    #[test]
    fn runs_stop_at_private_copies_and_need_a_resident_page() {
        const FILE: u64 = PRESENT | FILE_PAGE;
        const COPY: u64 = PRESENT;
        const SWAPPED_COPY: u64 = SWAPPED;
        const MIGRATING_FILE_PAGE: u64 = SWAPPED | FILE_PAGE;
        let cases: [Case; 6] = [
            (&[0, 0, 0], vec![]),
            (&[FILE, 0, FILE], vec![(0..3, 2)]),
            (&[COPY, COPY], vec![]),
            (
                &[FILE, COPY, 0, FILE, SWAPPED_COPY, 0],
                vec![(0..1, 1), (2..4, 1)],
            ),
            (&[0, COPY, 0, FILE], vec![(2..4, 1)]),
            (&[MIGRATING_FILE_PAGE, FILE], vec![(0..2, 1)]),
        ];
        for (pages, want) in cases {
            let want: Vec<_> = want
                .into_iter()
                .map(|(r, n)| (r.start * 4096..r.end * 4096, n * 4096))
                .collect();
            let chunk = 0..pages.len() as u64 * 4096;
            assert_eq!(clean_runs(&entries(pages), chunk, 4096), want, "{pages:x?}");
        }
    }
}
