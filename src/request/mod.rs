//! An incoming request as hooks see it: canonical headers, query values, the body and the
//! payload parsed from it by content type (JSON, urlencoded form, multipart, XML), the way the
//! reference parses them. No HTTP framework types cross this boundary.

mod form;
pub mod gojson;
mod multipart;
pub mod params;
mod xml;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::config::Hook;
use crate::registry::ImagePush;

pub use params::{ParamError, ParamErrorKind};

/// Everything rules and commands can read from one request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub id: String,
    pub method: String,
    /// `ip:port`, with brackets for IPv6, as Go's `RemoteAddr`.
    pub remote_addr: String,
    /// Canonical header name → first value.
    pub headers: Map<String, Value>,
    /// Query parameter → first value.
    pub query: Map<String, Value>,
    /// The parsed body; `None` when absent or unparsable (the reference's nil map).
    pub payload: Option<Value>,
    /// Top-level payload keys that hold the reference's nil map rather than `null` (multipart
    /// JSON files that are not objects): they render as `null` and have nothing inside.
    pub nil_maps: Vec<String>,
    pub body: Bytes,
    /// The content type used to parse the body (the hook's override wins).
    pub content_type: String,
    /// The registry push this request (or this job of a multi-push delivery) is about.
    pub event: Option<ImagePush>,
}

/// Something that went wrong while parsing a body. Most are logged and leave the payload
/// empty, as the reference does; only multipart errors fail the request.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("error parsing JSON payload: {0}")]
    Json(String),
    #[error("error parsing form payload: malformed pair")]
    Form,
    #[error("error parsing XML payload: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("error parsing multipart form: {0}")]
    Multipart(String),
    #[error("error parsing body payload due to unsupported content type header: {0:?}")]
    Unsupported(String),
}

impl Request {
    /// Parses `self.body` into `self.payload` according to `self.content_type`. Returns the
    /// problem (if any) for the log; `Multipart` errors must fail the request.
    pub async fn parse_body(&mut self, hook: &Hook) -> Result<(), BodyError> {
        let ct = self.content_type.clone();
        if ct.starts_with("multipart/form-data;") {
            let parsed = multipart::parse(&ct, self.body.clone(), hook).await?;
            self.payload = parsed.payload;
            self.nil_maps = parsed.nil_maps;
            return Ok(());
        }
        if ct.contains("json") {
            return self.parse_json();
        }
        if ct.contains("x-www-form-urlencoded") {
            let text = String::from_utf8_lossy(&self.body);
            let (map, malformed) = form::parse_query(&text);
            if malformed {
                return Err(BodyError::Form);
            }
            self.payload = Some(Value::Object(map));
            return Ok(());
        }
        if ct.contains("xml") {
            self.payload = Some(xml::parse(&self.body)?);
            return Ok(());
        }
        Err(BodyError::Unsupported(ct))
    }

    /// The reference decodes the first JSON value; a top-level array becomes `{"root": [...]}`.
    fn parse_json(&mut self) -> Result<(), BodyError> {
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let value = match gojson::decode_first(&self.body) {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(BodyError::Json(e.to_string())),
            None => return Err(BodyError::Json("EOF".into())),
        };
        self.payload = match (first, value) {
            (Some(b'['), v) => {
                let mut map = Map::new();
                map.insert("root".into(), v);
                Some(Value::Object(map))
            }
            (_, Value::Object(m)) => Some(Value::Object(m)),
            (_, Value::Null) => None,
            (_, other) => {
                return Err(BodyError::Json(format!(
                    "cannot use a JSON {} as the payload",
                    json_kind(&other)
                )))
            }
        };
        Ok(())
    }

    /// Parses the query string, Go style.
    pub fn set_query(&mut self, raw: &str) {
        self.query = form::parse_query(raw).0;
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> (Option<Value>, bool) {
        let mut r = Request {
            body: Bytes::from(body.to_string()),
            ..Default::default()
        };
        let ok = r.parse_json().is_ok();
        (r.payload, ok)
    }

    #[test]
    fn json_bodies_like_the_reference() {
        let (p, ok) = json(" [1,2]");
        assert!(ok);
        assert_eq!(gojson::to_string(&p.unwrap()), r#"{"root":[1,2]}"#);
        let (p, ok) = json(r#"{"a":1} trailing"#);
        assert!(ok);
        assert_eq!(gojson::to_string(&p.unwrap()), r#"{"a":1}"#);
        assert_eq!(json("{bad"), (None, false));
        assert_eq!(json(""), (None, false));
        assert_eq!(json("null"), (None, true));
        assert_eq!(json("\"s\""), (None, false));
    }
}
