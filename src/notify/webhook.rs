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

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use url::Url;

use super::compose::{self, html_escape, Parts};
use super::config::WebhookTarget;
use super::delivery::SendError;
use super::message::{rfc3339, Notice, Status};
use super::redact;

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

fn json_body(notice: &Notice, parts: &Parts, now: SystemTime, delivery: &str) -> Value {
    let mut body = json!({
        "version": 1,
        "event": notice.event(),
        "delivery": delivery,
        "timestamp": rfc3339(now),
    });
    if let (Value::Object(out), Value::Object(data)) = (&mut body, notice.data()) {
        out.extend(data);
        out.insert("subject".into(), json!(parts.subject));
        out.insert("text".into(), json!(compose::plain(parts)));
    }
    body
}

/// Markdown-ish text with link, image and tag syntax neutralised: a command's output must not
/// become a clickable link or a `<font>` tag in a chat.
fn md(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

/// At most `max` bytes of UTF-8, cut at a character boundary.
fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Output lines shown in chats (their messages are short).
const CHAT_OUTPUT_LINES: usize = 10;

fn chat_output(parts: &Parts) -> Option<String> {
    let out = parts.output.as_ref()?;
    let lines: Vec<&str> = out.lines().collect();
    Some(lines[lines.len().saturating_sub(CHAT_OUTPUT_LINES)..].join("\n"))
}

fn title(parts: &Parts) -> String {
    match parts.status {
        Some(s) => format!("{} {}", s.emoji(), parts.headline),
        None => parts.headline.clone(),
    }
}

/// Markdown for DingTalk and WeCom: a heading, facts as a list, the text as a quote.
fn markdown(parts: &Parts, wecom: bool) -> String {
    let mut out = String::new();
    let heading = md(&title(parts));
    if wecom {
        let colour = match parts.status {
            Some(Status::Success) => "info",
            Some(_) => "warning",
            None => "comment",
        };
        let _ = writeln!(out, "### <font color=\"{colour}\">{heading}</font>\n");
    } else {
        let _ = writeln!(out, "### {heading}\n");
    }
    for (label, value) in &parts.facts {
        let _ = writeln!(
            out,
            "- **{}**: {}",
            md(label),
            md(&value.replace('\n', " "))
        );
    }
    if let Some(text) = &parts.text {
        out.push('\n');
        for line in text.lines() {
            let _ = writeln!(out, "> {}", md(line));
        }
    }
    if let Some(output) = chat_output(parts) {
        out.push_str("\n**Output**\n\n");
        for line in output.lines() {
            let _ = writeln!(out, "> {}", md(line));
        }
    }
    out
}

fn dingtalk(parts: &Parts) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": compose::truncate_chars(&parts.headline, 60), "text": cut_bytes(&markdown(parts, false), 18_000) },
    })
}

fn wecom(parts: &Parts) -> Value {
    json!({ "msgtype": "markdown", "markdown": { "content": cut_bytes(&markdown(parts, true), 4096) } })
}

fn feishu(parts: &Parts) -> Value {
    let template = match parts.status {
        Some(Status::Success) => "green",
        Some(Status::Failure) => "red",
        Some(Status::Timeout) => "orange",
        None => "grey",
    };
    let mut elements = Vec::new();
    if !parts.facts.is_empty() {
        let fields: Vec<Value> = parts
            .facts
            .iter()
            .map(|(l, v)| json!({ "is_short": v.chars().count() <= 40, "text": { "tag": "lark_md", "content": format!("**{}**\n{}", md(l), md(v)) } }))
            .collect();
        elements.push(json!({ "tag": "div", "fields": fields }));
    }
    if let Some(text) = &parts.text {
        elements.push(json!({ "tag": "div", "text": { "tag": "plain_text", "content": cut_bytes(text, 8000) } }));
    }
    if let Some(output) = chat_output(parts) {
        elements.push(json!({ "tag": "hr" }));
        elements.push(json!({ "tag": "div", "text": { "tag": "plain_text", "content": cut_bytes(&output, 4000) } }));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": { "wide_screen_mode": true },
            "header": { "template": template, "title": { "tag": "plain_text", "content": title(parts) } },
            "elements": elements,
        },
    })
}

/// Slack's mrkdwn escaping: only `&`, `<` and `>`.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(parts: &Parts) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": compose::truncate_chars(&title(parts), 150), "emoji": true },
    })];
    // Slack allows 10 fields of 2000 characters per section.
    for chunk in parts.facts.chunks(10) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|(l, v)| json!({ "type": "mrkdwn", "text": compose::truncate_chars(&format!("*{}*\n{}", slack_escape(l), slack_escape(v)), 2000) }))
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if let Some(text) = &parts.text {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": compose::truncate_chars(&slack_escape(text), 3000) } }));
    }
    if let Some(output) = chat_output(parts) {
        let code = slack_escape(&output).replace("```", "'''");
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": compose::truncate_chars(&format!("```{code}```"), 3000) } }));
    }
    json!({ "text": title(parts), "blocks": blocks })
}

fn teams(parts: &Parts) -> Value {
    let colour = match parts.status {
        Some(Status::Success) => "Good",
        Some(Status::Failure) => "Attention",
        Some(Status::Timeout) => "Warning",
        None => "Default",
    };
    let mut body = vec![
        json!({ "type": "TextBlock", "text": title(parts), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true }),
    ];
    if !parts.facts.is_empty() {
        let facts: Vec<Value> = parts
            .facts
            .iter()
            .map(|(l, v)| json!({ "title": l, "value": md(v) }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    if let Some(text) = &parts.text {
        body.push(json!({ "type": "TextBlock", "text": md(text), "wrap": true }));
    }
    if let Some(output) = chat_output(parts) {
        body.push(json!({ "type": "TextBlock", "text": md(&output), "fontType": "Monospace", "wrap": true, "isSubtle": true }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

fn telegram(parts: &Parts, chat_id: &str) -> Value {
    let mut text = format!("<b>{}</b>\n\n", html_escape(&title(parts)));
    for (label, value) in &parts.facts {
        let _ = writeln!(
            text,
            "<b>{}</b>: {}",
            html_escape(label),
            html_escape(value)
        );
    }
    if let Some(t) = &parts.text {
        let _ = write!(text, "\n{}\n", html_escape(t));
    }
    let mut full = compose::truncate_chars(&text, 3500);
    if let Some(output) = chat_output(parts) {
        // Telegram allows 4096 characters after entities are parsed; keep the escaped output's
        // tail within what is left, cutting only between characters.
        let room = 4000usize.saturating_sub(full.chars().count() + 12);
        let mut kept = String::new();
        let mut used = 0;
        for c in output.chars().rev() {
            let escaped = html_escape(c.encode_utf8(&mut [0; 4]));
            used += escaped.chars().count();
            if used > room {
                break;
            }
            kept.insert_str(0, &escaped);
        }
        let _ = write!(full, "\n<pre>{kept}</pre>");
    }
    json!({ "chat_id": chat_id, "text": full, "parse_mode": "HTML", "disable_web_page_preview": true })
}

#[cfg(test)]
mod tests;
