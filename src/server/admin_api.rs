//! The admin side of the main port: which URLs are admin URLs, the credential and CSRF
//! checks every one of them passes (`admin_auth`), their errors, and the job listing
//! (`GET /jobs`); the actions and the other listings are `admin_actions`, the pages
//! `dashboard`. JSON for programs; a form post is answered with a redirect to the page
//! showing what it did.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use serde_json::json;

use super::admin_actions::{self as actions, hooks};
use super::admin_auth::{AdminAuth, Principal, Refusal};
use super::{dashboard, AppState, RequestBody};
use crate::jobs::{JobState, JobView};
use crate::store::JobFilter;

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
    #[error("the shared job store cannot be reached")]
    StoreUnavailable,
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
            AdminError::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The job store shared by the replicas cannot be reached; nothing was run. Retry later.\n".to_string(),
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
        AdminPath::Rerun(id) => actions::rerun(&state, &id, &admitted).await,
        AdminPath::Deploys => actions::deploys(&state).await,
        AdminPath::Target(target) => actions::target_deploys(&state, &target).await,
        AdminPath::Rollback(target) => actions::rollback(&state, &target, &admitted).await,
        AdminPath::Hooks => Ok(json_response(&json!({ "hooks": hooks(&state).await }))),
        AdminPath::Pause { hook, paused } => actions::pause(&state, &hook, paused, &admitted),
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
}
