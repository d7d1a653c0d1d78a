//! The hooks file exactly as written: serde mirror of adnanh/webhook's JSON/YAML schema plus
//! hookrun's extension keys. No logic lives here; `validate` turns these into runtime hooks.
//! Text fields also accept numbers, booleans and null, as the reference does (`scalar`).

use serde::Deserialize;
use serde_json::Value;

use super::scalar;

/// Keys a hook object may carry: the reference's, then hookrun's extensions.
pub const HOOK_KEYS: &[&str] = &[
    "id",
    "execute-command",
    "command-working-directory",
    "response-message",
    "response-headers",
    "include-command-output-in-response",
    "include-command-output-in-response-on-error",
    "pass-environment-to-command",
    "pass-arguments-to-command",
    "pass-file-to-command",
    "parse-parameters-as-json",
    "trigger-rule",
    "trigger-rule-mismatch-http-response-code",
    "trigger-signature-soft-failures",
    "incoming-payload-content-type",
    "success-http-response-code",
    "http-methods",
    // hookrun extensions
    "command-timeout",
    "concurrency",
    "max-queue",
    "stream-command-output",
    "registry-event",
];

/// Keys of an argument object (`pass-*`, `parse-parameters-as-json`, `parameter`).
pub const ARGUMENT_KEYS: &[&str] = &["source", "name", "envname", "base64decode"];

/// Keys of a `match` rule.
pub const MATCH_KEYS: &[&str] = &["type", "regex", "secret", "value", "parameter", "ip-range"];

/// Keys of a rule node.
pub const RULE_KEYS: &[&str] = &["and", "or", "not", "match"];

/// Keys of a response header object.
pub const HEADER_KEYS: &[&str] = &["name", "value"];

/// Keys of the `registry-event` object form.
pub const REGISTRY_EVENT_KEYS: &[&str] = &[
    "provider",
    "aliyun-network",
    "aliyun-instance-host",
    "registry-host",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawHook {
    #[serde(default, deserialize_with = "scalar::string")]
    pub id: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub execute_command: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub command_working_directory: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub response_message: String,
    #[serde(default)]
    pub response_headers: Vec<RawHeader>,
    #[serde(default, rename = "include-command-output-in-response")]
    pub capture_output: bool,
    #[serde(default, rename = "include-command-output-in-response-on-error")]
    pub capture_output_on_error: bool,
    #[serde(default)]
    pub pass_environment_to_command: Vec<RawArgument>,
    #[serde(default)]
    pub pass_arguments_to_command: Vec<RawArgument>,
    #[serde(default)]
    pub pass_file_to_command: Vec<RawArgument>,
    #[serde(default)]
    pub parse_parameters_as_json: Vec<RawArgument>,
    #[serde(default)]
    pub trigger_rule: Option<RawRule>,
    #[serde(default)]
    pub trigger_rule_mismatch_http_response_code: u16,
    #[serde(default)]
    pub trigger_signature_soft_failures: bool,
    #[serde(default, deserialize_with = "scalar::string")]
    pub incoming_payload_content_type: String,
    #[serde(default)]
    pub success_http_response_code: u16,
    #[serde(default, deserialize_with = "scalar::strings")]
    pub http_methods: Vec<String>,
    #[serde(default)]
    pub command_timeout: Option<String>,
    #[serde(default)]
    pub concurrency: Option<String>,
    #[serde(default)]
    pub max_queue: Option<usize>,
    #[serde(default)]
    pub stream_command_output: bool,
    #[serde(default)]
    pub registry_event: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawHeader {
    #[serde(default, deserialize_with = "scalar::string")]
    pub name: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawArgument {
    #[serde(default, deserialize_with = "scalar::string")]
    pub source: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub name: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub envname: String,
    #[serde(default)]
    pub base64decode: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRule {
    #[serde(default)]
    pub and: Option<Vec<RawRule>>,
    #[serde(default)]
    pub or: Option<Vec<RawRule>>,
    #[serde(default)]
    pub not: Option<Box<RawRule>>,
    #[serde(default, rename = "match")]
    pub match_: Option<RawMatch>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawMatch {
    #[serde(default, deserialize_with = "scalar::string", rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub regex: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub secret: String,
    #[serde(default, deserialize_with = "scalar::string")]
    pub value: String,
    #[serde(default)]
    pub parameter: RawArgument,
    #[serde(default, deserialize_with = "scalar::string")]
    pub ip_range: String,
}
