//! A hook's `notify` list: the targets as written (serde, kebab-case), their validation — every
//! problem with its field path, e.g. `notify[1].webhook.secret-file: cannot read …` — and the
//! runtime [`Target`]s they compile to (addresses parsed, URLs checked, secret files read,
//! templates compiled).
//!
//! ```yaml
//! notify:
//!   - on: [failure]            # success, failure, timeout; omitted: every outcome
//!     email: { to: [ops@example.com], subject: "deploy failed" }
//!   - on: [success, failure]
//!     webhook: { url: "https://oapi.dingtalk.com/robot/send?access_token=…", format: dingtalk, secret-file: /run/secrets/dingtalk }
//! ```
//!
//! `failure` includes `timeout` unless some target of the hook lists `timeout` itself: then
//! timeouts go only to the targets that list it ([`matching`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use lettre::message::Mailbox;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::message::Status;
use super::redact;
use super::template::{CompiledTemplate, TemplateEngine};
use super::webhook::Format;

/// One entry of a hook's `notify` list, as written. Unknown keys are not refused here: the
/// hooks loader reports them with a "did you mean" like every other key of a hook (errors, or
/// warnings with `-lenient`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetConfig {
    /// `success`, `failure`, `timeout`; a single word or a list; omitted: all of them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub on: Vec<String>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EmailConfig {
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WebhookConfig {
    /// The endpoint; for `telegram` the API base (default `https://api.telegram.org`).
    pub url: Option<String>,
    /// `json` (default), `slack`, `dingtalk`, `wecom`, `feishu`, `teams`, `telegram`.
    pub format: Option<String>,
    /// Signing secret (`json`: HMAC header; `dingtalk`, `feishu`: their signing schemes).
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    /// `telegram` only.
    pub bot_token: Option<String>,
    pub bot_token_file: Option<String>,
    pub chat_id: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// A secret value: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which outcomes a target wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct On {
    pub success: bool,
    pub failure: bool,
    pub timeout: bool,
}

impl On {
    pub const ALL: On = On {
        success: true,
        failure: true,
        timeout: true,
    };
}

/// A validated target.
#[derive(Clone, Debug)]
pub struct Target {
    pub on: On,
    pub channel: Channel,
    pub subject: Option<Arc<dyn CompiledTemplate>>,
    pub body: Option<Arc<dyn CompiledTemplate>>,
    /// How logs and attempt records name it, secrets masked: `email ops@example.com`,
    /// `dingtalk https://oapi.dingtalk.com/robot/send?access_token=***`.
    pub label: String,
}

#[derive(Clone, Debug)]
pub enum Channel {
    Email { to: Vec<Mailbox> },
    Webhook(WebhookTarget),
}

#[derive(Clone, Debug)]
pub struct WebhookTarget {
    /// The endpoint (for `telegram`, the API base).
    pub url: Url,
    pub format: Format,
    /// The signing secret, or Telegram's bot token.
    pub secret: Option<Secret>,
    /// Telegram's chat.
    pub chat_id: Option<String>,
}

/// One thing wrong with a `notify` list, with its field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyProblem {
    /// `notify[0].webhook.url`
    pub path: String,
    pub message: String,
}

impl fmt::Display for NotifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What compiling a `notify` list needs from outside: templates and files.
pub struct CompileContext<'a> {
    pub engine: &'a dyn TemplateEngine,
    pub read_file: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

/// Every problem of a `notify` list (empty: valid). `prefix` is its path, usually `notify`.
pub fn validate(
    targets: &[TargetConfig],
    prefix: &str,
    ctx: &CompileContext,
) -> Vec<NotifyProblem> {
    compile(targets, prefix, ctx).err().unwrap_or_default()
}

/// Compiles a `notify` list, or returns every problem found.
pub fn compile(
    targets: &[TargetConfig],
    prefix: &str,
    ctx: &CompileContext,
) -> Result<Vec<Arc<Target>>, Vec<NotifyProblem>> {
    let mut c = Compiler {
        ctx,
        problems: Vec::new(),
    };
    let compiled: Vec<Option<Target>> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| c.target(t, &format!("{prefix}[{i}]")))
        .collect();
    if c.problems.is_empty() {
        Ok(compiled.into_iter().flatten().map(Arc::new).collect())
    } else {
        Err(c.problems)
    }
}

/// The targets a job with `status` goes to: those whose `on` lists it. A timeout goes to the
/// targets listing `timeout`; if none of the hook's targets does, to those listing `failure`.
pub fn matching(targets: &[Arc<Target>], status: Status) -> Vec<Arc<Target>> {
    let wants = |t: &Target, s: Status| match s {
        Status::Success => t.on.success,
        Status::Failure => t.on.failure,
        Status::Timeout => t.on.timeout,
    };
    // A target that wants every outcome (`on` omitted) lists nothing apart.
    let timeout_listed = targets.iter().any(|t| t.on.timeout && t.on != On::ALL);
    targets
        .iter()
        .filter(|t| match status {
            Status::Timeout if !timeout_listed => t.on.failure || t.on.timeout,
            s => wants(t, s),
        })
        .cloned()
        .collect()
}

struct Compiler<'a> {
    ctx: &'a CompileContext<'a>,
    problems: Vec<NotifyProblem>,
}

impl Compiler<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(NotifyProblem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn target(&mut self, t: &TargetConfig, at: &str) -> Option<Target> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::template::GoTemplates;

    fn ctx_files(path: &Path) -> std::io::Result<String> {
        match path.to_str() {
            Some("/run/secrets/ding") => Ok("SECabc\n".into()),
            Some("/run/secrets/empty") => Ok("\n".into()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }

    fn compile_yaml(yaml: &str) -> Result<Vec<Arc<Target>>, Vec<String>> {
        let list: Vec<TargetConfig> = serde_yaml_ng::from_str(yaml).expect("valid YAML");
        let ctx = CompileContext {
            engine: &GoTemplates,
            read_file: &ctx_files,
        };
        compile(&list, "notify", &ctx).map_err(|p| p.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn valid_targets_compile() {
        let targets = compile_yaml(
            r#"
- on: failure
  email: { to: [ops@example.com, "运维 <ops2@example.com>"], subject: 部署失败 }
- webhook: { url: "https://oapi.dingtalk.com/robot/send?access_token=tok", format: dingtalk, secret-file: /run/secrets/ding }
- on: [timeout]
  webhook: { format: telegram, bot-token: "123:abc", chat-id: "-100200" }
"#,
        )
        .unwrap();
        assert_eq!(targets.len(), 3);
        assert_eq!(
            targets[0].on,
            On {
                success: false,
                failure: true,
                timeout: false
            }
        );
        assert_eq!(
            targets[0].label,
            "email ops@example.com, 运维 <ops2@example.com>"
        );
        assert_eq!(targets[1].on, On::ALL);
        assert_eq!(
            targets[1].label,
            "dingtalk https://oapi.dingtalk.com/robot/send?access_token=***"
        );
        match &targets[1].channel {
            Channel::Webhook(w) => assert_eq!(w.secret.as_ref().unwrap().expose(), "SECabc"),
            Channel::Email { .. } => panic!("webhook expected"),
        }
        assert!(!format!("{:?}", targets[1]).contains("SECabc"));
        assert_eq!(
            targets[2].label,
            "telegram chat -100200 via https://api.telegram.org/"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let problems = compile_yaml(
            r#"
- on: [failure, sometimes]
  email: { to: ["not an address"], subject: "{{ .hook " }
- webhook: { url: "ftp://x/y", format: dingding, secret: s, secret-file: /run/secrets/ding }
- {}
- email: { to: [a@b.c] }
  webhook: { url: "https://x" }
- webhook: { url: "https://hooks.slack.com/services/T/B/XXXXXXXXXXXXXXXXXXXXXXXX", format: slack, secret: s }
- webhook: { format: telegram }
- webhook: { url: "https://x", secret-file: /run/secrets/missing }
- webhook: { url: "https://x", secret-file: /run/secrets/empty }
"#,
        )
        .unwrap_err();
        let want = [
            "notify[0].on[1]: unknown outcome \"sometimes\"",
            "notify[0].email.to[0]: invalid address \"not an address\"",
            "notify[0].email.subject: template: line 1:",
            "notify[1].webhook.format: unknown format \"dingding\"",
            "notify[1].webhook.url: ftp://x/y: only http and https",
            "notify[1].webhook.secret: give secret or secret-file, not both",
            "notify[2]: a target needs a channel",
            "notify[3]: a target has exactly one channel",
            "notify[4].webhook.secret: slack webhooks are not signed",
            "notify[5].webhook.chat-id: telegram needs a chat-id",
            "notify[5].webhook.bot-token: telegram needs bot-token",
            "notify[6].webhook.secret-file: cannot read /run/secrets/missing",
            "notify[7].webhook.secret-file: /run/secrets/empty: empty file",
        ];
        for w in want {
            assert!(
                problems.iter().any(|p| p.starts_with(w)),
                "{w:?} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), want.len(), "{problems:#?}");
    }

    #[test]
    fn unknown_keys_are_left_to_the_hooks_loader() {
        let yaml: serde_json::Value =
            serde_yaml_ng::from_str("- webhook: { url: x, secrte: y }").unwrap();
        let mut ignored = Vec::new();
        let list: Vec<TargetConfig> =
            serde_ignored::deserialize(&yaml, |path| ignored.push(path.to_string())).unwrap();
        assert_eq!(list[0].webhook.as_ref().unwrap().url.as_deref(), Some("x"));
        assert_eq!(ignored, ["0.webhook.?.secrte"]);
    }

    #[test]
    fn failure_includes_timeout_unless_listed_apart() {
        let t = |on: On| {
            Arc::new(Target {
                on,
                channel: Channel::Email { to: Vec::new() },
                subject: None,
                body: None,
                label: format!("{on:?}"),
            })
        };
        let fail = t(On {
            success: false,
            failure: true,
            timeout: false,
        });
        let ok = t(On {
            success: true,
            failure: false,
            timeout: false,
        });
        let all = t(On::ALL);
        let labels = |v: Vec<Arc<Target>>| v.iter().map(|t| t.label.clone()).collect::<Vec<_>>();
        let hook = vec![fail.clone(), ok.clone(), all.clone()];
        assert_eq!(
            labels(matching(&hook, Status::Timeout)),
            [fail.label.clone(), all.label.clone()]
        );
        assert_eq!(
            labels(matching(&hook, Status::Success)),
            [ok.label.clone(), all.label.clone()]
        );
        let pager = t(On {
            success: false,
            failure: false,
            timeout: true,
        });
        let hook = vec![fail.clone(), pager.clone(), all.clone()];
        assert_eq!(
            labels(matching(&hook, Status::Timeout)),
            [pager.label.clone(), all.label.clone()]
        );
        assert_eq!(
            labels(matching(&hook, Status::Failure)),
            [fail.label.clone(), all.label.clone()]
        );
    }
}
