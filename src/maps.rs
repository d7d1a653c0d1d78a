//! The process's memory mappings as `/proc/PID/maps` lists them: what `fault_around` and
//! `clean_pages` read to find the mappings of files. Owns the reading of that text only.

use std::ops::Range;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping<'a> {
    pub range: Range<u64>,
    /// Read, write, execute (a letter or `-` each), then `p` (private) or `s` (shared).
    pub perms: &'a [u8],
    /// The file's path; a name such as `[heap]` or `[vdso]`; empty for anonymous memory.
    pub path: &'a str,
}

impl Mapping<'_> {
    /// Whether the mapping is of a file: its path (the sixth field on) is absolute.
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/')
    }

    /// Whether the mapping is private, cannot be written, and can be read or executed.
    pub fn is_private_unwritable(&self) -> bool {
        matches!(self.perms, [read, b'-', exec, b'p'] if *read == b'r' || *exec == b'x')
    }
}

/// The mappings in the text of `/proc/PID/maps`; a line that does not parse, or whose range is
/// empty, is left out.
pub fn mappings(maps: &str) -> impl Iterator<Item = Mapping<'_>> {
    maps.lines().filter_map(|line| {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?.as_bytes();
        let path = fields.nth(3).unwrap_or("").trim_start();
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        (start < end).then_some(Mapping {
            range: start..end,
            perms,
            path,
        })
    })
}
