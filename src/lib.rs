//! hookrun: a rule-driven HTTP hook runner, a drop-in replacement for adnanh/webhook 2.8,
//! built for continuous deployment of containers.
//!
//! # Layout
//! - `config`: hooks files (files, folders, globs, templates) → validated `HookSet`.
//! - `registry`: registry and CI push events → normalised image pushes.
//! - `request`: an incoming request's headers, query and parsed body; parameter lookup.
//! - `rules`: evaluates trigger rules against a request.
//! - `exec`: runs a command: process group, timeout, output capture, reaping.
//! - `jobs`: job records, per-hook concurrency modes, queues and the job history.
//! - `server`: HTTP: routing, the hook handler, replies, the jobs endpoints, limits, TLS,
//!   graceful shutdown.
//! - `notify`: notifications of finished jobs: e-mail, chat and JSON webhooks, Docker Hub
//!   callbacks; delivery with retries and rate limits; the `notify` subcommand.
//! - `reload`: watches hooks files and signals, swaps the hook set atomically.
//! - `cli`: command-line flags (single and double dash), the `validate` subcommand.

pub mod cli;
pub mod config;
pub mod exec;
pub mod jobs;
pub mod notify;
pub mod registry;
pub mod reload;
pub mod request;
pub mod rules;
pub mod server;
