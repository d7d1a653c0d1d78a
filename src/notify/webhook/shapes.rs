//! The bodies of each webhook format (see the parent module's list): hookrun's JSON, and the
//! chat services' documented shapes built from a notice's composed parts.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::super::compose::{self, html_escape, Parts};
use super::super::message::{rfc3339, Notice, Status};

pub(super) fn json_body(notice: &Notice, parts: &Parts, now: SystemTime, delivery: &str) -> Value {
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
pub(super) fn md(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

/// At most `max` bytes of UTF-8, cut at a character boundary.
pub(super) fn cut_bytes(s: &str, max: usize) -> String {
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

pub(super) fn chat_output(parts: &Parts) -> Option<String> {
    let out = parts.output.as_ref()?;
    let lines: Vec<&str> = out.lines().collect();
    Some(lines[lines.len().saturating_sub(CHAT_OUTPUT_LINES)..].join("\n"))
}

pub(super) fn title(parts: &Parts) -> String {
    match parts.status {
        Some(s) => format!("{} {}", s.emoji(), parts.headline),
        None => parts.headline.clone(),
    }
}

/// Markdown for DingTalk and WeCom: a heading, facts as a list, the text as a quote.
pub(super) fn markdown(parts: &Parts, wecom: bool) -> String {
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

pub(super) fn dingtalk(parts: &Parts) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": compose::truncate_chars(&parts.headline, 60), "text": cut_bytes(&markdown(parts, false), 18_000) },
    })
}

pub(super) fn wecom(parts: &Parts) -> Value {
    json!({ "msgtype": "markdown", "markdown": { "content": cut_bytes(&markdown(parts, true), 4096) } })
}

pub(super) fn feishu(parts: &Parts) -> Value {
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
pub(super) fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn slack(parts: &Parts) -> Value {
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

pub(super) fn teams(parts: &Parts) -> Value {
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

pub(super) fn telegram(parts: &Parts, chat_id: &str) -> Value {
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
