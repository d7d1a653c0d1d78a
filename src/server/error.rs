//! Every response that is not a success: the one mapping from what went wrong to status, fixed
//! public text and headers. Details are logged by whoever returns the error, inside the request
//! span; nothing internal reaches the client.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::gohttp::go_text;
use super::host::HostProblem;

/// What a request can end in other than a success. Texts without a trailing newline are the
/// reference's, byte for byte.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A path gorilla/mux would clean (`//`, `/./`, `/../`): a redirect to the clean form.
    #[error("path is not clean; redirecting to {location}")]
    UncleanPath { location: String },
    /// Neither `/`, a hook path nor a jobs path: Go's `http.NotFound`.
    #[error("no route for the path")]
    NoRoute,
    /// A bad `%` escape in the path: Go's server refuses the request line itself.
    #[error("invalid escape in the request path")]
    BadRequestLine,
    /// No Host, several, or an invalid one (RFC 9112 §3.2): refused before routing.
    #[error("invalid Host header: {0:?}")]
    BadHost(HostProblem),
    #[error("hook not found")]
    HookNotFound,
    /// `-captainhook`: no run book has the requested name; captainhook answers 500 with the
    /// error of opening `{configdir}/{id}.json`.
    #[error("no run book {path}")]
    NoRunBook { path: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large (limit {limit} bytes)")]
    BodyTooLarge { limit: u64 },
    #[error("timed out reading the request body")]
    BodyTimeout,
    #[error("could not read the request body")]
    BodyRead,
    /// What the hook makes of this body would need more than the whole memory budget.
    #[error("processing the request needs more memory than -max-body-memory")]
    OverBudget,
    /// A body of unknown length outgrew the memory free at the time (see `body`).
    #[error("the memory budget for bodies is in use")]
    MemoryBusy { retry_after_secs: u64 },
    #[error("multipart form could not be parsed")]
    Multipart,
    #[error("invalid registry event: {0}")]
    BadEvent(String),
    #[error("trigger rules could not be evaluated")]
    Rules,
    #[error("the hook's queue is full")]
    QueueFull { retry_after_secs: u64 },
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Replicas share a store that did not confirm the job in time: nothing was queued.
    #[error("the shared job store cannot be reached")]
    StoreUnavailable { retry_after_secs: u64 },
    /// `include-command-output-in-response`: a newer request replaced the job before it ran.
    #[error("the job was superseded before it ran")]
    Superseded,
    /// `include-command-output-in-response`: the command failed; its output is the body when
    /// the hook asks for it (`-on-error`).
    #[error("the hook's command failed")]
    CommandFailed { output: Option<Bytes> },
    #[error("job not found")]
    JobNotFound,
    #[error("job output is hidden (-job-output=false)")]
    JobOutputHidden,
}

pub const HOOK_NOT_FOUND: &str = "Hook not found.";
pub const RULES_ERROR: &str = "Error occurred while evaluating hook rules.";
pub const COMMAND_ERROR: &str =
    "Error occurred while executing the hook's command. Please check your logs for more details.";
pub const MULTIPART_ERROR: &str = "Error occurred while parsing multipart form.";

impl HttpError {
    /// Whether the error refuses a hook whose rules held: such answers carry the hook's
    /// `response-headers`, as its successes do.
    pub fn after_trigger(&self) -> bool {
        matches!(
            self,
            HttpError::QueueFull { .. }
                | HttpError::ShuttingDown
                | HttpError::StoreUnavailable { .. }
                | HttpError::Superseded
                | HttpError::CommandFailed { .. }
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let text = |status: StatusCode, body: &'static str| go_text(status, HeaderMap::new(), body);
        match self {
            HttpError::UncleanPath { location } => {
                let mut h = HeaderMap::new();
                if let Ok(v) = HeaderValue::try_from(location) {
                    h.insert(header::LOCATION, v);
                }
                go_text(StatusCode::MOVED_PERMANENTLY, h, "")
            }
            HttpError::NoRoute => {
                let mut h = plain_text();
                h.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                go_text(StatusCode::NOT_FOUND, h, "404 page not found\n")
            }
            HttpError::BadRequestLine => {
                let mut h = plain_text();
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                go_text(StatusCode::BAD_REQUEST, h, "400 Bad Request")
            }
            HttpError::BadHost(problem) => {
                let mut h = plain_text();
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                let mut resp = go_text(StatusCode::BAD_REQUEST, h, problem.text());
                let reason = hyper::ext::ReasonPhrase::from_static(problem.reason_phrase());
                resp.extensions_mut().insert(reason);
                resp
            }
            HttpError::HookNotFound => text(StatusCode::NOT_FOUND, HOOK_NOT_FOUND),
            // Go's `http.Error(w, err.Error(), 500)` in captainhook's handler.
            HttpError::NoRunBook { path } => {
                let mut h = plain_text();
                h.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                let text = format!(
                    "cannot read run book {path}: open {path}: no such file or directory\n"
                );
                go_text(StatusCode::INTERNAL_SERVER_ERROR, h, text)
            }
            HttpError::MethodNotAllowed => text(StatusCode::METHOD_NOT_ALLOWED, ""),
            HttpError::BodyTooLarge { limit } => go_text(
                StatusCode::PAYLOAD_TOO_LARGE,
                HeaderMap::new(),
                format!("Request body too large (limit {limit} bytes).\n"),
            ),
            HttpError::BodyTimeout => text(
                StatusCode::REQUEST_TIMEOUT,
                "Timed out reading the request body.\n",
            ),
            HttpError::BodyRead => text(
                StatusCode::BAD_REQUEST,
                "Could not read the request body.\n",
            ),
            HttpError::OverBudget => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large to process within the server's memory budget.\n",
            ),
            HttpError::MemoryBusy { retry_after_secs } => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after_secs,
                "Server is busy with other request bodies; retry later.\n",
            ),
            HttpError::Multipart => text(StatusCode::INTERNAL_SERVER_ERROR, MULTIPART_ERROR),
            HttpError::BadEvent(reason) => go_text(
                StatusCode::BAD_REQUEST,
                HeaderMap::new(),
                format!("Invalid registry event: {reason}\n"),
            ),
            HttpError::Rules => text(StatusCode::INTERNAL_SERVER_ERROR, RULES_ERROR),
            HttpError::QueueFull { retry_after_secs } => retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                retry_after_secs,
                "Too many requests waiting for this hook; retry later.\n",
            ),
            HttpError::ShuttingDown => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                "Server is shutting down.\n",
            ),
            HttpError::StoreUnavailable { retry_after_secs } => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after_secs,
                "The job store shared by the replicas cannot be reached; nothing was run. Retry later.\n",
            ),
            HttpError::Superseded => text(
                StatusCode::CONFLICT,
                "Superseded by a newer request before it ran.\n",
            ),
            HttpError::CommandFailed {
                output: Some(output),
            } => go_text(StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), output),
            // The reference sets text/plain after WriteHeader, which Go ignores: a hook's own
            // Content-Type stays, otherwise the text sniffs as text/plain.
            HttpError::CommandFailed { output: None } => {
                text(StatusCode::INTERNAL_SERVER_ERROR, COMMAND_ERROR)
            }
            HttpError::JobNotFound => text(StatusCode::NOT_FOUND, "Job not found.\n"),
            HttpError::JobOutputHidden => text(
                StatusCode::FORBIDDEN,
                "Job output is not shown by this server (-job-output=false).\n",
            ),
        }
    }
}

fn plain_text() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h
}

fn retry_later(status: StatusCode, after_secs: u64, body: &'static str) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::RETRY_AFTER, HeaderValue::from(after_secs));
    go_text(status, h, body)
}
