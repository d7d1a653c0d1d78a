//! Reading JSON text without building anything. Every function here is linear in the bytes it
//! reads and allocates at most the depth stack (or, for [`Ends`], a span per container).
//!
//! - `validate`: Go's scanner (grammar, numbers, literals, the 10,000-level depth limit, errors
//!   in Go's words at Go's offsets), counting values and feeding the member index; objects and
//!   arrays are read by `grammar` first.
//! - `blocks`, `structurals`, `grammar` (x86-64): the same decisions from 64-byte blocks
//!   classified with vector compares, the structural positions found in them, and the grammar
//!   checked at those positions only.
//! - `runs`: the bytes passed over between tokens and inside strings: whitespace, and strings
//!   as runs of plain bytes between escapes (validated, or skipped in text already valid).
//! - `walk`: text already validated: skipping a value, the members of an object, the
//!   elements of an array, and the ends of containers found in one pass.
//! - `index`: the members of objects that validation records, so lookups skip nothing.

#[cfg(test)]
mod against_bytes;
#[cfg(any(target_arch = "x86_64", test, fuzzing))]
mod blocks;
#[cfg(any(test, fuzzing))]
pub mod check;
#[cfg(any(target_arch = "x86_64", test, fuzzing))]
mod grammar;
mod index;
mod runs;
#[cfg(any(target_arch = "x86_64", test, fuzzing))]
mod structurals;
mod validate;
mod walk;

pub use index::MemberIndex;
pub use runs::{skip_string, skip_ws};
pub use validate::{validate, validate_indexed, SyntaxError};
pub use walk::{elements, elements_with, members, members_with, skip, Ends, Indexed, Member};
