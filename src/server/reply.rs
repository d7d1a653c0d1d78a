//! Every success response, built here only: a hook's answers (the reference's texts, the
//! command's output, or the output streamed as it is produced) with the headers that go with
//! them, `/`'s `OK`, and the jobs endpoints' JSON and live output. Failures are `HttpError`s.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::error::HttpError;
use super::gohttp::{go_text, sniff, typed_text, with_context_headers};
use super::Settings;
use crate::config::Hook;
use crate::jobs::{Ending, Job, JobState};

pub const RULES_NOT_SATISFIED: &str = "Hook rules were not satisfied.";
/// The Content-Type Go sniffs from [`RULES_NOT_SATISFIED`], the most frequent answer: sniffed
/// once rather than per request.
static RULES_NOT_SATISFIED_TYPE: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_static(sniff(RULES_NOT_SATISFIED.as_bytes())));
pub const JOB_ID_HEADER: &str = "hookrun-job-id";

/// The jobs a triggered request submitted, one per input its rules let through: the first
/// one's run is what the hook answers with.
#[derive(Debug)]
pub(super) struct Started {
    pub first: Arc<Job>,
    /// Every job, the first included, in order.
    pub all: Vec<Arc<Job>>,
}

/// What a hook request came to, short of an error.
#[derive(Debug)]
pub(super) enum Answer {
    /// No rule held: the reference's text, with the hook's mismatch status.
    RulesNotSatisfied,
    /// A registry delivery that carries no image push: 200 and why, so the sender does not
    /// retry it.
    NothingToDeploy { reason: String },
    /// The rules held and jobs were submitted (one per image push); the hook answers at once
    /// with its `response-message`.
    Accepted { jobs: Started },
    /// `include-command-output-in-response`: the first job has ended as `ending`.
    Finished { jobs: Started, ending: Ending },
    /// `stream-command-output`: the first job's output, as it is produced.
    Streaming { jobs: Started },
    /// The hook is paused: nothing ran. A registry is answered 200 (it would retry anything
    /// else, and deploy after the resume what the pause was for), anyone else 423 Locked.
    Paused { registry: bool },
    /// A delivery seen before whose jobs are no longer in memory: their ids, and the answer
    /// an accepted request gets.
    Duplicate { job_ids: Vec<String> },
}

impl Answer {
    fn job_ids(&self) -> Option<Vec<&str>> {
        match self {
            Answer::Accepted { jobs }
            | Answer::Finished { jobs, .. }
            | Answer::Streaming { jobs } => Some(jobs.all.iter().map(|j| j.id.as_str()).collect()),
            Answer::Duplicate { job_ids } => Some(job_ids.iter().map(String::as_str).collect()),
            Answer::RulesNotSatisfied | Answer::NothingToDeploy { .. } | Answer::Paused { .. } => {
                None
            }
        }
    }
}

/// The response to a request for `hook`, with the headers that go with it: `-header` values
/// always; once the hook's rules held, its `response-headers` and the ids of its jobs too.
/// `headers` is an empty map to write them into (the request's, whose room is kept).
pub(super) fn hook_response(
    settings: &Settings,
    hook: &Hook,
    result: Result<Answer, HttpError>,
    headers: HeaderMap,
) -> Response {
    let triggered = match &result {
        Ok(answer) => answer.job_ids().is_some(),
        Err(e) => e.after_trigger(),
    };
    let job_ids = result
        .as_ref()
        .ok()
        .and_then(Answer::job_ids)
        .and_then(|ids| HeaderValue::try_from(ids.join(", ")).ok());
    let resp = match result {
        Ok(answer) => answer_response(hook, answer, headers),
        Err(e) => e.into_response(),
    };
    let hook_headers = if triggered {
        &hook.response_headers[..]
    } else {
        &[]
    };
    // Most answers (a refusal, with no `-header`) have no context headers to add.
    if settings.response_headers.is_empty() && hook_headers.is_empty() && job_ids.is_none() {
        return resp;
    }
    let mut context = HeaderMap::new();
    for (name, value) in settings.response_headers.iter().chain(hook_headers) {
        context.insert(name.clone(), value.clone());
    }
    if let Some(v) = job_ids {
        context.insert(JOB_ID_HEADER, v);
    }
    with_context_headers(resp, context)
}

/// The response to `answer`, its headers written into `none` (an empty map).
fn answer_response(hook: &Hook, answer: Answer, none: HeaderMap) -> Response {
    debug_assert!(none.is_empty());
    match answer {
        Answer::RulesNotSatisfied => typed_text(
            configured_status(hook.mismatch_status),
            none,
            RULES_NOT_SATISFIED_TYPE.clone(),
            RULES_NOT_SATISFIED,
        ),
        Answer::NothingToDeploy { reason } => go_text(StatusCode::OK, none, format!("{reason}\n")),
        Answer::Accepted { .. } | Answer::Duplicate { .. } => go_text(
            configured_status(hook.success_status),
            none,
            hook.response_message.clone(),
        ),
        Answer::Paused { registry } => {
            let status = if registry {
                StatusCode::OK
            } else {
                StatusCode::LOCKED
            };
            let mut h = none;
            h.insert("hookrun-paused", HeaderValue::from_static("true"));
            go_text(
                status,
                h,
                format!("Hook {} is paused; nothing was run.\n", hook.id),
            )
        }
        Answer::Finished { jobs, ending } => {
            let output = || Bytes::from(jobs.first.output.snapshot().combined);
            match ending.state {
                JobState::Succeeded => {
                    go_text(configured_status(hook.success_status), none, output())
                }
                JobState::Superseded => HttpError::Superseded.into_response(),
                _ => HttpError::CommandFailed {
                    output: hook.capture_output_on_error.then(output),
                }
                .into_response(),
            }
        }
        Answer::Streaming { jobs } => {
            let body = output_body(jobs.first, OutputFraming::WithTrailer);
            streamed(
                configured_status(hook.success_status),
                "text/plain; charset=utf-8",
                body,
            )
        }
    }
}

/// A hook's configured status code; 200 when unset (validation drops codes Go has no text for).
fn configured_status(code: Option<u16>) -> StatusCode {
    code.and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK)
}

/// `GET /`: the reference's liveness answer.
pub(super) fn root() -> Response {
    go_text(StatusCode::OK, HeaderMap::new(), "OK")
}

/// `GET /jobs/{id}`: the job as JSON; its output only `with_output`.
pub(super) fn job_json(job: &Job, with_output: bool) -> Response {
    view_json(&job.view(with_output))
}

/// A job record as JSON (a live job's or a stored one's).
pub(super) fn view_json(view: &crate::jobs::JobView) -> Response {
    let body = serde_json::to_vec_pretty(view).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /jobs/{id}/output`: the output from the start until the job ends.
pub(super) fn job_output(job: Arc<Job>, framing: OutputFraming) -> Response {
    let content_type = match framing {
        OutputFraming::EventStream => "text/event-stream",
        OutputFraming::Plain | OutputFraming::WithTrailer => "text/plain; charset=utf-8",
    };
    let mut resp = streamed(StatusCode::OK, content_type, output_body(job, framing));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// `GET /jobs/{id}/output` of a job read back from the store: its output (records from before
/// output was one stream keep stderr apart: it follows), then, for SSE, the `end` event.
pub(super) fn stored_output(job: crate::store::StoredJob, sse: bool) -> Response {
    let mut out = Vec::new();
    let text = [job.stdout.as_bytes(), job.stderr.as_bytes()].concat();
    if sse {
        if !text.is_empty() {
            out.extend_from_slice(&sse_event("output", &text));
        }
        let end = serde_json::to_string(&job.view.state).unwrap_or_default();
        out.extend_from_slice(&sse_event("end", end.as_bytes()));
    } else {
        out = text;
    }
    let kind = if sse {
        "text/event-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = streamed(StatusCode::OK, kind, Body::from(out));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /jobs/{id}/output` of a job running on another replica (replicas sharing a store):
/// its record is read every half second and what its output gained is sent, then, for SSE,
/// the `end` event once it has ended.
pub(super) fn remote_output(
    store: Arc<crate::store::Store>,
    job: crate::store::StoredJob,
    sse: bool,
) -> Response {
    struct Follow {
        store: Arc<crate::store::Store>,
        id: String,
        stdout: String,
        stderr: String,
        started: bool,
        done: bool,
        unread_since: Option<std::time::Instant>,
    }
    let follow = Follow {
        store,
        id: job.view.id.clone(),
        stdout: String::new(),
        stderr: String::new(),
        started: false,
        done: false,
        unread_since: None,
    };
    let frame = move |text: String| {
        if sse {
            sse_event("output", text.as_bytes())
        } else {
            Bytes::from(text)
        }
    };
    let chunks = futures_util::stream::unfold(follow, move |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            if f.started {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            f.started = true;
            let Some(job) = f.store.job(&f.id).await else {
                // The store cannot be read (or the job is gone): give up after a minute.
                let since = *f.unread_since.get_or_insert_with(std::time::Instant::now);
                f.done = since.elapsed() > std::time::Duration::from_secs(60);
                continue;
            };
            f.unread_since = None;
            let mut text = grown(&f.stdout, &job.stdout);
            text.push_str(&grown(&f.stderr, &job.stderr));
            f.stdout = job.stdout;
            f.stderr = job.stderr;
            let ended = job.view.state.is_final();
            let mut out = Vec::new();
            if !text.is_empty() {
                out.extend_from_slice(&frame(text));
            }
            if ended {
                f.done = true;
                if sse {
                    let end = serde_json::to_string(&job.view.state).unwrap_or_default();
                    out.extend_from_slice(&sse_event("end", end.as_bytes()));
                }
            }
            if !out.is_empty() {
                return Some((Ok::<_, std::io::Error>(Bytes::from(out)), f));
            }
        }
    });
    let kind = if sse {
        "text/event-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = streamed(StatusCode::OK, kind, Body::from_stream(chunks));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// What `now` has beyond `before` (from where they first differ, at a character boundary:
/// the last character of a snapshot may have been an incomplete one).
fn grown(before: &str, now: &str) -> String {
    let mut common = before
        .bytes()
        .zip(now.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !now.is_char_boundary(common) {
        common -= 1;
    }
    now[common..].to_string()
}

fn streamed(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// How a job's output is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutputFraming {
    /// The bytes as the command wrote them.
    Plain,
    /// The bytes, then, if the job failed, a `hookrun:` line naming it and how it ended.
    WithTrailer,
    /// Server-Sent Events: `output` events, then an `end` event with the final state.
    EventStream,
}

impl OutputFraming {
    fn chunk(self, chunk: Bytes) -> Bytes {
        match self {
            OutputFraming::EventStream => sse_event("output", &chunk),
            OutputFraming::Plain | OutputFraming::WithTrailer => chunk,
        }
    }

    /// What follows the output once the job has ended.
    fn end(self, job: &Job) -> Option<Bytes> {
        match self {
            OutputFraming::Plain => None,
            OutputFraming::WithTrailer => {
                let how = job.ending()?.summary()?;
                Some(Bytes::from(format!("\nhookrun: job {} {how}\n", job.id)))
            }
            OutputFraming::EventStream => {
                let end = serde_json::to_string(&job.state()).unwrap_or_default();
                Some(sse_event("end", end.as_bytes()))
            }
        }
    }
}

/// The one stream of a job's output, for hook responses and the jobs endpoint alike: from the
/// start, each chunk as it is produced, until the job has ended.
fn output_body(job: Arc<Job>, framing: OutputFraming) -> Body {
    let chunks = futures_util::stream::unfold(
        (job, 0usize, false),
        move |(job, offset, done)| async move {
            if done {
                return None;
            }
            match job.output.next_chunk(offset).await {
                Some(chunk) => {
                    let next = offset + chunk.len();
                    Some((
                        Ok::<_, std::io::Error>(framing.chunk(chunk)),
                        (job, next, false),
                    ))
                }
                None => {
                    job.wait().await;
                    let last = framing.end(&job)?;
                    Some((Ok(last), (job, offset, true)))
                }
            }
        },
    );
    Body::from_stream(chunks)
}

/// One SSE event; each line of `data` becomes a `data:` field.
fn sse_event(event: &str, data: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(data);
    let mut out = format!("event: {event}\n");
    for line in text.split('\n') {
        out.push_str("data: ");
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grown_output_is_the_new_part() {
        assert_eq!(grown("", "abc"), "abc");
        assert_eq!(grown("ab", "abc"), "c");
        assert_eq!(grown("abc", "abc"), "");
        // A character cut in the earlier snapshot (shown as U+FFFD) arrives whole later.
        assert_eq!(grown("a\u{FFFD}", "aé!"), "é!");
    }

    #[test]
    fn sse_framing() {
        assert_eq!(
            sse_event("output", b"a\nb"),
            Bytes::from("event: output\ndata: a\ndata: b\n\n")
        );
    }
}
