//! The admin side of the main port: listings of the history (`GET /jobs`, `GET /deploys`,
//! `GET /deploys/{target}`, `GET /admin/hooks`, `GET /admin/store`) and the actions on it
//! (`POST /jobs/{id}/rerun`, `POST /deploys/{target}/rollback`,
//! `POST /admin/hooks/{id}/pause|resume`), plus the dashboard's pages (`dashboard`). Every
//! one of them needs the admin credential (`admin_auth`); state-changing ones on a browser
//! session also the CSRF token. JSON for programs; a form post is answered with a redirect to
//! the page showing what it did.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use serde_json::json;

use super::admin_auth::{AdminAuth, Principal, Refusal};
use super::{dashboard, AppState, RequestBody};
use crate::jobs::{Job, JobState, JobView, SubmitError, Trigger};
use crate::store::records::summarize_targets;
use crate::store::{DeployRecord, JobFilter, PauseRecord};

/// Largest body an admin request may have (forms and JSON are tiny).
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Jobs listed when the request names no limit, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// An admin URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AdminPath {
    Jobs,
    Rerun(String),
    Deploys,
    Target(String),
    Rollback(String),
    Hooks,
    Pause { hook: String, paused: bool },
    StoreHealth,
    Ui(dashboard::Page),
}

impl AdminPath {
    /// The admin URL `path` is, for `method`; `None` leaves it to the hooks.
    pub(super) fn parse(method: &Method, path: &str) -> Option<AdminPath> {
        let read = matches!(*method, Method::GET | Method::HEAD);
        let post = *method == Method::POST;
        if path == "/ui" || path.starts_with("/ui/") {
            return dashboard::Page::parse(method, path).map(AdminPath::Ui);
        }
        match path {
            "/jobs" | "/jobs/" if read => return Some(AdminPath::Jobs),
            "/deploys" | "/deploys/" if read => return Some(AdminPath::Deploys),
            "/admin/hooks" if read => return Some(AdminPath::Hooks),
            "/admin/store" if read => return Some(AdminPath::StoreHealth),
            _ => {}
        }
        if let Some(id) = path
            .strip_prefix("/jobs/")
            .and_then(|p| p.strip_suffix("/rerun"))
        {
            return (post && crate::jobs::is_job_id(id)).then(|| AdminPath::Rerun(id.into()));
        }
        if let Some(rest) = path.strip_prefix("/deploys/") {
            if post {
                return rest
                    .strip_suffix("/rollback")
                    .filter(|t| !t.is_empty())
                    .map(|t| AdminPath::Rollback(t.into()));
            }
            return (read && !rest.is_empty()).then(|| AdminPath::Target(rest.into()));
        }
        if let Some(rest) = path.strip_prefix("/admin/hooks/") {
            if !post {
                return None;
            }
            if let Some(hook) = rest.strip_suffix("/pause") {
                return Some(AdminPath::Pause {
                    hook: hook.into(),
                    paused: true,
                });
            }
            if let Some(hook) = rest.strip_suffix("/resume") {
                return Some(AdminPath::Pause {
                    hook: hook.into(),
                    paused: false,
                });
            }
        }
        None
    }
}

/// What an admin request can end in other than a success.
#[derive(Debug, thiserror::Error)]
pub(super) enum AdminError {
    #[error("admin credential missing or wrong")]
    Unauthorized(Refusal),
    #[error("cross-site request or missing CSRF token")]
    CrossSite,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("the hook's queue is full")]
    QueueFull,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, text) = match &self {
            AdminError::Unauthorized(Refusal::NotConfigured) => (
                StatusCode::UNAUTHORIZED,
                "Admin access is not configured. Start hookrun with -admin-token-file FILE (a file holding a token of at least 16 characters, e.g. from `openssl rand -hex 32`, or sha256:<hex> of it), or give systemd's LoadCredential=hookrun-admin-token:FILE; then send Authorization: Bearer <token> or log in at /ui.\n".to_string(),
            ),
            AdminError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "Admin credential required: send Authorization: Bearer <token> or log in at /ui.\n".to_string(),
            ),
            AdminError::CrossSite => (
                StatusCode::FORBIDDEN,
                "Refused: a state-changing request must come from the dashboard itself (same origin, with its CSRF token) or carry Authorization: Bearer.\n".to_string(),
            ),
            AdminError::NotFound(what) => (StatusCode::NOT_FOUND, format!("Not found: {what}.\n")),
            AdminError::Conflict(why) => (StatusCode::CONFLICT, format!("{why}\n")),
            AdminError::BadRequest(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")),
            AdminError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Server is shutting down.\n".to_string(),
            ),
            AdminError::QueueFull => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests waiting for this hook; retry later.\n".to_string(),
            ),
        };
        let mut resp = (status, text).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, AdminError::Unauthorized(_)) {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hookrun admin\""),
            );
        }
        resp
    }
}

/// A request that passed the admin checks: who it is and its form or JSON fields.
pub(super) struct Admitted {
    pub principal: Principal,
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Sent by a browser form: answer with a redirect.
    pub from_form: bool,
    pub query: Option<String>,
}

impl Admitted {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(|v| v.as_str())
    }

    pub fn csrf(&self) -> &str {
        match &self.principal {
            Principal::Session { csrf } => csrf,
            Principal::Bearer => "",
        }
    }
}

/// Answers an admin URL.
pub(super) async fn answer<B: RequestBody>(
    state: Arc<AppState>,
    path: AdminPath,
    req: Request<B>,
) -> Response {
    if let AdminPath::Ui(page) = &path {
        if page.is_public() {
            return dashboard::public(&state, page, req).await;
        }
    }
    let admitted = match admit(&state.admin, req).await {
        Ok(a) => a,
        Err((AdminError::Unauthorized(refusal), true)) => {
            return dashboard::login_page(&state.admin, refusal, StatusCode::UNAUTHORIZED, None)
        }
        Err((e, _)) => return e.into_response(),
    };
    let result = match path {
        AdminPath::Ui(page) => dashboard::render(&state, page, &admitted).await,
        AdminPath::Jobs => list_jobs(&state, admitted.query.as_deref()).await,
        AdminPath::Rerun(id) => rerun(&state, &id, &admitted).await,
        AdminPath::Deploys => deploys(&state).await,
        AdminPath::Target(target) => target_deploys(&state, &target).await,
        AdminPath::Rollback(target) => rollback(&state, &target, &admitted).await,
        AdminPath::Hooks => Ok(json_response(&json!({ "hooks": hooks(&state).await }))),
        AdminPath::Pause { hook, paused } => pause(&state, &hook, paused, &admitted),
        AdminPath::StoreHealth => Ok(json_response(&state.jobs.store().health().report())),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Authenticates the request, reads its small body and checks CSRF. The error comes with
/// whether a login page fits (a browser asking for a page).
async fn admit<B: RequestBody>(
    auth: &AdminAuth,
    req: Request<B>,
) -> Result<Admitted, (AdminError, bool)> {
    let wants_page = *req.method() == Method::GET && accepts_html(req.headers());
    let principal = auth
        .authenticate(req.headers())
        .map_err(|r| (AdminError::Unauthorized(r), wants_page))?;
    let (parts, body) = req.into_parts();
    let from_form = is_form(&parts.headers);
    let fields = read_fields(&parts.headers, body)
        .await
        .map_err(|e| (e, false))?;
    let form_token = fields.get("csrf").and_then(|v| v.as_str());
    AdminAuth::check_csrf(&principal, &parts.method, &parts.headers, form_token).map_err(|_| {
        tracing::warn!(method = %parts.method, path = %parts.uri.path(), "cross-site admin request refused");
        (AdminError::CrossSite, false)
    })?;
    Ok(Admitted {
        principal,
        fields,
        from_form,
        query: parts.uri.query().map(str::to_owned),
    })
}

pub(super) fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The fields of a form or JSON object body (empty for other bodies).
pub(super) async fn read_fields<B: RequestBody>(
    headers: &HeaderMap,
    body: B,
) -> Result<serde_json::Map<String, serde_json::Value>, AdminError> {
    let bytes: Bytes = Limited::new(body, MAX_ADMIN_BODY)
        .collect()
        .await
        .map_err(|_| AdminError::BadRequest("request body too large or unreadable".into()))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(serde_json::Map::new());
    }
    if is_form(headers) {
        return Ok(form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect());
    }
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(AdminError::BadRequest(
            "the body must be a JSON object or a form".into(),
        )),
    }
}

pub(super) fn json_response<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(super) fn redirect(location: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::try_from(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The filter of a listing's query: `hook`, `state`, `before` (RFC 3339), `limit`.
pub(super) fn job_filter(query: Option<&str>) -> Result<JobFilter, AdminError> {
    let mut filter = JobFilter {
        limit: DEFAULT_LIMIT,
        ..JobFilter::default()
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "hook" if !v.is_empty() => filter.hook = Some(v.into_owned()),
            "state" if !v.is_empty() => {
                filter.state = Some(
                    JobState::parse(&v)
                        .ok_or_else(|| AdminError::BadRequest(format!("unknown state {v:?}")))?,
                );
            }
            "before" if !v.is_empty() => {
                filter.before_ms = Some(crate::store::records::parse_ms(&v).ok_or_else(|| {
                    AdminError::BadRequest("before must be an RFC 3339 time".into())
                })?);
            }
            "limit" => {
                filter.limit = v
                    .parse::<usize>()
                    .map_err(|_| AdminError::BadRequest("limit must be a number".into()))?
                    .clamp(1, MAX_LIMIT);
            }
            _ => {}
        }
    }
    Ok(filter)
}

/// Jobs in memory and in the store matching `filter`, newest first, each once.
pub(super) async fn jobs_matching(state: &AppState, filter: &JobFilter) -> Vec<JobView> {
    let mut views = state.jobs.list(filter);
    let stored = state.jobs.store().jobs(filter).await;
    let known: std::collections::HashSet<String> = views.iter().map(|v| v.id.clone()).collect();
    views.extend(stored.into_iter().filter(|v| !known.contains(&v.id)));
    views.sort_by(|a, b| b.queued_at.cmp(&a.queued_at));
    views.truncate(filter.limit);
    views
}

async fn list_jobs(state: &AppState, query: Option<&str>) -> Result<Response, AdminError> {
    let filter = job_filter(query)?;
    let jobs = jobs_matching(state, &filter).await;
    Ok(json_response(&json!({ "jobs": jobs })))
}

/// A job's view from memory or the store.
pub(super) async fn job_view(state: &AppState, id: &str, with_output: bool) -> Option<JobView> {
    if let Some(job) = state.jobs.get(id) {
        return Some(job.view(with_output));
    }
    let stored = state.jobs.store().job(id).await?;
    Some(stored.into_view(with_output))
}

/// Runs job `of` again: the same command, arguments, environment and files, under the hook's
/// current concurrency settings. Admin reruns run even when the hook is paused.
pub(super) async fn start_again(
    state: &AppState,
    of: &str,
    trigger: Trigger,
) -> Result<Arc<Job>, AdminError> {
    let view = job_view(state, of, false)
        .await
        .ok_or_else(|| AdminError::NotFound(format!("job {of}")))?;
    let hook = state
        .hooks
        .snapshot()
        .get(&view.hook)
        .cloned()
        .ok_or_else(|| {
            AdminError::Conflict(format!(
                "Hook {:?} of job {of} is no longer configured; it cannot run again.",
                view.hook
            ))
        })?;
    let spec = state.jobs.store().run_spec(of).await.ok_or_else(|| {
        AdminError::Conflict(format!(
            "The command of job {of} is no longer kept (history retention); it cannot run again."
        ))
    })?;
    let request_id = hex::encode(rand::random::<[u8; 6]>());
    let inv = spec.invocation(state.settings.kill_grace);
    let job = state
        .jobs
        .submit_as(&hook, &request_id, inv, trigger.clone())
        .map_err(|e| match e {
            SubmitError::QueueFull { .. } => AdminError::QueueFull,
            SubmitError::ShuttingDown => AdminError::ShuttingDown,
        })?;
    tracing::info!(job = %job.id, hook = %hook.id, of, trigger = ?trigger, "admin started a job again");
    Ok(job)
}

fn started(job: &Job, admitted: &Admitted) -> Response {
    if admitted.from_form {
        return redirect(&format!("/ui/jobs/{}", job.id));
    }
    let mut resp =
        json_response(&json!({ "job": job.id, "hook": job.hook, "trigger": job.trigger }));
    *resp.status_mut() = StatusCode::ACCEPTED;
    if let Ok(v) = HeaderValue::try_from(job.id.as_str()) {
        resp.headers_mut().insert("hookrun-job-id", v);
    }
    resp
}

async fn rerun(state: &AppState, of: &str, admitted: &Admitted) -> Result<Response, AdminError> {
    let job = start_again(state, of, Trigger::Rerun { of: of.to_string() }).await?;
    Ok(started(&job, admitted))
}

async fn deploys(state: &AppState) -> Result<Response, AdminError> {
    let all = state.jobs.store().deploys(None, 10_000).await;
    Ok(json_response(
        &json!({ "targets": summarize_targets(&all) }),
    ))
}

async fn target_deploys(state: &AppState, target: &str) -> Result<Response, AdminError> {
    let list = state.jobs.store().deploys(Some(target), MAX_LIMIT).await;
    if list.is_empty() {
        return Err(AdminError::NotFound(format!("deploys of {target:?}")));
    }
    Ok(json_response(&json!({ "target": target, "deploys": list })))
}

/// The deploy a rollback of `target` goes back to: the one named (`to`, a job id), which must
/// be a good deploy of the target; otherwise the newest good deploy of an image other than the
/// one the target runs now.
pub(super) fn rollback_choice(
    deploys: &[DeployRecord],
    to: Option<&str>,
) -> Result<DeployRecord, AdminError> {
    if let Some(to) = to {
        let d = deploys
            .iter()
            .find(|d| d.job_id == to)
            .ok_or_else(|| AdminError::NotFound(format!("deploy {to} of this target")))?;
        if !d.is_good() {
            return Err(AdminError::Conflict(format!(
                "Deploy {to} did not succeed; only a good deploy can be rolled back to."
            )));
        }
        return Ok(d.clone());
    }
    let mut good = deploys.iter().filter(|d| d.is_good());
    let current = good.next().ok_or_else(|| {
        AdminError::Conflict("This target has no successful deploy to roll back to.".into())
    })?;
    good.find(|d| d.image_after != current.image_after)
        .cloned()
        .ok_or_else(|| {
            AdminError::Conflict(
                "This target has no earlier successful deploy of another image.".into(),
            )
        })
}

async fn rollback(
    state: &AppState,
    target: &str,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    let deploys = state.jobs.store().deploys(Some(target), MAX_LIMIT).await;
    if deploys.is_empty() {
        return Err(AdminError::NotFound(format!("deploys of {target:?}")));
    }
    let choice = rollback_choice(&deploys, admitted.field("to"))?;
    let trigger = Trigger::Rollback {
        target: target.to_string(),
        of: choice.job_id.clone(),
    };
    tracing::warn!(target, to = %choice.job_id, image = ?choice.image_after, "rollback requested by an admin");
    let job = start_again(state, &choice.job_id, trigger).await?;
    Ok(started(&job, admitted))
}

/// A hook as the admin listing shows it.
#[derive(Debug, Serialize)]
pub(super) struct HookStatus {
    pub id: String,
    pub paused: Option<PauseRecord>,
    pub last_job: Option<JobView>,
}

pub(super) async fn hooks(state: &AppState) -> Vec<HookStatus> {
    let pauses = state.jobs.store().pauses();
    let set = state.hooks.snapshot();
    let mut out = Vec::new();
    for id in set.ids() {
        let filter = JobFilter {
            hook: Some(id.to_string()),
            limit: 1,
            ..JobFilter::default()
        };
        let last_job = jobs_matching(state, &filter).await.into_iter().next();
        out.push(HookStatus {
            id: id.to_string(),
            paused: pauses.get(id).cloned(),
            last_job,
        });
    }
    out
}

fn pause(
    state: &AppState,
    hook: &str,
    paused: bool,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    if state.hooks.snapshot().get(hook).is_none() {
        return Err(AdminError::NotFound(format!("hook {hook:?}")));
    }
    let store = state.jobs.store();
    let record = paused.then(|| PauseRecord {
        hook: hook.to_string(),
        paused_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        reason: admitted
            .field("reason")
            .map(|r| r.chars().take(200).collect())
            .filter(|r: &String| !r.trim().is_empty()),
    });
    if paused {
        tracing::warn!(
            hook,
            "hook paused by an admin: requests run nothing until it is resumed"
        );
    } else {
        tracing::warn!(hook, "hook resumed by an admin");
    }
    store.write(crate::store::Write::Pause(hook.to_string(), record.clone()));
    if admitted.from_form {
        let back = admitted.field("back").filter(|b| b.starts_with("/ui"));
        return Ok(redirect(back.unwrap_or("/ui")));
    }
    Ok(json_response(&json!({ "hook": hook, "paused": record })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        let get = Method::GET;
        let post = Method::POST;
        let id = "0123456789abcdef0123456789abcdef";
        for (m, p, want) in [
            (&get, "/jobs", Some(AdminPath::Jobs)),
            (
                &post,
                &*format!("/jobs/{id}/rerun"),
                Some(AdminPath::Rerun(id.into())),
            ),
            (&get, &*format!("/jobs/{id}/rerun"), None),
            (&post, "/jobs/nothex/rerun", None),
            (&get, "/deploys", Some(AdminPath::Deploys)),
            (
                &get,
                "/deploys/kubernetes:ns/deployment/web/app",
                Some(AdminPath::Target("kubernetes:ns/deployment/web/app".into())),
            ),
            (
                &post,
                "/deploys/swarm:web/rollback",
                Some(AdminPath::Rollback("swarm:web".into())),
            ),
            (
                &post,
                "/admin/hooks/a/b/pause",
                Some(AdminPath::Pause {
                    hook: "a/b".into(),
                    paused: true,
                }),
            ),
            (&get, "/admin/store", Some(AdminPath::StoreHealth)),
            (&get, "/hooks/x", None),
        ] {
            assert_eq!(AdminPath::parse(m, p), want, "{m} {p}");
        }
    }

    fn deploy(id: &str, image: &str, state: JobState, rolled_back: bool, at: &str) -> DeployRecord {
        DeployRecord {
            job_id: id.into(),
            hook: "h".into(),
            target: "swarm:web".into(),
            state,
            image_before: None,
            image_after: Some(image.into()),
            digest: None,
            rolled_back,
            status: None,
            message: None,
            started_at: None,
            finished_at: at.into(),
            rollback_of: None,
        }
    }

    #[test]
    fn rollback_goes_to_the_previous_good_image() {
        // Newest first: v3 failed and was rolled back by its script; v2 runs; v1 before.
        let list = vec![
            deploy(
                "j3",
                "web:v3",
                JobState::Failed,
                true,
                "2026-01-01T00:03:00Z",
            ),
            deploy(
                "j2",
                "web:v2",
                JobState::Succeeded,
                false,
                "2026-01-01T00:02:00Z",
            ),
            deploy(
                "j2b",
                "web:v2",
                JobState::Succeeded,
                false,
                "2026-01-01T00:01:30Z",
            ),
            deploy(
                "j1",
                "web:v1",
                JobState::Succeeded,
                false,
                "2026-01-01T00:01:00Z",
            ),
        ];
        assert_eq!(rollback_choice(&list, None).unwrap().job_id, "j1");
        assert_eq!(rollback_choice(&list, Some("j2")).unwrap().job_id, "j2");
        assert!(matches!(
            rollback_choice(&list, Some("j3")),
            Err(AdminError::Conflict(_))
        ));
        assert!(matches!(
            rollback_choice(&list, Some("zz")),
            Err(AdminError::NotFound(_))
        ));
        assert!(matches!(
            rollback_choice(&list[..2], None),
            Err(AdminError::Conflict(_))
        ));
    }
}
