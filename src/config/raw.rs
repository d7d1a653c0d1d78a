//! The hooks file exactly as written: serde mirror of adnanh/webhook's JSON/YAML schema plus
//! hookrun's extension keys, and the single source of truth for which keys exist (`keys` reads
//! them from these structs). No logic lives here; `validate` turns these into runtime hooks.
//! Text fields also accept numbers, booleans and null, and boolean fields every YAML 1.1
//! spelling (`yes`, `off`...), as the reference does (`scalar`).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::scalar;
use crate::notify::TargetConfig;

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
    #[serde(
        default,
        deserialize_with = "scalar::boolean",
        rename = "include-command-output-in-response"
    )]
    pub capture_output: bool,
    #[serde(
        default,
        deserialize_with = "scalar::boolean",
        rename = "include-command-output-in-response-on-error"
    )]
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
    #[serde(default, deserialize_with = "scalar::boolean")]
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
    #[serde(default, deserialize_with = "scalar::boolean")]
    pub stream_command_output: bool,
    /// Who hears how a job ended: the notification library's targets, as written.
    #[serde(default)]
    pub notify: Vec<TargetConfig>,
    #[serde(default)]
    pub registry_event: Option<RawRegistryEvent>,
    #[serde(default)]
    pub delivery_id_header: Option<String>,
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
    #[serde(default, deserialize_with = "scalar::boolean")]
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

/// `registry-event`: a provider name, or an object with the provider and its options.
#[derive(Debug, Clone)]
pub enum RawRegistryEvent {
    Provider(String),
    Options(RawRegistryEventOptions),
}

/// The object form of `registry-event`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawRegistryEventOptions {
    #[serde(default, deserialize_with = "scalar::optional_string")]
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "scalar::optional_string")]
    pub aliyun_network: Option<String>,
    #[serde(default, deserialize_with = "scalar::optional_string")]
    pub aliyun_instance_host: Option<String>,
    #[serde(default, deserialize_with = "scalar::optional_string")]
    pub registry_host: Option<String>,
}

impl<'de> Deserialize<'de> for RawRegistryEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ProviderOrOptions;

        impl<'de> Visitor<'de> for ProviderOrOptions {
            type Value = RawRegistryEvent;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a provider name or an object")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawRegistryEvent, E> {
                Ok(RawRegistryEvent::Provider(s.to_string()))
            }

            // The object is read through the map access it came with, so that unknown keys
            // inside it are seen (and reported) like any other.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRegistryEvent, A::Error> {
                let options = Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawRegistryEvent::Options(options))
            }
        }

        d.deserialize_any(ProviderOrOptions)
    }
}
