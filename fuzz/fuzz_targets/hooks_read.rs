//! The two readings of a JSON hooks file side by side: the straight one that the loader tries
//! first (each hook read from the parser into its raw form, unknown keys found on the way) and
//! the exact one it falls back to (a tree per hook). Wherever the straight reading takes a file,
//! its hooks and problems must be exactly the tree's (`config::reading_check`, which panics on
//! a difference).
//!
//! Input: the file (UTF-8; other bytes are not a hooks file the loader reads this way).

#![no_main]

use hookrun::config::reading_check::same_both_ways;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        same_both_ways(text);
    }
});
