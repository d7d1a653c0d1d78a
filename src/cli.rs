//! Command-line flags: the reference's flags with its defaults, accepted with one dash or two
//! (`-hooks x`, `--hooks x`, `-hooks=x`), plus hookrun's own flags and the `validate`
//! subcommand. Every flag of the server and of `validate` is also read from its environment
//! variable (`-max-jobs` from `HOOKRUN_MAX_JOBS`; the command line wins). Values are parsed into
//! their types here (durations, sizes, methods, headers, TLS options), so a bad value is a usage
//! error before anything starts; the `*_settings` methods (`serve_settings`) hand them to the
//! server, the job manager and the loader. `argv` reads the command line the reference's way (and
//! suggests the flag a typo meant), `help` writes the help and the usage errors.
//! `serve_args` declares the server's flags.

mod argv;
mod help;
mod serve_args;
mod serve_settings;
pub(crate) mod values;

use std::ffi::OsString;

use clap::{ArgAction, Args, Parser};

use crate::notify::cli::SmtpArgs;

pub use serve_args::{ServeArgs, WEBHOOK_FLAGS};
use values::parse_go_bool;
pub use values::{LogFormat, MethodList, OptionalPath, ResponseHeader};

const ABOUT: &str = "a rule-driven HTTP hook runner, drop-in compatible with adnanh/webhook 2.8";

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
mod tests;
