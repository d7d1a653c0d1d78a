//! hookrun: a rule-driven HTTP hook runner, a drop-in replacement for adnanh/webhook 2.8,
//! built for continuous deployment of containers.
//!
//! # Layout
//! Dependencies point one way: `server` → `request`, `rules`, `jobs`, `exec` → `config`.
//! - `config`: hooks files (files, folders, globs, templates; captainhook run books in
//!   `captainhook`) → a validated `HookSet`; `raw`
//!   mirrors the file (and is the only list of its keys), `validate` and `compile_rules` build
//!   runtime hooks, `command` finds a hook's program, `verdict` decides whether the server
//!   starts (and is what `hookrun validate` prints), `LiveHooks` is the set being served.
//! - `registry`: registry and CI push events → normalised image pushes.
//! - `request`: an incoming request as hooks see it: headers, query, parsed body; value lookup.
//! - `rules`: evaluates compiled trigger rules against a request and the image push it is for.
//! - `exec`: runs one command: process group (and cgroup v2 where writable), timeout, output
//!   capture, reaping.
//! - `jobs`: job ids and records, per-hook concurrency modes, queues, the job history, and
//!   how a run ended (`Ending`); hands every job change to the `store`; `serial` and `latest`
//!   across replicas sharing a PostgreSQL store (`replicas`).
//! - `store`: durable history (SQLite or PostgreSQL with `-state`, else memory): jobs, the
//!   commands kept for reruns, deploy records, delivery ids, paused hooks; migrations and
//!   retention; the queue replicas share.
//! - `server`: HTTP: `run` (serve and drain), connections, routing, the hook handler, success
//!   replies, the error map, the jobs endpoints, TLS, job notifications (`notifications`); the
//!   admin side (`admin_auth`, `admin_api`, `dashboard`): credentials, listings,
//!   rerun/rollback/pause, the `/ui` pages.
//! - `reload`: watches hooks files and signals, swaps the live hook set.
//! - `runbook`: `hookrun captainhook-run`, the job of a `-captainhook` run book: its scripts
//!   in order, answered as captainhook answers.
//! - `cli`: command-line flags (single and double dash, typed values, `HOOKRUN_*` environment
//!   variables), help and usage errors, the `validate` subcommand.
//! - `metrics`: the Prometheus metrics (`/metrics`): names, labels, what is counted.
//! - `logging`: log lines (text or JSON, every value escaped and capped) and the levels.
//! - `systemd`: socket activation (the inherited listener) and the notify protocol.
//! - `allocator`: sets glibc's malloc up so that large blocks go back to the kernel when freed.
//! - `fault_around`: has the kernel map the process's code and constants a page per fault,
//!   not 64 KiB around each.
//! - `clean_pages`: once start-up is done, drops the file pages it mapped (code, constants)
//!   that are still the page cache's, never a page the process wrote.
//! - `maps`: the process's mappings as `/proc/PID/maps` lists them (for the two above).
//! - `notify`: notifications of finished jobs: e-mail, chat and JSON webhooks, Docker Hub
//!   callbacks; delivery with retries and rate limits; the `notify` subcommand.

pub mod allocator;
pub mod clean_pages;
pub mod cli;
pub mod config;
pub mod exec;
pub mod fault_around;
pub mod jobs;
pub mod logging;
pub mod maps;
pub mod metrics;
pub mod notify;
pub mod registry;
pub mod reload;
pub mod request;
pub mod rules;
pub mod runbook;
pub mod server;
pub mod store;
pub mod systemd;
