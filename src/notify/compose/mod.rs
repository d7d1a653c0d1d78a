//! The built-in words of a notification: the subject (`[hookrun] deploy-web succeeded:
//! swarm:web nginx:1.26 → nginx:1.27`), the facts (target, images, exit code, duration...), the
//! command's own message and the end of its output — and their plain-text and HTML bodies.
//! Chat formats lay the same [`Parts`] out in their own markup (`webhook`).
//!
//! Everything a command wrote is data: it is escaped for each markup and never becomes a link,
//! a tag or a header.
//!
//! # Layout
//! - this file: [`Parts`] and how a job, a summary or free text becomes them;
//! - `text`: one-line values: image changes, subjects, cutting at a number of characters;
//! - `body`: the plain-text and HTML bodies.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::message::{
    human_duration, readable_time, HeldJob, Message, Notice, NoticeKind, Status, Summary,
};

mod body;
mod text;

pub use body::{colour, html, html_escape, plain};
pub use text::{image_change, one_line, truncate_chars};

/// Result keys shown under their own labels; others are listed by name.
const KNOWN_KEYS: &[&str] = &[
    "target",
    "image_before",
    "image_after",
    "digest",
    "rolled_back",
    "message",
    "status",
];

/// Result values besides the known ones that are shown, at most.
const EXTRA_VALUES: usize = 10;

/// A notification's content, before any markup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    pub status: Option<Status>,
    /// `deploy-web succeeded: swarm:web nginx:1.26 → nginx:1.27` (chat titles).
    pub headline: String,
    /// The mail subject: `[hookrun] ` + headline, or the user's.
    pub subject: String,
    /// Label and value pairs.
    pub facts: Vec<(String, String)>,
    /// The command's message, a summary's list, free text or the user's body.
    pub text: Option<String>,
    /// The end of the command's output.
    pub output: Option<String>,
    /// The machine that sent it.
    pub host: String,
}

/// Lays a notice out as [`Parts`], applying the user's subject and body when given.
pub fn parts(notice: &Notice) -> Parts {
    let mut parts = match &notice.kind {
        NoticeKind::Job(m) => job_parts(m),
        NoticeKind::Summary(s) => summary_parts(s),
        NoticeKind::Text {
            subject,
            text,
            status,
            host,
        } => Parts {
            status: *status,
            headline: one_line(subject),
            subject: one_line(subject),
            facts: Vec::new(),
            text: Some(text.clone()).filter(|t| !t.trim().is_empty()),
            output: None,
            host: host.clone(),
        },
    };
    if let Some(subject) = &notice.subject {
        parts.subject = one_line(subject);
        parts.headline = parts.subject.clone();
    }
    if let Some(body) = &notice.body {
        parts.facts.clear();
        parts.text = Some(body.clone());
        parts.output = None;
    }
    parts
}

fn job_parts(m: &Message) -> Parts {
    let mut headline = format!("{} {}", m.hook, m.status.verb());
    if m.status != Status::Success && m.rolled_back() == Some(true) {
        headline.push_str(" (rolled back)");
    }
    let mut what = Vec::new();
    if let Some(target) = m.target() {
        what.push(target.to_string());
    }
    if let Some(change) = image_change(m.image_before(), m.image_after()) {
        what.push(change);
    }
    if what.is_empty() {
        match m.status {
            Status::Success => {}
            Status::Timeout => what.push(format!("after {}", human_duration(m.duration()))),
            Status::Failure => match (m.exit_code, &m.detail) {
                (Some(code), _) => what.push(format!("exit code {code}")),
                (None, Some(detail)) => what.push(detail.clone()),
                (None, None) => {}
            },
        }
    }
    if !what.is_empty() {
        headline = format!("{headline}: {}", what.join(" "));
    }
    let headline = one_line(&headline);
    Parts {
        status: Some(m.status),
        subject: one_line(&format!("[hookrun] {headline}")),
        headline,
        facts: job_facts(m),
        text: m.value("message").map(str::to_string),
        output: Some(m.output_tail.clone()).filter(|o| !o.trim().is_empty()),
        host: m.host.clone(),
    }
}

fn job_facts(m: &Message) -> Vec<(String, String)> {
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, value: String| facts.push((label.to_string(), value));
    let mut status = m.status.verb().to_string();
    match (m.exit_code, &m.detail) {
        (Some(code), _) if m.status != Status::Timeout => {
            let _ = write!(status, " (exit code {code})");
        }
        (_, Some(detail)) => {
            let _ = write!(status, " ({detail})");
        }
        _ => {}
    }
    add("Status", status);
    add("Hook", m.hook.clone());
    if let Some(v) = m.target() {
        add("Target", v.to_string());
    }
    if let Some(v) = m.image_before() {
        add("Image before", v.to_string());
    }
    if let Some(v) = m.image_after() {
        add("Image after", v.to_string());
    }
    if let Some(v) = m.value("digest") {
        add("Digest", v.to_string());
    }
    if let Some(v) = m.rolled_back() {
        add("Rolled back", if v { "yes" } else { "no" }.to_string());
    }
    if let Some(v) = m.value("status") {
        add("Result", v.to_string());
    }
    for (key, value) in m
        .result
        .iter()
        .filter(|(k, v)| !KNOWN_KEYS.contains(&k.as_str()) && !v.trim().is_empty())
        .take(EXTRA_VALUES)
    {
        add(key, value.clone());
    }
    add("Duration", human_duration(m.duration()));
    add("Started", readable_time(m.started_at));
    add("Finished", readable_time(m.finished_at));
    add("Host", m.host.clone());
    add("Job", m.job_id.clone());
    if !m.request_id.is_empty() {
        add("Request", m.request_id.clone());
    }
    facts
}

fn summary_parts(s: &Summary) -> Parts {
    let headline = format!(
        "{}: {} more notification{} held back by the rate limit ({} per minute)",
        s.hook,
        s.held,
        if s.held == 1 { "" } else { "s" },
        s.limit_per_minute
    );
    let count = |st: Status| s.listed.iter().filter(|j| j.status == st).count();
    let mut facts = vec![
        ("Hook".to_string(), s.hook.clone()),
        ("Held back".to_string(), s.held.to_string()),
    ];
    for (label, st) in [
        ("Failed", Status::Failure),
        ("Timed out", Status::Timeout),
        ("Succeeded", Status::Success),
    ] {
        let n = count(st);
        if n > 0 {
            facts.push((label.to_string(), n.to_string()));
        }
    }
    facts.push(("Host".to_string(), s.host.clone()));
    let mut text: String = s.listed.iter().map(held_line).collect();
    if s.held > s.listed.len() {
        let _ = writeln!(text, "… and {} more", s.held - s.listed.len());
    }
    Parts {
        status: Some(s.worst()),
        subject: one_line(&format!("[hookrun] {headline}")),
        headline,
        facts,
        text: Some(text.trim_end().to_string()),
        output: None,
        host: s.host.clone(),
    }
}

fn held_line(j: &HeldJob) -> String {
    format!(
        "{}  {}  job {}  {}\n",
        readable_time(j.finished_at),
        j.status.verb(),
        short_id(&j.job_id),
        j.line
    )
}

/// The one-line description of a job a summary lists: its headline without the hook.
pub fn held_job(m: &Message, finished_at: SystemTime) -> HeldJob {
    let parts = job_parts(m);
    let line = parts
        .headline
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    HeldJob {
        job_id: m.job_id.clone(),
        status: m.status,
        finished_at,
        line,
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests;
