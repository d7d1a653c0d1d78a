//! Compiling one `notify` list into runtime [`Target`]s: each target's `on`, its e-mail
//! addresses or webhook (URL, format, secret from a file or the environment), its templates;
//! every problem kept with its field path.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use lettre::message::Mailbox;
use url::Url;

use super::super::redact;
use super::super::template::CompiledTemplate;
use super::super::webhook::Format;
use super::{
    Channel, CompileContext, NotifyProblem, On, Secret, Target, TargetConfig, WebhookConfig,
    WebhookTarget,
};

pub(super) struct Compiler<'a> {
    pub(super) ctx: &'a CompileContext<'a>,
    pub(super) problems: Vec<NotifyProblem>,
}

impl Compiler<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(NotifyProblem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub(super) fn target(&mut self, t: &TargetConfig, at: &str) -> Option<Target> {
        let on = self.on(&t.on, &format!("{at}.on"));
        let (channel, subject, body, label) = match (&t.email, &t.webhook) {
            (Some(e), None) => {
                let at = format!("{at}.email");
                let to = self.mailboxes(&e.to, &format!("{at}.to"));
                let label = format!("email {}", e.to.join(", "));
                let subject = self.template(e.subject.as_deref(), &format!("{at}.subject"));
                let body = self.template(e.body.as_deref(), &format!("{at}.body"));
                (to.map(|to| Channel::Email { to }), subject, body, label)
            }
            (None, Some(w)) => {
                let at = format!("{at}.webhook");
                let hook = self.webhook(w, &at);
                let label = hook.as_ref().map(webhook_label).unwrap_or_default();
                let subject = self.template(w.subject.as_deref(), &format!("{at}.subject"));
                let body = self.template(w.body.as_deref(), &format!("{at}.body"));
                (hook.map(Channel::Webhook), subject, body, label)
            }
            (Some(_), Some(_)) => {
                self.problem(
                    at,
                    "a target has exactly one channel: email or webhook, not both",
                );
                return None;
            }
            (None, None) => {
                self.problem(at, "a target needs a channel: email or webhook");
                return None;
            }
        };
        Some(Target {
            on,
            channel: channel?,
            subject: subject?,
            body: body?,
            label,
        })
    }

    fn on(&mut self, words: &[String], at: &str) -> On {
        if words.is_empty() {
            return On::ALL;
        }
        let mut on = On::default();
        for (i, w) in words.iter().enumerate() {
            match w.as_str() {
                "success" => on.success = true,
                "failure" => on.failure = true,
                "timeout" => on.timeout = true,
                other => self.problem(
                    &format!("{at}[{i}]"),
                    format!("unknown outcome {other:?} (success, failure or timeout)"),
                ),
            }
        }
        on
    }

    fn mailboxes(&mut self, to: &[String], at: &str) -> Option<Vec<Mailbox>> {
        if to.is_empty() {
            self.problem(at, "at least one recipient is needed");
            return None;
        }
        let mut out = Vec::new();
        for (i, addr) in to.iter().enumerate() {
            match Mailbox::from_str(addr.trim()) {
                Ok(m) => out.push(m),
                Err(e) => self.problem(
                    &format!("{at}[{i}]"),
                    format!("invalid address {addr:?}: {e}"),
                ),
            }
        }
        (out.len() == to.len()).then_some(out)
    }

    /// `Some(None)`: no template; `None`: an invalid one (reported).
    #[allow(clippy::option_option)]
    fn template(
        &mut self,
        source: Option<&str>,
        at: &str,
    ) -> Option<Option<Arc<dyn CompiledTemplate>>> {
        let Some(source) = source else {
            return Some(None);
        };
        match self.ctx.engine.compile(source) {
            Ok(t) => Some(Some(t)),
            Err(e) => {
                self.problem(at, e);
                None
            }
        }
    }

    fn webhook(&mut self, w: &WebhookConfig, at: &str) -> Option<WebhookTarget> {
        let format = match w.format.as_deref() {
            None => Some(Format::Json),
            Some(name) => Format::parse(name).or_else(|| {
                self.problem(
                    &format!("{at}.format"),
                    format!("unknown format {name:?} (json, slack, dingtalk, wecom, feishu, teams, telegram)"),
                );
                None
            }),
        };
        let url = match (&w.url, format) {
            (None, Some(Format::Telegram)) => Url::parse("https://api.telegram.org").ok(),
            (None, _) => {
                self.problem(&format!("{at}.url"), "a webhook needs a url");
                None
            }
            (Some(u), _) => self.url(u, &format!("{at}.url")),
        };
        let secret = self.secret(w.secret.as_deref(), w.secret_file.as_deref(), at, "secret");
        let token = self.secret(
            w.bot_token.as_deref(),
            w.bot_token_file.as_deref(),
            at,
            "bot-token",
        );
        let format = format?;
        let secret = match format {
            Format::Telegram => {
                if secret.as_ref().is_some_and(Option::is_some) {
                    self.problem(
                        &format!("{at}.secret"),
                        "telegram takes bot-token or bot-token-file, not secret",
                    );
                }
                if w.chat_id.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    self.problem(&format!("{at}.chat-id"), "telegram needs a chat-id");
                }
                if token.as_ref().is_some_and(Option::is_none) {
                    self.problem(
                        &format!("{at}.bot-token"),
                        "telegram needs bot-token or bot-token-file",
                    );
                }
                token?
            }
            f => {
                if !f.signs() && secret.as_ref().is_some_and(Option::is_some) {
                    self.problem(
                        &format!("{at}.secret"),
                        format!(
                            "{} webhooks are not signed: its URL is its secret; leave secret out",
                            f.name()
                        ),
                    );
                }
                if w.chat_id.is_some() || w.bot_token.is_some() || w.bot_token_file.is_some() {
                    self.problem(at, "chat-id and bot-token are for format telegram only");
                }
                secret?
            }
        };
        Some(WebhookTarget {
            url: url?,
            format,
            secret,
            chat_id: w.chat_id.as_ref().map(|c| c.trim().to_string()),
        })
    }

    fn url(&mut self, raw: &str, at: &str) -> Option<Url> {
        match Url::parse(raw.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
            Ok(u) => {
                self.problem(
                    at,
                    format!(
                        "{}: only http and https URLs are supported",
                        redact::url(&u)
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(at, format!("invalid URL: {e}"));
                None
            }
        }
    }

    /// The value of `name` or `name-file` (not both); `Some(None)` when neither is given.
    #[allow(clippy::option_option)]
    fn secret(
        &mut self,
        inline: Option<&str>,
        file: Option<&str>,
        at: &str,
        name: &str,
    ) -> Option<Option<Secret>> {
        match (inline, file) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{at}.{name}"),
                    format!("give {name} or {name}-file, not both"),
                );
                None
            }
            (Some(""), None) => {
                self.problem(
                    &format!("{at}.{name}"),
                    "empty (an unset template variable?)",
                );
                None
            }
            (Some(s), None) => Some(Some(Secret::new(s))),
            (None, Some(path)) => match (self.ctx.read_file)(Path::new(path)) {
                Ok(text) => {
                    let value = text.trim_end_matches(['\n', '\r']);
                    if value.is_empty() {
                        self.problem(&format!("{at}.{name}-file"), format!("{path}: empty file"));
                        None
                    } else {
                        Some(Some(Secret::new(value)))
                    }
                }
                Err(e) => {
                    self.problem(
                        &format!("{at}.{name}-file"),
                        format!("cannot read {path}: {e}"),
                    );
                    None
                }
            },
            (None, None) => Some(None),
        }
    }
}

fn webhook_label(w: &WebhookTarget) -> String {
    match w.format {
        Format::Telegram => format!(
            "telegram chat {} via {}",
            w.chat_id.as_deref().unwrap_or(""),
            redact::url(&w.url)
        ),
        f => format!("{} {}", f.name(), redact::url(&w.url)),
    }
}
