//! Looking up request values for rules, arguments, environment and files: the reference's
//! `source`/`name` semantics (dot paths with array indexes, first header value, JSON rendering
//! of objects, numbers as the client wrote them), plus JSONPath and registry-event values.

use std::borrow::Cow;

use bytes::Bytes;

use super::json::{Decoded, Document, Place};
use super::{jsonpath, HookRequest};
use crate::config::hook::{Parameter, RequestKey};

/// Why a value could not be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamErrorKind {
    /// The path does not exist: a rule simply does not match (the reference's
    /// `ParameterNodeError`).
    NotFound,
    /// The path walks through a `null` (the reference's "no parameters"): a rule error.
    NoParameters,
    /// A value the reference can never read (`-lenient`'s `Parameter::Unreadable`): a rule
    /// error.
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .kind {
    ParamErrorKind::NotFound => format!("parameter node not found: {}", .name),
    ParamErrorKind::NoParameters => format!("no parameters at {}", .name),
    ParamErrorKind::Unreadable => format!("cannot be read: {}", .name),
})]
pub struct ParamError {
    pub kind: ParamErrorKind,
    pub name: String,
}

fn not_found(name: &str) -> ParamError {
    ParamError {
        kind: ParamErrorKind::NotFound,
        name: name.to_string(),
    }
}

/// The value of `param` in `req`, as the string a rule compares or a command receives:
/// borrowed from the request where it is there as it is (a plain payload string or number,
/// the method, a literal), so that a rule compares it without a copy.
pub fn get<'r>(param: &'r Parameter, req: &'r HookRequest) -> Result<Cow<'r, str>, ParamError> {
    match param {
        Parameter::Header(name) => req.headers.get(name).map(Cow::Owned),
        Parameter::Query(name) => req.query.get(name).map(Cow::Owned),
        Parameter::Payload(name) => match &req.payload {
            Some(doc) => doc.lookup(name).map(|place| doc.render_text(place)),
            None => Err(not_found(name)),
        },
        Parameter::PayloadJsonPath(q) => {
            let doc = req.payload.as_ref().ok_or_else(|| not_found(&q.text))?;
            jsonpath::select(&q.query, doc)
                .map(Cow::Owned)
                .map_err(|e| {
                    if e == jsonpath::QueryError::TooDeep {
                        tracing::debug!(error = %e, "JSONPath payload value");
                    }
                    not_found(&q.text)
                })
        }
        Parameter::Request(RequestKey::Method) => Ok(Cow::Borrowed(&*req.method)),
        Parameter::Request(RequestKey::RemoteAddr) => Ok(Cow::Borrowed(req.remote_addr.as_str())),
        Parameter::Literal(s) => Ok(Cow::Borrowed(s)),
        Parameter::EntirePayload => Ok(Cow::Owned(
            req.payload
                .as_ref()
                .map_or_else(|| "null".to_string(), Document::marshal),
        )),
        Parameter::EntireHeaders => Ok(Cow::Owned(req.headers.marshal())),
        Parameter::EntireQuery => Ok(Cow::Owned(req.query.marshal())),
        Parameter::RawBody => Ok(String::from_utf8_lossy(&req.body)),
        // Event values belong to the image push a job is about, which `rules::Input` holds
        // beside the request: the request alone has none.
        Parameter::Event(name) => Err(not_found(name)),
        Parameter::Unreadable(reason) => Err(ParamError {
            kind: ParamErrorKind::Unreadable,
            name: reason.clone(),
        }),
    }
}

/// A value found in the request and not rendered yet: what rendering it costs is known before
/// its memory is reserved, and rendering it does not look it up again.
#[derive(Debug, Clone, Copy)]
pub enum Found<'r> {
    /// A payload value, where the lookup found it.
    Payload(&'r Document, Place),
    /// Text held as it is (an image push's value).
    Text(&'r str),
    /// Any other value, read when it is rendered.
    Other(&'r Parameter, &'r HookRequest),
}

/// Finds the value of `param` in `req` without rendering it: [`get`] in two steps, for a
/// caller that reserves the value's memory in between. A payload value is looked up once,
/// without the document's lookup memo (which serves callers that price and get apart).
pub fn find<'r>(param: &'r Parameter, req: &'r HookRequest) -> Result<Found<'r>, ParamError> {
    match param {
        Parameter::Payload(name) => match &req.payload {
            Some(doc) => doc
                .lookup_from(doc.top(), name)
                .map(|place| Found::Payload(doc, place)),
            None => Err(not_found(name)),
        },
        _ => Ok(Found::Other(param, req)),
    }
}

impl<'r> Found<'r> {
    /// An upper bound of the memory [`Found::render`] uses: as [`cost`].
    pub fn cost(&self) -> usize {
        match *self {
            Found::Payload(doc, place) => doc.render_cost(place),
            Found::Text(_) => SMALL,
            Found::Other(param, req) => cost(param, req),
        }
    }

    /// The value, as [`get`] gives it.
    pub fn render(self) -> Result<Cow<'r, str>, ParamError> {
        match self {
            Found::Payload(doc, place) => Ok(doc.render_text(place)),
            Found::Text(text) => Ok(Cow::Borrowed(text)),
            Found::Other(param, req) => get(param, req),
        }
    }
}

/// What a value that is not rendered from the request's contents is priced at.
const SMALL: usize = 256;

/// An upper bound of the memory `get` uses for `param`: the rendered value and what is held
/// while rendering it (not counting the request itself).
pub fn cost(param: &Parameter, req: &HookRequest) -> usize {
    match param {
        Parameter::Payload(name) => match &req.payload {
            Some(doc) => doc
                .lookup(name)
                .map_or(SMALL, |place| doc.render_cost(place)),
            None => SMALL,
        },
        Parameter::PayloadJsonPath(_) => req.payload.as_ref().map_or(SMALL, |doc| {
            doc.values() * jsonpath::NODE_COST + doc.text().len() + doc.render_cost(doc.top())
        }),
        Parameter::EntirePayload => req
            .payload
            .as_ref()
            .map_or(SMALL, |doc| doc.render_cost(doc.top())),
        Parameter::EntireHeaders
        | Parameter::EntireQuery
        | Parameter::Header(_)
        | Parameter::Query(_) => {
            let fields: &super::Fields =
                if matches!(param, Parameter::EntireQuery | Parameter::Query(_)) {
                    &req.query
                } else {
                    &req.headers
                };
            fields
                .iter()
                .map(|(k, v)| 6 * k.len() + field_cost(v))
                .sum::<usize>()
                + SMALL
        }
        Parameter::RawBody => 3 * req.body.len(),
        Parameter::Request(_)
        | Parameter::Literal(_)
        | Parameter::Event(_)
        | Parameter::Unreadable(_) => SMALL,
    }
}

fn field_cost(field: &super::fields::Field) -> usize {
    match field {
        super::fields::Field::Text(t) => 6 * t.len(),
        super::fields::Field::Json(doc) => doc.render_cost(doc.top()),
        super::fields::Field::NilMap => 4,
    }
}

/// `parse-parameters-as-json`: replaces each named value with the JSON object it holds (or, for
/// `null`, the reference's nil map). Unlike the reference (which panics on a dotted name),
/// nested names work. Sources other than header, query and payload are read and parsed but
/// have nothing to replace, as in the reference. Returns the problems for the log.
pub fn apply_json_parameters(params: &[Parameter], req: &mut HookRequest) -> Vec<String> {
    let mut problems = Vec::new();
    for param in params {
        let text = match get(param, req) {
            Ok(t) => t.into_owned(),
            Err(e) => {
                problems.push(format!("couldn't retrieve argument: {e}"));
                continue;
            }
        };
        let parsed = match Document::decode_object(Bytes::from(text)) {
            Ok(Decoded::Payload(doc)) => Some(doc),
            Ok(Decoded::Null) => None,
            Err(e) => {
                problems.push(format!("invalid JSON: {e}"));
                continue;
            }
        };
        let replaced = match param {
            Parameter::Header(name) => req.headers.replace(name, parsed.as_ref()),
            Parameter::Query(name) => req.query.replace(name, parsed.as_ref()),
            Parameter::Payload(name) => match &req.payload {
                Some(doc) => match doc.locate_slot(name) {
                    Some(slot) => {
                        req.payload = Some(doc.replaced(slot, parsed.as_ref()));
                        true
                    }
                    None => false,
                },
                None => false,
            },
            _ => {
                problems.push("only header, url/query and payload values can be replaced".into());
                continue;
            }
        };
        if !replaced {
            problems.push(format!("nothing to replace at {param:?}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> HookRequest {
        let Ok(Decoded::Payload(doc)) = Document::decode_body(Bytes::from(json.to_string())) else {
            panic!("not a payload: {json}");
        };
        HookRequest {
            payload: Some(doc),
            ..Default::default()
        }
    }

    fn value(req: &HookRequest, name: &str) -> Result<String, ParamErrorKind> {
        get(&Parameter::Payload(name.to_string()), req)
            .map(Cow::into_owned)
            .map_err(|e| e.kind)
    }

    #[test]
    fn dot_paths_like_the_reference() {
        let members = r#""a":{"b":true},"l":[1,{"k":2}],"t":null,"n":1e3,"x.y":"dotted","s":"str","e":[],"d":1,"d":2"#;
        // Objects are read from the index validation makes, or from the text when they have
        // too many members to index (the top-level object; nested objects together): all
        // the same way.
        use crate::request::json::scan::MemberIndex;
        let padding: String = (0..MemberIndex::MAX_MEMBERS)
            .map(|k| format!("\"pad{k}\":{k},"))
            .collect();
        let nested: Vec<String> = (0..=MemberIndex::MAX_NESTED)
            .map(|k| format!("\"p{k}\":{k}"))
            .collect();
        let nested = format!("\"pad\":{{{}}},", nested.join(","));
        for body in [
            format!("{{{members}}}"),
            format!(" {{{padding}{members}}}"),
            format!("{{{nested}{members}}}"),
        ] {
            dot_paths_in(&payload(&body));
        }
    }

    fn dot_paths_in(req: &HookRequest) {
        let cases: &[(&str, Result<&str, ParamErrorKind>)] = &[
            ("a.b", Ok("true")),
            ("a", Ok(r#"{"b":true}"#)),
            ("l.1", Ok(r#"{"k":2}"#)),
            ("l.1.k", Ok("2")),
            ("l.0", Ok("1")),
            ("l.2", Err(ParamErrorKind::NotFound)),
            ("l.+1", Err(ParamErrorKind::NotFound)),
            ("t", Ok("<nil>")),
            ("t.x", Err(ParamErrorKind::NoParameters)),
            ("n", Ok("1e3")),
            ("x.y", Ok("dotted")),
            ("s.x", Err(ParamErrorKind::NotFound)),
            ("e.0", Err(ParamErrorKind::NotFound)),
            ("d", Ok("2")),
            ("missing", Err(ParamErrorKind::NotFound)),
        ];
        for (name, want) in cases {
            let got = value(req, name);
            assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{name}");
        }
    }

    #[test]
    fn numbers_keep_the_text_the_client_sent() {
        let body = r#"{"n":[1e3,1E3,1e-7,-0.0,1.50,123456789012345678901234567890,0]}"#;
        let req = payload(body);
        let want = [
            "1e3",
            "1E3",
            "1e-7",
            "-0.0",
            "1.50",
            "123456789012345678901234567890",
            "0",
        ];
        for (i, want) in want.iter().enumerate() {
            assert_eq!(value(&req, &format!("n.{i}")).as_deref(), Ok(*want));
        }
        assert_eq!(get(&Parameter::EntirePayload, &req).unwrap(), body);
    }

    #[test]
    fn top_level_arrays_are_root() {
        let req = payload(" [1,{\"a\":\"<\"}]");
        assert_eq!(value(&req, "root.1.a").as_deref(), Ok("<"));
        assert_eq!(
            get(&Parameter::EntirePayload, &req).unwrap(),
            r#"{"root":[1,{"a":"\u003c"}]}"#
        );
    }

    #[test]
    fn json_parameters_replace_nested_values() {
        let mut req = payload(
            r#"{"outer":{"inner":"{\"k\":\"v\",\"n\":1e3}"},"top":"{\"a\":1}","nil":"null"}"#,
        );
        let params = [
            Parameter::Payload("outer.inner".into()),
            Parameter::Payload("top".into()),
            Parameter::Payload("nil".into()),
        ];
        assert!(apply_json_parameters(&params, &mut req).is_empty());
        assert_eq!(value(&req, "outer.inner.k").as_deref(), Ok("v"));
        assert_eq!(value(&req, "outer.inner.n").as_deref(), Ok("1e3"));
        assert_eq!(value(&req, "top.a").as_deref(), Ok("1"));
        // A parsed `null` is the reference's nil map: `null`, with nothing inside.
        assert_eq!(value(&req, "nil").as_deref(), Ok("null"));
        assert_eq!(value(&req, "nil.x"), Err(ParamErrorKind::NotFound));
        assert_eq!(
            get(&Parameter::EntirePayload, &req).unwrap(),
            r#"{"nil":null,"outer":{"inner":{"k":"v","n":1e3}},"top":{"a":1}}"#
        );
    }

    #[test]
    fn json_parameters_of_other_sources_change_nothing() {
        let mut req = payload(r#"{"a":"1"}"#);
        let problems = apply_json_parameters(&[Parameter::Literal("z".into())], &mut req);
        assert_eq!(problems.len(), 1);
        let problems = apply_json_parameters(&[Parameter::Literal(r#"{"a":2}"#.into())], &mut req);
        assert_eq!(problems.len(), 1);
        assert_eq!(value(&req, "a").as_deref(), Ok("1"));
    }
}
