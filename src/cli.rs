//! Command-line flags: the reference's flags with its defaults, accepted with one dash or two
//! (`-hooks x`, `--hooks x`, `-hooks=x`), plus hookrun's own flags and the `validate`
//! subcommand. Every flag of the server and of `validate` is also read from its environment
//! variable (`-max-jobs` from `HOOKRUN_MAX_JOBS`; the command line wins). Values are parsed into
//! their types here (durations, sizes, methods, headers, TLS options), so a bad value is a usage
//! error before anything starts; the `*_settings` methods (`serve_settings`) hand them to the
//! server, the job manager and the loader. `argv` reads the command line the reference's way (and
//! suggests the flag a typo meant), `help` writes the help and the usage errors.

mod argv;
mod help;
mod serve_settings;
pub(crate) mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser};

use crate::config;
use crate::jobs;
use crate::notify::{self, cli::SmtpArgs};
use crate::server::tls::{CipherSuites, TlsMinVersion};

use values::{duration, parse_go_bool, size_usize, StateLocation};
pub use values::{LogFormat, MethodList, OptionalPath, ResponseHeader};

const ABOUT: &str = "a rule-driven HTTP hook runner, drop-in compatible with adnanh/webhook 2.8";

/// The help heading of the reference's flags; hookrun's own follow under their own headings.
pub const WEBHOOK_FLAGS: &str = "Flags of adnanh/webhook 2.8 (same names, same defaults)";
const SERVING: &str = "Serving (hookrun)";
const HOOKS_FILES: &str = "Hooks files (hookrun)";
const LOGGING: &str = "Logging (hookrun)";
const JOBS: &str = "Jobs (hookrun)";
const HISTORY: &str = "History (hookrun)";
const NOTIFICATIONS: &str = "Notifications (hookrun)";

#[derive(Debug, Parser)]
#[command(
    name = "hookrun",
    about = ABOUT,
    disable_version_flag = true,
    disable_help_subcommand = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Subcommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// check hooks files as the server does at start
    #[command(
        long_about = "Checks hooks files exactly as `hookrun` does when it starts: every problem \
                      with its file, hook id and field path, hints for likely mistakes, and \
                      warnings for commands that cannot be found.\n\nExit status: 0 when the \
                      server would start with these files (warnings do not stop it), 1 when it \
                      would refuse to, 2 for a usage error."
    )]
    Validate(ValidateArgs),
    /// send a mail or chat message read from standard input
    Notify(Box<crate::notify::cli::NotifyArgs>),
    /// runs a captainhook run book inside a job (`-captainhook`); not for direct use
    #[command(name = "captainhook-run", hide = true)]
    CaptainhookRun,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// hooks files, folders or globs
    #[arg(required = true, value_name = "PATH")]
    pub files: Vec<String>,
    /// render hooks files as Go templates first
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub template: bool,
    /// check as -lenient loads: would hookrun start and serve these files
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub lenient: bool,
    /// The server's mail settings, checked as the server would (e-mail targets need -smtp).
    #[command(flatten, next_help_heading = "Mail server (as the server's)")]
    pub smtp: SmtpArgs,
}

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

/// What the command line asks for when it is not something to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// `-help`: the text for standard output (exit status 0).
    Help(String),
    /// A usage error: the text for standard error (exit status 2).
    Usage(String),
}

/// Flags that are not read from the environment: they do something once and exit.
const NOT_FROM_ENV: &[&str] = &["help", "version", "list-cipher-suites"];

/// The environment variable a flag is read from: `HOOKRUN_` and its name in upper case with
/// underscores (`-max-jobs` is `HOOKRUN_MAX_JOBS`).
pub fn env_name(flag: &str) -> String {
    format!("HOOKRUN_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// The command line as clap sees it: [`Cli`], with every flag of the server and of `validate`
/// also read from its [`env_name`] (the command line wins).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    fn from_env(arg: clap::Arg) -> clap::Arg {
        match arg.get_long() {
            Some(long) if !NOT_FROM_ENV.contains(&long) => {
                let name = env_name(long);
                arg.env(name)
            }
            _ => arg,
        }
    }
    Cli::command()
        .mut_args(from_env)
        .mut_subcommand("validate", |validate| validate.mut_args(from_env))
}

/// Parses the process's arguments.
pub fn parse() -> Result<Cli, Stop> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first): one dash or two, `-flag value` or `-flag=value`;
/// `-help` anywhere gives the help of the command it follows; an unknown flag or command is a
/// usage error naming the closest known one.
pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Cli, Stop> {
    use clap::FromArgMatches;
    let mut cmd = command();
    cmd.build();
    let (args, path) = argv::prepare(&cmd, args.into_iter().collect())?;
    let matches = cmd
        .try_get_matches_from_mut(&args)
        .map_err(|e| Stop::Usage(help::usage_error(&e, &path, &args)))?;
    Cli::from_arg_matches(&matches).map_err(|e| Stop::Usage(help::usage_error(&e, &path, &args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(args: &[&str]) -> Result<Cli, Stop> {
        parse_from(args.iter().map(OsString::from))
    }

    fn parse(args: &[&str]) -> Cli {
        try_parse(args).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
    }

    fn help(args: &[&str]) -> String {
        match try_parse(args) {
            Err(Stop::Help(text)) => text,
            other => panic!("{args:?} gave no help: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match try_parse(args) {
            Err(Stop::Usage(text)) => text,
            other => panic!("{args:?} is no usage error: {other:?}"),
        }
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
        let err = usage_error(&["hookrun", "-verbose=yes"]);
        assert!(
            err.starts_with("hookrun: invalid value \"yes\" for -verbose"),
            "{err}"
        );
    }

    #[test]
    fn a_value_that_looks_like_a_flag_is_the_value() {
        let c = parse(&["hookrun", "-urlprefix", "-x", "-header", "-Y=1"]);
        assert_eq!(c.serve.urlprefix, "-x");
        assert_eq!(c.serve.header[0].0.as_str(), "-y");
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

    #[test]
    fn version_has_a_short_flag() {
        for flag in ["-V", "-version", "--version"] {
            assert!(parse(&["hookrun", flag]).serve.version, "{flag}");
        }
    }

    #[test]
    fn near_miss_flags_and_commands_get_a_suggestion() {
        for (args, want) in [
            (
                &["hookrun", "-prot", "9000"][..],
                "hookrun: unknown flag -prot (did you mean -port?)",
            ),
            (
                &["hookrun", "--prot=9000"],
                "hookrun: unknown flag --prot=9000 (did you mean -port?)",
            ),
            (
                &["hookrun", "-hotrelaod"],
                "hookrun: unknown flag -hotrelaod (did you mean -hotreload?)",
            ),
            (
                &["hookrun", "-no-such-flag"],
                "hookrun: unknown flag -no-such-flag\n",
            ),
            (
                &["hookrun", "valdate", "x.json"],
                "hookrun: unknown command \"valdate\" (did you mean validate?)",
            ),
            (
                &["hookrun", "validate", "-templat", "x.json"],
                "hookrun validate: unknown flag -templat (did you mean -template?)",
            ),
            (
                &["hookrun", "hooks.json"],
                "(to serve a hooks file, write hookrun -hooks hooks.json)",
            ),
        ] {
            let err = usage_error(args);
            assert!(err.contains(want), "{args:?}: {err}");
        }
        let err = usage_error(&["hookrun", "-hooks", "a.json", "validate", "b.json"]);
        assert!(
            err.starts_with("hookrun: -hooks before validate: validate takes only its own flags"),
            "{err}"
        );
        let err = usage_error(&["hookrun", "validate"]);
        assert!(err.starts_with("hookrun validate: missing PATH"), "{err}");
        assert!(
            err.ends_with("Run 'hookrun validate -help' for the flags."),
            "{err}"
        );
    }

    #[test]
    fn help_reads_like_the_reference() {
        let text = help(&["hookrun", "-help"]);
        assert_eq!(text, help(&["hookrun", "--help"]));
        assert_eq!(text, help(&["hookrun", "-h"]));
        assert_eq!(text, help(&["hookrun", "help"]));
        // Every flag on one line, single dash, with a default only where it means something.
        assert!(!text.contains("[=<"), "{text}");
        assert!(!text.contains("[default"), "{text}");
        assert!(!text.contains("--"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too long: {line:?}");
        }
        let cmd = command();
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = arg.get_long().filter(|l| *l != "help") else {
                continue;
            };
            let flag = format!("  -{long}");
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{flag} ")) || l.starts_with(&format!("{flag},"))
                })
                .collect();
            assert_eq!(lines.len(), 1, "-{long} in:\n{text}");
            let next = text
                .lines()
                .skip_while(|l| *l != lines[0])
                .nth(1)
                .unwrap_or("");
            assert!(
                !next.starts_with("    "),
                "-{long} takes two lines:\n{text}"
            );
        }
        assert!(text.contains("  -port N "), "{text}");
        assert!(text.contains("(default 9000)"), "{text}");
        assert!(
            !text.contains("(default false)") && !text.contains("(default 0)"),
            "{text}"
        );
        assert!(text.contains("  -version, -V "), "{text}");
        // The reference's flags come first, hookrun's after them.
        let reference = text.find("Flags of adnanh/webhook").unwrap();
        let jobs = text.find("Jobs (hookrun)").unwrap();
        assert!(reference < jobs && text.find("  -x-request-id-limit").unwrap() < jobs);
        assert!(text.contains("HOOKRUN_"), "{text}");
        for sub in ["validate", "notify"] {
            let text = help(&["hookrun", sub, "-help"]);
            assert_eq!(text, help(&["hookrun", "help", sub]));
            assert!(
                !text.contains("[=<") && !text.contains("[default"),
                "{text}"
            );
            assert!(
                text.starts_with(&format!("Usage: hookrun {sub} [flags]")),
                "{text}"
            );
            for line in text.lines() {
                assert!(line.chars().count() <= 100, "too long: {line:?}");
            }
        }
        let validate = help(&["hookrun", "validate", "-help"]);
        let flags = validate.split("\nFlags:\n").nth(1).unwrap();
        assert!(
            flags.lines().all(|l| !l.starts_with("    ")),
            "a flag of validate takes two lines:\n{validate}"
        );
    }

    #[test]
    fn every_flag_is_read_from_its_environment_variable() {
        let cmd = command();
        let validate = cmd.find_subcommand("validate").unwrap();
        for arg in cmd.get_arguments().chain(validate.get_arguments()) {
            let Some(long) = arg.get_long() else { continue };
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            if NOT_FROM_ENV.contains(&long) {
                assert_eq!(env, None, "-{long}");
            } else {
                assert_eq!(env, Some(env_name(long)), "-{long}");
            }
        }
        // The variables hookrun gives commands or reads for other purposes are no flag's.
        for reserved in [
            "HOOKRUN_HOOK_ID",
            "HOOKRUN_REQUEST_ID",
            "HOOKRUN_JOB_ID",
            "HOOKRUN_RESULT",
            crate::logging::FILTER_ENV,
            "HOOKRUN_SMTP_PASSWORD",
            "HOOKRUN_REFERENCE",
        ] {
            assert!(
                cmd.get_arguments()
                    .chain(validate.get_arguments())
                    .all(|a| a.get_env() != Some(std::ffi::OsStr::new(reserved))),
                "{reserved}"
            );
        }
        assert_eq!(env_name("max-jobs"), "HOOKRUN_MAX_JOBS");
    }
}
