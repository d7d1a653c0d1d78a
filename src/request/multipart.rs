//! `multipart/form-data` bodies, as the reference reads them: each field's first value is a
//! string; a file part is decoded as a JSON object when its Content-Type is application/json or
//! when `parse-parameters-as-json` names it; other files are ignored.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::BodyError;
use crate::config::{Hook, Parameter};

pub async fn parse(
    content_type: &str,
    body: Bytes,
    hook: &Hook,
) -> Result<Option<Value>, BodyError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| BodyError::Multipart(e.to_string()))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut payload: Option<Map<String, Value>> = None;
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
        let map = payload.get_or_insert_with(Map::new);
        if !is_file {
            map.entry(name)
                .or_insert_with(|| Value::String(String::from_utf8_lossy(&data).into_owned()));
            continue;
        }
        let named = hook
            .json_parameters
            .iter()
            .any(|p| matches!(p, Parameter::Payload(n) if *n == name));
        if (named || json_type) && !map.contains_key(&name) {
            let part = match serde_json::Deserializer::from_slice(&data)
                .into_iter::<Value>()
                .next()
            {
                Some(Ok(Value::Object(m))) => Value::Object(m),
                _ => Value::Null,
            };
            map.insert(name, part);
        }
    }
    Ok(payload.map(Value::Object))
}
