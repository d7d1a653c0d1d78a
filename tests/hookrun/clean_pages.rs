//! Start-up's file pages are released once the server serves (`hookrun::clean_pages`): the
//! release keeps every page the process wrote and drops the clean ones, and a server whose
//! start-up code is no longer mapped still answers. (After reloads: `reload_memory`.)

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::{start, Server};
use crate::fixture::client;

/// `(Rss, Anonymous)` in KiB of the mapping starting at `start` in `/proc/PID/smaps`.
fn rss_and_anonymous(pid: u32, start: usize) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("reading smaps");
    let header = format!("{start:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
    assert!(lines.next().is_some(), "no mapping at {start:x}");
    let (mut rss, mut anonymous) = (None, None);
    for line in lines.take_while(|l| !l.starts_with("VmFlags:")) {
        let kib = || {
            let value = line.split_whitespace().nth(1).expect("a value");
            Some(value.parse::<u64>().expect("a number of kB"))
        };
        if line.starts_with("Rss:") {
            rss = kib();
        } else if line.starts_with("Anonymous:") {
            anonymous = kib();
        }
    }
    (rss.expect("Rss"), anonymous.expect("Anonymous"))
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant and takes a plain integer.
    #[allow(unsafe_code)]
    let size = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    usize::try_from(size).expect("a page size")
}

/// Maps `len` bytes of `file` privately with `prot`; panics if the kernel refuses.
fn map_private(file: &std::fs::File, len: usize, prot: nix::libc::c_int) -> *mut u8 {
    // SAFETY: a new mapping chosen by the kernel, of a file this test owns; nothing else
    // refers to that memory.
    #[allow(unsafe_code)]
    let addr = unsafe {
        nix::libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            nix::libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(addr, nix::libc::MAP_FAILED, "mmap");
    addr.cast()
}

/// The bytes of a mapping made by `map_private`, read through the page tables.
fn contents(addr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: `addr..addr + len` is a readable mapping of this test, alive until `unmap`.
    #[allow(unsafe_code)]
    let bytes = unsafe { std::slice::from_raw_parts(addr, len) };
    bytes.to_vec()
}

#[test]
fn release_keeps_written_pages_and_drops_clean_ones() {
    let page = page_size();
    let len = 4 * page;
    let original: Vec<u8> = (0..4u8).flat_map(|i| vec![b'a' + i; page]).collect();
    let mut file = tempfile::tempfile().expect("a temporary file");
    std::io::Write::write_all(&mut file, &original).expect("writing it");

    // As the loader does with relocated data: written through a private writable mapping
    // (one page of four), then made read-only.
    let written = map_private(&file, len, nix::libc::PROT_READ | nix::libc::PROT_WRITE);
    assert_eq!(contents(written, len), original);
    // SAFETY: the second page of the mapping above, writable and owned by this test.
    #[allow(unsafe_code)]
    unsafe {
        std::ptr::write_bytes(written.add(page), b'W', page);
        assert_eq!(
            nix::libc::mprotect(written.cast(), len, nix::libc::PROT_READ),
            0
        );
    }
    let clean = map_private(&file, len, nix::libc::PROT_READ);
    assert_eq!(contents(clean, len), original);
    let pid = std::process::id();
    let page_kib = page as u64 / 1024;
    assert_eq!(
        rss_and_anonymous(pid, written as usize),
        (4 * page_kib, page_kib)
    );
    assert_eq!(rss_and_anonymous(pid, clean as usize), (4 * page_kib, 0));

    let page_map = hookrun::clean_pages::PageMap::open().expect("opening the page map");
    let released = page_map.release().expect("releasing");
    assert!(released.bytes >= 7 * page as u64, "{released:?}");

    // Only the written page is left resident, and it still holds what was written.
    assert_eq!(
        rss_and_anonymous(pid, written as usize),
        (page_kib, page_kib)
    );
    assert_eq!(rss_and_anonymous(pid, clean as usize), (0, 0));
    let mut want = original.clone();
    want[page..2 * page].fill(b'W');
    assert_eq!(contents(written, len), want);
    assert_eq!(contents(clean, len), original);
    for addr in [written, clean] {
        // SAFETY: the mappings made above, no longer used.
        #[allow(unsafe_code)]
        let done = unsafe { nix::libc::munmap(addr.cast(), len) };
        assert_eq!(done, 0);
    }
}

/// The runtime addresses' offsets in the file (the binary is position-independent, and its
/// first loaded segment starts at file offset 0) of the functions whose symbol name contains
/// one of `names`, with their sizes. Reads the binary's ELF symbol table.
fn function_offsets(binary: &Path, names: &[&str]) -> Vec<(String, u64, u64)> {
    let elf = std::fs::read(binary).expect("reading the binary");
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
    let u32_at = |at: usize| u64::from(u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()));
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let (shoff, shentsize, shnum) = (u64_at(0x28), u16_at(0x3A), u16_at(0x3C));
    let section = |i: u64| (shoff + i * shentsize) as usize;
    let symtab = (0..shnum)
        .map(section)
        .find(|&s| u32_at(s + 4) == 2) // SHT_SYMTAB
        .expect("a symbol table (a binary that is not stripped)");
    let strtab = section(u32_at(symtab + 40));
    let (strings, symbols) = (u64_at(strtab + 24) as usize, u64_at(symtab + 24) as usize);
    let count = u64_at(symtab + 32) as usize / 24;
    let mut found = Vec::new();
    for sym in (0..count).map(|i| symbols + i * 24) {
        let (name_at, info, value, size) =
            (u32_at(sym), elf[sym + 4], u64_at(sym + 8), u64_at(sym + 16));
        if info & 0xF != 2 || value == 0 {
            continue; // not a defined function (STT_FUNC)
        }
        let name = &elf[strings + name_at as usize..];
        let name = String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()]);
        if names.iter().any(|n| name.contains(n)) {
            found.push((name.into_owned(), value, size));
        }
    }
    found
}

/// Whether the page at `addr` is mapped in `pid`'s page tables (`/proc/PID/pagemap`).
fn present(pid: u32, addr: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).expect("pagemap");
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, addr / page_size() as u64 * 8)
        .expect("reading pagemap");
    u64::from_ne_bytes(entry) & (1 << 63) != 0
}

/// Where `binary`'s file offset 0 is mapped in `pid`.
fn load_address(pid: u32, binary: &Path) -> u64 {
    let binary = binary.canonicalize().expect("the binary's path");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    maps.lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = PathBuf::from(fields.get(5)?);
            (path == binary && fields[2] == "00000000").then(|| {
                let start = fields[0].split_once('-').expect("a range").0;
                u64::from_str_radix(start, 16).expect("an address")
            })
        })
        .expect("the binary's first mapping")
}

/// How many of the pages holding the functions whose symbol name contains one of `names` are
/// mapped in `pid`, a process running `binary`, and of how many.
pub fn resident_function_pages(pid: u32, binary: &Path, names: &[&str]) -> (usize, usize) {
    let functions = function_offsets(binary, names);
    assert!(functions.len() >= names.len(), "{functions:?}");
    let base = load_address(pid, binary);
    let page = page_size() as u64;
    let pages: std::collections::BTreeSet<u64> = functions
        .iter()
        .flat_map(|&(_, at, size)| (base + at) / page..=(base + at + size.max(1) - 1) / page)
        .collect();
    let resident = pages.iter().filter(|&&p| present(pid, p * page)).count();
    (resident, pages.len())
}

/// Functions that run at start-up and never again while serving: parsing the flags (clap and
/// hookrun's), reading the hooks file, setting up the logger and the open files limit. (The
/// legacy mangling's `17h` starts the hash after the name: their closures are left out.)
const START_UP_ONLY: &[&str] = &[
    "6Parser16get_matches_with17h",
    "7Command24try_get_matches_from_mut17h",
    "7hookrun3cli5parse17h",
    "6config10hooks_file10load_bytes17h",
    "6config10hooks_file14load_json_list17h",
    "6config7loading4load17h",
    "7startup5hooks13initial_hooks17h",
    "7startup7process12init_logging17h",
    "7startup7process21raise_open_file_limit17h",
];

#[tokio::test]
async fn start_up_code_is_not_resident_once_serving() {
    let rejected = json!({"id": "gated", "execute-command": "/bin/echo",
        "include-command-output-in-response": true,
        "pass-arguments-to-command": [{"source": "string", "name": "ran"}],
        "trigger-rule": {"match": {"type": "value", "value": "go",
            "parameter": {"source": "url", "name": "t"}}}});
    let dir = tempfile::tempdir().expect("a temporary folder");
    crate::fixture::write_json(&dir.path().join("hooks.json"), &json!([rejected]));
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_hookrun"));
    let server: Server = start(&binary, &["-hooks", "hooks.json"], dir.path(), &[]);
    let pid = server.child.id();

    let (resident, pages) = resident_function_pages(pid, &binary, START_UP_ONLY);
    // Without the release every one of them is (they ran: 12 of 12 in a debug build); a page
    // they share with code that serves is mapped back (3 of 12), not most.
    assert!(
        resident * 2 < pages,
        "{resident} of the {pages} pages of {START_UP_ONLY:?} are resident"
    );

    let http = client();
    let get = |t: &'static str| http.get(server.url(&format!("/hooks/gated?t={t}"))).send();
    let resp = get("no").await.expect("a rejected request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.expect("body"),
        "Hook rules were not satisfied."
    );
    let resp = get("go").await.expect("a matched request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "ran\n");
}
