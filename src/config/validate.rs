//! Validation: the only way from a raw hook to a runtime `Hook`. Every problem is collected with
//! its field path; nothing is compiled or checked later, per request.

use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue, Method};
use serde_json::Value;

use super::hook::{Concurrency, Execution, Hook, HookCommand, Parameter};
use super::problem::{did_you_mean, Problems, Severity};
use super::raw::{self, RawHook};
use super::rules::compile_rule;
use crate::registry::{AliyunNetwork, EventOptions, Provider};

/// How strictly unknown keys are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownKeys {
    /// An unknown key is an error (a typo like `trigger-rules` would drop all protection).
    #[default]
    Error,
    /// The reference's leniency: warn and ignore.
    Warn,
}

/// Context for validating the hooks of one file.
pub struct Validator<'a> {
    pub file: &'a Path,
    pub unknown_keys: UnknownKeys,
    pub problems: &'a mut Problems,
}

/// Where in a hook a problem is: the hook's id and a field path.
#[derive(Clone)]
pub(super) struct At<'a> {
    pub hook: &'a str,
    pub path: String,
}

impl At<'_> {
    pub fn field(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        At {
            hook: self.hook,
            path,
        }
    }

    pub fn index(&self, i: usize) -> Self {
        At {
            hook: self.hook,
            path: format!("{}[{i}]", self.path),
        }
    }
}

impl Validator<'_> {
    pub(super) fn error(&mut self, at: &At, message: impl Into<String>) {
        self.problems.push(
            Severity::Error,
            self.file,
            Some(at.hook),
            at.path.clone(),
            message,
        );
    }

    pub(super) fn warn(&mut self, at: &At, message: impl Into<String>) {
        self.problems.push(
            Severity::Warning,
            self.file,
            Some(at.hook),
            at.path.clone(),
            message,
        );
    }

    /// Reports keys of `object` that are not in `known`, with a "did you mean" hint.
    pub(super) fn check_keys(&mut self, object: &Value, known: &[&str], at: &At) {
        let Some(map) = object.as_object() else {
            return;
        };
        for key in map.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let hint = did_you_mean(key, known)
                .map(|k| format!(" (did you mean {k:?}?)"))
                .unwrap_or_default();
            let message = format!("unknown key {key:?}{hint}");
            match self.unknown_keys {
                UnknownKeys::Error => self.error(at, message),
                UnknownKeys::Warn => self.warn(at, message),
            }
        }
    }

    /// Validates one element of the hooks array.
    pub fn hook(&mut self, index: usize, value: &Value) -> Option<Hook> {
        let label = value
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{index}"));
        let at = At {
            hook: &label,
            path: String::new(),
        };
        if !value.is_object() {
            self.error(&at, "a hook must be an object");
            return None;
        }
        self.check_nested_keys(value, &at);
        let raw: RawHook = match serde_path_to_error::deserialize(value) {
            Ok(raw) => raw,
            Err(e) => {
                let at = at.field(&e.path().to_string());
                self.error(&at, e.into_inner().to_string());
                return None;
            }
        };
        let before = self.problems.list.len();
        let hook = self.build(raw, &at);
        let failed = self.problems.list[before..]
            .iter()
            .any(|p| p.severity == Severity::Error);
        (!failed).then_some(hook)
    }

    fn check_nested_keys(&mut self, value: &Value, at: &At) {
        self.check_keys(value, raw::HOOK_KEYS, at);
        for field in [
            "pass-environment-to-command",
            "pass-arguments-to-command",
            "pass-file-to-command",
            "parse-parameters-as-json",
        ] {
            if let Some(items) = value.get(field).and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    self.check_keys(item, raw::ARGUMENT_KEYS, &at.field(field).index(i));
                }
            }
        }
        if let Some(items) = value.get("response-headers").and_then(Value::as_array) {
            for (i, item) in items.iter().enumerate() {
                self.check_keys(
                    item,
                    raw::HEADER_KEYS,
                    &at.field("response-headers").index(i),
                );
            }
        }
        if let Some(rule) = value.get("trigger-rule") {
            self.check_rule_keys(rule, &at.field("trigger-rule"));
        }
        if let Some(event) = value.get("registry-event").filter(|v| v.is_object()) {
            self.check_keys(event, raw::REGISTRY_EVENT_KEYS, &at.field("registry-event"));
        }
    }

    fn check_rule_keys(&mut self, rule: &Value, at: &At) {
        self.check_keys(rule, raw::RULE_KEYS, at);
        for op in ["and", "or"] {
            if let Some(items) = rule.get(op).and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    self.check_rule_keys(item, &at.field(op).index(i));
                }
            }
        }
        if let Some(inner) = rule.get("not") {
            self.check_rule_keys(inner, &at.field("not"));
        }
        if let Some(m) = rule.get("match") {
            let at = at.field("match");
            self.check_keys(m, raw::MATCH_KEYS, &at);
            if let Some(p) = m.get("parameter") {
                self.check_keys(p, raw::ARGUMENT_KEYS, &at.field("parameter"));
            }
        }
    }

    fn build(&mut self, raw: RawHook, at: &At) -> Hook {
        if raw.id.is_empty() {
            self.error(&at.field("id"), "missing hook id");
        }
        let command = self.command(&raw, at);
        let response_headers = self.response_headers(&raw, &at.field("response-headers"));
        let env = self.env_arguments(&raw.pass_environment_to_command, at);
        let args = self.parameters(
            &raw.pass_arguments_to_command,
            &at.field("pass-arguments-to-command"),
        );
        let files = self.file_arguments(&raw.pass_file_to_command, at);
        let json_parameters = self.json_parameters(&raw.parse_parameters_as_json, at);
        let rule = raw
            .trigger_rule
            .as_ref()
            .and_then(|r| compile_rule(self, r, &at.field("trigger-rule")));
        let methods = self.methods(&raw.http_methods, &at.field("http-methods"));
        let execution = self.execution(&raw, at);
        let registry_event = raw
            .registry_event
            .as_ref()
            .and_then(|v| self.registry_event(v, &at.field("registry-event")));
        let reads_payload = args
            .iter()
            .chain(env.iter().map(|e| &e.value))
            .chain(files.iter().map(|f| &f.value))
            .chain(json_parameters.iter())
            .chain(rule.iter().flat_map(|r| r.parameters()))
            .any(Parameter::reads_payload);
        Hook {
            id: raw.id,
            file: PathBuf::from(self.file),
            command,
            response_message: raw.response_message,
            response_headers,
            capture_output: raw.capture_output,
            capture_output_on_error: raw.capture_output_on_error,
            env,
            args,
            files,
            json_parameters,
            rule,
            mismatch_status: self.status(
                raw.trigger_rule_mismatch_http_response_code,
                &at.field("trigger-rule-mismatch-http-response-code"),
            ),
            success_status: self.status(
                raw.success_http_response_code,
                &at.field("success-http-response-code"),
            ),
            soft_signature_failures: raw.trigger_signature_soft_failures,
            content_type: Some(raw.incoming_payload_content_type).filter(|s| !s.is_empty()),
            methods,
            execution,
            registry_event,
            reads_payload,
        }
    }

    fn command(&mut self, raw: &RawHook, at: &At) -> HookCommand {
        let at = at.field("execute-command");
        if raw.execute_command.is_empty() {
            self.warn(&at, "no command: the hook only answers, it runs nothing");
        } else if raw.execute_command.contains(' ')
            && !Path::new(&raw.execute_command).exists()
            && !Path::new(&raw.command_working_directory)
                .join(&raw.execute_command)
                .exists()
        {
            self.warn(
                &at,
                "contains a space: arguments belong in pass-arguments-to-command",
            );
        }
        HookCommand {
            program: raw.execute_command.clone(),
            working_dir: Some(PathBuf::from(&raw.command_working_directory))
                .filter(|p| !p.as_os_str().is_empty()),
        }
    }

    fn response_headers(&mut self, raw: &RawHook, at: &At) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (i, h) in raw.response_headers.iter().enumerate() {
            let at = at.index(i);
            match (
                HeaderName::try_from(h.name.as_str()),
                HeaderValue::try_from(h.value.as_str()),
            ) {
                (Ok(name), Ok(value)) => out.push((name, value)),
                (Err(_), _) => self.error(&at.field("name"), "not a valid header name"),
                (_, Err(_)) => self.error(&at.field("value"), "not a valid header value"),
            }
        }
        out
    }

    fn methods(&mut self, raw: &[String], at: &At) -> Option<Vec<Method>> {
        if raw.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for (i, m) in raw.iter().enumerate() {
            let upper = m.trim().to_ascii_uppercase();
            match Method::from_bytes(upper.as_bytes()) {
                Ok(method) if !upper.is_empty() => out.push(method),
                _ => self.error(&at.index(i), format!("not a valid HTTP method: {m:?}")),
            }
        }
        Some(out)
    }

    fn status(&mut self, code: u16, at: &At) -> Option<u16> {
        if code == 0 {
            return None;
        }
        // The reference falls back to 200 for codes Go has no status text for.
        if http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .is_none()
        {
            self.warn(
                at,
                format!("unknown status code {code}: 200 is sent instead, as the reference does"),
            );
            return None;
        }
        Some(code)
    }

    fn execution(&mut self, raw: &RawHook, at: &At) -> Execution {
        let timeout =
            raw.command_timeout
                .as_ref()
                .and_then(|t| match crate::config::parse_duration(t) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.error(&at.field("command-timeout"), e);
                        None
                    }
                });
        let concurrency = match raw.concurrency.as_deref() {
            None | Some("parallel") => Concurrency::Parallel,
            Some("serial") => Concurrency::Serial,
            Some("latest") => Concurrency::Latest,
            Some(other) => {
                self.error(
                    &at.field("concurrency"),
                    format!("unknown mode {other:?} (parallel, serial or latest)"),
                );
                Concurrency::Parallel
            }
        };
        if raw.max_queue == Some(0) && concurrency != Concurrency::Parallel {
            self.warn(
                &at.field("max-queue"),
                "0 lets no request wait: every request that finds the hook busy gets 429",
            );
        }
        if raw.stream_command_output && !raw.capture_output {
            self.warn(
                &at.field("stream-command-output"),
                "streams the output into the response, so include-command-output-in-response is implied",
            );
        }
        Execution {
            timeout,
            concurrency,
            max_queue: raw.max_queue,
            stream_output: raw.stream_command_output,
        }
    }

    fn registry_event(&mut self, value: &Value, at: &At) -> Option<EventOptions> {
        let mut opts = EventOptions::default();
        let provider = match value {
            Value::String(s) => s.as_str(),
            Value::Object(map) => {
                let get = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
                if let Some(n) = get("aliyun-network") {
                    match n.parse::<AliyunNetwork>() {
                        Ok(n) => opts.aliyun_network = n,
                        Err(_) => self.error(
                            &at.field("aliyun-network"),
                            "must be public, vpc or internal",
                        ),
                    }
                }
                opts.aliyun_instance_host = get("aliyun-instance-host");
                opts.registry_host = get("registry-host");
                map.get("provider")
                    .and_then(Value::as_str)
                    .unwrap_or("auto")
            }
            _ => {
                self.error(at, "must be a provider name or an object");
                return None;
            }
        };
        match provider.parse::<Provider>() {
            Ok(p) => opts.provider = p,
            Err(_) => {
                self.error(
                    at,
                    format!("unknown provider {provider:?} (auto, dockerhub, aliyun, harbor, distribution, quay, github, gitea, custom)"),
                );
                return None;
            }
        }
        for (key, host) in [
            ("aliyun-instance-host", &opts.aliyun_instance_host),
            ("registry-host", &opts.registry_host),
        ] {
            if let Some(h) = host {
                if crate::registry::image_ref::validate_registry(h).is_err() {
                    self.error(&at.field(key), format!("not a valid registry host: {h:?}"));
                }
            }
        }
        Some(opts)
    }
}
