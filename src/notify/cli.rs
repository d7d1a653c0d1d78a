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

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use clap::{ArgAction, Args};
use lettre::message::Mailbox;

use super::config::{self, CompileContext, EmailConfig, TargetConfig, WebhookConfig};
use super::delivery::{Attempt, AttemptOutcome, Notifier, Settings};
use super::email::{Security, SmtpFlags, SmtpSettings, SMTP_TIMEOUT};
use super::message::{Notice, Status};
use super::template::GoTemplates;
use crate::cli::values::parse_go_bool;

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

/// Waits between the attempts of `hookrun notify`: a person or a script is waiting.
const CLI_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Runs `hookrun notify`.
pub fn run(args: NotifyArgs) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let prepared = match prepare(&args, &env) {
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
    match runtime.block_on(deliver(prepared, &args, body)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hookrun notify: {e}");
            ExitCode::from(2)
        }
    }
}

/// The validated target and mail settings.
struct Prepared {
    target: Arc<config::Target>,
    smtp: Option<SmtpSettings>,
    timeout: Duration,
}

fn prepare(args: &NotifyArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Prepared, String> {
    let timeout =
        crate::config::parse_duration(&args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let (target, smtp) = match (&args.webhook, args.email.is_empty()) {
        (Some(_), false) => return Err("give --email or --webhook, not both".into()),
        (Some(url), true) => {
            let webhook = WebhookConfig {
                url: Some(url.clone()).filter(|u| !u.is_empty()),
                format: Some(args.format.clone()),
                secret_file: path(&args.secret_file),
                bot_token_file: path(&args.bot_token_file),
                chat_id: args.chat_id.clone(),
                ..WebhookConfig::default()
            };
            let t = TargetConfig {
                webhook: Some(webhook),
                ..TargetConfig::default()
            };
            (t, None)
        }
        (None, _) => {
            let (smtp, mail_to) = match args.smtp.settings(env)? {
                Some(s) => (s, None),
                None => seed001_settings(env)?.ok_or(
                    "no mail server: give --smtp (or seed 001's MAIL_SMTP_SERVER, MAIL_FROM... variables), or --webhook",
                )?,
            };
            let mut to = args.email.clone();
            if to.is_empty() {
                to.extend(mail_to.into_iter().filter(|t| !t.trim().is_empty()));
            }
            if to.is_empty() {
                return Err("no recipient: give --email (or MAIL_TO)".into());
            }
            let t = TargetConfig {
                email: Some(EmailConfig {
                    to,
                    ..EmailConfig::default()
                }),
                ..TargetConfig::default()
            };
            (t, Some(smtp))
        }
    };
    let read_file = |p: &std::path::Path| std::fs::read_to_string(p);
    let ctx = CompileContext {
        engine: &GoTemplates,
        read_file: &read_file,
    };
    let mut targets = config::compile(&[target], "", &ctx).map_err(|problems| {
        problems
            .iter()
            .map(|p| flag_problem(&p.to_string()))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(Prepared {
        target: targets.remove(0),
        smtp,
        timeout,
    })
}

/// `[0].webhook.secret-file: …` → `--secret-file: …`.
fn flag_problem(problem: &str) -> String {
    let rest = problem.trim_start_matches("[0]");
    let rest = rest
        .strip_prefix(".webhook")
        .or_else(|| rest.strip_prefix(".email"))
        .unwrap_or(rest);
    let rest = rest
        .strip_prefix(".url")
        .map(|r| format!("--webhook{r}"))
        .unwrap_or_else(|| rest.to_string());
    let rest = rest.replacen(".to[", "--email[", 1);
    match rest.strip_prefix('.') {
        Some(r) => format!("--{r}"),
        None => rest.trim_start_matches(": ").to_string(),
    }
}

fn read_body() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(String::new());
    }
    let mut bytes = Vec::new();
    stdin.lock().take(MAX_BODY).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn deliver(prepared: Prepared, args: &NotifyArgs, body: String) -> Result<bool, String> {
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let seen = attempts.clone();
    let report = Arc::new(move |a: &Attempt| {
        match &a.outcome {
            AttemptOutcome::Delivered => eprintln!(
                "hookrun notify: delivered to {} (attempt {})",
                a.target, a.attempt
            ),
            AttemptOutcome::Failed { error, retry_in_ms } => eprintln!(
                "hookrun notify: attempt {} to {} failed: {error}; retrying in {:.0}s",
                a.attempt,
                a.target,
                Duration::from_millis(*retry_in_ms).as_secs_f64()
            ),
            AttemptOutcome::GaveUp { error } => eprintln!(
                "hookrun notify: attempt {} to {} failed: {error}; giving up",
                a.attempt, a.target
            ),
            other => eprintln!("hookrun notify: {} {other:?}", a.target),
        }
        seen.lock()
            .expect("attempt list lock is never poisoned")
            .push(a.clone());
    });
    let settings = Settings {
        retry_delays: CLI_RETRY_DELAYS.to_vec(),
        smtp: prepared.smtp,
        ..Settings::default()
    };
    let host = settings.host.clone();
    let notifier = Notifier::start(settings, report).map_err(|e| e.to_string())?;
    let status = args.status.as_deref().and_then(|s| match s {
        "success" => Some(Status::Success),
        "failure" => Some(Status::Failure),
        "timeout" => Some(Status::Timeout),
        _ => None,
    });
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| format!("[hookrun] message from {host}"));
    notifier.send(
        "notify",
        prepared.target,
        Notice::text(subject, body, status, host),
    );
    let report = notifier.shutdown(prepared.timeout).await;
    if report.abandoned > 0 {
        eprintln!("hookrun notify: gave up after --timeout {}", args.timeout);
    }
    let delivered = attempts
        .lock()
        .expect("attempt list lock is never poisoned")
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Delivered);
    Ok(delivered)
}

/// Seed 001's `MAIL_*` variables as mail settings and the `MAIL_TO` recipient; `None` without
/// `MAIL_SMTP_SERVER`.
pub fn seed001_settings(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(SmtpSettings, Option<String>)>, String> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let Some(server) = var("MAIL_SMTP_SERVER") else {
        return Ok(None);
    };
    let host = base64_text("MAIL_SMTP_SERVER", &server)?;
    let from_text = base64_text(
        "MAIL_FROM",
        &var("MAIL_FROM").ok_or("MAIL_SMTP_SERVER is set but MAIL_FROM is not")?,
    )?;
    let from =
        Mailbox::from_str(&from_text).map_err(|e| format!("MAIL_FROM {from_text:?}: {e}"))?;
    let password = var("MAIL_PASSWORD")
        .map(|p| base64_text("MAIL_PASSWORD", &p))
        .transpose()?
        .map(config::Secret::new);
    let ca_pem = var("MAIL_CACERT").map(|c| base64_pem(&c)).transpose()?;
    let port = match var("MAIL_SMTP_PORT") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("MAIL_SMTP_PORT {p:?}: not a port number"))?,
        None => 465,
    };
    let tls_check = match var("MAIL_TLS_CHECK").map(|v| v.trim().to_ascii_lowercase()) {
        None => true,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => return Err(format!("MAIL_TLS_CHECK {v:?}: true or false")),
    };
    let settings = SmtpSettings {
        security: Security::Implicit,
        host,
        port,
        user: Some(from_text),
        password,
        from,
        ca_pem,
        insecure_skip_verify: !tls_check,
        timeout: SMTP_TIMEOUT,
    };
    Ok(Some((settings, env("MAIL_TO"))))
}

/// A value as that image's users encode it: `echo x | base64`. The decoded text loses its
/// trailing newlines, as the image's `$(… | base64 -d)` does. A value that is not base64 (set by
/// hand, as early versions of its guide showed) is used as written, with a warning.
fn base64_text(name: &str, value: &str) -> Result<String, String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r') =>
        {
            Ok(text.trim_end_matches(['\n', '\r']).to_string())
        }
        _ => {
            eprintln!(
                "hookrun notify: {name} is not base64 (echo VALUE | base64); using it as written"
            );
            Ok(value.trim().to_string())
        }
    }
}

/// `MAIL_CACERT`: `cat ca.pem | base64` (wrapped at 76 columns), or the PEM itself.
fn base64_pem(value: &str) -> Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("MAIL_CACERT: not base64 (cat ca.pem | base64): {e}"))?;
    if !pem.windows(10).any(|w| w == b"-----BEGIN") {
        return Err("MAIL_CACERT: decodes to something that is not a PEM certificate".into());
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn seed001_variables_as_users_write_them() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        // `base64` wraps at 76 columns.
        let wrapped: String = b64(pem)
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        let vars = [
            ("MAIL_SMTP_SERVER", b64("smtp.example.com\n")),
            ("MAIL_FROM", b64("ops@example.com\n")),
            ("MAIL_PASSWORD", b64("p@ss word\n")),
            ("MAIL_CACERT", wrapped),
            ("MAIL_SMTP_PORT", "994".to_string()),
            ("MAIL_TLS_CHECK", "false".to_string()),
            ("MAIL_TO", "dev@example.com".to_string()),
        ];
        let env = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let (s, to) = seed001_settings(&env).unwrap().unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("smtp.example.com", 994, Security::Implicit)
        );
        assert_eq!(s.user.as_deref(), Some("ops@example.com"));
        assert_eq!(s.from.to_string(), "ops@example.com");
        assert_eq!(s.password.unwrap().expose(), "p@ss word");
        assert_eq!(s.ca_pem.unwrap(), pem.as_bytes());
        assert!(s.insecure_skip_verify);
        assert_eq!(to.as_deref(), Some("dev@example.com"));
    }

    #[test]
    fn seed001_defaults_and_mistakes() {
        let env = |n: &str| match n {
            "MAIL_SMTP_SERVER" => Some("smtp.qq.com".to_string()),
            "MAIL_FROM" => Some(b64("a@qq.com\n")),
            _ => None,
        };
        let (s, _) = seed001_settings(&env).unwrap().unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.insecure_skip_verify),
            ("smtp.qq.com", 465, false)
        );
        assert!(seed001_settings(&|_| None).unwrap().is_none());
        let bad = |n: &str| match n {
            "MAIL_SMTP_SERVER" => Some(b64("h")),
            "MAIL_FROM" => Some(b64("a@b.c")),
            "MAIL_TLS_CHECK" => Some("maybe".into()),
            _ => None,
        };
        assert!(seed001_settings(&bad)
            .unwrap_err()
            .contains("MAIL_TLS_CHECK"));
    }

    #[test]
    fn problems_name_the_flags() {
        assert_eq!(
            flag_problem("[0].webhook.secret-file: cannot read x"),
            "--secret-file: cannot read x"
        );
        assert_eq!(
            flag_problem("[0].webhook.url: invalid URL"),
            "--webhook: invalid URL"
        );
        assert_eq!(
            flag_problem("[0].email.to[0]: invalid address"),
            "--email[0]: invalid address"
        );
        assert_eq!(
            flag_problem("[0].webhook.format: unknown format"),
            "--format: unknown format"
        );
    }
}
