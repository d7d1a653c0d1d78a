//! A hook's `notify` list: the targets as written (serde, kebab-case), their validation — every
//! problem with its field path, e.g. `notify[1].webhook.secret-file: cannot read …` — and the
//! runtime [`Target`]s they compile to (addresses parsed, URLs checked, secret files read,
//! templates compiled, in `compiler`).
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
use std::sync::Arc;

use lettre::message::Mailbox;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::message::Status;
use super::template::{CompiledTemplate, TemplateEngine};
use super::webhook::Format;
use compiler::Compiler;

mod compiler;

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
