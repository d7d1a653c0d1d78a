//! The hook handler: `/{prefix}/{id}` as a list of named steps — find the hook, check the
//! method, read the body within limits, parse it, read registry events, evaluate the rules,
//! refuse to run a paused hook, answer a delivery seen before with its jobs, submit one job
//! per input the rules let through — ending in an [`Answer`] (or an [`HttpError`]) that
//! `reply` turns into the response. Pauses and delivery ids are looked at only once the rules
//! hold, so nothing about them is learnt through a hook URL without its secret.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::error::HttpError;
use super::reply::{self, Answer, Started};
use super::{AppState, RequestBody, Settings};
use crate::config::{canonical_header_key, Hook};
use crate::exec::Invocation;
use crate::jobs::{Job, Submission, SubmitError, Trigger};
use crate::registry::{self, Delivery};
use crate::request::{params, BodyError, Request as HookRequest};
use crate::rules::{self, Input};

/// Answers a request for the hook `id`.
pub async fn handle<B: RequestBody>(
    state: Arc<AppState>,
    remote: Option<SocketAddr>,
    id: String,
    req: Request<B>,
) -> Response {
    let request_id = request_id(&state.settings, req.headers());
    let span = tracing::info_span!("request", request_id = %request_id, hook = %id);
    async move {
        tracing::debug!(method = %req.method(), remote = ?remote, "incoming request");
        let hook = match find_hook(&state, &id, req.method()) {
            Ok(hook) => hook,
            Err(e) => return e.into_response(),
        };
        let request = read_request(&state.settings, &hook, remote, request_id, req).await;
        let answer = match request {
            Ok(request) => answer(&state, &hook, &request).await,
            Err(e) => Err(e),
        };
        reply::hook_response(&state.settings, &hook, answer)
    }
    .instrument(span)
    .await
}

/// The hook of the current set, if it exists and accepts `method`.
fn find_hook(state: &AppState, id: &str, method: &Method) -> Result<Arc<Hook>, HttpError> {
    let Some(hook) = state.hooks.snapshot().get(id).cloned() else {
        tracing::debug!("hook not found");
        return Err(HttpError::HookNotFound);
    };
    let allowed = hook
        .methods
        .as_ref()
        .or(state.settings.default_methods.as_ref());
    match allowed {
        Some(list) if !list.contains(method) => {
            tracing::info!(method = %method, "method not allowed");
            Err(HttpError::MethodNotAllowed)
        }
        _ => Ok(hook),
    }
}

/// Reads the body and builds the request as hooks see it: headers, query, payload (parsed only
/// when something reads it), `parse-parameters-as-json` applied.
async fn read_request<B: RequestBody>(
    settings: &Settings,
    hook: &Hook,
    remote: Option<SocketAddr>,
    request_id: String,
    req: Request<B>,
) -> Result<HookRequest, HttpError> {
    let (parts, body) = req.into_parts();
    let body = read_body(settings, &parts.headers, body).await?;
    let mut request = hook_request(hook, &parts, remote, request_id, body);
    // Multipart errors are visible (500), so multipart is always parsed; other bodies only
    // when something reads the payload.
    let multipart = request.content_type.starts_with("multipart/form-data;");
    if hook.reads_payload || multipart {
        match request.parse_body(hook).await {
            Ok(()) => {}
            Err(e @ BodyError::Multipart(_)) => {
                tracing::warn!(error = %e, "multipart body rejected");
                return Err(HttpError::Multipart);
            }
            Err(e) => tracing::debug!(error = %e, "body not parsed"),
        }
    }
    for problem in params::apply_json_parameters(&hook.json_parameters, &mut request) {
        tracing::debug!(problem, "parse-parameters-as-json");
    }
    Ok(request)
}

/// Reads registry events, evaluates the rules and submits a job for each input they let
/// through.
async fn answer(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    request: &HookRequest,
) -> Result<Answer, HttpError> {
    let pushes = match &hook.registry_event {
        None => None,
        Some(opts) => match image_pushes(opts, request)? {
            Delivery::Pushes(pushes) => Some(pushes),
            Delivery::Ignored { reason } => {
                tracing::info!(reason, "registry delivery has no image push");
                return Ok(Answer::NothingToDeploy { reason });
            }
        },
    };
    let inputs = match &pushes {
        None => vec![Input::request(request)],
        Some(pushes) => pushes.iter().map(|p| Input::push(request, p)).collect(),
    };
    let admitted = admitted(hook, inputs)?;
    if admitted.is_empty() {
        tracing::info!("trigger rules were not satisfied");
        return Ok(Answer::RulesNotSatisfied);
    }
    if let Some(pause) = state.jobs.store().pause(&hook.id) {
        tracing::info!(since = %pause.paused_at, "hook is paused; nothing runs");
        return Ok(Answer::Paused {
            registry: hook.registry_event.is_some(),
        });
    }
    let runs: Vec<Run> = admitted
        .iter()
        .map(|input| Run {
            delivery: delivery_key(hook, request, input),
            invocation: invocation(&state.settings, hook, input),
        })
        .collect();
    tracing::info!(jobs = runs.len(), "hook triggered");
    let jobs = match submit(state, hook, &request.id, runs).await? {
        Submitted::Jobs(jobs) => jobs,
        Submitted::Earlier(job_ids) => return Ok(Answer::Duplicate { job_ids }),
    };
    Ok(if hook.execution.stream_output {
        Answer::Streaming { jobs }
    } else if hook.capture_output {
        let ending = jobs.first.wait().await;
        Answer::Finished { jobs, ending }
    } else {
        Answer::Accepted { jobs }
    })
}

/// Reads the body under the size limit and the body timeout.
async fn read_body<B: RequestBody>(
    settings: &Settings,
    headers: &HeaderMap,
    body: B,
) -> Result<Bytes, HttpError> {
    let limit = settings.max_body;
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
    match tokio::time::timeout(settings.body_timeout, collect).await {
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

/// The image pushes of a registry delivery, or why it has none.
fn image_pushes(
    opts: &registry::EventOptions,
    request: &HookRequest,
) -> Result<Delivery, HttpError> {
    let lookup = |name: &str| {
        request
            .headers
            .get(&canonical_header_key(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    registry::parse(opts, &lookup, &request.body).map_err(|e| {
        tracing::warn!(error = %e, "invalid registry event");
        HttpError::BadEvent(e.to_string())
    })
}

/// The inputs the rules let through. Rules that read no event value hold or fail for a whole
/// delivery, so they are evaluated once (a delivery may carry 100 pushes over a 10 MiB body);
/// rules that read one are evaluated push by push.
fn admitted<'a>(hook: &Hook, inputs: Vec<Input<'a>>) -> Result<Vec<Input<'a>>, HttpError> {
    let Some(rule) = &hook.rule else {
        return Ok(inputs);
    };
    if !rule.reads_event() {
        let Some(first) = inputs.first() else {
            return Ok(inputs);
        };
        let whole = Input::request(first.request);
        return Ok(if rules_hold(hook, rule, &whole)? {
            inputs
        } else {
            Vec::new()
        });
    }
    let mut admitted = Vec::with_capacity(inputs.len());
    for input in inputs {
        if rules_hold(hook, rule, &input)? {
            admitted.push(input);
        }
    }
    Ok(admitted)
}

fn rules_hold(hook: &Hook, rule: &crate::config::Rule, input: &Input) -> Result<bool, HttpError> {
    let opts = rules::Options {
        soft_signature_failures: hook.soft_signature_failures,
    };
    match rules::evaluate(rule, input, opts) {
        (_, Some(e)) if !e.is_not_found() => {
            tracing::warn!(error = %e, "error evaluating hook rules");
            Err(HttpError::Rules)
        }
        (ok, Some(e)) => {
            tracing::debug!(error = %e, "rule value missing");
            Ok(ok)
        }
        (ok, None) => Ok(ok),
    }
}

/// Builds the command for one input: argv, environment and files, as the reference does (a
/// value that cannot be found becomes an empty argument; missing env/files are skipped).
fn invocation(settings: &Settings, hook: &Hook, input: &Input) -> Invocation {
    let args = hook
        .args
        .iter()
        .map(|p| {
            input.value(p).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "argument not found, passing an empty string");
                String::new()
            })
        })
        .collect();
    let mut env: Vec<(String, String)> = Vec::new();
    for e in &hook.env {
        match input.value(&e.value) {
            Ok(v) => env.push((e.name.clone(), v)),
            Err(err) => tracing::debug!(error = %err, env = %e.name, "environment value not found"),
        }
    }
    if let Some(push) = input.push {
        env.extend(push.env().into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    let mut files = Vec::new();
    for f in &hook.files {
        match input.value(&f.value) {
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
        timeout: hook.execution.timeout.unwrap_or(settings.command_timeout),
        kill_grace: settings.kill_grace,
    }
}

/// One command to run for an input, and the delivery id it answers to (if any).
struct Run {
    delivery: Option<String>,
    invocation: Invocation,
}

/// What submitting came to: jobs to answer with (new ones, or earlier ones still in memory),
/// or only the ids of the earlier jobs of a delivery seen before.
enum Submitted {
    Jobs(Started),
    Earlier(Vec<String>),
}

/// The delivery id of an input: the hook's `delivery-id-header`, else the registry's own
/// (GitHub's and Gitea's delivery header, the distribution event id, Harbor's CloudEvent id),
/// with the image it pushes (one delivery may carry several pushes).
fn delivery_key(hook: &Hook, request: &HookRequest, input: &Input) -> Option<String> {
    if let Some(name) = &hook.execution.delivery_id_header {
        let value = request
            .headers
            .get(&canonical_header_key(name.as_str()))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())?;
        return Some(format!("{name}: {value}"));
    }
    let push = input.push?;
    let id = push.delivery_id.as_deref().filter(|v| !v.is_empty())?;
    Some(format!("{id} {}", push.image))
}

/// Submits one job per run. A run whose delivery id was seen within the window (by this
/// replica or, with a shared store, any other) starts nothing and answers with its earlier
/// jobs; simultaneous copies run once. A refusal of the first run is the answer (429, 503);
/// later pushes of a delivery that cannot be queued are logged and skipped.
async fn submit(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    request_id: &str,
    runs: Vec<Run>,
) -> Result<Submitted, HttpError> {
    let mut jobs: Vec<Arc<Job>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut all_live = true;
    for (i, run) in runs.into_iter().enumerate() {
        let submitted = state
            .jobs
            .submit_delivery(
                hook,
                request_id,
                run.invocation,
                Trigger::Request,
                run.delivery.as_deref(),
            )
            .await;
        match submitted {
            Ok(Submission::Seen(earlier)) => {
                tracing::info!(delivery = ?run.delivery, jobs = ?earlier, "delivery seen before; answering with its jobs");
                for id in earlier {
                    match state.jobs.get(&id) {
                        Some(job) => jobs.push(job),
                        None => all_live = false,
                    }
                    ids.push(id);
                }
            }
            Ok(Submission::New(job)) => {
                ids.push(job.id.clone());
                jobs.push(job);
            }
            Err(e) if i == 0 => {
                let retry_after_secs = state.settings.retry_after.as_secs().max(1);
                return Err(match e {
                    SubmitError::QueueFull { .. } => HttpError::QueueFull { retry_after_secs },
                    SubmitError::ShuttingDown => HttpError::ShuttingDown,
                    SubmitError::StoreUnavailable => {
                        HttpError::StoreUnavailable { retry_after_secs }
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "push not queued"),
        }
    }
    match jobs.first() {
        Some(first) if all_live => Ok(Submitted::Jobs(Started {
            first: first.clone(),
            all: jobs,
        })),
        _ => Ok(Submitted::Earlier(ids)),
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

/// The request id: the client's `X-Request-Id` when `-x-request-id` allows it, else random.
fn request_id(settings: &Settings, headers: &HeaderMap) -> String {
    if settings.use_x_request_id {
        if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            let limit = settings.x_request_id_limit;
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
