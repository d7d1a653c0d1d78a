//! An incoming request as hooks see it: canonical headers, query values, the body and the
//! payload parsed from it by content type (JSON, urlencoded form, multipart, XML), the way the
//! reference parses them, within the memory budget. No HTTP framework types (hyper, axum)
//! cross this boundary: only the `http` crate's header map, kept as it came until something
//! reads a header ([`Headers`]).
//!
//! Every payload is a [`json::Document`]: a JSON body is validated and read in place; the
//! other kinds are converted into a compact document; all are read by the same lookups.

pub mod budget;
mod fields;
mod form;
pub mod json;
mod jsonpath;
mod mime;
mod multipart;
pub mod params;
mod remote;
mod xml;

use std::borrow::Cow;

use bytes::Bytes;

use crate::config::Parameter;
use crate::logging::RequestId;

pub use budget::{BodyUse, MemoryBudget, OverBudget, Reservation};
pub use fields::{Field, Fields, Headers};
pub use json::Document;
pub use params::{ParamError, ParamErrorKind};
pub use remote::{remote_text, RemoteAddr};

/// Everything rules and commands can read from one request.
#[derive(Debug, Clone, Default)]
pub struct HookRequest {
    /// The request id, the same as the request's log context's.
    pub id: RequestId,
    /// The method as the client sent it (the standard ones without a copy: [`method_text`]).
    pub method: Cow<'static, str>,
    /// `ip:port`, with brackets for IPv6, as Go's `RemoteAddr`.
    pub remote_addr: RemoteAddr,
    /// Canonical header name → first value (built when first read).
    pub headers: Headers,
    /// Query parameter → first value.
    pub query: Fields,
    /// Whether the query string had a malformed pair: Go's `ParseMultipartForm` then fails.
    pub query_malformed: bool,
    /// The parsed body; `None` when absent or unparsable (the reference's nil map).
    pub payload: Option<Document>,
    pub body: Bytes,
    /// The content type used to parse the body (the hook's override wins; the common ones
    /// without a copy: [`content_type_text`]).
    pub content_type: Cow<'static, str>,
}

/// A method's text: the standard methods as static text (a request's method is one of them
/// almost always), any other copied.
pub fn method_text(method: &http::Method) -> Cow<'static, str> {
    Cow::Borrowed(match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "PATCH" => "PATCH",
        "TRACE" => "TRACE",
        other => return Cow::Owned(other.to_owned()),
    })
}

/// A `Content-Type` header's text (Go's, with invalid UTF-8 replaced): the types webhooks
/// usually send as static text, any other copied.
pub fn content_type_text(value: &[u8]) -> Cow<'static, str> {
    Cow::Borrowed(match value {
        b"application/json" => "application/json",
        b"application/json; charset=utf-8" => "application/json; charset=utf-8",
        b"application/x-www-form-urlencoded" => "application/x-www-form-urlencoded",
        b"application/xml" => "application/xml",
        b"text/xml" => "text/xml",
        b"text/plain" => "text/plain",
        other => return Cow::Owned(String::from_utf8_lossy(other).into_owned()),
    })
}

/// Something that went wrong while parsing a body. Most are logged and leave the payload
/// empty, as the reference does; only multipart errors fail the request.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("error parsing JSON payload: {0}")]
    Json(#[from] json::JsonError),
    #[error("error parsing form payload: malformed pair")]
    Form,
    #[error("error parsing XML payload: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("error parsing multipart form: {0}")]
    Multipart(#[from] multipart::MultipartError),
    #[error("error parsing body payload due to unsupported content type header: {0:?}")]
    Unsupported(String),
}

/// The reference's test for a multipart body.
fn is_multipart(content_type: &str) -> bool {
    content_type.starts_with("multipart/form-data;")
}

/// Which parser the reference picks for `content_type` (in its order: a multipart type that
/// mentions `json` is read as JSON).
pub fn body_use(content_type: &str) -> BodyUse {
    if mentions(content_type, "json") {
        BodyUse::Json
    } else if mentions(content_type, "x-www-form-urlencoded") {
        BodyUse::Form
    } else if mentions(content_type, "xml") {
        BodyUse::Xml
    } else if is_multipart(content_type) {
        BodyUse::Multipart
    } else {
        BodyUse::Raw
    }
}

/// Whether `text` contains `word`: `str::contains`, without the set-up of its general search
/// (which cost a few hundred instructions per call for a short header; this is called twice per
/// request).
fn mentions(text: &str, word: &str) -> bool {
    let (text, word) = (text.as_bytes(), word.as_bytes());
    let Some(&first) = word.first() else {
        return true;
    };
    memchr::memchr_iter(first, text).any(|i| text[i..].starts_with(word))
}

impl HookRequest {
    /// Whether the body must be parsed even when nothing reads the payload: multipart errors
    /// are answered (500), as in the reference.
    pub fn parse_required(&self) -> bool {
        body_use(&self.content_type) == BodyUse::Multipart
    }

    /// Parses `self.body` into `self.payload` according to `self.content_type`;
    /// `json_parameters` are the hook's `parse-parameters-as-json` (they make multipart files
    /// JSON); `multipart_memory` is `-max-multipart-mem`. Returns the problem (if any) for the
    /// log; `Multipart` errors must fail the request.
    pub fn parse_body(
        &mut self,
        json_parameters: &[Parameter],
        multipart_memory: i64,
    ) -> Result<(), BodyError> {
        // The reference does not read a multipart body before it picks a parser: the others
        // see an empty body.
        let body = if is_multipart(&self.content_type) {
            Bytes::new()
        } else {
            self.body.clone()
        };
        match body_use(&self.content_type) {
            BodyUse::Json => {
                self.payload = match json::Document::decode_body(body)? {
                    json::Decoded::Payload(doc) => Some(doc),
                    json::Decoded::Null => None,
                };
            }
            BodyUse::Form => {
                self.payload = Some(form::parse_body(&body).ok_or(BodyError::Form)?);
            }
            BodyUse::Xml => self.payload = Some(xml::parse(&body)?),
            BodyUse::Multipart => {
                let json_names: Vec<&str> = json_parameters
                    .iter()
                    .filter_map(|p| match p {
                        Parameter::Payload(name) => Some(name.as_str()),
                        _ => None,
                    })
                    .collect();
                let content_type = self.headers.text("Content-Type").unwrap_or_default();
                self.payload = multipart::parse(
                    content_type,
                    &self.body,
                    &json_names,
                    multipart_memory,
                    self.query_malformed,
                )?;
            }
            BodyUse::Raw => return Err(BodyError::Unsupported(self.content_type.to_string())),
        }
        Ok(())
    }

    /// Parses the query string, Go style.
    /// Lets go of the body and what was parsed from it: what the request's memory reservation
    /// covers, so that the reservation can be given back.
    pub fn release_body(&mut self) {
        self.payload = None;
        self.body = Bytes::new();
    }

    pub fn set_query(&mut self, raw: &str) {
        (self.query, self.query_malformed) = form::parse_query(raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> (Option<String>, bool) {
        let mut r = HookRequest {
            body: Bytes::from(body.to_string()),
            content_type: "application/json".into(),
            ..Default::default()
        };
        let ok = r.parse_body(&[], 1 << 20).is_ok();
        (r.payload.map(|d| d.marshal()), ok)
    }

    #[test]
    fn json_bodies_like_the_reference() {
        assert_eq!(json(" [1,2]"), (Some(r#"{"root":[1,2]}"#.into()), true));
        assert_eq!(
            json(r#"{"a":1} trailing"#),
            (Some(r#"{"a":1}"#.into()), true)
        );
        assert_eq!(json("{bad"), (None, false));
        assert_eq!(json(""), (None, false));
        assert_eq!(json("null"), (None, true));
        assert_eq!(json("\"s\""), (None, false));
        assert_eq!(json("\u{feff}{}"), (None, false));
    }

    #[test]
    fn methods_are_written_as_sent() {
        for method in [
            "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "PURGE",
        ] {
            let parsed = http::Method::from_bytes(method.as_bytes()).expect("a method");
            let text = method_text(&parsed);
            assert_eq!(text, method);
            assert_eq!(
                matches!(text, Cow::Borrowed(_)),
                method != "PURGE",
                "{method}"
            );
        }
    }

    #[test]
    fn mentions_is_str_contains() {
        let texts = [
            "",
            "j",
            "json",
            "jso",
            "jjson",
            "application/json",
            "a/xm",
            "xmlxml",
        ];
        for text in texts {
            for word in ["", "json", "xml", "x-www-form-urlencoded", "jj"] {
                assert_eq!(
                    mentions(text, word),
                    text.contains(word),
                    "{text:?} {word:?}"
                );
            }
        }
    }

    #[test]
    fn parsers_in_the_reference_order() {
        let cases = [
            ("application/json", BodyUse::Json),
            ("application/vnd.github+json", BodyUse::Json),
            ("text/xml; charset=utf-8", BodyUse::Xml),
            ("application/x-www-form-urlencoded", BodyUse::Form),
            ("multipart/form-data; boundary=x", BodyUse::Multipart),
            ("multipart/form-data; boundary=json", BodyUse::Json),
            ("multipart/form-data", BodyUse::Raw),
            ("APPLICATION/JSON", BodyUse::Raw),
        ];
        for (ct, want) in cases {
            assert_eq!(body_use(ct), want, "{ct}");
        }
    }
}
