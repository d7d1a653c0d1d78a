//! The server's flags (`hookrun` without a subcommand): the reference's, with its names and
//! defaults, then hookrun's own under headings of their own, each with the type its value is
//! parsed into.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::values::{duration, parse_go_bool, size_usize, StateLocation};
use super::{LogFormat, MethodList, OptionalPath, ResponseHeader};
use crate::config;
use crate::jobs;
use crate::notify::{self, cli::SmtpArgs};
use crate::server::tls::{CipherSuites, TlsMinVersion};

/// The help heading of the reference's flags; hookrun's own follow under their own headings.
pub const WEBHOOK_FLAGS: &str = "Flags of adnanh/webhook 2.8 (same names, same defaults)";
const SERVING: &str = "Serving (hookrun)";
const HOOKS_FILES: &str = "Hooks files (hookrun)";
const LOGGING: &str = "Logging (hookrun)";
const JOBS: &str = "Jobs (hookrun)";
const HISTORY: &str = "History (hookrun)";
const NOTIFICATIONS: &str = "Notifications (hookrun)";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// address to serve on; 0.0.0.0 is every interface
    #[arg(long, value_name = "IP", default_value = "0.0.0.0", help_heading = WEBHOOK_FLAGS)]
    pub ip: String,
    /// port to serve hooks on
    #[arg(long, value_name = "N", default_value_t = 9000, help_heading = WEBHOOK_FLAGS)]
    pub port: u16,
    /// hooks file, folder of them or glob; repeatable
    #[arg(long = "hooks", value_name = "PATH", default_value = "hooks.json", help_heading = WEBHOOK_FLAGS)]
    pub hooks: Vec<String>,
    /// serve a captainhook config folder: POST /NAME runs NAME.json
    ///
    /// Instead of -hooks: each NAME.json of bketelsen/captainhook's -configdir is served at
    /// POST /NAME, its scripts run in order with the same timeouts, jobs and reloads as hooks.
    #[arg(long = "captainhook", value_name = "DIR", default_value = "", conflicts_with = "hooks", help_heading = HOOKS_FILES)]
    pub captainhook: String,
    /// -captainhook: answer with the scripts' results, as captainhook -echo
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = HOOKS_FILES)]
    pub echo: bool,
    /// log every request and job, not only problems, start and stop
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub verbose: bool,
    /// log each request in detail (more than -verbose)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub debug: bool,
    /// reload hooks files when they change
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub hotreload: bool,
    /// render hooks files as Go templates first
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub template: bool,
    /// hooks are served at /PREFIX/{id}, or at /{id} if empty
    #[arg(long, value_name = "PREFIX", default_value = "hooks", help_heading = WEBHOOK_FLAGS)]
    pub urlprefix: String,
    /// serve HTTPS, with -cert and -key
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub secure: bool,
    /// HTTPS certificate chain (PEM)
    #[arg(long, value_name = "FILE", default_value = "cert.pem", help_heading = WEBHOOK_FLAGS)]
    pub cert: PathBuf,
    /// HTTPS private key (PEM)
    #[arg(long, value_name = "FILE", default_value = "key.pem", help_heading = WEBHOOK_FLAGS)]
    pub key: PathBuf,
    /// TLS 1.2 cipher suites, comma-separated (see -list-cipher-suites)
    #[arg(long = "cipher-suites", value_name = "LIST", default_value = "", help_heading = WEBHOOK_FLAGS)]
    pub cipher_suites: CipherSuites,
    /// minimum TLS version: 1.2 or 1.3
    #[arg(long = "tls-min-version", value_name = "VERSION", default_value = "1.2", help_heading = WEBHOOK_FLAGS)]
    pub tls_min_version: TlsMinVersion,
    /// list the TLS 1.2 cipher suites and exit
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub list_cipher_suites: bool,
    /// response header for hook responses; repeatable
    #[arg(long = "header", value_name = "NAME=VALUE", help_heading = WEBHOOK_FLAGS)]
    pub header: Vec<ResponseHeader>,
    /// use the client's X-Request-Id header as the request id
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub x_request_id: bool,
    /// keep at most N characters of X-Request-Id (0: no limit)
    #[arg(long = "x-request-id-limit", value_name = "N", default_value_t = 0, help_heading = WEBHOOK_FLAGS)]
    pub x_request_id_limit: usize,
    /// memory a multipart form's values get, plus 10 MiB
    #[arg(long = "max-multipart-mem", value_name = "BYTES", default_value_t = 1 << 20, hide_default_value = true, help_heading = WEBHOOK_FLAGS)]
    pub max_multipart_mem: i64,
    /// user id to switch to after opening the port (with -setgid)
    #[arg(long, value_name = "UID", default_value_t = 0, help_heading = WEBHOOK_FLAGS)]
    pub setuid: u32,
    /// group id to switch to after opening the port (with -setuid)
    #[arg(long, value_name = "GID", default_value_t = 0, help_heading = WEBHOOK_FLAGS)]
    pub setgid: u32,
    /// methods hooks accept unless they set theirs (e.g. POST,PUT)
    #[arg(long = "http-methods", value_name = "LIST", default_value = "", help_heading = WEBHOOK_FLAGS)]
    pub http_methods: MethodList,
    /// write the process id to FILE
    #[arg(long, value_name = "FILE", default_value = "", help_heading = WEBHOOK_FLAGS)]
    pub pidfile: OptionalPath,
    /// append the log to FILE instead of standard error; implies -verbose
    #[arg(long, value_name = "FILE", default_value = "", help_heading = WEBHOOK_FLAGS)]
    pub logfile: OptionalPath,
    /// start even if hooks cannot be loaded, serving none until a reload
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub nopanic: bool,
    /// print the version and exit
    #[arg(long, short = 'V', action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = WEBHOOK_FLAGS)]
    pub version: bool,
    /// serve on this Unix socket instead of -ip and -port
    #[arg(long, value_name = "PATH", default_value = "", help_heading = SERVING)]
    pub socket: OptionalPath,
    /// serve /healthz, /readyz and /metrics on ADDR (host:port) only
    ///
    /// Without it they are served next to the hooks. On their own address they need not be
    /// public, and /readyz answers 503 while the server drains.
    #[arg(long = "health-address", value_name = "ADDR", default_value = "", help_heading = SERVING)]
    pub health_address: String,
    /// largest request body accepted; larger ones get 413
    #[arg(long = "max-body-size", value_name = "SIZE", default_value = "10MiB", value_parser = config::parse_size, help_heading = SERVING)]
    pub max_body_size: u64,
    /// memory for bodies in work; more wait, chunked get 503
    #[arg(long = "max-body-memory", value_name = "SIZE", default_value = "105MiB", value_parser = config::parse_size, help_heading = SERVING)]
    pub max_body_memory: u64,
    /// time a client gets to send the request headers
    #[arg(long = "header-timeout", value_name = "DURATION", default_value = "10s", value_parser = duration, help_heading = SERVING)]
    pub header_timeout: Duration,
    /// time a client gets to send the request body; then 408
    #[arg(long = "body-timeout", value_name = "DURATION", default_value = "60s", value_parser = duration, help_heading = SERVING)]
    pub body_timeout: Duration,
    /// connections served at once; more wait to be accepted
    #[arg(long = "max-connections", value_name = "N", default_value_t = 1024, help_heading = SERVING)]
    pub max_connections: usize,
    /// start whenever adnanh/webhook would; serve broken hooks as it does
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, help_heading = HOOKS_FILES)]
    pub lenient: bool,
    /// text, or json: one object per line
    #[arg(long = "log-format", value_name = "FORMAT", value_enum, default_value = "text", hide_possible_values = true, help_heading = LOGGING)]
    pub log_format: LogFormat,
    /// timeout of commands whose hook sets none (e.g. 90s, 10m)
    #[arg(long = "command-timeout", value_name = "DURATION", default_value = "30m", value_parser = duration, help_heading = JOBS)]
    pub command_timeout: Duration,
    /// delay from SIGTERM to SIGKILL when stopping a command
    #[arg(long = "kill-grace", value_name = "DURATION", default_value = "5s", value_parser = duration, help_heading = JOBS)]
    pub kill_grace: Duration,
    /// commands running at once; more wait in their queues
    #[arg(long = "max-jobs", value_name = "N", default_value_t = jobs::DEFAULT_MAX_JOBS, help_heading = JOBS)]
    pub max_jobs: usize,
    /// requests of one hook waiting to run; more get 429
    #[arg(long = "max-queue", value_name = "N", default_value_t = jobs::DEFAULT_MAX_QUEUE, help_heading = JOBS)]
    pub max_queue: usize,
    /// finished jobs kept for GET /jobs/{id}
    #[arg(long = "job-history", value_name = "N", default_value_t = 1000, help_heading = JOBS)]
    pub job_history: usize,
    /// output kept of finished jobs, the oldest dropped first
    #[arg(long = "job-history-size", value_name = "SIZE", default_value = "64MiB", value_parser = size_usize, help_heading = JOBS)]
    pub job_history_size: usize,
    /// show commands' output at /jobs/{id}; =false hides it
    #[arg(long = "job-output", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_go_bool, help_heading = JOBS)]
    pub job_output: bool,
    /// bytes kept of a command's output (stdout and stderr)
    #[arg(long = "max-output", value_name = "SIZE", default_value = "1MiB", value_parser = size_usize, help_heading = JOBS)]
    pub max_output: usize,
    /// time running jobs get to finish after SIGTERM or SIGINT
    #[arg(long = "shutdown-timeout", value_name = "DURATION", default_value = "30s", value_parser = duration, help_heading = JOBS)]
    pub shutdown_timeout: Duration,
    /// keep the job and deploy history in FOLDER/hookrun.db, or in PostgreSQL
    ///
    /// Also written sqlite:///FOLDER. A postgres://user@host/db?sslmode=... URL keeps it in
    /// PostgreSQL, shared by several replicas. Without it history lives in memory and no file
    /// is created.
    #[arg(long = "state", value_name = "FOLDER|URL", default_value = "", value_parser = StateLocation, help_heading = HISTORY)]
    pub state: crate::store::Location,
    /// file holding the PostgreSQL password of -state
    ///
    /// Default: the systemd credential hookrun-state-password, else PGPASSWORD.
    #[arg(long = "state-password-file", value_name = "PATH", default_value = "", help_heading = HISTORY)]
    pub state_password_file: OptionalPath,
    /// with PostgreSQL, a replica silent this long is dead
    ///
    /// Its jobs become interrupted and the other replicas take its queue.
    #[arg(long = "replica-lease", value_name = "DURATION", default_value = "15s", value_parser = duration, help_heading = HISTORY)]
    pub replica_lease: Duration,
    /// jobs and deploys older than this are deleted
    #[arg(long = "state-max-age", value_name = "DURATION", default_value = "90days", value_parser = duration, help_heading = HISTORY)]
    pub state_max_age: Duration,
    /// the history is kept within this size, oldest jobs first
    #[arg(long = "state-max-size", value_name = "SIZE", default_value = "1GiB", value_parser = config::parse_size, help_heading = HISTORY)]
    pub state_max_size: u64,
    /// time a delivery id is remembered (copies run nothing)
    #[arg(long = "delivery-window", value_name = "DURATION", default_value = "24h", value_parser = duration, help_heading = HISTORY)]
    pub delivery_window: Duration,
    /// admin token file (or its sha256:HEX) for /ui and the admin API
    ///
    /// The token guards /ui, /jobs, /deploys and /admin; without the flag, the systemd
    /// credential hookrun-admin-token is used if given.
    #[arg(long = "admin-token-file", value_name = "FILE", default_value = "", help_heading = HISTORY)]
    pub admin_token_file: OptionalPath,
    #[command(flatten, next_help_heading = NOTIFICATIONS)]
    pub smtp: SmtpArgs,
    /// messages a minute to a hook's target; more go in a summary
    #[arg(long = "notify-rate-limit", value_name = "N", default_value_t = notify::delivery::DEFAULT_RATE_LIMIT, value_parser = clap::value_parser!(u32).range(1..), help_heading = NOTIFICATIONS)]
    pub notify_rate_limit: u32,
    /// another URL prefix Docker Hub callbacks may go to; repeatable
    ///
    /// Besides Docker Hub's own https://registry.hub.docker.com/u/…/hook/…/.
    #[arg(long = "dockerhub-callback-allow", value_name = "URL", value_parser = callback_prefix, help_heading = NOTIFICATIONS)]
    pub dockerhub_callback_allow: Vec<String>,
}

/// `-dockerhub-callback-allow`: an http(s) URL prefix without credentials.
fn callback_prefix(s: &str) -> Result<String, String> {
    notify::dockerhub::CallbackGuard::new(&[s.to_string()])?;
    Ok(s.to_string())
}
