//! The checks of a hook's fields that `Validator::build` calls one by one: notify targets, the
//! command, response headers, methods, status codes, the execution settings and the registry
//! event. Each reports its problems at its field's path and returns what the hook keeps.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method};

use super::super::command;
use super::super::hook::{Concurrency, Execution, HookCommand};
use super::super::raw::{RawHook, RawRegistryEvent};
use super::super::registry_event::{validate_registry_host, AliyunNetwork, EventOptions, Provider};
use super::{At, Validator};
use crate::notify::config::CompileContext;
use crate::notify::template::GoTemplates;
use crate::notify::{Target, TargetConfig};

impl Validator<'_> {
    /// Compiles the `notify` targets (templates, addresses, URLs, secret files), reporting
    /// every problem at its path; an e-mail target needs `-smtp`.
    pub(super) fn notify(&mut self, raw: &[TargetConfig], at: &At) -> Vec<Arc<Target>> {
        let read_file = |p: &Path| std::fs::read_to_string(p);
        let ctx = CompileContext {
            engine: &GoTemplates,
            read_file: &read_file,
        };
        if raw.is_empty() {
            // Most hooks: no target, and no field path to write out for one.
            return Vec::new();
        }
        let base = at.field("notify");
        if !self.mail_server {
            for (i, target) in raw.iter().enumerate() {
                if target.email.is_some() {
                    self.error(
                        &base.index(i).field("email"),
                        "e-mail needs a mail server: start hookrun with -smtp URL (and -smtp-from, -smtp-password-file or HOOKRUN_SMTP_PASSWORD as needed)",
                    );
                }
            }
        }
        match crate::notify::config::compile(raw, &base.path(), &ctx) {
            Ok(targets) => targets,
            Err(problems) => {
                for p in problems {
                    self.error(&At::new(at.hook, &p.path), p.message);
                }
                Vec::new()
            }
        }
    }

    /// The command, with a warning when it cannot run as configured (the server still starts:
    /// the script may be deployed after it, and the hook's answer does not need it).
    /// Takes `execute-command` out of `raw`: it moves into the hook.
    pub(super) fn command(&mut self, raw: &mut RawHook, hook_at: &At) -> HookCommand {
        let at = hook_at.field("execute-command");
        let program = std::mem::take(&mut raw.execute_command);
        let working_dir = Some(PathBuf::from(&raw.command_working_directory))
            .filter(|p| !p.as_os_str().is_empty());
        let missing_dir = working_dir.as_ref().filter(|dir| !dir.is_dir());
        if let Some(dir) = missing_dir {
            self.warn(
                &hook_at.field("command-working-directory"),
                format!(
                    "{}: no such folder: the command cannot start",
                    dir.display()
                ),
            );
        }
        if program.is_empty() {
            self.warn(&at, "no command: the hook only answers, it runs nothing");
        } else if program.contains(' ')
            && !Path::new(&program).exists()
            && !Path::new(&raw.command_working_directory)
                .join(&program)
                .exists()
        {
            self.warn(
                &at,
                "contains a space: arguments belong in pass-arguments-to-command",
            );
        } else if missing_dir.is_none() {
            if let Some(problem) = self.command_problem(&program, working_dir.as_deref()) {
                self.warn(&at, format!("cannot run {program}: {problem}"));
            }
        }
        HookCommand {
            program,
            working_dir,
        }
    }

    /// Why `program` cannot run from `dir` (`None`: it can), looked up once per file.
    pub(super) fn command_problem(&mut self, program: &str, dir: Option<&Path>) -> Option<String> {
        let known = self.commands.get(program).and_then(|dirs| {
            dirs.iter()
                .find(|(d, _)| d.as_deref() == dir)
                .map(|(_, problem)| problem.clone())
        });
        if let Some(problem) = known {
            return problem;
        }
        let problem = command::resolve(program, dir).err().map(|e| e.to_string());
        let dirs = self.commands.entry(program.to_string()).or_default();
        dirs.push((dir.map(Path::to_path_buf), problem.clone()));
        problem
    }

    pub(super) fn response_headers(
        &mut self,
        raw: &RawHook,
        at: &At,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (i, h) in raw.response_headers.iter().enumerate() {
            let at = at.index(i);
            match (
                HeaderName::try_from(h.name.as_str()),
                HeaderValue::try_from(h.value.as_str()),
            ) {
                (Ok(name), Ok(value)) => out.push((name, value)),
                // Go's server drops a header whose name is invalid.
                (Err(_), _) => {
                    self.tolerate(&at.field("name"), "not a valid header name");
                }
                (Ok(name), Err(_)) => {
                    // Go's server writes line breaks in a value as spaces.
                    let spaced = h.value.replace(['\r', '\n'], " ");
                    if self.tolerate(&at.field("value"), "not a valid header value") {
                        if let Ok(value) = HeaderValue::try_from(spaced) {
                            out.push((name, value));
                        }
                    }
                }
            }
        }
        out
    }

    pub(super) fn methods(&mut self, raw: &[String], at: &At) -> Option<Vec<Method>> {
        if raw.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for (i, m) in raw.iter().enumerate() {
            let upper = m.trim().to_ascii_uppercase();
            match Method::from_bytes(upper.as_bytes()) {
                Ok(method) if !upper.is_empty() => out.push(method),
                // No request has such a method: in the reference it never matches.
                _ => {
                    self.tolerate(&at.index(i), format!("not a valid HTTP method: {m:?}"));
                }
            }
        }
        Some(out)
    }

    pub(super) fn status(&mut self, code: u16, at: &At) -> Option<u16> {
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

    pub(super) fn execution(&mut self, raw: &RawHook, at: &At) -> Execution {
        let timeout =
            raw.command_timeout
                .as_ref()
                .and_then(|t| match crate::config::parse_duration(t) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        // The reference has no timeouts: -lenient serves the default one.
                        self.tolerate(&at.field("command-timeout"), e);
                        None
                    }
                });
        let concurrency = match raw.concurrency.as_deref() {
            None | Some("parallel") => Concurrency::Parallel,
            Some("serial") => Concurrency::Serial,
            Some("latest") => Concurrency::Latest,
            Some(other) => {
                // The reference runs every request at once: -lenient serves it `parallel`.
                self.tolerate(
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
        let delivery_id_header = raw.delivery_id_header.as_deref().and_then(|name| {
            match http::HeaderName::from_bytes(name.trim().as_bytes()) {
                Ok(h) => Some(h),
                Err(_) => {
                    self.error(
                        &at.field("delivery-id-header"),
                        format!("{name:?} is not a header name"),
                    );
                    None
                }
            }
        });
        Execution {
            timeout,
            concurrency,
            max_queue: raw.max_queue,
            stream_output: raw.stream_command_output,
            delivery_id_header,
        }
    }

    pub(super) fn registry_event(
        &mut self,
        raw: &RawRegistryEvent,
        at: &At,
    ) -> Option<EventOptions> {
        let mut opts = EventOptions::default();
        let provider = match raw {
            RawRegistryEvent::Provider(name) => name.as_str(),
            RawRegistryEvent::Options(raw) => {
                if let Some(n) = &raw.aliyun_network {
                    match n.parse::<AliyunNetwork>() {
                        Ok(n) => opts.aliyun_network = n,
                        Err(_) => self.error(
                            &at.field("aliyun-network"),
                            "must be public, vpc or internal",
                        ),
                    }
                }
                opts.aliyun_instance_host = raw.aliyun_instance_host.clone();
                opts.registry_host = raw.registry_host.clone();
                raw.provider.as_deref().unwrap_or("auto")
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
                if validate_registry_host(h).is_err() {
                    self.error(&at.field(key), format!("not a valid registry host: {h:?}"));
                }
            }
        }
        Some(opts)
    }
}
