//! How the process's memory allocator is set up: large blocks come from the kernel and go back
//! to it as soon as they are freed, so that the memory budget for request bodies
//! (`request::budget`) bounds the resident memory and a burst of large bodies leaves nothing
//! behind.
//!
//! glibc's malloc serves a block of 128 KiB or more with its own `mmap` and unmaps it on
//! `free`, but the first time such a block is freed it raises that threshold to the block's
//! size (up to 32 MiB), and from then on serves 10 MiB bodies from its per-thread arenas.
//! Freed there, they stay resident (an arena gives memory back only from its top, and a busy
//! server has up to 8 arenas per core), and a new body on another thread takes fresh memory:
//! a burst of 10 MiB bodies left 140 MiB resident for 100 MiB of budget, and kept it. Fixing
//! the threshold turns the dynamic raise off. Small allocations (every request's headers,
//! values, tasks) are untouched: they stay in the arenas' fast per-thread caches.
//!
//! musl and other allocators map large blocks for good already: nothing to do there.
//!
//! After hooks are loaded, the small blocks the load freed go back too
//! ([`release_free_memory`]): the hooks of a big file are allocated among them.

/// Blocks at least this large are mapped for themselves and unmapped when freed: hyper's read
/// buffers when a body streams in, bodies, payload documents.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Sets the allocator up; call it first in `main`, before any thread is started.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_blocks() {
    let threshold = i32::try_from(MMAP_THRESHOLD).expect("the threshold fits a C int");
    // SAFETY: mallopt only sets a parameter of glibc's allocator and takes plain integers; it
    // is called before any other thread exists, and M_MMAP_THRESHOLD with a value under
    // HEAP_MAX (32 MiB) is always accepted. (The reviewed exception to `unsafe_code`.)
    #[allow(unsafe_code)]
    let done = unsafe { nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, threshold) };
    if done != 1 {
        tracing::warn!(threshold, "could not fix malloc's mmap threshold");
    }
}

/// Sets the allocator up; nothing to do with this C library.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_blocks() {}

/// Gives the free memory of every arena back to the kernel. Loading hooks frees most of what
/// it allocates (each hook's parsed tree, the file's text), in small blocks that malloc keeps
/// for reuse: with 5,000 hooks, megabytes that stay resident for good in a server that will
/// not allocate that much again. glibc's `malloc_trim` releases every whole free page of the
/// arenas (with `MADV_DONTNEED`), not only the top of the heap; live blocks are not touched.
/// Call it after a load, never per request (it walks every arena under its lock).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes a plain integer (how much free space to keep at the top of the
    // main heap) and only walks glibc's own arenas, each under its lock: it is safe to call
    // from any thread at any time. (The reviewed exception to `unsafe_code`, with mallopt.)
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Gives free memory back to the kernel; nothing to do with this C library.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
