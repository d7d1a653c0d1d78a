//! Responses the way Go's `http.ResponseWriter` writes them, so hookrun sends what the
//! reference sends: headers set before the body win, otherwise the Content-Type is sniffed
//! from the body (`http.DetectContentType`); an empty body has none.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

/// A complete response: `status`, `headers`, then `body` with a sniffed Content-Type unless
/// `headers` has one. A `&'static str` body (the fixed answers) is sent without a copy.
pub fn go_text(status: StatusCode, mut headers: HeaderMap, body: impl Into<Bytes>) -> Response {
    let body = body.into();
    if !body.is_empty() && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(sniff(&body)));
    }
    response(status, headers, body)
}

/// [`go_text`] for a body whose Content-Type is known (`content_type`, set in `headers`
/// before the body as Go's handlers do, so nothing is sniffed).
pub fn typed_text(
    status: StatusCode,
    mut headers: HeaderMap,
    content_type: HeaderValue,
    body: impl Into<Bytes>,
) -> Response {
    headers.insert(header::CONTENT_TYPE, content_type);
    response(status, headers, body.into())
}

fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// Sets `context` on a finished response as Go does for headers set before `WriteHeader`: a
/// Content-Type in `context` replaces the one sniffed from the body; the response's own
/// headers (`Retry-After`, `Hookrun-Job-Id`) win over `context`'s other values.
pub fn with_context_headers(mut resp: Response, context: HeaderMap) -> Response {
    let headers = resp.headers_mut();
    for (name, value) in &context {
        if name == header::CONTENT_TYPE {
            headers.insert(name, value.clone());
        } else {
            headers.entry(name).or_insert_with(|| value.clone());
        }
    }
    resp
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
    // Every HTML and XML signature starts with `<`; most answers do not.
    let markup = ws.first() == Some(&b'<');
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
    for tag in HTML.iter().filter(|_| markup) {
        let t = tag.as_bytes();
        if ws.len() > t.len()
            && ws[..t.len()].eq_ignore_ascii_case(t)
            && matches!(ws[t.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if markup && ws.starts_with(b"<?xml") {
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
