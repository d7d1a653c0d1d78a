//! `GET /jobs/{id}` (the job as JSON) and `GET /jobs/{id}/output` (the output, live: chunked
//! text, or Server-Sent Events for `Accept: text/event-stream`). The router sends only
//! job-shaped ids here (`jobs::is_job_id`), so no hook id is shadowed in practice. A job no
//! longer in memory is read from the store; one running on another replica (a shared store)
//! is followed through its record, which the replica running it rewrites as output arrives. The id is the caller's capability: these two URLs
//! need no admin credential (listings do, see `admin_api`).

use axum::response::Response;
use http::{header, Request};

use super::error::HttpError;
use super::reply::{self, OutputFraming};
use super::AppState;

/// Answers a jobs path for the job `id`; `output` for `/jobs/{id}/output`.
pub(super) async fn answer<B>(
    state: &AppState,
    id: &str,
    output: bool,
    req: &Request<B>,
) -> Result<Response, HttpError> {
    let with_output = state.settings.job_output;
    let Some(job) = state.jobs.get(id) else {
        let stored = state
            .jobs
            .store()
            .job(id)
            .await
            .ok_or(HttpError::JobNotFound)?;
        if !output {
            return Ok(reply::view_json(&stored.into_view(with_output)));
        }
        if !with_output {
            return Err(HttpError::JobOutputHidden);
        }
        let store = state.jobs.store();
        if !stored.view.state.is_final() && store.shared_queue().is_some() {
            // Queued or running on another replica: follow its record.
            return Ok(reply::remote_output(store.clone(), stored, wants_sse(req)));
        }
        return Ok(reply::stored_output(stored, wants_sse(req)));
    };
    if !output {
        return Ok(reply::job_json(&job, with_output));
    }
    if !with_output {
        return Err(HttpError::JobOutputHidden);
    }
    let framing = if wants_sse(req) {
        OutputFraming::EventStream
    } else {
        OutputFraming::Plain
    };
    Ok(reply::job_output(job, framing))
}

fn wants_sse<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}
