//! Looking up request values for rules, arguments, environment and files: the reference's
//! `source`/`name` semantics (dot paths with array indexes, first header value, JSON rendering
//! of objects), plus JSONPath and registry-event values.

use serde_json::{Map, Value};

use super::{gojson, Request};
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

/// The value of `param` in `req`, as the string a rule compares or a command receives.
pub fn get(param: &Parameter, req: &Request) -> Result<String, ParamError> {
    match param {
        Parameter::Header(name) => map_string(name, &req.headers),
        Parameter::Query(name) => map_string(name, &req.query),
        Parameter::Payload(name) => match &req.payload {
            Some(p) => match nil_map(name, req) {
                Some(result) => result,
                None => lookup(name, p).map(render),
            },
            None => Err(not_found(name)),
        },
        Parameter::PayloadJsonPath(q) => {
            let root = req.payload.as_ref().ok_or_else(|| not_found(&q.text))?;
            let found = jsonpath_rust::query::js_path_process(&q.query, root)
                .map_err(|_| not_found(&q.text))?;
            match found.as_slice() {
                [] => Err(not_found(&q.text)),
                [one] => Ok(render(one.clone().val())),
                many => Ok(gojson::to_string(&Value::Array(
                    many.iter().map(|r| r.clone().val().clone()).collect(),
                ))),
            }
        }
        Parameter::Request(RequestKey::Method) => Ok(req.method.clone()),
        Parameter::Request(RequestKey::RemoteAddr) => Ok(req.remote_addr.clone()),
        Parameter::Literal(s) => Ok(s.clone()),
        Parameter::EntirePayload => Ok(req
            .payload
            .as_ref()
            .map_or_else(|| "null".to_string(), gojson::to_string)),
        Parameter::EntireHeaders => Ok(gojson::to_string(&Value::Object(req.headers.clone()))),
        Parameter::EntireQuery => Ok(gojson::to_string(&Value::Object(req.query.clone()))),
        Parameter::RawBody => Ok(String::from_utf8_lossy(&req.body).into_owned()),
        Parameter::Event(name) => req
            .event
            .as_ref()
            .and_then(|e| e.get(name))
            .map(str::to_owned)
            .ok_or_else(|| not_found(name)),
        Parameter::Unreadable(reason) => Err(ParamError {
            kind: ParamErrorKind::Unreadable,
            name: reason.clone(),
        }),
    }
}

/// A payload name that reaches one of the reference's nil maps (see `Request::nil_maps`): the
/// map itself renders as `null`, anything inside it is not found. `None` for other names.
fn nil_map(name: &str, req: &Request) -> Option<Result<String, ParamError>> {
    if req.nil_maps.is_empty() {
        return None;
    }
    let exact = req
        .payload
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(name));
    if exact {
        return req
            .nil_maps
            .iter()
            .any(|k| k == name)
            .then(|| Ok("null".to_string()));
    }
    let head = name.split_once('.').map_or(name, |(h, _)| h);
    req.nil_maps
        .iter()
        .any(|k| k == head)
        .then(|| Err(not_found(name)))
}

fn map_string(name: &str, map: &Map<String, Value>) -> Result<String, ParamError> {
    lookup_map(name, map).map(render)
}

/// Go's `fmt.Sprintf("%v")` for scalars, JSON for arrays and objects.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => gojson::to_string(v),
    }
}

/// The reference's `GetParameter`: an exact key first, then `head.rest` recursively; arrays
/// take a decimal index.
pub fn lookup<'a>(name: &str, value: &'a Value) -> Result<&'a Value, ParamError> {
    match value {
        Value::Object(map) => lookup_map(name, map),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(not_found(name));
            }
            let (head, rest) = match name.split_once('.') {
                Some((h, r)) => (h, Some(r)),
                None => (name, None),
            };
            let item = parse_index(head)
                .and_then(|i| items.get(i))
                .ok_or_else(|| not_found(name))?;
            match rest {
                Some(rest) => lookup(rest, item),
                None => Ok(item),
            }
        }
        Value::Null => Err(ParamError {
            kind: ParamErrorKind::NoParameters,
            name: name.to_string(),
        }),
        _ => Err(not_found(name)),
    }
}

fn lookup_map<'a>(name: &str, map: &'a Map<String, Value>) -> Result<&'a Value, ParamError> {
    if let Some(v) = map.get(name) {
        return Ok(v);
    }
    let (head, rest) = match name.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (name, None),
    };
    match (map.get(head), rest) {
        (Some(v), Some(rest)) => lookup(rest, v),
        (Some(v), None) => Ok(v),
        (None, _) => Err(not_found(name)),
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)`: digits only.
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `parse-parameters-as-json`: replaces each named string value with the JSON object it holds.
/// Unlike the reference (which panics on a dotted name), nested names work. Returns the problems
/// for the log.
pub fn apply_json_parameters(params: &[Parameter], req: &mut Request) -> Vec<String> {
    let mut problems = Vec::new();
    for param in params {
        let text = match get(param, req) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("couldn't retrieve argument: {e}"));
                continue;
            }
        };
        let parsed = match serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .next()
        {
            Some(Ok(Value::Object(m))) => Value::Object(m),
            Some(Ok(_)) => {
                problems.push("value is not a JSON object".to_string());
                continue;
            }
            Some(Err(e)) => {
                problems.push(format!("invalid JSON: {e}"));
                continue;
            }
            None => {
                problems.push("invalid JSON: EOF".to_string());
                continue;
            }
        };
        let (root, name) = match param {
            Parameter::Header(n) => (&mut req.headers, n),
            Parameter::Query(n) => (&mut req.query, n),
            Parameter::Payload(n) => match &mut req.payload {
                Some(Value::Object(m)) => (m, n),
                _ => continue,
            },
            _ => continue,
        };
        replace(root, name, parsed);
    }
    problems
}

/// The reference's `ReplaceParameter`, minus its crash: replaces an existing value only.
fn replace(map: &mut Map<String, Value>, name: &str, value: Value) -> bool {
    if let Some(slot) = map.get_mut(name) {
        *slot = value;
        return true;
    }
    let Some((head, rest)) = name.split_once('.') else {
        return false;
    };
    match map.get_mut(head) {
        Some(Value::Object(inner)) => replace(inner, rest, value),
        Some(Value::Array(items)) => {
            let Some((index, rest)) = rest.split_once('.').map_or_else(
                || parse_index(rest).map(|i| (i, None)),
                |(i, r)| parse_index(i).map(|i| (i, Some(r))),
            ) else {
                return false;
            };
            match (items.get_mut(index), rest) {
                (Some(slot), None) => {
                    *slot = value;
                    true
                }
                (Some(Value::Object(inner)), Some(rest)) => replace(inner, rest, value),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> Request {
        Request {
            payload: Some(serde_json::from_str(json).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn dot_paths_like_the_reference() {
        let req = payload(
            r#"{"a":{"b":true},"l":[1,{"k":2}],"t":null,"n":1e3,"x.y":"dotted","s":"str","e":[]}"#,
        );
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
            ("n", Ok("1e+3")), // Go keeps "1e3": see gojson
            ("x.y", Ok("dotted")),
            ("s.x", Err(ParamErrorKind::NotFound)),
            ("e.0", Err(ParamErrorKind::NotFound)),
            ("missing", Err(ParamErrorKind::NotFound)),
        ];
        for (name, want) in cases {
            let got = get(&Parameter::Payload(name.to_string()), &req).map_err(|e| e.kind);
            assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{name}");
        }
    }

    #[test]
    fn nil_maps_render_null_and_hold_nothing() {
        let mut req = payload(r#"{"meta":null,"plain":null}"#);
        req.nil_maps = vec!["meta".into()];
        let get_kind =
            |name: &str| get(&Parameter::Payload(name.to_string()), &req).map_err(|e| e.kind);
        assert_eq!(get_kind("meta").as_deref(), Ok("null"));
        assert_eq!(get_kind("meta.tag"), Err(ParamErrorKind::NotFound));
        assert_eq!(get_kind("plain").as_deref(), Ok("<nil>"));
        assert_eq!(get_kind("plain.tag"), Err(ParamErrorKind::NoParameters));
    }

    #[test]
    fn json_parameters_replace_nested_values() {
        let mut req = payload(r#"{"outer":{"inner":"{\"k\":\"v\"}"},"top":"{\"a\":1}"}"#);
        let params = [
            Parameter::Payload("outer.inner".into()),
            Parameter::Payload("top".into()),
        ];
        assert!(apply_json_parameters(&params, &mut req).is_empty());
        let got = get(&Parameter::Payload("outer.inner.k".into()), &req);
        assert_eq!(got.as_deref(), Ok("v"));
        assert_eq!(
            get(&Parameter::Payload("top.a".into()), &req).as_deref(),
            Ok("1")
        );
    }
}
