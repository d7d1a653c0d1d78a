//! Webhook formats: hookrun's own signed JSON and the message shapes chat services document,
//! and sending them.
//!
//! - `json`: [`super::Message::data`] plus `version`, `event`, `delivery`, `timestamp`,
//!   `subject` and `text`; with a secret, `X-Hookrun-Signature-256: sha256=<hex HMAC-SHA256 of
//!   the raw body>` (the README tells receivers how to verify it and refuse replays).
//! - `slack`: incoming webhook, `text` + Block Kit `blocks`
//!   (<https://api.slack.com/messaging/webhooks>, <https://api.slack.com/reference/block-kit/blocks>).
//! - `dingtalk`: custom robot, `msgtype: markdown` with `title` and `text`; with a secret, the
//!   `timestamp` (ms) and `sign` query parameters: Base64(HMAC-SHA256(key = secret,
//!   `timestamp + "\n" + secret`)), URL-encoded
//!   (<https://open.dingtalk.com/document/robots/custom-robot-access>,
//!   <https://open.dingtalk.com/document/orgapp/customize-robot-security-settings>).
//! - `wecom`: group robot, `msgtype: markdown` with `content` (at most 4096 bytes)
//!   (<https://developer.work.weixin.qq.com/document/path/91770>).
//! - `feishu`: custom bot, `msg_type: interactive` card; with a secret, `timestamp` (s) and
//!   `sign` in the body: Base64(HMAC-SHA256(key = `timestamp + "\n" + secret`, empty message))
//!   (<https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot>).
//! - `teams`: a Workflows ("Post to a channel when a webhook request is received") message with
//!   one Adaptive Card attachment
//!   (<https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook>).
//! - `telegram`: Bot API `sendMessage` with `chat_id`, `text` and `parse_mode: HTML`
//!   (<https://core.telegram.org/bots/api#sendmessage>); the URL is the API base.
//!
//! A reply that is 2xx but carries the service's error code (`errcode`, `code`, `ok: false`)
//! is a failure. Redirects are not followed: a moved webhook is reported, not chased.
//!
//! This file signs and sends; each format's body is built in `shapes`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use url::Url;

use super::compose;
use super::config::WebhookTarget;
use super::delivery::SendError;
use super::message::Notice;
use super::redact;
use shapes::{dingtalk, feishu, json_body, slack, teams, telegram, wecom};

mod shapes;

/// A webhook's message shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Slack,
    Dingtalk,
    Wecom,
    Feishu,
    Teams,
    Telegram,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "slack" => Format::Slack,
            "dingtalk" => Format::Dingtalk,
            "wecom" => Format::Wecom,
            "feishu" | "lark" => Format::Feishu,
            "teams" => Format::Teams,
            "telegram" => Format::Telegram,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
            Format::Dingtalk => "dingtalk",
            Format::Wecom => "wecom",
            Format::Feishu => "feishu",
            Format::Teams => "teams",
            Format::Telegram => "telegram",
        }
    }

    /// Whether a `secret` means something for this format.
    pub fn signs(self) -> bool {
        matches!(self, Format::Json | Format::Dingtalk | Format::Feishu)
    }
}

/// The header carrying the JSON format's signature.
pub const SIGNATURE_HEADER: &str = "X-Hookrun-Signature-256";

/// One HTTP request, ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Builds the request for `notice` as of `now`. `delivery` identifies the notification across
/// its retries (the JSON format's `delivery` field and `X-Hookrun-Delivery` header).
pub fn build(target: &WebhookTarget, notice: &Notice, now: SystemTime, delivery: &str) -> Request {
    let parts = compose::parts(notice);
    let secret = target.secret.as_ref().map(|s| s.expose());
    let mut url = target.url.clone();
    let mut headers = vec![("X-Hookrun-Delivery", delivery.to_string())];
    let body = match target.format {
        Format::Json => {
            let body = json_body(notice, &parts, now, delivery);
            headers.push(("X-Hookrun-Event", notice.event().to_string()));
            let raw = body.to_string().into_bytes();
            if let Some(secret) = secret {
                headers.push((
                    SIGNATURE_HEADER,
                    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &raw))),
                ));
            }
            return Request {
                url,
                headers,
                body: raw,
            };
        }
        Format::Slack => slack(&parts),
        Format::Dingtalk => {
            if let Some(secret) = secret {
                let ts = millis(now).to_string();
                let sign = dingtalk_sign(secret, &ts);
                url.query_pairs_mut()
                    .append_pair("timestamp", &ts)
                    .append_pair("sign", &sign);
            }
            dingtalk(&parts)
        }
        Format::Wecom => wecom(&parts),
        Format::Feishu => {
            let mut body = feishu(&parts);
            if let Some(secret) = secret {
                let ts = (millis(now) / 1000).to_string();
                body["timestamp"] = json!(ts);
                body["sign"] = json!(feishu_sign(secret, &ts));
            }
            body
        }
        Format::Teams => teams(&parts),
        Format::Telegram => {
            let token = secret.unwrap_or_default();
            let base = target.url.as_str().trim_end_matches('/');
            url = Url::parse(&format!("{base}/bot{token}/sendMessage")).unwrap_or(url);
            telegram(&parts, target.chat_id.as_deref().unwrap_or_default())
        }
    };
    Request {
        url,
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// Sends `notice` to `target` once.
pub async fn send(
    client: &reqwest::Client,
    target: &WebhookTarget,
    notice: &Notice,
    delivery: &str,
) -> Result<(), SendError> {
    let req = build(target, notice, SystemTime::now(), delivery);
    let secrets = secrets_of(target);
    let mut builder = client
        .post(req.url.clone())
        .header("Content-Type", "application/json; charset=utf-8")
        .body(req.body);
    for (name, value) in &req.headers {
        builder = builder.header(*name, value);
    }
    let response = builder.send().await.map_err(|e| http_error(e, &secrets))?;
    check_response(target.format, response, &secrets).await
}

/// Every secret that may appear in a target's URL, errors or replies.
fn secrets_of(target: &WebhookTarget) -> Vec<String> {
    let mut out: Vec<String> = target
        .url
        .query_pairs()
        .map(|(_, v)| v.into_owned())
        .collect();
    out.extend(
        target
            .url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 16)
            .map(str::to_string),
    );
    if let Some(s) = &target.secret {
        out.push(s.expose().to_string());
    }
    out
}

fn http_error(e: reqwest::Error, secrets: &[String]) -> SendError {
    // Without the URL: it carries tokens. The cause chain says what went wrong.
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    SendError::retry(redact::secrets(&text, &refs))
}

async fn check_response(
    format: Format,
    response: reqwest::Response,
    secrets: &[String],
) -> Result<(), SendError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let snippet = redact::secrets(
        &compose::truncate_chars(String::from_utf8_lossy(&body).trim(), 200),
        &refs,
    );
    if status.is_redirection() {
        return Err(SendError::permanent(format!(
            "HTTP {status}: redirects are not followed; use the final URL"
        )));
    }
    if !status.is_success() {
        let message = format!("HTTP {status}: {snippet}");
        let code = status.as_u16();
        return Err(
            if code == 429 || code == 408 || code == 425 || status.is_server_error() {
                SendError::retry(message).after(retry_after)
            } else {
                SendError::permanent(message)
            },
        );
    }
    let reply: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let code = |key: &str| reply.get(key).and_then(Value::as_i64);
    // Codes these services return when a robot sends too fast: worth retrying later.
    let throttled = [130_101, 45_009, 11_232, 9499];
    let failed = match format {
        Format::Dingtalk | Format::Wecom => code("errcode").filter(|c| *c != 0),
        Format::Feishu => code("code").or(code("StatusCode")).filter(|c| *c != 0),
        Format::Telegram => (reply.get("ok") != Some(&Value::Bool(true))).then_some(-1),
        Format::Json | Format::Slack | Format::Teams => None,
    };
    match failed {
        None => Ok(()),
        Some(c) if throttled.contains(&c) => Err(SendError::retry(format!(
            "{} refused the message for now: {snippet}",
            format.name()
        ))),
        Some(_) => Err(SendError::permanent(format!(
            "{} refused the message: {snippet}",
            format.name()
        ))),
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// DingTalk: Base64(HMAC-SHA256(key = secret, message = `timestamp\nsecret`)); `url` encodes it
/// as a query value.
pub fn dingtalk_sign(secret: &str, timestamp_ms: &str) -> String {
    let mac = hmac(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Feishu: Base64(HMAC-SHA256(key = `timestamp\nsecret`, message = empty)).
pub fn feishu_sign(secret: &str, timestamp_s: &str) -> String {
    let mac = hmac(format!("{timestamp_s}\n{secret}").as_bytes(), b"");
    base64::engine::general_purpose::STANDARD.encode(mac)
}

#[cfg(test)]
mod tests;
