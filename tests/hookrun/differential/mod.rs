//! The differential suite: hookrun and the reference (adnanh/webhook 2.8.0, `/usr/bin/webhook`
//! or `$HOOKRUN_REFERENCE`) run side by side on the same hooks files and flags; each case sends
//! the same request to both and compares status, body, Content-Type and other headers, and what
//! the hook's command received (recorded by `recorder.py`). Cases are grouped by hooks file,
//! one server pair per group. Deliberate differences (README "Compatibility") assert both
//! sides explicitly.
//!
//! Run: `cargo test --test hookrun differential` (part of `scripts/test`). Without the
//! reference installed (and `HOOKRUN_REFERENCE` unset) the groups are skipped. Debugging:
//! `DIFF_SHOW=<part of a case name>` prints both answers and records of matching cases,
//! `DIFF_TIMING=1` the time each case took (both with `-- --nocapture`).

mod case;
mod compare;
mod http;
mod pair;
mod record;
mod sign;

mod bodies;
mod config;
mod deliberate;
mod exec;
mod lenient;
mod multipart;
mod rancher;
mod rejected;
mod reload;
mod responses;
mod routing;
mod rules;
mod signatures;
mod sources;
mod startup;
mod template_cases;
mod templates;
