//! `multipart/form-data` bodies, as the reference reads them: each field's first value is a
//! string; a file part is decoded as a JSON object when its Content-Type is application/json or
//! when `parse-parameters-as-json` names it; other files are ignored. A form with neither values
//! nor JSON files leaves no payload at all (the reference's nil map), and a JSON file that is
//! not an object becomes the reference's nil map: see [`Parsed::nil_maps`].

use bytes::Bytes;
use serde_json::{Map, Value};

use super::BodyError;
use crate::config::{Hook, Parameter};

/// What a multipart body yields.
#[derive(Debug, Default)]
pub struct Parsed {
    pub payload: Option<Value>,
    /// Top-level keys holding a JSON file part that did not decode to an object. The reference
    /// stores a nil `map[string]interface{}` there: it renders as `null` and looking inside it
    /// finds nothing (a plain `null` renders as `<nil>` and looking inside it is a rule error).
    pub nil_maps: Vec<String>,
}

pub async fn parse(content_type: &str, body: Bytes, hook: &Hook) -> Result<Parsed, BodyError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| BodyError::Multipart(e.to_string()))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut payload: Option<Map<String, Value>> = None;
    let mut nil_maps = Vec::new();
    let err = |e: multer::Error| BodyError::Multipart(e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(err)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let is_file = field.file_name().is_some();
        let json_type = field
            .content_type()
            .is_some_and(|m| m.essence_str() == "application/json");
        let data = field.bytes().await.map_err(err)?;
        if !is_file {
            payload
                .get_or_insert_with(Map::new)
                .entry(name)
                .or_insert_with(|| Value::String(String::from_utf8_lossy(&data).into_owned()));
            continue;
        }
        let named = hook
            .json_parameters
            .iter()
            .any(|p| matches!(p, Parameter::Payload(n) if *n == name));
        // Other files are ignored without creating the payload (the reference's map stays nil).
        if !(named || json_type) {
            continue;
        }
        let map = payload.get_or_insert_with(Map::new);
        if map.contains_key(&name) {
            continue;
        }
        let part = match serde_json::Deserializer::from_slice(&data)
            .into_iter::<Value>()
            .next()
        {
            Some(Ok(Value::Object(m))) => Value::Object(m),
            _ => {
                nil_maps.push(name.clone());
                Value::Null
            }
        };
        map.insert(name, part);
    }
    Ok(Parsed {
        payload: payload.map(Value::Object),
        nil_maps,
    })
}
