//! The built-in words of a notification: the subject (`[hookrun] deploy-web succeeded:
//! swarm:web nginx:1.26 → nginx:1.27`), the facts (target, images, exit code, duration...), the
//! command's own message and the end of its output — and their plain-text and HTML bodies.
//! Chat formats lay the same [`Parts`] out in their own markup (`webhook`).
//!
//! Everything a command wrote is data: it is escaped for each markup and never becomes a link,
//! a tag or a header.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::message::{
    human_duration, readable_time, HeldJob, Message, Notice, NoticeKind, Status, Summary,
};

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

/// Longest subject line, in characters.
const MAX_SUBJECT: usize = 200;

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

/// `nginx:1.26 → nginx:1.27`. Digests are left out when the tags already tell the images apart,
/// and shortened when only the digests do (a re-pushed `:latest`).
pub fn image_change(before: Option<&str>, after: Option<&str>) -> Option<String> {
    match (before, after) {
        (Some(b), Some(a)) if b == a => Some(format!("{a} (unchanged)")),
        (Some(b), Some(a)) => {
            let (bn, an) = (without_digest(b), without_digest(a));
            if bn != an {
                Some(format!("{bn} → {an}"))
            } else {
                Some(format!("{} → {}", short_digest(b), short_digest(a)))
            }
        }
        (None, Some(a)) => Some(format!("→ {}", without_digest(a))),
        (Some(b), None) => Some(format!("{} →", without_digest(b))),
        (None, None) => None,
    }
}

/// `repo:tag@sha256:…` → `repo:tag`; a reference with only a digest is kept.
fn without_digest(image: &str) -> &str {
    match image.split_once('@') {
        Some((name, _))
            if name
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':')) =>
        {
            name
        }
        _ => image,
    }
}

/// `repo:tag@sha256:0123456789abcdef…` → `repo:tag@sha256:0123456789ab`.
fn short_digest(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((name, hex)) => format!("{name}@sha256:{}", hex.get(..12).unwrap_or(hex)),
        None => image.to_string(),
    }
}

/// Control characters (line breaks included) become spaces; at most [`MAX_SUBJECT`] characters.
pub fn one_line(s: &str) -> String {
    let line: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate_chars(&line, MAX_SUBJECT)
}

/// At most `max` characters, with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}

/// The plain-text body.
pub fn plain(p: &Parts) -> String {
    let mut out = String::new();
    // Free text (no facts) is the whole message: the subject line is not repeated.
    if !p.facts.is_empty() {
        let _ = writeln!(out, "{}\n", p.headline);
    }
    let width = p
        .facts
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in &p.facts {
        let _ = writeln!(
            out,
            "{:<width$}  {}",
            format!("{label}:"),
            indent_rest(value, width + 2)
        );
    }
    if let Some(text) = &p.text {
        if !p.facts.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    if let Some(output) = &p.output {
        let _ = writeln!(out, "\nOutput (last lines):");
        for line in output.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let _ = write!(out, "\n-- \nhookrun on {}\n", p.host);
    out
}

fn indent_rest(value: &str, by: usize) -> String {
    value.replace('\n', &format!("\n{}", " ".repeat(by)))
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The banner colour for a status (GitHub's palette; readable as white text).
pub fn colour(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Success) => "#1a7f37",
        Some(Status::Failure) => "#cf222e",
        Some(Status::Timeout) => "#bc4c00",
        None => "#57606a",
    }
}

/// Fonts that render Chinese and Latin text well in every common mail client.
const FONTS: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI','PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC',Helvetica,Arial,sans-serif";
const MONO: &str = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono','Noto Sans Mono CJK SC',monospace";

/// The HTML alternative: a banner in the status colour, a table of facts, the message and the
/// output, with inline styles only (mail clients drop style sheets).
pub fn html(p: &Parts) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f8fa;font-family:{FONTS};font-size:14px;line-height:1.5;color:#1f2328\">\n\
         <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:720px;width:100%;border-collapse:collapse;background:#ffffff;border:1px solid #d0d7de\">\n\
         <tr><td style=\"padding:12px 16px;background:{};color:#ffffff;font-size:16px;font-weight:600\">{}</td></tr>\n<tr><td style=\"padding:12px 16px\">\n",
        html_escape(&p.subject),
        colour(p.status),
        html_escape(&p.headline),
    );
    if !p.facts.is_empty() {
        out.push_str("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">\n");
        for (label, value) in &p.facts {
            let _ = writeln!(
                out,
                "<tr><td style=\"padding:2px 16px 2px 0;color:#59636e;white-space:nowrap;vertical-align:top\">{}</td><td style=\"padding:2px 0;word-break:break-all\">{}</td></tr>",
                html_escape(label),
                html_escape(value)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(text) = &p.text {
        let _ = writeln!(
            out,
            "<p style=\"margin:12px 0 0;white-space:pre-wrap\">{}</p>",
            html_escape(text.trim_end())
        );
    }
    if let Some(output) = &p.output {
        let _ = writeln!(
            out,
            "<p style=\"margin:12px 0 4px;color:#59636e\">Output (last lines)</p>\n<pre style=\"margin:0;padding:8px;background:#f6f8fa;border:1px solid #d0d7de;font-family:{MONO};font-size:12px;white-space:pre-wrap;word-break:break-all\">{}</pre>",
            html_escape(output)
        );
    }
    let _ = write!(
        out,
        "</td></tr>\n<tr><td style=\"padding:8px 16px;border-top:1px solid #d0d7de;color:#59636e;font-size:12px\">hookrun on {}</td></tr>\n</table>\n</body></html>\n",
        html_escape(&p.host)
    );
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    pub(crate) fn deploy(status: Status, values: &[(&str, &str)]) -> Message {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_603);
        Message {
            hook: "deploy-web".into(),
            job_id: "0123456789abcdef0123456789abcdef".into(),
            request_id: "req-1".into(),
            status,
            exit_code: Some(if status == Status::Success { 0 } else { 3 }),
            detail: None,
            started_at: start,
            finished_at: start + Duration::from_millis(12_300),
            result: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            output_tail: "pulling\nupdated".into(),
            host: "node-1".into(),
        }
    }

    #[test]
    fn subject_says_what_changed() {
        let m = deploy(
            Status::Success,
            &[
                ("target", "swarm:web"),
                ("image_before", "nginx:1.26"),
                ("image_after", "nginx:1.27"),
            ],
        );
        assert_eq!(
            parts(&Notice::job(m)).subject,
            "[hookrun] deploy-web succeeded: swarm:web nginx:1.26 → nginx:1.27"
        );
        let m = deploy(
            Status::Failure,
            &[
                ("target", "swarm:web"),
                ("image_before", "nginx:1.27"),
                ("image_after", "nginx:1.28"),
                ("rolled_back", "true"),
            ],
        );
        assert_eq!(
            parts(&Notice::job(m)).subject,
            "[hookrun] deploy-web failed (rolled back): swarm:web nginx:1.27 → nginx:1.28"
        );
        let m = deploy(Status::Failure, &[]);
        assert_eq!(
            parts(&Notice::job(m)).subject,
            "[hookrun] deploy-web failed: exit code 3"
        );
        let m = deploy(Status::Timeout, &[]);
        assert_eq!(
            parts(&Notice::job(m)).subject,
            "[hookrun] deploy-web timed out: after 12.3s"
        );
    }

    #[test]
    fn image_changes() {
        assert_eq!(
            image_change(Some("r/web:1@sha256:aa"), Some("r/web:2@sha256:bb")).unwrap(),
            "r/web:1 → r/web:2"
        );
        let (a, b) = (
            format!("web:latest@sha256:{}", "a".repeat(64)),
            format!("web:latest@sha256:{}", "b".repeat(64)),
        );
        assert_eq!(
            image_change(Some(&a), Some(&b)).unwrap(),
            "web:latest@sha256:aaaaaaaaaaaa → web:latest@sha256:bbbbbbbbbbbb"
        );
        assert_eq!(
            image_change(Some("localhost:5000/web@sha256:aa"), Some("x")).unwrap(),
            "localhost:5000/web@sha256:aa → x"
        );
        assert_eq!(image_change(None, Some("x:1")).unwrap(), "→ x:1");
        assert_eq!(
            image_change(Some("x:1"), Some("x:1")).unwrap(),
            "x:1 (unchanged)"
        );
        assert_eq!(image_change(None, None), None);
    }

    #[test]
    fn bodies_name_everything_and_escape_values() {
        let m = deploy(
            Status::Failure,
            &[
                ("target", "container:web"),
                ("image_before", "web:1"),
                ("image_after", "web:2"),
                ("message", "<script>alert(1)</script> 回滚成功"),
                ("build_url", "https://ci/1"),
            ],
        );
        let p = parts(&Notice::job(m));
        let text = plain(&p);
        for want in [
            "deploy-web failed",
            "Image before:",
            "web:1",
            "web:2",
            "exit code 3",
            "build_url:",
            "回滚成功",
            "Output (last lines):\n  pulling\n  updated",
        ] {
            assert!(text.contains(want), "{want:?} missing in\n{text}");
        }
        let page = html(&p);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; 回滚成功"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("#cf222e"));
    }

    #[test]
    fn user_subject_and_body_replace_the_built_in_ones() {
        let mut n = Notice::job(deploy(Status::Success, &[]));
        n.subject = Some("部署完成\r\nBcc: x@y".into());
        n.body = Some("自定义正文".into());
        let p = parts(&n);
        assert_eq!(p.subject, "部署完成  Bcc: x@y");
        assert!(p.facts.is_empty() && p.output.is_none());
        assert_eq!(p.text.as_deref(), Some("自定义正文"));
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("部署完成了", 3), "部署…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }
}
