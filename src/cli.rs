//! Command-line flags: the reference's flags with its defaults, accepted with one dash or two
//! (`-hooks x`, `--hooks x`, `-hooks=x`), plus hookrun's execution-control flags and the
//! `validate` subcommand. Values are parsed into their types here (durations, sizes, methods,
//! headers, TLS options), so a bad value is a usage error before anything starts; the
//! `*_settings` methods hand them to the server, the job manager and the loader.

pub(crate) mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser};

use crate::config::{self, LoadOptions, UnknownKeys};
use crate::jobs;
use crate::server::tls::{CipherSuites, TlsMinVersion};
use crate::server::{self, tls};

use values::{duration, parse_go_bool, size_usize, StateLocation};
pub use values::{LogFormat, MethodList, OptionalPath, ResponseHeader};

const ABOUT: &str =
    "hookrun: a rule-driven HTTP hook runner, drop-in compatible with adnanh/webhook 2.8";

#[derive(Debug, Parser)]
#[command(name = "hookrun", about = ABOUT, disable_version_flag = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Subcommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Check hooks files and print every problem with file, hook id and field path.
    Validate(ValidateArgs),
    /// Send a notification (mail or webhook) with the body read from standard input.
    Notify(Box<crate::notify::cli::NotifyArgs>),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Hooks files, folders or globs.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Parse hooks files as Go templates first.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub template: bool,
    /// Report unknown hook keys as warnings instead of errors.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub lenient: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// IP the webhook should serve hooks on.
    #[arg(long, default_value = "0.0.0.0")]
    pub ip: String,
    /// Port the webhook should serve hooks on.
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// Path to a hooks file (JSON or YAML), a folder of them, or a glob; repeatable.
    /// Without it, `hooks.json` in the working directory, as the reference.
    #[arg(long = "hooks", value_name = "PATH", default_value = "hooks.json")]
    pub hooks: Vec<String>,
    /// Show verbose output (info level).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub verbose: bool,
    /// Show debug output.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub debug: bool,
    /// Watch hooks files for changes and reload them automatically.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub hotreload: bool,
    /// Parse hooks files as Go templates.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub template: bool,
    /// URL prefix for served hooks (protocol://server:port/PREFIX/:hook-id).
    #[arg(long, default_value = "hooks")]
    pub urlprefix: String,
    /// Use HTTPS instead of HTTP.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub secure: bool,
    /// Path to the HTTPS certificate PEM file.
    #[arg(long, default_value = "cert.pem")]
    pub cert: PathBuf,
    /// Path to the HTTPS certificate private key PEM file.
    #[arg(long, default_value = "key.pem")]
    pub key: PathBuf,
    /// Comma-separated list of TLS 1.2 cipher suites (see -list-cipher-suites).
    #[arg(long = "cipher-suites", default_value = "")]
    pub cipher_suites: CipherSuites,
    /// Minimum TLS version (1.2, 1.3).
    #[arg(long = "tls-min-version", default_value = "1.2")]
    pub tls_min_version: TlsMinVersion,
    /// List available TLS cipher suites and exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub list_cipher_suites: bool,
    /// Response header to return, as name=value; repeatable.
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub header: Vec<ResponseHeader>,
    /// Use the X-Request-Id header, if present, as the request id.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub x_request_id: bool,
    /// Truncate X-Request-Id to this many characters (0: no limit).
    #[arg(long = "x-request-id-limit", default_value_t = 0)]
    pub x_request_id_limit: usize,
    /// Accepted for compatibility: multipart bodies are bounded by -max-body-size instead.
    #[arg(long = "max-multipart-mem", default_value_t = 1 << 20)]
    pub max_multipart_mem: i64,
    /// Set user ID after opening the listening port; must be used with -setgid.
    #[arg(long, default_value_t = 0)]
    pub setuid: u32,
    /// Set group ID after opening the listening port; must be used with -setuid.
    #[arg(long, default_value_t = 0)]
    pub setgid: u32,
    /// Default allowed HTTP methods, comma-separated (e.g. "POST").
    #[arg(long = "http-methods", default_value = "")]
    pub http_methods: MethodList,
    /// Create a PID file at this path.
    #[arg(long, default_value = "")]
    pub pidfile: OptionalPath,
    /// Send log output to a file; implies -verbose.
    #[arg(long, default_value = "")]
    pub logfile: OptionalPath,
    /// Serve on this Unix socket instead of -ip/-port.
    #[arg(long, default_value = "")]
    pub socket: OptionalPath,
    /// Start even if hooks cannot be loaded (the reference's -nopanic).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub nopanic: bool,
    /// Print the version and exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub version: bool,
    /// Unknown keys in hooks files are warnings instead of errors (the reference's leniency).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub lenient: bool,
    /// Log format: text or json.
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Default command timeout for hooks without command-timeout (e.g. 90s, 10m, 1h).
    #[arg(long = "command-timeout", default_value = "30m", value_parser = duration)]
    pub command_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a command's process group is stopped.
    #[arg(long = "kill-grace", default_value = "5s", value_parser = duration)]
    pub kill_grace: Duration,
    /// Commands running at once across all hooks; more wait in their queues.
    #[arg(long = "max-jobs", default_value_t = 64)]
    pub max_jobs: usize,
    /// Requests of one hook allowed to wait (hooks can override with max-queue).
    #[arg(long = "max-queue", default_value_t = 100)]
    pub max_queue: usize,
    /// Finished jobs kept for GET /jobs/{id}.
    #[arg(long = "job-history", default_value_t = 1000)]
    pub job_history: usize,
    /// Output kept across finished jobs (e.g. 64MiB); the oldest jobs are forgotten first.
    #[arg(long = "job-history-size", default_value = "64MiB", value_parser = size_usize)]
    pub job_history_size: usize,
    /// Show commands' output in GET /jobs/{id} and /jobs/{id}/output (=false hides it).
    #[arg(long = "job-output", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_go_bool)]
    pub job_output: bool,
    /// Bytes kept of each of a command's stdout and stderr (e.g. 1MiB).
    #[arg(long = "max-output", default_value = "1MiB", value_parser = size_usize)]
    pub max_output: usize,
    /// Time running jobs get to finish after SIGTERM/SIGINT before they are killed.
    #[arg(long = "shutdown-timeout", default_value = "30s", value_parser = duration)]
    pub shutdown_timeout: Duration,
    /// Largest request body accepted (413 beyond), e.g. 10MiB.
    #[arg(long = "max-body-size", default_value = "10MiB", value_parser = config::parse_size)]
    pub max_body_size: u64,
    /// Time a client gets to send the request headers.
    #[arg(long = "header-timeout", default_value = "10s", value_parser = duration)]
    pub header_timeout: Duration,
    /// Time a client gets to send the request body.
    #[arg(long = "body-timeout", default_value = "60s", value_parser = duration)]
    pub body_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    #[arg(long = "max-connections", default_value_t = 1024)]
    pub max_connections: usize,
    /// Keep job and deploy history in this folder (SQLite, hookrun.db; or sqlite:///folder),
    /// or in PostgreSQL shared by several replicas (postgres://user@host/db?sslmode=...);
    /// without it history lives in memory and no file is created.
    #[arg(long = "state", value_name = "FOLDER|URL", default_value = "", value_parser = StateLocation)]
    pub state: crate::store::Location,
    /// File holding the PostgreSQL password of -state; default: the systemd credential
    /// hookrun-state-password, else PGPASSWORD.
    #[arg(long = "state-password-file", default_value = "")]
    pub state_password_file: OptionalPath,
    /// With PostgreSQL: a replica that has not renewed its lease for this long is taken for
    /// dead (its jobs become interrupted, others take its queue).
    #[arg(long = "replica-lease", default_value = "15s", value_parser = duration)]
    pub replica_lease: Duration,
    /// Finished jobs and deploys older than this are deleted from the state (e.g. 90d).
    #[arg(long = "state-max-age", default_value = "90days", value_parser = duration)]
    pub state_max_age: Duration,
    /// The state database is kept within this size; the oldest jobs go first (e.g. 1GiB).
    #[arg(long = "state-max-size", default_value = "1GiB", value_parser = config::parse_size)]
    pub state_max_size: u64,
    /// How long a delivery id is remembered: a copy within it runs nothing (e.g. 24h).
    #[arg(long = "delivery-window", default_value = "24h", value_parser = duration)]
    pub delivery_window: Duration,
    /// File holding the admin token (or sha256:<hex> of it) for /ui, /jobs, /deploys and
    /// /admin; default: the systemd credential hookrun-admin-token, if given.
    #[arg(long = "admin-token-file", default_value = "")]
    pub admin_token_file: OptionalPath,
}

impl ServeArgs {
    pub fn server_settings(&self) -> server::Settings {
        server::Settings {
            url_prefix: self.urlprefix.trim_matches('/').to_string(),
            response_headers: self
                .header
                .iter()
                .map(|h| (h.0.clone(), h.1.clone()))
                .collect(),
            default_methods: self.http_methods.0.clone(),
            use_x_request_id: self.x_request_id,
            x_request_id_limit: self.x_request_id_limit,
            max_body: self.max_body_size,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections.max(1),
            command_timeout: self.command_timeout,
            kill_grace: self.kill_grace,
            shutdown_timeout: self.shutdown_timeout,
            retry_after: Duration::from_secs(10),
            job_output: self.job_output,
        }
    }

    pub fn job_limits(&self) -> jobs::JobLimits {
        jobs::JobLimits {
            max_jobs: self.max_jobs.max(1),
            max_queue: self.max_queue,
            history: self.job_history,
            max_output: self.max_output,
            history_bytes: self.job_history_size,
        }
    }

    pub fn load_options(&self) -> LoadOptions {
        load_options(self.template, self.lenient)
    }

    pub fn store_settings(&self) -> crate::store::StoreSettings {
        crate::store::StoreSettings {
            location: self.state.clone(),
            max_age: self.state_max_age,
            max_bytes: self.state_max_size,
            delivery_window: self.delivery_window,
            memory_records: self.job_history.max(1),
            lease: self.replica_lease,
        }
    }

    /// The TLS acceptor for `-secure`, from `-cert`, `-key` and the TLS flags.
    pub fn tls_acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, tls::TlsError> {
        tls::acceptor(
            &self.cert,
            &self.key,
            self.tls_min_version,
            &self.cipher_suites,
        )
    }
}

impl ValidateArgs {
    pub fn load_options(&self) -> LoadOptions {
        load_options(self.template, self.lenient)
    }
}

fn load_options(template: bool, lenient: bool) -> LoadOptions {
    LoadOptions {
        template,
        unknown_keys: if lenient {
            UnknownKeys::Warn
        } else {
            UnknownKeys::Error
        },
    }
}

/// Every long flag name, for the single-dash rewrite.
fn long_names() -> Vec<String> {
    use clap::CommandFactory;
    let mut names = vec!["help".to_string()];
    let cmd = Cli::command();
    let mut collect = |c: &clap::Command| {
        for a in c.get_arguments() {
            if let Some(l) = a.get_long() {
                names.push(l.to_string());
            }
        }
    };
    collect(&cmd);
    for sub in cmd.get_subcommands() {
        collect(sub);
    }
    names
}

/// Rewrites Go-style `-flag` to `--flag` for known long flags so both spellings parse.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let names = long_names();
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            let Some(s) = arg.to_str() else {
                return arg;
            };
            if i == 0 || s.starts_with("--") || !s.starts_with('-') || s.len() < 3 {
                return arg;
            }
            let name = s[1..].split('=').next().unwrap_or_default();
            if names.iter().any(|n| n == name) {
                OsString::from(format!("-{s}"))
            } else {
                arg
            }
        })
        .collect()
}

pub fn parse() -> Cli {
    Cli::parse_from(normalize_args(std::env::args_os()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize_args(args.iter().map(OsString::from))).unwrap()
    }

    #[test]
    fn single_and_double_dash() {
        let c = parse(&[
            "hookrun",
            "-hooks",
            "a.json",
            "--hooks=b.json",
            "-hooks=c.json",
            "-verbose",
            "-port",
            "9001",
        ]);
        assert_eq!(c.serve.hooks, ["a.json", "b.json", "c.json"]);
        assert!(c.serve.verbose);
        assert_eq!(c.serve.port, 9001);
        assert_eq!(c.serve.ip, "0.0.0.0");
        assert_eq!(c.serve.urlprefix, "hooks");
    }

    #[test]
    fn go_booleans_take_equals_only() {
        let c = parse(&[
            "hookrun",
            "-verbose=false",
            "-hotreload=true",
            "-x-request-id",
        ]);
        assert!(!c.serve.verbose);
        assert!(c.serve.hotreload);
        assert!(c.serve.x_request_id);
    }

    #[test]
    fn go_boolean_spellings() {
        for (arg, want) in [
            ("-verbose=1", true),
            ("-verbose=t", true),
            ("-verbose=TRUE", true),
            ("-verbose=True", true),
            ("-verbose=0", false),
            ("-verbose=F", false),
            ("-verbose=False", false),
        ] {
            assert_eq!(parse(&["hookrun", arg]).serve.verbose, want, "{arg}");
        }
        assert!(Cli::try_parse_from(normalize_args(
            ["hookrun", "-verbose=yes"].iter().map(OsString::from)
        ))
        .is_err());
    }

    #[test]
    fn validate_subcommand() {
        let c = parse(&["hookrun", "validate", "-template", "a.json", "b.yaml"]);
        match c.subcommand {
            Some(Subcommand::Validate(v)) => {
                assert!(v.template);
                assert_eq!(v.files, ["a.json", "b.yaml"]);
            }
            _ => panic!("expected validate"),
        }
    }
}
