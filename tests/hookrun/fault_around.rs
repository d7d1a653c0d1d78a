//! The server's file mappings are faulted in a page at a time (`hookrun::fault_around`): the
//! kernel shows the registration that turns fault-around off in `/proc/PID/smaps`, on every
//! mapping of the binary and of its libraries, and the server still serves and runs commands.

use serde_json::json;

use crate::fixture::Fixture;

/// `(path, VmFlags)` of every file mapping in the text of `/proc/PID/smaps`.
fn file_mapping_flags(smaps: &str) -> Vec<(String, Vec<String>)> {
    let mut mappings = Vec::new();
    let mut path = None;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(path) = path.take() {
                mappings.push((path, flags.split_whitespace().map(String::from).collect()));
            }
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            // A mapping's first line: "start-end perms offset dev inode [path]".
            path = line
                .split_whitespace()
                .nth(5)
                .filter(|p| p.starts_with('/'))
                .map(String::from);
        }
    }
    mappings
}

#[tokio::test]
async fn code_and_libraries_are_mapped_a_page_per_fault() {
    let hook = json!({"id": "echo", "execute-command": "/bin/echo",
        "include-command-output-in-response": true,
        "pass-arguments-to-command": [{"source": "string", "name": "ran"}]});
    let f = Fixture::start(&[hook], &[]);
    let resp = f.get("/hooks/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "ran\n");

    // Whether this kernel (and sandbox) lets a process register its mappings: the same call
    // the server makes, here on the test's own process.
    let available = hookrun::fault_around::map_touched_pages_only().is_ok_and(|n| n > 0);
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", f.pid())).expect("smaps");
    let mappings = file_mapping_flags(&smaps);
    assert!(
        mappings.iter().any(|(path, _)| path.contains("libc.so")),
        "no libc mapping in {mappings:?}"
    );
    for (path, flags) in &mappings {
        let registered = flags.iter().any(|f| f == "uw");
        assert_eq!(
            registered,
            available,
            "{path}: flags {flags:?}; userfaultfd with asynchronous write-protection is {}",
            if available {
                "available"
            } else {
                "not available"
            }
        );
    }
}

#[test]
fn smaps_flags_are_read_per_file_mapping() {
    let smaps = "\
5618a0000000-5618a039c000 r--p 00000000 fe:00 42                         /usr/bin/hookrun
Rss:                 768 kB
VmFlags: rd mr mw me uw
5618a2a5e000-5618a2abf000 rw-p 00000000 00:00 0                          [heap]
VmFlags: rd wr mr mw me ac
7f2cde9a0000-7f2cde9c6000 r-xp 00026000 fe:00 7                          /usr/lib/libc.so.6
VmFlags: rd ex mr mw me
";
    assert_eq!(
        file_mapping_flags(smaps),
        vec![
            (
                "/usr/bin/hookrun".to_string(),
                vec!["rd", "mr", "mw", "me", "uw"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            ),
            (
                "/usr/lib/libc.so.6".to_string(),
                vec!["rd", "ex", "mr", "mw", "me"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            ),
        ]
    );
}
