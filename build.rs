//! Links the release binary so that an idle server keeps little of it in memory. Owns only
//! linker arguments of the `hookrun` binary, and the linker script it writes for them; it
//! generates no code.
//!
//! The kernel maps a program's code on demand, but each page fault maps the neighbouring cached
//! pages too (fault-around, 64 KiB or more), so the binary's resident size follows how many such
//! windows of code start-up touches. The ~1 MB of functions start-up and an idle server run are
//! spread by the linker over the whole 14 MB of `.text`, touching nearly every window: 8.8 MiB of
//! code stayed resident at idle. `perf/symbol-order.txt` (written by `scripts/symbol-order`)
//! lists those functions; a linker script made from it puts them first in `.text`, next to each
//! other.
//!
//! The script matches input sections, not symbols, and ignores the suffix thin LTO adds: each
//! function sits in a section of its own, `.text.NAME` (`.text.unlikely.NAME` when LLVM thinks it
//! cold, `.text.hot.NAME` when the profile of scripts/build-release finds it hot), and thin LTO
//! renames the internal functions it shares between modules `NAME.llvm.HASH`, where the hash is
//! that of the module's code, so that any edit renamed hundreds of the listed functions:
//! `.text.NAME.llvm.*` still matches them. The list holds the names without the suffix. That does
//! not make a list last forever: an edit also changes what thin LTO inlines, so functions appear
//! and vanish (after a 12-line edit in the server, VmRSS at idle went from 5.4 to 7.1 MiB with this
//! matching, to 8.7 MiB with exact names). A name the binary no longer has matches nothing: the
//! list only ever moves functions, so a stale one costs memory, never correctness, and so that a
//! stale list cannot go unnoticed the link also writes a map of the binary,
//! `target/release/hookrun.map`, in which `scripts/symbol-order --check` (run by `scripts/test`)
//! looks the listed sections up.
//!
//! `-z pack-relative-relocs` stores the ~35,000 relocations of a position-independent binary
//! as a bitmap (DT_RELR) instead of 24 bytes each: 0.8 MB less file that the dynamic loader
//! reads, and keeps resident, at every start. The loader must know the format (glibc 2.36 or
//! newer), so it is used only when the C library the binary is built against has it.
//!
//! Both are used only where they are known to work: release builds for x86_64 Linux with glibc,
//! linked by the LLD that Rust 1.90 and newer use by default there. With another linker (a
//! configured `linker`, or `-C linker-features`/`-fuse-ld` in RUSTFLAGS) the binary links
//! as before, in the linker's own order.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The functions to place first, one mangled name a line, without thin LTO's suffix.
const ORDER_FILE: &str = "perf/symbol-order.txt";

/// The link map, beside the binary: which listed functions the binary has.
const MAP_FILE: &str = "hookrun.map";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    // The profile-guided build's flags for hookrun's crates (scripts/lib/pgo-rustc): another
    // value must rebuild them, which cargo does not know from the wrapper itself.
    println!("cargo:rerun-if-env-changed=HOOKRUN_PGO");
    if env::var("PROFILE").as_deref() != Ok("release") || !links_with_default_lld() {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    // Absent when only the sources are copied (a container build that copies src/ alone).
    if let Ok(list) = fs::read_to_string(Path::new(&dir).join(ORDER_FILE)) {
        let script = Path::new(&out).join("symbol-order.ld");
        fs::write(&script, linker_script(&list)).expect("OUT_DIR is writable");
        link_arg(&format!("-T,{}", script.display()));
        // Names as the list spells them, mangled. OUT_DIR is target/release/build/<pkg>/out.
        if let Some(release) = Path::new(&out).ancestors().nth(3) {
            link_arg(&format!("-Map={}", release.join(MAP_FILE).display()));
            link_arg("--no-demangle");
        }
    }
    if glibc_has_relr() {
        link_arg("-z,pack-relative-relocs");
    }
}

/// A linker script that puts the sections of the listed functions, whatever suffix thin LTO
/// gave them, first in `.text`, and leaves the rest of the layout to the linker (`INSERT`): the
/// other functions' sections go to `.text` after them, as sections the script does not name.
/// Not an output section of their own: valgrind reads the symbols of `.text` only, and would
/// see no hookrun function in it. One input section description for all: within it the
/// sections keep the linker's input order, which is as good as any, since an idle server runs
/// all of them.
fn linker_script(list: &str) -> String {
    let mut script = String::from(concat!(
        "/* Written by build.rs from perf/symbol-order.txt. */\n",
        "SECTIONS {\n  .text : {\n    *(\n",
    ));
    // A mangled name is letters, digits, `_`, `$` and `.`; anything else (a glob character,
    // a space) would change what the pattern means, so such a line is left out.
    let names = list.lines().map(str::trim).filter(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b))
    });
    for name in names {
        for prefix in [".text.", ".text.unlikely.", ".text.hot."] {
            writeln!(script, "      {prefix}{name} {prefix}{name}.llvm.*")
                .expect("writing to a String cannot fail");
        }
    }
    script.push_str("    )\n  }\n}\nINSERT BEFORE .init;\n");
    script
}

fn link_arg(arg: &str) {
    println!("cargo:rustc-link-arg-bin=hookrun=-Wl,{arg}");
}

/// Whether the binary is linked by the LLD rustc brings, through the C compiler: the default
/// for x86_64-unknown-linux-gnu from Rust 1.90 on, unless the build chose another linker.
fn links_with_default_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|word| flags.contains(word))
    {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("release: "))
        .and_then(|release| release.split('.').nth(1)?.parse::<u32>().ok())
        .is_some_and(|minor| minor >= 90)
}

/// Whether the glibc the binary links against (this machine's: the build is native) loads
/// DT_RELR relocations, which glibc 2.36 introduced.
fn glibc_has_relr() -> bool {
    if env::var("HOST") != env::var("TARGET") {
        return false;
    }
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().ok());
    matches!(
        (numbers.next().flatten(), numbers.next().flatten()),
        (Some(major), Some(minor)) if (major, minor) >= (2, 36)
    )
}
