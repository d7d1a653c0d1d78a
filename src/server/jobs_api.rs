//! `GET /jobs/{id}` (the job as JSON) and `GET /jobs/{id}/output` (the output, live: chunked
//! text, or Server-Sent Events for `Accept: text/event-stream`). Only 32-hex ids are routed
//! here, so no hook id is shadowed in practice.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};

use super::respond::go_text;
use super::AppState;
use crate::jobs::Job;

fn is_job_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Answers a jobs path, or `None` when the path is not one (it may then be a hook).
pub async fn route<B>(state: &AppState, rest: &str, req: &Request<B>) -> Option<Response> {
    let (id, output) = match rest.strip_suffix("/output") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    if !is_job_id(id) || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let Some(job) = state.jobs.get(id) else {
        return Some(go_text(
            StatusCode::NOT_FOUND,
            HeaderMap::new(),
            "Job not found.\n",
        ));
    };
    let with_output = state.settings.job_output;
    Some(if output && !with_output {
        go_text(
            StatusCode::FORBIDDEN,
            HeaderMap::new(),
            "Job output is not shown by this server (-job-output=false).\n",
        )
    } else if output {
        let sse = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
        follow(job, sse)
    } else {
        describe(&job, with_output)
    })
}

fn describe(job: &Job, with_output: bool) -> Response {
    let body = serde_json::to_vec_pretty(&job.view(with_output)).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Streams the combined output from the start until the job ends.
fn follow(job: Arc<Job>, sse: bool) -> Response {
    let body = futures_util::stream::unfold(
        (job, 0usize, false),
        move |(job, offset, done)| async move {
            if done {
                return None;
            }
            match job.output.next_chunk(offset).await {
                Some(chunk) => {
                    let next = offset + chunk.len();
                    let data = if sse {
                        sse_event("output", &chunk)
                    } else {
                        chunk
                    };
                    Some((Ok::<_, std::io::Error>(data), (job, next, false)))
                }
                None => {
                    job.wait().await;
                    if sse {
                        let end = serde_json::to_string(&job.state()).unwrap_or_default();
                        Some((Ok(sse_event("end", end.as_bytes())), (job, offset, true)))
                    } else {
                        None
                    }
                }
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(body));
    let ct = if sse {
        "text/event-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
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
    fn job_ids_and_sse_framing() {
        assert!(is_job_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_job_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_job_id("deploy"));
        assert_eq!(
            sse_event("output", b"a\nb"),
            Bytes::from("event: output\ndata: a\ndata: b\n\n")
        );
    }
}
