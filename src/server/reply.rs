//! How a triggered hook answers once its job is submitted: the reference's answers with the
//! command's output (success and failure), and streaming the output as it is produced.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::respond::{self, go_text};
use crate::config::Hook;
use crate::exec::Exit;
use crate::jobs::{Job, JobState};

pub(super) fn success_status(hook: &Hook) -> StatusCode {
    hook.success_status
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK)
}

/// `include-command-output-in-response`: the reference's answers for success and failure.
pub(super) fn captured(hook: &Hook, job: &Job, headers: HeaderMap) -> Response {
    let output = job.output.snapshot().combined;
    match job.state() {
        JobState::Succeeded => go_text(success_status(hook), headers, output),
        JobState::Superseded => go_text(
            StatusCode::CONFLICT,
            headers,
            "Superseded by a newer request before it ran.\n",
        ),
        _ if hook.capture_output_on_error => {
            go_text(StatusCode::INTERNAL_SERVER_ERROR, headers, output)
        }
        // The reference sets text/plain after WriteHeader, which Go ignores: a hook's own
        // Content-Type stays, otherwise the text sniffs as text/plain.
        _ => go_text(
            StatusCode::INTERNAL_SERVER_ERROR,
            headers,
            respond::COMMAND_ERROR,
        ),
    }
}

/// `stream-command-output`: the status goes out at once, then the output as it is produced;
/// a failed run ends with a `hookrun:` trailer line naming the job and how it ended.
pub(super) fn stream(hook: &Hook, job: Arc<Job>, headers: HeaderMap) -> Response {
    let body =
        futures_util::stream::unfold((job, 0usize, false), |(job, offset, done)| async move {
            if done {
                return None;
            }
            match job.output.next_chunk(offset).await {
                Some(chunk) => {
                    let next = offset + chunk.len();
                    Some((Ok::<_, std::io::Error>(chunk), (job, next, false)))
                }
                None => {
                    job.wait().await;
                    let trailer = trailer_line(&job);
                    trailer.map(|t| (Ok(Bytes::from(t)), (job, offset, true)))
                }
            }
        });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = success_status(hook);
    *resp.headers_mut() = headers;
    resp.headers_mut()
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

fn trailer_line(job: &Job) -> Option<String> {
    let how = match job.exit() {
        Some(Exit::Code(0)) => return None,
        Some(Exit::Code(c)) => format!("failed with exit code {c}"),
        Some(Exit::Signal(s)) => format!("was killed by signal {s}"),
        Some(Exit::TimedOut) => "timed out".to_string(),
        Some(Exit::Canceled) => "was canceled at shutdown".to_string(),
        Some(Exit::SpawnFailed(_)) => "could not start its command".to_string(),
        None => format!("ended as {:?}", job.state()),
    };
    Some(format!("\nhookrun: job {} {how}\n", job.id))
}
