//! Reading JSON text without building anything. Every function here is linear in the bytes it
//! reads and allocates at most the depth stack (or, for [`Ends`], a span per container).
//!
//! - `validate`: Go's scanner (grammar, numbers, literals, the 10,000-level depth limit, errors
//!   in Go's words at Go's offsets), counting values and feeding the member index.
//! - `runs`: the bytes passed over between tokens and inside strings: whitespace, and strings
//!   as runs of plain bytes between escapes (validated, or skipped in text already valid).
//! - `walk`: text already validated: skipping a value, the members of an object, the
//!   elements of an array, and the ends of containers found in one pass.
//! - `index`: the members of objects that validation records, so lookups skip nothing.

mod index;
mod runs;
mod validate;
mod walk;

pub use index::MemberIndex;
pub use runs::{skip_string, skip_ws};
pub use validate::{validate, validate_indexed, SyntaxError};
pub use walk::{elements, elements_with, members, members_with, skip, Ends, Indexed, Member};
