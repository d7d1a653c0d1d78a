//! Notifications: tells people (mail, chat) and machines (signed JSON, Docker Hub callbacks) how a
//! job ended, without ever delaying a hook's response or a job.
//!
//! # Layout
//! - `message`: what a notification says about a job ([`Message`]), and the [`Notice`] every
//!   channel renders (a job, a rate-limit summary or a free text from `hookrun notify`).
//! - `compose`: the built-in subject and bodies (plain text, HTML, Markdown dialects).
//! - `template`: the seam through which user templates (Go template syntax) render subjects and
//!   bodies.
//! - `config`: a hook's `notify` list as written (serde, kebab-case), its validation with field
//!   paths, and the runtime [`Target`]s.
//! - `email`: SMTP settings (`-smtp` URL, CA, password file) and sending with lettre + rustls.
//! - `webhook`: chat and JSON formats (bodies, signatures) and sending them over HTTP.
//! - `dockerhub`: Docker Hub's `callback_url`: its body and the guard against forged URLs.
//! - `redact`: URLs with their tokens masked, for every log line, error and attempt record.
//! - `delivery`: the queue, delivery tasks with retries, attempt reports and shutdown.
//! - `dispatch`: the dispatcher: rate limits per hook and target, held summaries.
//! - `cli`: the `hookrun notify` subcommand (and seed 001's `MAIL_*` variables).
//!
//! # Theory of operation
//! The caller hands a finished job's [`Message`] and the hook's targets to
//! [`Notifier::job_finished`], which only puts it on a bounded queue and returns. A background
//! dispatcher picks the targets that match the job's status, applies each (hook, target) pair's
//! rate limit — what exceeds it is held and summarised in one message once the window frees —
//! and starts one delivery task per message. A delivery renders the message afresh for every
//! attempt (timestamps and signatures must be current), retries on the schedule, and reports each
//! attempt through the callback given to [`Notifier::start`] (the job record stores it) and the
//! log, with secrets masked. [`Notifier::shutdown`] stops taking work, sends held summaries,
//! lets retries run while its deadline allows (one due later is made at once, as the last) and
//! gives up on what is still being sent at the deadline.

mod attempts;
pub mod cli;
pub mod compose;
pub mod config;
pub mod delivery;
mod dispatch;
pub mod dockerhub;
pub mod email;
pub mod message;
pub mod redact;
pub mod template;
pub mod webhook;

pub use config::{Target, TargetConfig};
pub use delivery::{Attempt, AttemptOutcome, Notifier, Settings};
pub use message::{Message, Notice, Status};
