//! Body parsing of every content type, parameter lookup and rule evaluation, as the server
//! does them for a request to a hook: parse the body by its content type, apply
//! `parse-parameters-as-json`, evaluate the trigger rule, read every argument, environment
//! variable and file value of the hook.
//!
//! Input: byte 0 picks the content type ([`CONTENT_TYPES`]), byte 1 is the length of the
//! query string that follows, the rest is the body (up to `-max_len`, 1 MiB in scripts/fuzz).

#![no_main]

mod common;

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use hookrun::config::{Hook, HookSet};
use hookrun::request::HookRequest;
use hookrun::rules::{self, Input};
use libfuzzer_sys::fuzz_target;

/// Multipart bodies use this boundary (seeds/fuzz.py writes it too).
pub const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "text/xml; charset=utf-8",
    "multipart/form-data; boundary=fuzzboundary",
    "application/vnd.api+json",
    "multipart/form-data; boundary=\"fuzz boundary\"",
    "text/plain",
];

/// Hooks whose rules and values read every kind of source; one replaces payload values with
/// `parse-parameters-as-json`.
const HOOKS: &str = r#"[
  {
    "id": "values",
    "execute-command": "/bin/true",
    "pass-arguments-to-command": [
      {"source": "payload", "name": "a.b.0.c"},
      {"source": "payload", "name": "items.1"},
      {"source": "payload", "name": "root"},
      {"source": "payload", "name": "$..name"},
      {"source": "payload", "name": "$.items[*].id"},
      {"source": "payload", "name": "$[?(@.tag == 'v1')].tag"},
      {"source": "entire-payload"},
      {"source": "entire-headers"},
      {"source": "entire-query"},
      {"source": "raw-request-body"},
      {"source": "url", "name": "q"},
      {"source": "header", "name": "X-Event"},
      {"source": "request", "name": "method"},
      {"source": "request", "name": "remote-addr"}
    ],
    "pass-environment-to-command": [
      {"source": "payload", "name": "repository.name", "envname": "REPO"},
      {"source": "payload", "name": "push_data.tag", "envname": "TAG"}
    ],
    "pass-file-to-command": [
      {"source": "entire-payload", "envname": "PAYLOAD_FILE"},
      {"source": "payload", "name": "file", "envname": "B64_FILE", "base64decode": true}
    ],
    "trigger-rule": {
      "or": [
        {"and": [
          {"match": {"type": "value", "value": "push", "parameter": {"source": "payload", "name": "event"}}},
          {"match": {"type": "regex", "regex": "^v[0-9]+(\\.[0-9]+)*$", "parameter": {"source": "payload", "name": "tag"}}},
          {"not": {"match": {"type": "value", "value": "true", "parameter": {"source": "payload", "name": "draft"}}}}
        ]},
        {"match": {"type": "payload-hmac-sha256", "secret": "s3cret", "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
        {"match": {"type": "payload-hmac-sha1", "secret": "s3cret", "parameter": {"source": "url", "name": "sig"}}},
        {"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8"}},
        {"match": {"type": "regex", "regex": "(a|b)*c{2,5}", "parameter": {"source": "payload", "name": "$..text"}}}
      ]
    }
  },
  {
    "id": "json-parameters",
    "execute-command": "/bin/true",
    "parse-parameters-as-json": [
      {"source": "payload", "name": "payload"},
      {"source": "payload", "name": "nested.inner"}
    ],
    "pass-arguments-to-command": [
      {"source": "payload", "name": "payload.ref"},
      {"source": "payload", "name": "nested.inner.0"},
      {"source": "entire-payload"}
    ],
    "trigger-rule": {
      "match": {"type": "value", "value": "refs/heads/main", "parameter": {"source": "payload", "name": "payload.ref"}}
    }
  }
]"#;

static SET: LazyLock<Vec<Arc<Hook>>> = LazyLock::new(|| {
    let set: HookSet = common::load_fixed("body-rules.json", HOOKS);
    let mut ids: Vec<&str> = set.ids().collect();
    ids.sort_unstable();
    ids.iter().filter_map(|id| set.get(id).cloned()).collect()
});

/// The default of `-max-multipart-mem` (1 MiB), as the server uses it.
const MULTIPART_MEMORY: i64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let (query, body) = match rest.split_first() {
        Some((&len, rest)) if rest.len() >= usize::from(len) => rest.split_at(usize::from(len)),
        _ => (&b""[..], rest),
    };
    let body = Bytes::copy_from_slice(body);
    for hook in SET.iter() {
        let mut request = HookRequest {
            id: "fuzz".into(),
            method: "POST".into(),
            remote_addr: "127.0.0.1:54321".into(),
            body: body.clone(),
            content_type: content_type.into(),
            ..HookRequest::default()
        };
        request
            .headers
            .insert_first("Content-Type".into(), content_type.into());
        request
            .headers
            .insert_first("X-Event".into(), "push".into());
        request.headers.insert_first(
            "X-Hub-Signature-256".into(),
            "sha256=0000000000000000000000000000000000000000000000000000000000000000".into(),
        );
        request.set_query(&String::from_utf8_lossy(query));
        let _ = request.parse_body(&hook.json_parameters, MULTIPART_MEMORY);
        let _ =
            hookrun::request::params::apply_json_parameters(&hook.json_parameters, &mut request);
        let input = Input::request(&request);
        if let Some(rule) = &hook.rule {
            let opts = rules::Options {
                soft_signature_failures: hook.soft_signature_failures,
            };
            let _ = rules::evaluate(rule, &input, opts);
        }
        for param in &hook.args {
            let _ = input.value(param);
        }
        for env in &hook.env {
            let _ = input.value(&env.value);
        }
        for file in &hook.files {
            let _ = input.value(&file.value);
        }
    }
});
