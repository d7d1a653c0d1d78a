//! `hookrun notify`: the notification channels from the command line, so scripts and ad-hoc
//! automation use the same mailer and chat formats as hooks.
//!
//! ```sh
//! echo "backup done" | hookrun notify --email ops@example.com --subject "backup" --smtp smtps://ops%40example.com@smtp.example.com
//! hookrun notify --webhook "$DINGTALK_URL" --format dingtalk --secret-file /run/secrets/ding < report.txt
//! ```
//!
//! Without `-smtp`, seed 001's image's variables are understood as its users set them:
//! `MAIL_SMTP_SERVER`, `MAIL_FROM`, `MAIL_PASSWORD` and `MAIL_CACERT` base64-encoded
//! (`echo x | base64`, so with a trailing newline inside; the CA as `cat ca.pem | base64`,
//! line-wrapped), `MAIL_SMTP_PORT` (default 465) and `MAIL_TLS_CHECK` (default `true`; `false`
//! accepts any certificate) plain; the login is `MAIL_FROM`, TLS is implicit (`smtps://`) and
//! the recipient, without `--email`, is `MAIL_TO`.
//!
//! Exit status: 0 delivered, 1 not delivered (every attempt is printed), 2 invalid usage.
//!
//! # Layout
//! - this file: the flags and `run`, reading the message from standard input;
//! - `prepare`: the flags as one validated target and mail settings;
//! - `deliver`: sending with retries, each attempt printed;
//! - `seed001`: seed 001's `MAIL_*` variables as mail settings.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args};

use super::email::{SmtpFlags, SmtpSettings};
use crate::cli::values::parse_go_bool;

mod deliver;
mod prepare;
mod seed001;

pub use seed001::seed001_settings;

/// The mail server flags, shared by the server, `hookrun validate` and `hookrun notify`.
#[derive(Debug, Clone, Default, Args)]
pub struct SmtpArgs {
    /// mail server URL: smtp://, smtp+starttls:// or smtps://USER@HOST
    ///
    /// smtp://host[:port] (no TLS), smtp+starttls://user@host[:587] or
    /// smtps://user@host[:465]; the user is percent-encoded (ops%40example.com).
    #[arg(long = "smtp", value_name = "URL")]
    pub smtp: Option<String>,
    /// sender address (default: the URL's user, if it is an address)
    #[arg(long = "smtp-from", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// extra CA certificates (PEM) to trust for the mail server
    #[arg(long = "smtp-ca", value_name = "FILE")]
    pub smtp_ca: Option<PathBuf>,
    /// accept any certificate from the mail server
    #[arg(long = "smtp-insecure-skip-verify", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub smtp_insecure_skip_verify: bool,
    /// file holding the SMTP password (else $HOOKRUN_SMTP_PASSWORD)
    #[arg(long = "smtp-password-file", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
}

impl SmtpArgs {
    /// The settings from the flags, `None` without `-smtp`.
    pub fn settings(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SmtpSettings>, String> {
        let Some(url) = &self.smtp else {
            return Ok(None);
        };
        SmtpSettings::from_flags(&SmtpFlags {
            url,
            from: self.smtp_from.as_deref(),
            ca_file: self.smtp_ca.as_deref(),
            insecure_skip_verify: self.smtp_insecure_skip_verify,
            password_file: self.smtp_password_file.as_deref(),
            password_env: env("HOOKRUN_SMTP_PASSWORD"),
        })
        .map(Some)
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// send a mail to this address; repeatable (default: $MAIL_TO)
    #[arg(long = "email", value_name = "ADDRESS")]
    pub email: Vec<String>,
    /// post to this webhook URL (telegram: the API base, else its own)
    ///
    /// For telegram the URL is the API base, https://api.telegram.org by default.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// webhook format: json, slack, dingtalk, wecom, feishu, teams, telegram
    #[arg(long, value_name = "FORMAT", default_value = "json")]
    pub format: String,
    /// file holding the webhook's signing secret (json, dingtalk, feishu)
    #[arg(long = "secret-file", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// file holding the Telegram bot token
    #[arg(long = "bot-token-file", value_name = "FILE")]
    pub bot_token_file: Option<PathBuf>,
    /// Telegram chat id
    #[arg(long = "chat-id", value_name = "ID")]
    pub chat_id: Option<String>,
    /// subject (mail) or title (chat); the body is read from standard input
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// colours the message: success, failure or timeout
    #[arg(long, value_name = "STATUS", value_parser = ["success", "failure", "timeout"], hide_possible_values = true)]
    pub status: Option<String>,
    /// give up after this long, retries included
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub timeout: String,
    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// Largest body read from standard input.
const MAX_BODY: u64 = 1 << 20;

/// Runs `hookrun notify`.
pub fn run(args: NotifyArgs) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let prepared = match prepare::prepare(&args, &env) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hookrun notify: {e}");
            return ExitCode::from(2);
        }
    };
    let body = match read_body() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hookrun notify: reading the message from standard input: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookrun notify: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(deliver::deliver(prepared, &args, body)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hookrun notify: {e}");
            ExitCode::from(2)
        }
    }
}

/// The message: standard input, up to [`MAX_BODY`] bytes; nothing from a terminal.
fn read_body() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(String::new());
    }
    let mut bytes = Vec::new();
    stdin.lock().take(MAX_BODY).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
