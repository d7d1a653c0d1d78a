//! `GET /jobs/{id}` (the job as JSON) and `GET /jobs/{id}/output` (the output, live: chunked
//! text, or Server-Sent Events for `Accept: text/event-stream`). The router sends only
//! job-shaped ids here (`jobs::is_job_id`), so no hook id is shadowed in practice.

use axum::response::Response;
use http::{header, Request};

use super::error::HttpError;
use super::reply::{self, OutputFraming};
use super::AppState;

/// Answers a jobs path for the job `id`; `output` for `/jobs/{id}/output`.
pub(super) fn answer<B>(
    state: &AppState,
    id: &str,
    output: bool,
    req: &Request<B>,
) -> Result<Response, HttpError> {
    let job = state.jobs.get(id).ok_or(HttpError::JobNotFound)?;
    let with_output = state.settings.job_output;
    if !output {
        return Ok(reply::job_json(&job, with_output));
    }
    if !with_output {
        return Err(HttpError::JobOutputHidden);
    }
    let sse = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let framing = if sse {
        OutputFraming::EventStream
    } else {
        OutputFraming::Plain
    };
    Ok(reply::job_output(job, framing))
}
