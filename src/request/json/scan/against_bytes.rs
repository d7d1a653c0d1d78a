//! Differential tests of the validator's fast path against the byte-at-a-time validator
//! (`check`): generated documents, the vendor payloads of the peer set (read where they lie,
//! `/work/shared/peer/payloads/samples` or `HOOKRUN_PEER_PAYLOADS`), each cut and edited at
//! every byte, nesting at the depths that change how it is kept, strings around block ends,
//! and texts after the value.

use super::super::differential::{value, Rng};
use super::check::agree;
use super::validate::MAX_DEPTH;

/// `t`, its cuts `step` bytes apart (and its first 70), and edits of a byte `step` bytes apart
/// with bytes that matter to the grammar.
fn agree_cut_and_edited(t: &[u8], step: usize) {
    agree(t);
    for len in 0..t.len() {
        if len % step == 0 || len < 70 {
            agree(&t[..len]);
        }
    }
    for at in (0..t.len()).step_by(step) {
        for &b in b"{]:,\" \\\nx0-\x01" {
            let mut edited = t.to_vec();
            edited[at] = b;
            agree(&edited);
        }
        agree(&[&t[..at], &t[at + 1..]].concat());
    }
}

#[test]
fn generated_documents_agree_cut_and_edited() {
    let mut rng = Rng(0x5eed_b10c_0f00_0001);
    for round in 0..80 {
        let mut text = String::new();
        value(&mut rng, 5, &mut text);
        let text = if round % 2 == 0 {
            format!("{{\"k\":{text},\"v\":[{text}]}}")
        } else {
            format!("[{text}]")
        };
        agree_cut_and_edited(text.as_bytes(), 1 + text.len() / 50);
    }
}

#[test]
fn vendor_payloads_agree_cut_and_edited() {
    let dir = std::env::var("HOOKRUN_PEER_PAYLOADS")
        .unwrap_or_else(|_| "/work/shared/peer/payloads/samples".to_string());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no peer payloads at {dir}: skipped");
        return;
    };
    let mut read = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "body") {
            let t = std::fs::read(&path).expect("a readable payload");
            agree_cut_and_edited(&t, 1 + t.len() / 16);
            read += 1;
        }
    }
    assert!(read > 0, "no payloads in {dir}");
}

#[test]
fn nesting_agrees_at_every_depth_that_changes_how_it_is_kept() {
    for depth in [1, 15, 16, 17, 63, 64, 65, 66, 200, MAX_DEPTH - 1, MAX_DEPTH] {
        for inner in ["1", "{}", "[]", "{\"z\":\"y\"}"] {
            let text = "[{\"k\":".repeat(depth / 2)
                + &"[".repeat(depth % 2)
                + inner
                + &"]".repeat(depth % 2)
                + &"}]".repeat(depth / 2);
            agree(text.as_bytes());
        }
    }
    // One level too deep: the byte-at-a-time validator says so.
    let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
    agree(deep(MAX_DEPTH + 1).as_bytes());
    agree(format!("{{\"a\":{}}}", deep(MAX_DEPTH)).as_bytes());
}

#[test]
fn texts_after_the_value_do_not_change_the_decision() {
    // What follows the first value is never read for it (Go's Decode), whatever it holds:
    // strings with control bytes and bad escapes, unclosed strings, bytes that are not JSON.
    for after in [
        "",
        " ",
        "x",
        "\"\x01\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"",
        "\"\\",
        "}",
        "]]]",
        "\u{ff}",
    ] {
        for value in ["{}", "[]", "{\"a\":[1,2]}", "[\"s\",{\"b\":null}]"] {
            for gap in ["", " ", &" ".repeat(70)] {
                agree(format!("{value}{gap}{after}").as_bytes());
                agree(format!("{gap}{value}{gap}{after}").as_bytes());
            }
        }
    }
}

#[test]
fn strings_agree_at_every_offset_around_block_ends() {
    // Escapes, control bytes and quotes at every offset of strings that cross the first and
    // second block ends, as keys and as values.
    let pieces = [
        "\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\u12g4", "\\x", "\x01", "\t", "\"", "\\",
        "\\\\\\\"", "é", "\u{ff}",
    ];
    for lead in [0, 1, 40, 59, 62, 63, 64, 65, 120, 127, 128] {
        for piece in pieces {
            for len in [0, 1, 2, 5, 8] {
                let content = format!("{}{piece}{}", "a".repeat(len), "b".repeat(len));
                let pad = " ".repeat(lead);
                agree(format!("{pad}{{\"{content}\":1,\"v\":\"{content}\"}}").as_bytes());
                agree(format!("[{pad}\"{content}\",\"{content}\", 1]").as_bytes());
            }
        }
    }
}
