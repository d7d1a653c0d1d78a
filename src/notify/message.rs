//! What a notification is about: a finished job ([`Message`]), and the [`Notice`] every channel
//! renders, built from a job, from a rate-limit summary or from free text (`hookrun notify`).
//!
//! [`Message::data`] is hookrun's documented JSON view of a job: the `json` webhook format sends
//! it and user templates see it as `.`, so both speak the same field names.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How a job ended, as far as notifications are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Success,
    /// Non-zero exit, killed by a signal, could not start.
    Failure,
    /// The command's timeout passed and it was killed.
    Timeout,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Timeout => "timeout",
        }
    }

    /// The verb of a subject line: "deploy-web succeeded".
    pub fn verb(self) -> &'static str {
        match self {
            Status::Success => "succeeded",
            Status::Failure => "failed",
            Status::Timeout => "timed out",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            Status::Success => "✅",
            Status::Failure => "❌",
            Status::Timeout => "⏱️",
        }
    }
}

/// Lines and bytes of a command's output that a notification carries.
pub const OUTPUT_TAIL_LINES: usize = 20;
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// A finished job, as notifications tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub hook: String,
    pub job_id: String,
    /// Empty when unknown.
    pub request_id: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    /// What else is known about a failure: "killed by signal 9", "exec: not found".
    pub detail: Option<String>,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    /// The command's `HOOKRUN_RESULT` values (`target`, `image_before`, `image_after`, `digest`,
    /// `rolled_back`, `message`, `status`, and whatever else it wrote).
    pub result: BTreeMap<String, String>,
    /// The end of the command's output; see [`output_tail`].
    pub output_tail: String,
    /// The machine hookrun runs on.
    pub host: String,
}

impl Message {
    pub fn duration(&self) -> Duration {
        self.finished_at
            .duration_since(self.started_at)
            .unwrap_or_default()
    }

    /// A result value, if the command wrote a non-empty one.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.result
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn target(&self) -> Option<&str> {
        self.value("target")
    }

    pub fn image_before(&self) -> Option<&str> {
        self.value("image_before")
    }

    pub fn image_after(&self) -> Option<&str> {
        self.value("image_after")
    }

    /// `rolled_back` as written by the bundled scripts (`true`/`false`); anything else is
    /// unknown.
    pub fn rolled_back(&self) -> Option<bool> {
        match self.value("rolled_back")?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        }
    }

    /// hookrun's JSON view of the job (the `json` format's fields, a template's `.`).
    pub fn data(&self) -> Value {
        json!({
            "hook": self.hook,
            "job_id": self.job_id,
            "request_id": self.request_id,
            "status": self.status.as_str(),
            "exit_code": self.exit_code,
            "detail": self.detail,
            "started_at": rfc3339(self.started_at),
            "finished_at": rfc3339(self.finished_at),
            "duration_ms": u64::try_from(self.duration().as_millis()).unwrap_or(u64::MAX),
            "duration": human_duration(self.duration()),
            "host": self.host,
            "result": self.result,
            "output_tail": self.output_tail,
        })
    }
}

/// The last [`OUTPUT_TAIL_LINES`] lines of `output`, at most [`OUTPUT_TAIL_BYTES`], cut at a
/// character boundary; trailing blank lines dropped.
pub fn output_tail(output: &str) -> String {
    let trimmed = output.trim_end();
    let mut start = 0;
    for (count, (i, _)) in trimmed.rmatch_indices('\n').enumerate() {
        if count + 1 == OUTPUT_TAIL_LINES {
            start = i + 1;
            break;
        }
    }
    let mut tail = &trimmed[start..];
    if tail.len() > OUTPUT_TAIL_BYTES {
        let mut cut = tail.len() - OUTPUT_TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = &tail[cut..];
    }
    tail.to_string()
}

/// One job held back by the rate limit, as the summary lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldJob {
    pub job_id: String,
    pub status: Status,
    pub finished_at: SystemTime,
    /// The job's one-line description (target and images, or the exit code).
    pub line: String,
}

/// Jobs listed in a summary; more are only counted.
pub const SUMMARY_LISTED: usize = 50;

/// What a summary says: which notifications of a hook were held back by its rate limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub hook: String,
    pub host: String,
    /// The first [`SUMMARY_LISTED`] held jobs.
    pub listed: Vec<HeldJob>,
    /// How many were held in all.
    pub held: usize,
    pub limit_per_minute: u32,
}

impl Summary {
    pub fn data(&self) -> Value {
        let count = |s: Status| self.listed.iter().filter(|j| j.status == s).count();
        json!({
            "hook": self.hook,
            "host": self.host,
            "held": self.held,
            "limit_per_minute": self.limit_per_minute,
            "listed": {
                "success": count(Status::Success),
                "failure": count(Status::Failure),
                "timeout": count(Status::Timeout),
            },
            "jobs": self.listed.iter().map(|j| json!({
                "job_id": j.job_id,
                "status": j.status.as_str(),
                "finished_at": rfc3339(j.finished_at),
                "line": j.line,
            })).collect::<Vec<_>>(),
        })
    }

    /// The worst status among the listed jobs (for colours and icons).
    pub fn worst(&self) -> Status {
        let has = |s| self.listed.iter().any(|j| j.status == s);
        if has(Status::Failure) {
            Status::Failure
        } else if has(Status::Timeout) {
            Status::Timeout
        } else {
            Status::Success
        }
    }
}

/// What a channel renders: one of three kinds of notification, with optional user-rendered
/// subject and body replacing the built-in ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// A subject rendered from the target's template; the built-in one otherwise.
    pub subject: Option<String>,
    /// A body rendered from the target's template; replaces the built-in body.
    pub body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Job(Box<Message>),
    Summary(Summary),
    /// Free text, e.g. from `hookrun notify`; `status` only colours it.
    Text {
        subject: String,
        text: String,
        status: Option<Status>,
        host: String,
    },
}

impl Notice {
    pub fn job(message: Message) -> Notice {
        Notice {
            kind: NoticeKind::Job(Box::new(message)),
            subject: None,
            body: None,
        }
    }

    pub fn text(subject: String, text: String, status: Option<Status>, host: String) -> Notice {
        Notice {
            kind: NoticeKind::Text {
                subject,
                text,
                status,
                host,
            },
            subject: None,
            body: None,
        }
    }

    pub fn status(&self) -> Option<Status> {
        match &self.kind {
            NoticeKind::Job(m) => Some(m.status),
            NoticeKind::Summary(s) => Some(s.worst()),
            NoticeKind::Text { status, .. } => *status,
        }
    }

    /// The `event` field of the JSON format.
    pub fn event(&self) -> &'static str {
        match &self.kind {
            NoticeKind::Job(_) => "job",
            NoticeKind::Summary(_) => "summary",
            NoticeKind::Text { .. } => "message",
        }
    }

    /// The job this notice is about, if one.
    pub fn job_id(&self) -> Option<&str> {
        match &self.kind {
            NoticeKind::Job(m) => Some(&m.job_id),
            _ => None,
        }
    }

    /// The JSON view: a job's [`Message::data`], a summary's, or the text's.
    pub fn data(&self) -> Value {
        match &self.kind {
            NoticeKind::Job(m) => m.data(),
            NoticeKind::Summary(s) => s.data(),
            NoticeKind::Text { host, status, .. } => json!({
                "host": host,
                "status": status.map(Status::as_str),
            }),
        }
    }
}

/// RFC 3339 in UTC with seconds: `2024-05-01T10:00:03Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `2024-05-01 10:00:03 UTC`: for people.
pub fn readable_time(t: SystemTime) -> String {
    let s = rfc3339(t);
    format!("{} UTC", s.trim_end_matches('Z').replacen('T', " ", 1))
}

/// `850ms`, `12.3s`, `4m 05s`, `1h 02m`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    if secs < 3600 {
        return format!("{}m {:02}s", secs / 60, secs % 60);
    }
    format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_and_bytes() {
        let out: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let tail = output_tail(&format!("{out}\n\n"));
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"));
        let long = "é".repeat(5000);
        let tail = output_tail(&long);
        assert!(tail.len() <= OUTPUT_TAIL_BYTES && tail.chars().all(|c| c == 'é'));
        assert_eq!(output_tail(""), "");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn times_are_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_603);
        assert_eq!(rfc3339(t), "2024-05-01T10:00:03Z");
        assert_eq!(readable_time(t), "2024-05-01 10:00:03 UTC");
    }
}
