//! Hooks configuration: finding hooks files (files, folders, globs), rendering templates,
//! parsing JSON/YAML, validating into a `HookSet`. Knows nothing about sockets or requests.
//! `loading` gathers the files into one set (`hooks_file` reads each), `hook_set` holds the
//! set served and swaps it on reload, `validate` turns each raw hook into a `Hook`.

mod arguments;
pub mod captainhook;
pub mod command;
mod compile_rules;
mod fingerprint;
mod goregex;
pub mod hook;
mod hook_set;
mod hooks_file;
mod keys;
mod loading;
pub mod problem;
pub mod raw;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod reading_check;
pub mod registry_event;
mod scalar;
mod source;
mod stream;
pub mod template;
mod units;
mod unknown_keys;
pub mod validate;
pub mod verdict;

pub use arguments::canonical_header_key;
pub use fingerprint::{files_fingerprint, fingerprint};
pub use hook::{Concurrency, Hook, Parameter, Rule};
pub use hook_set::{HookSet, LiveHooks};
pub use hooks_file::load_file;
pub use loading::{load, log_problems, LoadOptions, Loaded};
pub use problem::{Problem, Severity};
pub use source::expand_sources;
pub use units::{parse_duration, parse_size};

#[cfg(test)]
mod loading_tests;
