//! Compiling request-value references (`{source, name}`) of hooks files: arguments,
//! environment, files, `parse-parameters-as-json` and rule parameters, with the reference's
//! naming rules for variables and headers.

use std::sync::Arc;

use super::hook::{EnvArgument, FileArgument, JsonPathQuery, Parameter, RequestKey, EVENT_FIELDS};
use super::problem::did_you_mean;
use super::raw::RawArgument;
use super::validate::{At, Validator};

/// The `source` values a request-value reference may name.
const SOURCES: &[&str] = &[
    "header",
    "url",
    "query",
    "payload",
    "request",
    "string",
    "entire-payload",
    "entire-headers",
    "entire-query",
    "raw-request-body",
    "event",
];

impl Validator<'_> {
    pub(super) fn env_arguments(&mut self, raw: Vec<RawArgument>, at: &At) -> Vec<EnvArgument> {
        // The reference: `envname`, else `HOOK_` + name (not upper-cased).
        let named = self.named_values(raw, &at.field("pass-environment-to-command"), |name| {
            format!("HOOK_{name}")
        });
        named
            .into_iter()
            .map(|(_, name, value)| EnvArgument { name, value })
            .collect()
    }

    pub(super) fn file_arguments(&mut self, raw: Vec<RawArgument>, at: &At) -> Vec<FileArgument> {
        // The reference: `envname`, else `HOOK_` + upper-cased name.
        let named = self.named_values(raw, &at.field("pass-file-to-command"), |name| {
            format!("HOOK_{}", name.to_uppercase())
        });
        named
            .into_iter()
            .map(|(base64_decode, env_name, value)| FileArgument {
                env_name,
                value,
                base64_decode,
            })
            .collect()
    }

    /// Entries that pass a value under an environment variable: each value compiled, each
    /// variable named by `envname` or else `default_name(name)`, and checked; each with its
    /// `base64decode`.
    fn named_values(
        &mut self,
        raw: Vec<RawArgument>,
        at: &At,
        default_name: impl Fn(&str) -> String,
    ) -> Vec<(bool, String, Parameter)> {
        let mut out = Vec::new();
        for (i, mut arg) in raw.into_iter().enumerate() {
            let at = at.index(i);
            let envname = std::mem::take(&mut arg.envname);
            let default = envname.is_empty().then(|| default_name(&arg.name));
            let base64_decode = arg.base64decode;
            let Some(value) = self.parameter(arg, &at) else {
                continue;
            };
            let name = default.unwrap_or(envname);
            if name.contains('=') || name.contains('\0') {
                self.error(
                    &at.field("envname"),
                    "not a valid environment variable name",
                );
                continue;
            }
            out.push((base64_decode, name, value));
        }
        out
    }

    pub(super) fn json_parameters(&mut self, raw: Vec<RawArgument>, at: &At) -> Vec<Parameter> {
        let at = at.field("parse-parameters-as-json");
        let params = self.parameters(raw, &at);
        for (i, p) in params.iter().enumerate() {
            if !matches!(
                p,
                Parameter::Header(_)
                    | Parameter::Query(_)
                    | Parameter::Payload(_)
                    | Parameter::Unreadable(_)
            ) {
                // The reference loads such an entry and only logs, per request, that it has
                // nothing to replace: the hook is served.
                self.warn(
                    &at.index(i).field("source"),
                    "only header, url/query and payload values are replaced by the JSON they hold; this entry has no effect",
                );
            }
        }
        params
    }

    pub(super) fn parameters(&mut self, raw: Vec<RawArgument>, at: &At) -> Vec<Parameter> {
        // Pushed, not collected: collecting would reuse the raw list's larger buffer (and run
        // that machinery for the empty lists most hooks have).
        let mut out = Vec::with_capacity(raw.len());
        for (i, arg) in raw.into_iter().enumerate() {
            out.extend(self.parameter(arg, &at.index(i)));
        }
        out
    }

    /// Compiles one `{source, name}` pair. With `-lenient`, a pair the reference accepts but
    /// cannot read compiles to what it reads there: a missing name looks up `""` (never found),
    /// an invalid JSONPath the literal key, an unknown source or request key nothing at all
    /// (`Parameter::Unreadable`). The name moves into the parameter: the raw hook is not kept.
    pub(super) fn parameter(&mut self, arg: RawArgument, at: &At) -> Option<Parameter> {
        let RawArgument { source, name, .. } = arg;
        let has_name = !name.is_empty();
        // The message is written only for a pair without a name: every hook has parameters.
        let named = |v: &mut Self, p: Parameter| {
            let ok = has_name || {
                let message = format!("source {source:?} needs a name");
                v.tolerate(&at.field("name"), message)
            };
            ok.then_some(p)
        };
        match source.as_str() {
            "header" => named(self, Parameter::Header(canonical_header_key(&name))),
            "url" | "query" => named(self, Parameter::Query(name)),
            "payload" if name.starts_with('$') => self.json_path(&name, at),
            "payload" => named(self, Parameter::Payload(name)),
            "request" => match name.to_ascii_lowercase().as_str() {
                "method" => Some(Parameter::Request(RequestKey::Method)),
                "remote-addr" => Some(Parameter::Request(RequestKey::RemoteAddr)),
                _ => self.unreadable(
                    &at.field("name"),
                    format!("unsupported request key {name:?} (use method or remote-addr)"),
                ),
            },
            "string" => Some(Parameter::Literal(name)),
            "entire-payload" => Some(Parameter::EntirePayload),
            "entire-headers" => Some(Parameter::EntireHeaders),
            "entire-query" => Some(Parameter::EntireQuery),
            "raw-request-body" => Some(Parameter::RawBody),
            "event" => self.event_value(name, at),
            "" => self.unreadable(&at.field("source"), "missing source".to_string()),
            other => {
                let message = format!("unknown source {other:?}{}", did_you_mean(other, SOURCES));
                self.unreadable(&at.field("source"), message)
            }
        }
    }

    /// A pair the reference cannot read: an error, or with `-lenient` the value that fails to
    /// read at request time.
    fn unreadable(&mut self, at: &At, message: String) -> Option<Parameter> {
        let reason = message.clone();
        self.tolerate(at, message)
            .then_some(Parameter::Unreadable(reason))
    }

    /// `{"source": "event", "name": ...}`: one of the normalised registry-event values.
    fn event_value(&mut self, name: String, at: &At) -> Option<Parameter> {
        if EVENT_FIELDS.contains(&name.as_str()) {
            return Some(Parameter::Event(name));
        }
        let message = format!(
            "unknown event value {name:?} (one of: {})",
            EVENT_FIELDS.join(", ")
        );
        self.unreadable(&at.field("name"), message)
    }

    fn json_path(&mut self, text: &str, at: &At) -> Option<Parameter> {
        match jsonpath_rust::parser::parse_json_path(text) {
            Ok(query) => Some(Parameter::PayloadJsonPath(Arc::new(JsonPathQuery {
                text: text.to_string(),
                query,
            }))),
            // The reference has no JSONPath: it looks the name up as a key.
            Err(e) => self
                .tolerate(&at.field("name"), format!("invalid JSONPath: {e}"))
                .then(|| Parameter::Payload(text.to_string())),
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-hub-signature` → `X-Hub-Signature`. Keys with
/// characters outside the token set are returned unchanged, as Go does.
pub fn canonical_header_key(key: &str) -> String {
    if !key.bytes().all(is_token_byte) {
        return key.to_string();
    }
    // Every byte is an ASCII token character: change them in place, in one allocation.
    let mut out = key.to_string().into_bytes();
    let mut upper = true;
    for b in &mut out {
        let c = *b;
        *b = if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        upper = c == b'-';
    }
    String::from_utf8(out).expect("ASCII stays UTF-8")
}

/// Whether `b` may appear in a header name (an RFC 7230 token character), as Go's
/// `validHeaderFieldByte` tells: a match the compiler turns into a table, where searching a
/// list of the punctuation took most of the time of every request's header names.
fn is_token_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'!' | b'#' | b'$' | b'%' | b'&'
        | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_header_keys() {
        for (input, want) in [
            ("x-hub-signature", "X-Hub-Signature"),
            ("CONTENT-TYPE", "Content-Type"),
            ("x_y", "X_y"),
            ("bad key", "bad key"),
            ("", ""),
        ] {
            assert_eq!(canonical_header_key(input), want);
        }
    }
}
