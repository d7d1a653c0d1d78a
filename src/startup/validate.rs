//! `hookrun validate`: the server's start verdict on hooks files and mail settings, printed
//! with every problem; the exit code says whether the server would start.

use std::process::ExitCode;

use hookrun::cli::ValidateArgs;
use hookrun::config::template::SystemEnv;
use hookrun::config::verdict::{self, StartOptions, Verdict};
use hookrun::config::Severity;

use crate::{print, EXIT_STARTUP};

/// `hookrun validate`: the server's start verdict on the files and the mail settings, with
/// every problem.
pub fn validate(args: &ValidateArgs) -> ExitCode {
    let opts = StartOptions {
        load: args.load_options(),
        ..StartOptions::default()
    };
    let checked = verdict::check(&args.files, &opts, &SystemEnv);
    let mut report: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
    let count = |severity| {
        checked
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    };
    let mut errors = count(Severity::Error);
    // The server refuses mail settings it cannot use before it serves anything.
    if let Err(e) = args.smtp.settings(&|name| std::env::var(name).ok()) {
        report.push(format!("mail server: {e}"));
        errors += 1;
    }
    let warnings = match count(Severity::Warning) {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        n => format!(", {n} warnings"),
    };
    let code = match &checked.verdict {
        Verdict::Start(set) if errors == 0 => {
            report.push(format!(
                "ok: {} hook(s) in {} file(s){warnings}; hookrun starts with these files",
                set.len(),
                set.files.len()
            ));
            ExitCode::SUCCESS
        }
        _ => {
            report.push(format!(
                "invalid: {errors} error(s){warnings}; hookrun would not start with these files"
            ));
            ExitCode::from(EXIT_STARTUP)
        }
    };
    print(&report.join("\n"));
    code
}
