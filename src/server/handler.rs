//! The hook handler: `/{prefix}/{id}` as a list of named steps — find the hook, check the
//! method, read the body within limits, parse it, read registry events, evaluate the rules,
//! refuse to run a paused hook, answer a delivery seen before with its jobs, submit one job
//! per input the rules let through — ending in an [`Answer`] (or an [`HttpError`]) that
//! `reply` turns into the response. Pauses and delivery ids are looked at only once the rules
//! hold, so nothing about them is learnt through a hook URL without its secret.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request};

use super::body;
use super::error::HttpError;
use super::reply::{self, Answer, Started};
use super::{AppState, RequestBody, Settings};
use crate::config::{canonical_header_key, Hook, Parameter};
use crate::exec::{Invocation, Start};
use crate::jobs::{Job, Submission, SubmitError, Trigger};
use crate::logging::{self, LogContext, RequestId};
use crate::metrics::RequestOutcome;
use crate::registry::{self, Delivery};
use crate::request::budget::{BodyUse, GrowError};
use crate::request::json::scan;
use crate::request::{
    body_use, content_type_text, method_text, params, remote_text, BodyError, Fields, Headers,
    HookRequest, RemoteAddr, Reservation,
};
use crate::rules::{self, Input};

/// Answers a request for the hook `id`. A plain function that returns the answer's future:
/// what it does before that future (finding the hook, building the request as hooks see it)
/// leaves nothing behind in the future of the caller, which holds the returned one.
pub fn handle<B: RequestBody>(
    state: Arc<AppState>,
    remote: Option<SocketAddr>,
    id: String,
    req: Request<B>,
) -> impl std::future::Future<Output = Response> {
    let request_id = request_id(&state.settings, req.headers());
    // The hook is looked up before the log context takes the id (its refusal is logged in
    // the context, below); an id that names no hook it may run is labelled only if it names
    // a configured hook.
    let found = match &state.settings.captainhook_dir {
        Some(dir) => find_run_book(&state, dir, &id, req.method()),
        None => find_hook(&state, &id, req.method()),
    };
    let known = match &found {
        Ok(_) => None,
        Err(_) => state.hooks.snapshot().get(&id).map(|h| h.id.clone()),
    };
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The request as hooks see it is built here, before the future below: that future holds
    // it (and its hook) once, not also the HTTP request it was built from.
    let mut found = found.map(|hook| {
        let request = hook_request(&hook, parts, RemoteAddr::new(remote), request_id.clone());
        (hook, request)
    });
    let context = LogContext {
        request_id,
        hook: id,
        job_id: None,
    };
    // Boxed once, here: the request's whole state (body, payload, rules, jobs) lives in this
    // future, and unboxed each move on its way into the task-local scope and hyper's
    // connection copied all of it; boxed, those moves copy a pointer. It reads what it
    // captured in place (a value moved out of a capture, or passed by value to an `async
    // fn`, is held twice), so that a request its rules refuse fits in a small allocation.
    logging::with_context(
        context,
        Box::pin(async move {
            // The clock is read only for the line that reports the duration (`-verbose`).
            let started = tracing::enabled!(tracing::Level::INFO).then(std::time::Instant::now);
            tracing::debug!(%method, remote = %Peer(remote), "request received");
            let response = match &mut found {
                Ok((hook, request)) => {
                    let (answer, headers) =
                        hook_answer(&state, hook, request, declared, body).await;
                    state.metrics.request(Some(&hook.id), outcome(&answer));
                    reply::hook_response(&state.settings, hook, answer, headers)
                }
                Err(e) => {
                    log_refusal(e, &method);
                    state.metrics.request(known.as_deref(), error_outcome(e));
                    // Taken out of the capture, which is read in place (see above).
                    std::mem::replace(e, HttpError::NoRoute).into_response()
                }
            };
            tracing::info!(
                %method,
                remote = %Peer(remote),
                status = response.status().as_u16(),
                duration_ms = started.map_or(0, |s| {
                    u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
                }),
                "request answered"
            );
            response
        }),
    )
}

/// The client's address in the log, written only when a line is.
struct Peer(Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&remote_text(self.0))
    }
}

/// Logs why a request names no hook it may run.
fn log_refusal(e: &HttpError, method: &Method) {
    match e {
        HttpError::HookNotFound => tracing::info!("hook not found"),
        HttpError::MethodNotAllowed => tracing::info!(method = %method, "method not allowed"),
        HttpError::NoRunBook { .. } => tracing::info!("no run book for this hook id"),
        _ => {}
    }
}

/// How a request for a hook ended, for `/metrics`: `matched` whenever the rules held and jobs
/// started, however they end (`hookrun_jobs_total` says that).
fn outcome(result: &Result<Answer, HttpError>) -> RequestOutcome {
    match result {
        Ok(Answer::Accepted { .. } | Answer::Finished { .. } | Answer::Streaming { .. })
        | Ok(Answer::Duplicate { .. }) => RequestOutcome::Matched,
        Ok(Answer::RulesNotSatisfied) => RequestOutcome::RulesNotSatisfied,
        Ok(Answer::NothingToDeploy { .. }) => RequestOutcome::NothingToDeploy,
        Ok(Answer::Paused { .. }) => RequestOutcome::Paused,
        Err(e) => error_outcome(e),
    }
}

fn error_outcome(e: &HttpError) -> RequestOutcome {
    match e {
        HttpError::HookNotFound | HttpError::NoRunBook { .. } => RequestOutcome::NotFound,
        HttpError::MethodNotAllowed => RequestOutcome::MethodNotAllowed,
        HttpError::QueueFull { .. } => RequestOutcome::QueueFull,
        HttpError::Multipart
        | HttpError::Rules
        | HttpError::MemoryBusy { .. }
        | HttpError::StoreUnavailable { .. }
        | HttpError::ShuttingDown
        | HttpError::CommandFailed { .. } => RequestOutcome::ServerError,
        HttpError::UncleanPath { .. }
        | HttpError::NoRoute
        | HttpError::BadRequestLine
        | HttpError::BadHost(_)
        | HttpError::BodyTooLarge { .. }
        | HttpError::BodyTimeout
        | HttpError::BodyRead
        | HttpError::OverBudget
        | HttpError::BadEvent(_)
        | HttpError::Superseded
        | HttpError::JobNotFound
        | HttpError::JobOutputHidden => RequestOutcome::ClientError,
    }
}

/// `-captainhook`: the hook of the run book `id`, with captainhook's answers otherwise (its
/// router serves `POST /{id}` only, one path segment; a missing run book is a 500). Logs
/// nothing: the caller logs the refusal in the request's log context.
fn find_run_book(
    state: &AppState,
    dir: &str,
    id: &str,
    method: &Method,
) -> Result<Arc<Hook>, HttpError> {
    if id.is_empty() || id.contains('/') {
        return Err(HttpError::NoRoute);
    }
    if method != Method::POST {
        return Err(HttpError::MethodNotAllowed);
    }
    state
        .hooks
        .snapshot()
        .get(id)
        .cloned()
        .ok_or_else(|| HttpError::NoRunBook {
            path: format!("{dir}/{id}.json"),
        })
}

/// The hook of the current set, if it exists and accepts `method` (logs nothing, as
/// [`find_run_book`]).
fn find_hook(state: &AppState, id: &str, method: &Method) -> Result<Arc<Hook>, HttpError> {
    let Some(hook) = state.hooks.snapshot().get(id).cloned() else {
        return Err(HttpError::HookNotFound);
    };
    let allowed = hook
        .methods
        .as_ref()
        .or(state.settings.default_methods.as_ref());
    match allowed {
        Some(list) if !list.contains(method) => Err(HttpError::MethodNotAllowed),
        _ => Ok(hook),
    }
}

/// Reads the body into `request` (the request as hooks see it: headers, query) and prepares
/// its payload (parsed only when something reads it, `parse-parameters-as-json` applied).
/// The body and its parse are held within the memory budget (see `body`): the reservation
/// returned.
async fn read_body<B: RequestBody>(
    state: &AppState,
    hook: &Hook,
    request: &mut HookRequest,
    declared: Option<u64>,
    body: B,
) -> Result<Reservation, HttpError> {
    // Multipart errors are visible (500), so multipart is always parsed; other bodies only
    // when something reads the payload.
    let parse = hook.reads_payload || request.parse_required();
    let price = body::Price {
        body_use: if parse {
            body_use(&request.content_type)
        } else {
            BodyUse::Raw
        },
        replaces: hook
            .json_parameters
            .iter()
            .any(|p| matches!(p, Parameter::Payload(_))),
    };
    let (bytes, memory) = body::read(state, declared, price, body).await?;
    request.body = bytes;
    // Parsing is linear, but a large body takes a while (milliseconds per MiB, more in an
    // unoptimised build): off the runtime's threads, which serve every other connection.
    // (Logging stays here: the request's log context belongs to this task.)
    let multipart = state.settings.multipart_memory;
    let prepared = if request.body.len() > BLOCKING_PARSE {
        let json_parameters = hook.json_parameters.clone();
        let mut owned = std::mem::take(request);
        let (owned, prepared) = tokio::task::spawn_blocking(move || {
            let prepared = prepare_payload(&mut owned, parse, &json_parameters, multipart);
            (owned, prepared)
        })
        .await
        .expect("preparing a payload does not panic");
        *request = owned;
        prepared
    } else {
        prepare_payload(request, parse, &hook.json_parameters, multipart)
    };
    if let Some(Err(e)) = prepared.parsed {
        match e {
            BodyError::Multipart(_) => {
                tracing::warn!(error = %e, "multipart body rejected");
                return Err(HttpError::Multipart);
            }
            // An empty body is the usual `curl -X POST`, not a mistake.
            _ if request.body.is_empty() => tracing::debug!(error = %e, "no body to parse"),
            _ => tracing::warn!(
                error = %e,
                content_type = %request.content_type,
                bytes = request.body.len(),
                "request body could not be parsed; the hook sees no payload"
            ),
        }
    }
    for problem in prepared.json_problems {
        tracing::debug!(problem, "parse-parameters-as-json");
    }
    Ok(memory)
}

/// Bodies larger than this are parsed on a blocking thread.
const BLOCKING_PARSE: usize = 64 * 1024;

/// What preparing the payload found, for the log (and a multipart error fails the request).
struct Prepared {
    /// The body's parse, when it was parsed.
    parsed: Option<Result<(), BodyError>>,
    /// What `parse-parameters-as-json` could not parse.
    json_problems: Vec<String>,
}

/// Parses the body into the payload (when `parse`; `multipart_memory` is
/// `-max-multipart-mem`) and applies `parse-parameters-as-json`. A multipart error stops
/// there: the request fails, as in the reference.
fn prepare_payload(
    request: &mut HookRequest,
    parse: bool,
    json_parameters: &[Parameter],
    multipart_memory: i64,
) -> Prepared {
    let parsed = parse.then(|| request.parse_body(json_parameters, multipart_memory));
    if let Some(Err(BodyError::Multipart(_))) = parsed {
        return Prepared {
            parsed,
            json_problems: Vec::new(),
        };
    }
    Prepared {
        parsed,
        json_problems: params::apply_json_parameters(json_parameters, request),
    }
}

/// Reads the body, starts the hook's jobs, then lets go of the request's body and payload
/// (and their memory) before waiting for a command whose output is the answer. Returns the
/// answer and the request's header map, emptied, for the response's headers
/// (`Headers::into_empty_map`).
async fn hook_answer<B: RequestBody>(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    request: &mut HookRequest,
    declared: Option<u64>,
    body: B,
) -> (Result<Answer, HttpError>, HeaderMap) {
    let memory = match read_body(state, hook, request, declared, body).await {
        Ok(memory) => memory,
        Err(e) => return (Err(e), HeaderMap::new()),
    };
    let started = answer(state, hook, request).await;
    let headers = std::mem::take(&mut request.headers).into_empty_map();
    request.release_body();
    drop(memory);
    let answer = match started {
        Ok(Next::Done(answer)) => Ok(answer),
        // Boxed: only a hook whose answer is its command's output waits here.
        Ok(Next::Wait(jobs)) => Ok(Box::pin(finished(jobs)).await),
        Err(e) => Err(e),
    };
    (answer, headers)
}

/// The answer once the first of `jobs` has ended.
async fn finished(jobs: Started) -> Answer {
    let ending = jobs.first.wait().await;
    Answer::Finished { jobs, ending }
}

/// What a request leads to once its jobs are submitted.
enum Next {
    Done(Answer),
    /// The answer is the first job's output: wait for it.
    Wait(Started),
}

/// Evaluates the rules, reads registry events and submits a job for each input the rules let
/// through. Rules that read no event value hold or fail for the whole request: they are
/// evaluated first, once, so the body of a request they refuse (a bad signature) is never read
/// as a registry delivery. Rules that read event values are evaluated push by push. Each step
/// reserves the memory its values take from the budget, one reservation at a time.
async fn answer(
    state: &Arc<AppState>,
    hook: &Arc<Hook>,
    request: &HookRequest,
) -> Result<Next, HttpError> {
    let (request_rule, push_rule) = match &hook.rule {
        Some(rule) if rule.reads_event() => (None, Some(rule)),
        rule => (rule.as_ref(), None),
    };
    if let Some(rule) = request_rule {
        if !request_rules_hold(state, hook, rule, request).await? {
            tracing::info!("trigger rules were not satisfied");
            return Ok(Next::Done(Answer::RulesNotSatisfied));
        }
    }
    let pushes = match &hook.registry_event {
        None => None,
        // Boxed: only registry hooks carry the state of reading a delivery.
        Some(opts) => match Box::pin(image_pushes(state, opts, request)).await? {
            Delivery::Pushes(pushes) => Some(pushes),
            Delivery::Ignored { reason } => {
                tracing::info!(reason, "registry delivery has no image push");
                return Ok(Next::Done(Answer::NothingToDeploy { reason }));
            }
        },
    };
    let inputs = match &pushes {
        None => vec![Input::request(request)],
        Some(pushes) => pushes.iter().map(|p| Input::push(request, p)).collect(),
    };
    let command_values = hook
        .args
        .iter()
        .chain(hook.env.iter().map(|e| &e.value))
        .chain(hook.files.iter().map(|f| &f.value));
    let cost = values_cost(command_values, request, inputs.len())
        .saturating_add(push_rule.map_or(0, |rule| rule_values_cost(rule, request, inputs.len())));
    let _memory = state
        .memory
        .reserve_work(cost)
        .await
        .map_err(body::over_budget)?;
    let admitted = match push_rule {
        Some(rule) => admitted(hook, rule, inputs)?,
        None => inputs,
    };
    if admitted.is_empty() {
        tracing::info!("trigger rules were not satisfied");
        return Ok(Next::Done(Answer::RulesNotSatisfied));
    }
    if let Some(pause) = state.jobs.store().pause(&hook.id) {
        tracing::info!(since = %pause.paused_at, "hook is paused; nothing runs");
        return Ok(Next::Done(Answer::Paused {
            registry: hook.registry_event.is_some(),
        }));
    }
    let runs: Vec<Run> = admitted
        .iter()
        .map(|input| Run {
            delivery: delivery_key(hook, request, input),
            invocation: invocation(&state.settings, hook, input),
            callback_url: input.push.and_then(|p| p.callback_url.clone()),
        })
        .collect();
    // Boxed: submitting holds the largest state of a request (the store, replicas), and only
    // a request whose rules held gets here; unboxed, every request's future carried it.
    let jobs = match Box::pin(submit(state, hook, &request.id.to_string(), runs)).await? {
        Submitted::Jobs(jobs) => jobs,
        Submitted::Earlier(job_ids) => return Ok(Next::Done(Answer::Duplicate { job_ids })),
    };
    tracing::info!(jobs = jobs.all.len(), job_id = %jobs.first.id, "hook triggered");
    Ok(if hook.execution.stream_output {
        Next::Done(Answer::Streaming { jobs })
    } else if hook.capture_output {
        Next::Wait(jobs)
    } else {
        Next::Done(Answer::Accepted { jobs })
    })
}

/// An upper bound of the memory the values of `params` take, for every input.
fn values_cost<'p>(
    params: impl IntoIterator<Item = &'p Parameter>,
    request: &HookRequest,
    inputs: usize,
) -> u64 {
    let per_input: usize = params.into_iter().map(|p| params::cost(p, request)).sum();
    (per_input.saturating_mul(inputs.max(1))) as u64
}

/// [`values_cost`] of what `rule` reads.
fn rule_values_cost(rule: &crate::config::Rule, request: &HookRequest, inputs: usize) -> u64 {
    let mut per_input = 0usize;
    rule.each_parameter(&mut |p| per_input = per_input.saturating_add(params::cost(p, request)));
    (per_input.saturating_mul(inputs.max(1))) as u64
}

/// The request as hooks see it, without its body yet.
fn hook_request(
    hook: &Hook,
    parts: http::request::Parts,
    remote: RemoteAddr,
    request_id: RequestId,
) -> HookRequest {
    // The first value, as the canonical header map has it (hyper's names are lower-case).
    let content_type = match &hook.content_type {
        Some(text) => Cow::Owned(text.clone()),
        None => parts
            .headers
            .get(header::CONTENT_TYPE)
            .map_or(Cow::Borrowed(""), |v| content_type_text(v.as_bytes())),
    };
    // Every field written once: a default request's fields (its remote address's text among
    // them) were built and dropped again for every request.
    let mut request = HookRequest {
        id: request_id,
        method: method_text(&parts.method),
        remote_addr: remote,
        headers: Headers::new(parts.headers),
        query: Fields::default(),
        query_malformed: false,
        payload: None,
        body: Bytes::new(),
        content_type,
    };
    // Webhooks seldom have a query string: an empty one has no pairs to parse.
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        request.set_query(query);
    }
    request
}

/// The image pushes of a registry delivery, or why it has none. The registry reads the body
/// as a tree, whose memory is reserved first.
async fn image_pushes(
    state: &AppState,
    opts: &registry::EventOptions,
    request: &HookRequest,
) -> Result<Delivery, HttpError> {
    let _memory = state
        .memory
        .reserve_work(registry_tree_cost(&request.body))
        .await
        .map_err(body::over_budget)?;
    let lookup = |name: &str| {
        request
            .headers
            .text(&canonical_header_key(name))
            .map(str::to_owned)
    };
    registry::parse(opts, &lookup, &request.body).map_err(|e| {
        tracing::warn!(error = %e, "invalid registry event");
        HttpError::BadEvent(e.to_string())
    })
}

/// An upper bound of what a `serde_json::Value` tree of `body` takes (a value costs its
/// node, a string or number its text and allocation, a key its map entry).
pub fn registry_tree_cost(body: &[u8]) -> u64 {
    const PER_VALUE: u64 = 160;
    match scan::validate(body, scan::skip_ws(body, 0)) {
        Ok((_, counts)) => counts.values as u64 * PER_VALUE + 2 * body.len() as u64,
        // Invalid JSON is refused before any tree is built.
        Err(_) => body.len() as u64,
    }
}

/// The pushes a rule that reads event values lets through.
fn admitted<'a>(
    hook: &Hook,
    rule: &crate::config::Rule,
    inputs: Vec<Input<'a>>,
) -> Result<Vec<Input<'a>>, HttpError> {
    let mut admitted = Vec::with_capacity(inputs.len());
    for input in inputs {
        if rules_hold(hook, rule, &input)? {
            admitted.push(input);
        }
    }
    Ok(admitted)
}

/// Whether `rule`, which reads no event value, holds for the request. Each value's memory is
/// held before it is rendered (`rules::evaluate_within`); when the work pool does not have it
/// free, the request gives back what it holds, waits for what the value needs and evaluates
/// the rules again.
async fn request_rules_hold(
    state: &AppState,
    hook: &Hook,
    rule: &crate::config::Rule,
    request: &HookRequest,
) -> Result<bool, HttpError> {
    let input = Input::request(request);
    let mut memory = state.memory.empty_work();
    loop {
        let need = match rules::evaluate_within(rule, &input, rule_options(hook), &mut memory) {
            Ok(result) => return judged(result),
            Err(GrowError::OverBudget(e)) => return Err(body::over_budget(e)),
            Err(GrowError::Exhausted { need }) => need,
        };
        // A request that holds memory never waits for more (`request::budget`). Boxed: only
        // a request that finds the work pool in use waits here.
        drop(memory);
        memory = Box::pin(state.memory.reserve_work(need))
            .await
            .map_err(body::over_budget)?;
    }
}

fn rule_options(hook: &Hook) -> rules::Options {
    rules::Options {
        soft_signature_failures: hook.soft_signature_failures,
    }
}

fn rules_hold(hook: &Hook, rule: &crate::config::Rule, input: &Input) -> Result<bool, HttpError> {
    judged(rules::evaluate(rule, input, rule_options(hook)))
}

/// What an evaluation's `(matched, error)` means for the request.
fn judged(result: (bool, Option<rules::RuleError>)) -> Result<bool, HttpError> {
    match result {
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
            input.value(p).map(Cow::into_owned).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "argument not found, passing an empty string");
                String::new()
            })
        })
        .collect();
    let mut env: Vec<(String, String)> = Vec::new();
    for e in &hook.env {
        match input.value(&e.value) {
            Ok(v) => env.push((e.name.clone(), v.into_owned())),
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
            Ok(v) => files.push((f.env_name.clone(), v.into_owned().into_bytes())),
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
        start: start_for(hook),
    }
}

/// How a hook's command starts: where the answer waits for the command's end anyway (its output
/// in the response, or streamed), the start need not wait for the exec; where the answer goes
/// out first, the start waits, so that a burst of such commands does not compete with the
/// server from birth (README "Execution control").
fn start_for(hook: &Hook) -> Start {
    if hook.capture_output || hook.execution.stream_output {
        Start::AtClone
    } else {
        Start::AtExec
    }
}

/// One command to run for an input, and the delivery id it answers to (if any).
struct Run {
    delivery: Option<String>,
    invocation: Invocation,
    /// A Docker Hub delivery's `callback_url`, told how the job ended.
    callback_url: Option<String>,
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
            .text(&canonical_header_key(name.as_str()))
            .filter(|v| !v.is_empty())?;
        return Some(format!("{name}: {value}"));
    }
    let push = input.push?;
    let id = push.delivery_id.as_deref().filter(|v| !v.is_empty())?;
    Some(format!("{id} {}", push.image))
}

/// Submits one job per run, each watched for its notifications (and its Docker Hub
/// `callback_url`). A run whose delivery id was seen within the window (by this replica or,
/// with a shared store, any other) starts nothing and answers with its earlier jobs;
/// simultaneous copies run once. A refusal of the first run is the answer (429, 503); later
/// pushes of a delivery that cannot be queued are logged and skipped.
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
        // Watched from where the job is filed: a client that leaves while its job is being
        // queued (with replicas, on a task of its own) does not leave it unwatched.
        let on_filed = state
            .notifications
            .on_filed(hook, run.callback_url.as_deref());
        let submitted = state
            .jobs
            .submit_delivery(
                hook,
                request_id,
                run.invocation,
                Trigger::Request,
                run.delivery.as_deref(),
                on_filed,
            )
            .await;
        match submitted {
            Ok(Submission::Seen(earlier)) => {
                tracing::info!(
                    delivery = run.delivery.as_deref().unwrap_or_default(),
                    jobs = %earlier.join(","),
                    "delivery seen before; answering with its jobs"
                );
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
                    SubmitError::QueueFull { waiting, .. } => {
                        tracing::warn!(waiting, "the hook's queue is full; answering 429");
                        HttpError::QueueFull { retry_after_secs }
                    }
                    SubmitError::ShuttingDown => {
                        tracing::info!("shutting down; answering 503");
                        HttpError::ShuttingDown
                    }
                    SubmitError::StoreUnavailable => {
                        tracing::warn!("the shared store is unavailable; answering 503");
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

/// The request id: the client's `X-Request-Id` when `-x-request-id` allows it (its first
/// `-x-request-id-limit` characters), else random (written only where it is shown).
fn request_id(settings: &Settings, headers: &HeaderMap) -> RequestId {
    if settings.use_x_request_id {
        if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            let limit = settings.x_request_id_limit;
            let v = match v.char_indices().nth(limit) {
                Some((end, _)) if limit > 0 => &v[..end],
                _ => v,
            };
            if !v.is_empty() {
                return RequestId::from(v);
            }
        }
    }
    RequestId::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_request_id_is_cut_at_the_limit() {
        let mut settings = Settings {
            use_x_request_id: true,
            ..Settings::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", http::HeaderValue::from_static("abcde"));
        for (limit, want) in [(0, "abcde"), (3, "abc"), (5, "abcde"), (9, "abcde")] {
            settings.x_request_id_limit = limit;
            assert_eq!(
                request_id(&settings, &headers).to_string(),
                want,
                "limit {limit}"
            );
        }
        // Text that is not visible ASCII is not used, as without the flag: a random id.
        let other = http::HeaderValue::from_bytes("ab\u{e9}".as_bytes()).unwrap();
        headers.insert("x-request-id", other);
        assert!(matches!(
            request_id(&settings, &headers),
            RequestId::Random(_)
        ));
        settings.use_x_request_id = false;
        headers.insert("x-request-id", http::HeaderValue::from_static("abcde"));
        assert!(matches!(
            request_id(&settings, &headers),
            RequestId::Random(_)
        ));
    }

    #[test]
    fn only_commands_whose_answer_waits_for_them_start_without_waiting_for_the_exec() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hooks.json");
        let hooks = serde_json::json!([
            {"id": "forget", "execute-command": "/bin/true"},
            {"id": "output", "execute-command": "/bin/true",
             "include-command-output-in-response": true},
            {"id": "on-error", "execute-command": "/bin/true",
             "include-command-output-in-response-on-error": true},
            {"id": "stream", "execute-command": "/bin/true", "stream-command-output": true},
        ]);
        std::fs::write(&file, hooks.to_string()).unwrap();
        let opts = crate::config::LoadOptions {
            template: false,
            lenient: false,
            mail_server: false,
            captainhook: None,
        };
        let loaded = crate::config::load(
            &[file.display().to_string()],
            &opts,
            &crate::config::template::SystemEnv,
        );
        let set = loaded.set.expect("the hooks load");
        let start = |id: &str| start_for(set.get(id).expect(id));
        assert_eq!(start("forget"), Start::AtExec);
        // Without the output itself, the answer does not wait for the command.
        assert_eq!(start("on-error"), Start::AtExec);
        assert_eq!(start("output"), Start::AtClone);
        assert_eq!(start("stream"), Start::AtClone);
    }
}
