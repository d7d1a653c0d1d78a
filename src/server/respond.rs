//! Response building: the reference's fixed texts, Go's content-type sniffing (so bodies get
//! the same Content-Type the reference sends), and the one mapping from errors to HTTP.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

pub const HOOK_NOT_FOUND: &str = "Hook not found.";
pub const RULES_NOT_SATISFIED: &str = "Hook rules were not satisfied.";
pub const RULES_ERROR: &str = "Error occurred while evaluating hook rules.";
pub const COMMAND_ERROR: &str =
    "Error occurred while executing the hook's command. Please check your logs for more details.";
pub const MULTIPART_ERROR: &str = "Error occurred while parsing multipart form.";
pub const JOB_ID_HEADER: &str = "hookrun-job-id";

/// A plain response the way Go's `http.ResponseWriter` writes it: status, then the body with a
/// sniffed Content-Type unless one was set; no Content-Type for an empty body.
pub fn go_text(status: StatusCode, headers: HeaderMap, body: impl Into<Vec<u8>>) -> Response {
    let body = body.into();
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if !body.is_empty() && !resp.headers().contains_key(header::CONTENT_TYPE) {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(sniff(&body)));
    }
    *resp.body_mut() = Body::from(body);
    resp
}

/// Errors a request can end in, each with its fixed public text. Details are logged by the
/// caller inside the request span; nothing internal reaches the client.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("hook not found")]
    HookNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large (limit {limit} bytes)")]
    BodyTooLarge { limit: u64 },
    #[error("timed out reading the request body")]
    BodyTimeout,
    #[error("could not read the request body")]
    BodyRead,
    #[error("multipart form could not be parsed")]
    Multipart,
    #[error("trigger rules could not be evaluated")]
    Rules,
    #[error("the hook's queue is full")]
    QueueFull { retry_after_secs: u64 },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("invalid registry event: {0}")]
    BadEvent(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let none = HeaderMap::new();
        match self {
            HttpError::HookNotFound => go_text(StatusCode::NOT_FOUND, none, HOOK_NOT_FOUND),
            HttpError::MethodNotAllowed => go_text(StatusCode::METHOD_NOT_ALLOWED, none, ""),
            HttpError::BodyTooLarge { limit } => go_text(
                StatusCode::PAYLOAD_TOO_LARGE,
                none,
                format!("Request body too large (limit {limit} bytes).\n"),
            ),
            HttpError::BodyTimeout => go_text(
                StatusCode::REQUEST_TIMEOUT,
                none,
                "Timed out reading the request body.\n",
            ),
            HttpError::BodyRead => go_text(
                StatusCode::BAD_REQUEST,
                none,
                "Could not read the request body.\n",
            ),
            HttpError::Multipart => {
                go_text(StatusCode::INTERNAL_SERVER_ERROR, none, MULTIPART_ERROR)
            }
            HttpError::Rules => go_text(StatusCode::INTERNAL_SERVER_ERROR, none, RULES_ERROR),
            HttpError::QueueFull { retry_after_secs } => {
                let mut h = HeaderMap::new();
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                go_text(
                    StatusCode::TOO_MANY_REQUESTS,
                    h,
                    "Too many requests waiting for this hook; retry later.\n",
                )
            }
            HttpError::ShuttingDown => {
                let mut h = HeaderMap::new();
                h.insert(header::RETRY_AFTER, HeaderValue::from(5u32));
                go_text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    h,
                    "Server is shutting down.\n",
                )
            }
            HttpError::BadEvent(reason) => go_text(
                StatusCode::BAD_REQUEST,
                none,
                format!("Invalid registry event: {reason}\n"),
            ),
        }
    }
}

/// Adds `name: value` pairs, replacing earlier values (Go's `Header().Set`).
pub fn set_headers<'a>(
    map: &mut HeaderMap,
    pairs: impl IntoIterator<Item = &'a (HeaderName, HeaderValue)>,
) {
    for (name, value) in pairs {
        map.insert(name.clone(), value.clone());
    }
}

/// Go's `http.DetectContentType` for the signatures a hook's output can plausibly start with.
pub fn sniff(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(512)];
    if data.starts_with(b"\xFE\xFF") {
        return "text/plain; charset=utf-16be";
    }
    if data.starts_with(b"\xFF\xFE") {
        return "text/plain; charset=utf-16le";
    }
    if data.starts_with(b"\xEF\xBB\xBF") {
        return "text/plain; charset=utf-8";
    }
    let first = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        .unwrap_or(data.len());
    let ws = &data[first..];
    const HTML: &[&str] = &[
        "<!DOCTYPE HTML",
        "<HTML",
        "<HEAD",
        "<SCRIPT",
        "<IFRAME",
        "<H1",
        "<DIV",
        "<FONT",
        "<TABLE",
        "<A",
        "<STYLE",
        "<TITLE",
        "<B",
        "<BODY",
        "<BR",
        "<P",
        "<!--",
    ];
    for tag in HTML {
        let t = tag.as_bytes();
        if ws.len() > t.len()
            && ws[..t.len()].eq_ignore_ascii_case(t)
            && matches!(ws[t.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if ws.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    const MAGIC: &[(&[u8], &str)] = &[
        (b"%PDF-", "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"BM", "image/bmp"),
        (b"\x1F\x8B\x08", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
        (b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
        (b"\x00\x61\x73\x6D", "application/wasm"),
        (b"OggS\x00", "application/ogg"),
    ];
    for (magic, ct) in MAGIC {
        if data.starts_with(magic) {
            return ct;
        }
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_like_go() {
        for (data, want) in [
            (&b"OK"[..], "text/plain; charset=utf-8"),
            (b"{\"a\":1}", "text/plain; charset=utf-8"),
            (b"  <html><body>", "text/html; charset=utf-8"),
            (b"<p>x", "text/html; charset=utf-8"),
            (b"<pre>x", "text/plain; charset=utf-8"),
            (b"<?xml version", "text/xml; charset=utf-8"),
            (b"\x00\x01", "application/octet-stream"),
            (b"%PDF-1.4", "application/pdf"),
        ] {
            assert_eq!(sniff(data), want, "{data:?}");
        }
    }

    #[test]
    fn empty_body_has_no_content_type() {
        let r = go_text(StatusCode::OK, HeaderMap::new(), "");
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
    }
}
