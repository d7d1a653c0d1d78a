//! Hooks-file loading: `config::load` on one file, as JSON or YAML, with and without
//! `-template` (the Go-template renderer with `getenv`, `cat`, `credential` and the rest) and
//! `-lenient`, then validation and rule compilation.
//!
//! Input: byte 0 holds the options (bit 0 `-template`, bit 1 `-lenient`, bit 2 a mail server,
//! bit 3 the `.yaml` extension instead of `.json`), the rest is the file.

#![no_main]

mod common;

use hookrun::config::LoadOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let opts = LoadOptions {
        template: flags & 1 != 0,
        lenient: flags & 2 != 0,
        mail_server: flags & 4 != 0,
    };
    let name = if flags & 8 != 0 {
        "hooks.yaml"
    } else {
        "hooks.json"
    };
    let loaded = common::load_text(name, text, &opts);
    if let Some(set) = &loaded.set {
        // Every hook the set holds is reachable by its id.
        for id in set.ids() {
            assert!(set.get(id).is_some(), "{id:?} listed but not found");
        }
    }
});
