//! The hook handler: `/{prefix}/{id}` as a list of named steps — find the hook, check the
//! method, read the body within limits, parse it, read registry events, evaluate the rules,
//! then run the command as a job and answer the way the hook asks (fire-and-forget, with the
//! output, or streaming it).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::reply::{captured, stream, success_status};
use super::respond::{self, go_text, set_headers, HttpError};
use super::AppState;
use crate::config::{canonical_header_key, Hook};
use crate::exec::Invocation;
use crate::jobs::{Job, SubmitError};
use crate::registry::{self, Delivery, ImagePush};
use crate::request::{params, Request as HookRequest};
use crate::rules;

pub async fn handle(
    state: Arc<AppState>,
    remote: Option<SocketAddr>,
    id: String,
    req: Request<Incoming>,
) -> Result<Response, HttpError> {
    let request_id = request_id(&state, req.headers());
    let span = tracing::info_span!("request", request_id = %request_id, hook = %id);
    async move {
        tracing::debug!(method = %req.method(), remote = ?remote, "incoming request");
        let hooks = state.hooks.load_full();
        let Some(hook) = hooks.get(&id).cloned() else {
            tracing::debug!("hook not found");
            return Err(HttpError::HookNotFound);
        };
        check_method(&state, &hook, req.method())?;
        let mut headers = HeaderMap::new();
        set_headers(&mut headers, &state.settings.response_headers);
        let outcome = triggered(&state, &hook, remote, request_id, req, &mut headers).await;
        match outcome {
            Ok(resp) => Ok(resp),
            Err(e) => {
                let mut resp = e.into_response();
                for (k, v) in &headers {
                    resp.headers_mut().entry(k).or_insert(v.clone());
                }
                Ok(resp)
            }
        }
    }
    .instrument(span)
    .await
}

/// The request id: the client's `X-Request-Id` when `-x-request-id` allows it, else random.
fn request_id(state: &AppState, headers: &HeaderMap) -> String {
    if state.settings.use_x_request_id {
        if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            let limit = state.settings.x_request_id_limit;
            let v: String = if limit > 0 {
                v.chars().take(limit).collect()
            } else {
                v.to_string()
            };
            if !v.is_empty() {
                return v;
            }
        }
    }
    hex::encode(rand::random::<[u8; 6]>())
}

fn check_method(state: &AppState, hook: &Hook, method: &Method) -> Result<(), HttpError> {
    let allowed = hook
        .methods
        .as_ref()
        .or(state.settings.default_methods.as_ref());
    match allowed {
        Some(list) if !list.contains(method) => {
            tracing::info!(method = %method, "method not allowed");
            Err(HttpError::MethodNotAllowed)
        }
        _ => Ok(()),
    }
}

async fn triggered(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    remote: Option<SocketAddr>,
    request_id: String,
    req: Request<Incoming>,
    headers: &mut HeaderMap,
) -> Result<Response, HttpError> {
    let (parts, body) = req.into_parts();
    let body = read_body(state, &parts.headers, body).await?;
    let mut request = hook_request(hook, &parts, remote, request_id, body);
    // Multipart errors are visible (500), so multipart is always parsed; other bodies only
    // when something reads the payload.
    let multipart = request.content_type.starts_with("multipart/form-data;");
    let parsed = if hook.reads_payload || multipart {
        request.parse_body(hook).await
    } else {
        Ok(())
    };
    if let Err(e) = parsed {
        if matches!(e, crate::request::BodyError::Multipart(_)) {
            tracing::warn!(error = %e, "multipart body rejected");
            return Err(HttpError::Multipart);
        }
        tracing::debug!(error = %e, "body not parsed");
    }
    for problem in params::apply_json_parameters(&hook.json_parameters, &mut request) {
        tracing::debug!(problem, "parse-parameters-as-json");
    }
    let pushes = match &hook.registry_event {
        None => vec![None],
        Some(opts) => match image_pushes(opts, &request)? {
            Ok(list) => list.into_iter().map(Some).collect(),
            Err(reason) => {
                tracing::info!(reason, "registry delivery has no image push");
                return Ok(go_text(
                    StatusCode::OK,
                    headers.clone(),
                    format!("{reason}\n"),
                ));
            }
        },
    };
    // Rules that read no event value hold or fail for the whole delivery: evaluate them once
    // (a delivery may carry 100 pushes over a 10 MiB body).
    let shared = match &hook.rule {
        Some(rule) if rules::reads_event(rule) => None,
        _ => Some(rules_hold(hook, &request)?),
    };
    let mut invocations = Vec::new();
    for push in pushes {
        request.event = push;
        let holds = match shared {
            Some(holds) => holds,
            None => rules_hold(hook, &request)?,
        };
        if holds {
            let job_id = crate::jobs::new_job_id();
            let inv = invocation(state, hook, &request, &job_id);
            invocations.push((job_id, inv));
        }
    }
    if invocations.is_empty() {
        tracing::info!("trigger rules were not satisfied");
        let status = hook
            .mismatch_status
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::OK);
        return Ok(go_text(
            status,
            headers.clone(),
            respond::RULES_NOT_SATISFIED,
        ));
    }
    tracing::info!(jobs = invocations.len(), "hook triggered");
    set_headers(headers, &hook.response_headers);
    run(state, hook, &request.id, invocations, headers).await
}

/// Reads the body under the size limit and the body timeout.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, HttpError> {
    let limit = state.settings.max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        tracing::warn!(declared, limit, "request body too large");
        return Err(HttpError::BodyTooLarge { limit });
    }
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let collect = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect();
    match tokio::time::timeout(state.settings.body_timeout, collect).await {
        Err(_) => Err(HttpError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            tracing::warn!(limit, "request body too large");
            Err(HttpError::BodyTooLarge { limit })
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading the body failed");
            Err(HttpError::BodyRead)
        }
    }
}

fn hook_request(
    hook: &Hook,
    parts: &http::request::Parts,
    remote: Option<SocketAddr>,
    request_id: String,
    body: Bytes,
) -> HookRequest {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if name == header::HOST || name == header::TRANSFER_ENCODING {
            continue; // Go moves Host and Transfer-Encoding out of the header map.
        }
        let key = canonical_header_key(name.as_str());
        headers.entry(key).or_insert_with(|| {
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned())
        });
    }
    let content_type = hook.content_type.clone().unwrap_or_else(|| {
        headers
            .get("Content-Type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    });
    let mut request = HookRequest {
        id: request_id,
        method: parts.method.to_string(),
        remote_addr: remote.map_or_else(|| "@".to_string(), |a| a.to_string()),
        headers,
        body,
        content_type,
        ..Default::default()
    };
    request.set_query(parts.uri.query().unwrap_or_default());
    request
}

/// The image pushes of a registry delivery; `Ok(Err(reason))` when it has none.
fn image_pushes(
    opts: &registry::EventOptions,
    request: &HookRequest,
) -> Result<Result<Vec<ImagePush>, String>, HttpError> {
    let lookup = |name: &str| {
        request
            .headers
            .get(&canonical_header_key(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match registry::parse(opts, &lookup, &request.body) {
        Ok(Delivery::Pushes(pushes)) => Ok(Ok(pushes)),
        Ok(Delivery::Ignored { reason }) => Ok(Err(reason)),
        Err(e) => {
            tracing::warn!(error = %e, "invalid registry event");
            Err(HttpError::BadEvent(e.to_string()))
        }
    }
}

fn rules_hold(hook: &Hook, request: &HookRequest) -> Result<bool, HttpError> {
    let Some(rule) = &hook.rule else {
        return Ok(true);
    };
    let opts = rules::Options {
        soft_signature_failures: hook.soft_signature_failures,
    };
    let (ok, err) = rules::evaluate(rule, request, opts);
    match err {
        Some(e) if !e.is_not_found() => {
            tracing::warn!(error = %e, "error evaluating hook rules");
            Err(HttpError::Rules)
        }
        Some(e) => {
            tracing::debug!(error = %e, "rule value missing");
            Ok(ok)
        }
        None => Ok(ok),
    }
}

/// Builds the command for one request: argv, environment and files, as the reference does
/// (a value that cannot be found becomes an empty argument; missing env/files are skipped).
fn invocation(state: &AppState, hook: &Hook, request: &HookRequest, job_hint: &str) -> Invocation {
    let args = hook
        .args
        .iter()
        .map(|p| {
            params::get(p, request).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "argument not found, passing an empty string");
                String::new()
            })
        })
        .collect();
    let mut env: Vec<(String, String)> = Vec::new();
    for e in &hook.env {
        match params::get(&e.value, request) {
            Ok(v) => env.push((e.name.clone(), v)),
            Err(err) => tracing::debug!(error = %err, env = %e.name, "environment value not found"),
        }
    }
    if let Some(event) = &request.event {
        env.extend(event.env().into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    env.push(("HOOKRUN_HOOK_ID".into(), hook.id.clone()));
    env.push(("HOOKRUN_REQUEST_ID".into(), request.id.clone()));
    env.push(("HOOKRUN_JOB_ID".into(), job_hint.to_string()));
    let mut files = Vec::new();
    for f in &hook.files {
        match params::get(&f.value, request) {
            Ok(v) if f.base64_decode => files.push((f.env_name.clone(), decode_base64(&v))),
            Ok(v) => files.push((f.env_name.clone(), v.into_bytes())),
            Err(err) => tracing::debug!(error = %err, env = %f.env_name, "file value not found"),
        }
    }
    Invocation {
        program: hook.command.program.clone(),
        args,
        env,
        working_dir: hook.command.working_dir.clone(),
        files,
        timeout: hook
            .execution
            .timeout
            .unwrap_or(state.settings.command_timeout),
        kill_grace: state.settings.kill_grace,
    }
}

/// Go's `base64.StdEncoding.DecodeString` keeps what it decoded before an error.
fn decode_base64(s: &str) -> Vec<u8> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, "error decoding base64 file contents");
            let valid = s
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
                .count()
                / 4
                * 4;
            base64::engine::general_purpose::STANDARD
                .decode(&s[..valid])
                .unwrap_or_default()
        }
    }
}

async fn run(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    request_id: &str,
    invocations: Vec<(String, Invocation)>,
    headers: &mut HeaderMap,
) -> Result<Response, HttpError> {
    let mut jobs: Vec<Arc<Job>> = Vec::new();
    for (job_id, inv) in invocations {
        match state.jobs.submit(hook, request_id, job_id, inv) {
            Ok(job) => jobs.push(job),
            Err(SubmitError::QueueFull { .. }) if jobs.is_empty() => {
                return Err(HttpError::QueueFull {
                    retry_after_secs: state.settings.retry_after.as_secs().max(1),
                })
            }
            Err(SubmitError::ShuttingDown) if jobs.is_empty() => {
                return Err(HttpError::ShuttingDown)
            }
            Err(e) => tracing::warn!(error = %e, "push not queued"),
        }
    }
    let ids = jobs
        .iter()
        .map(|j| j.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(v) = HeaderValue::try_from(ids) {
        headers.insert(respond::JOB_ID_HEADER, v);
    }
    let first = jobs[0].clone();
    if hook.execution.stream_output {
        return Ok(stream(hook, first, headers.clone()));
    }
    if !hook.capture_output {
        return Ok(go_text(
            success_status(hook),
            headers.clone(),
            hook.response_message.clone(),
        ));
    }
    first.wait().await;
    Ok(captured(hook, &first, headers.clone()))
}
