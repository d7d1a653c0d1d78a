//! The flags of `hookrun notify` as one validated notification target (a webhook, or mail
//! with its server's settings), with problems named after the flags.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::super::config::{self, CompileContext, EmailConfig, TargetConfig, WebhookConfig};
use super::super::email::SmtpSettings;
use super::super::template::GoTemplates;
use super::{seed001_settings, NotifyArgs};

/// The validated target and mail settings.
pub(super) struct Prepared {
    pub(super) target: Arc<config::Target>,
    pub(super) smtp: Option<SmtpSettings>,
    pub(super) timeout: Duration,
}

/// The validated target and mail settings the flags give.
pub(super) fn prepare(
    args: &NotifyArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared, String> {
    let timeout =
        crate::config::parse_duration(&args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let (target, smtp) = match (&args.webhook, args.email.is_empty()) {
        (Some(_), false) => return Err("give --email or --webhook, not both".into()),
        (Some(url), true) => (webhook_target(args, url), None),
        (None, _) => {
            let (target, smtp) = email_target(args, env)?;
            (target, Some(smtp))
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

/// `--webhook` and the flags that go with it.
fn webhook_target(args: &NotifyArgs, url: &str) -> TargetConfig {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let webhook = WebhookConfig {
        url: Some(url.to_string()).filter(|u| !u.is_empty()),
        format: Some(args.format.clone()),
        secret_file: path(&args.secret_file),
        bot_token_file: path(&args.bot_token_file),
        chat_id: args.chat_id.clone(),
        ..WebhookConfig::default()
    };
    TargetConfig {
        webhook: Some(webhook),
        ..TargetConfig::default()
    }
}

/// `--email` (or `MAIL_TO`) and the mail server: `--smtp`, else seed 001's variables.
fn email_target(
    args: &NotifyArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(TargetConfig, SmtpSettings), String> {
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
    let target = TargetConfig {
        email: Some(EmailConfig {
            to,
            ..EmailConfig::default()
        }),
        ..TargetConfig::default()
    };
    Ok((target, smtp))
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

#[cfg(test)]
mod tests {
    use super::*;

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
