//! The `hookrun` binary: parses flags, loads hooks, binds the listener, drops privileges,
//! turns signals into reloads and shutdown, and runs `server::run`. Everything else is the
//! library; the start-up steps are in `startup/`.

use std::process::ExitCode;

use hookrun::cli::{self, Cli, ServeArgs, Stop, Subcommand};
use hookrun::server;

mod startup;

/// Exit codes: 1 when the server does not start (as the reference) and when `validate` finds
/// that it would not; 2 for usage errors (as Go's flag package).
const EXIT_STARTUP: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The SMTP password, when `-smtp-password-file` is not given.
const SMTP_PASSWORD_ENV: &str = "HOOKRUN_SMTP_PASSWORD";

fn main() -> ExitCode {
    // First, so that what start-up runs and reads from here on is mapped a page at a time. A
    // kernel without the means maps as before: nothing to report, nothing else changes.
    let _ = hookrun::fault_around::map_touched_pages_only();
    hookrun::allocator::return_large_blocks();
    let cli = match parse_flags() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.subcommand {
        Some(Subcommand::Validate(args)) => return startup::validate(&args),
        Some(Subcommand::Notify(args)) => return hookrun::notify::cli::run(*args),
        Some(Subcommand::CaptainhookRun) => return hookrun::runbook::run_from_env(),
        None => {}
    }
    let smtp_password = take_smtp_password();
    let args = cli.serve;
    if let Some(code) = print_information(&args) {
        return code;
    }
    run_server(args, smtp_password)
}

/// The parsed flags, or the exit code once `-help` or a usage error is printed.
fn parse_flags() -> Result<Cli, ExitCode> {
    match cli::parse() {
        Ok(cli) => Ok(cli),
        Err(Stop::Help(text)) => {
            print(&text);
            Err(ExitCode::SUCCESS)
        }
        Err(Stop::Usage(text)) => {
            eprintln!("{text}");
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

/// Read once, then out of the environment that hook commands inherit.
fn take_smtp_password() -> Option<String> {
    let smtp_password = std::env::var(SMTP_PASSWORD_ENV).ok();
    std::env::remove_var(SMTP_PASSWORD_ENV);
    smtp_password
}

/// `-version` and `-list-cipher-suites`: printed instead of serving.
fn print_information(args: &ServeArgs) -> Option<ExitCode> {
    if args.version {
        print(&format!(
            "hookrun version {} (adnanh/webhook 2.8.0 compatible)",
            env!("CARGO_PKG_VERSION")
        ));
        return Some(ExitCode::SUCCESS);
    }
    if args.list_cipher_suites {
        print(&server::tls::cipher_suite_names().join("\n"));
        return Some(ExitCode::SUCCESS);
    }
    None
}

/// Serves on a multi-threaded runtime; a start-up error is printed with its causes.
fn run_server(args: ServeArgs, smtp_password: Option<String>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookrun: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_STARTUP);
        }
    };
    match runtime.block_on(startup::serve(args, smtp_password)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrun: {e:#}");
            ExitCode::from(EXIT_STARTUP)
        }
    }
}

/// Writes `text` and a newline to standard output; a reader that went away (`| head`) is not
/// an error worth a panic.
fn print(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
