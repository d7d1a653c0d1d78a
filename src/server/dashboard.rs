//! The dashboard at `/ui`: server-rendered pages (minijinja templates compiled into the
//! binary from `dashboard/`), one small script and one stylesheet, no external assets.
//! Hooks with their last job and a pause switch, deploy targets, recent jobs with filters;
//! a job's page streams its output live from `/jobs/{id}/output`; a target's page lists its
//! deploys (image before → after) with "roll back to this". Every action is a plain form
//! carrying the session's CSRF token, so the pages work without JavaScript too.

use std::sync::LazyLock;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Method, Request, StatusCode};
use minijinja::{context, Environment, Value};

use super::admin_actions;
use super::admin_api::{self, AdminError, Admitted};
use super::admin_auth::{self, AdminAuth, Refusal};
use super::{AppState, RequestBody};
use crate::jobs::JobState;
use crate::store::records::summarize_targets;

/// A dashboard URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Page {
    Home,
    Login,
    Logout,
    Job(String),
    Target(String),
    Asset(Asset),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asset {
    Css,
    Js,
}

impl Page {
    pub(super) fn parse(method: &Method, path: &str) -> Option<Page> {
        let read = matches!(*method, Method::GET | Method::HEAD);
        let post = *method == Method::POST;
        match path {
            "/ui" | "/ui/" if read => return Some(Page::Home),
            "/ui/login" if read || post => return Some(Page::Login),
            "/ui/logout" if post => return Some(Page::Logout),
            "/ui/assets/app.css" if read => return Some(Page::Asset(Asset::Css)),
            "/ui/assets/app.js" if read => return Some(Page::Asset(Asset::Js)),
            _ => {}
        }
        if !read {
            return None;
        }
        if let Some(id) = path.strip_prefix("/ui/jobs/") {
            return crate::jobs::is_job_id(id).then(|| Page::Job(id.into()));
        }
        path.strip_prefix("/ui/deploys/")
            .filter(|t| !t.is_empty())
            .map(|t| Page::Target(t.into()))
    }

    /// The login page and the assets need no credential.
    pub(super) fn is_public(&self) -> bool {
        matches!(self, Page::Login | Page::Asset(_))
    }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("dashboard/layout.html")),
        ("login.html", include_str!("dashboard/login.html")),
        ("index.html", include_str!("dashboard/index.html")),
        ("job.html", include_str!("dashboard/job.html")),
        ("target.html", include_str!("dashboard/target.html")),
    ] {
        env.add_template(name, source)
            .expect("the dashboard's templates are valid (tested)");
    }
    env.add_function("trigger_text", trigger_text);
    env.add_function("duration", duration_text);
    env
});

/// A job's [`Trigger`] in words, from its serialized form.
fn trigger_text(trigger: Value) -> String {
    let attr = |name: &str| {
        trigger
            .get_attr(name)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    match attr("kind").as_str() {
        "rerun" => format!("rerun of {}", short(&attr("of"))),
        "rollback" => format!("rollback to {}", short(&attr("of"))),
        _ => "request".into(),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn duration_text(ms: Option<i64>) -> String {
    match ms.map(|ms| ms.max(0)) {
        None => "—".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

/// A rendered page with the headers every dashboard page gets: no caching, no framing, a
/// content security policy that allows this origin's script and style only.
fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    let html = match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, template = name, "rendering a dashboard page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Rendering the page failed.\n",
            )
                .into_response();
        }
    };
    let mut resp = Response::new(Body::from(html));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// The login form, with `status` (401 where a page was asked for without a credential).
pub(super) fn login_page(
    auth: &AdminAuth,
    refusal: Refusal,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let configured = auth.is_configured() && refusal != Refusal::NotConfigured;
    page(
        status,
        "login.html",
        context! { configured, error, csrf => "", store => context!{} },
    )
}

/// The pages that need no credential: assets and the login form.
pub(super) async fn public<B: RequestBody>(
    state: &AppState,
    page_: &Page,
    req: Request<B>,
) -> Response {
    match page_ {
        Page::Asset(asset) => asset_response(*asset),
        Page::Login if *req.method() == Method::POST => login(state, req).await,
        _ => {
            if state.admin.authenticate(req.headers()).is_ok() {
                return admin_api::redirect("/ui");
            }
            login_page(&state.admin, Refusal::Unauthenticated, StatusCode::OK, None)
        }
    }
}

fn asset_response(asset: Asset) -> Response {
    let (body, kind) = match asset {
        Asset::Css => (include_str!("dashboard/app.css"), "text/css; charset=utf-8"),
        Asset::Js => (
            include_str!("dashboard/app.js"),
            "text/javascript; charset=utf-8",
        ),
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `POST /ui/login`: the token from the form, from this site only; a session cookie.
async fn login<B: RequestBody>(state: &AppState, req: Request<B>) -> Response {
    let auth = &state.admin;
    if !auth.is_configured() {
        return login_page(auth, Refusal::NotConfigured, StatusCode::UNAUTHORIZED, None);
    }
    if !admin_auth::same_site(req.headers()) {
        tracing::warn!("cross-site login attempt refused");
        return AdminError::CrossSite.into_response();
    }
    let (parts, body) = req.into_parts();
    let fields = match admin_api::read_fields(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let token = fields
        .get("token")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if !auth.token_matches(token) {
        tracing::warn!("dashboard login with a wrong token");
        return login_page(
            auth,
            Refusal::Unauthenticated,
            StatusCode::UNAUTHORIZED,
            Some("That token is not the admin token."),
        );
    }
    tracing::info!("dashboard login");
    let mut resp = admin_api::redirect("/ui");
    if let Ok(v) = HeaderValue::try_from(auth.session_cookie(Some(&auth.new_session()))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The pages behind the credential.
pub(super) async fn render(
    state: &AppState,
    page_: Page,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    let store = state.jobs.store().health().report();
    let csrf = admitted.csrf();
    match page_ {
        Page::Home => {
            let filter = admin_api::job_filter(admitted.query.as_deref())?;
            let jobs = admin_api::jobs_matching(state, &filter).await;
            let hooks = admin_actions::hooks(state).await;
            let targets = summarize_targets(&state.jobs.store().deploys(None, 10_000).await);
            let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            Ok(page(
                StatusCode::OK,
                "index.html",
                context! {
                    csrf, store, hooks, targets, jobs, states,
                    filter_hook => filter.hook, filter_state => filter.state.map(JobState::as_str),
                },
            ))
        }
        Page::Job(id) => {
            let with_output = state.settings.job_output;
            let job = admin_api::job_view(state, &id, with_output)
                .await
                .ok_or_else(|| AdminError::NotFound(format!("job {id}")))?;
            let output = job.output.clone().unwrap_or_default();
            let paused = state.jobs.store().pause(&job.hook).is_some();
            let finished = job.state.is_final();
            Ok(page(
                StatusCode::OK,
                "job.html",
                context! { csrf, store, job, output, finished, paused, output_shown => with_output },
            ))
        }
        Page::Target(target) => {
            let deploys = state.jobs.store().deploys(Some(&target), 1000).await;
            if deploys.is_empty() {
                return Err(AdminError::NotFound(format!("deploys of {target:?}")));
            }
            let current = deploys.iter().find(|d| d.is_good()).cloned();
            let pauses = state.jobs.store().pauses();
            let mut hook_ids: Vec<&str> = deploys.iter().map(|d| d.hook.as_str()).collect();
            hook_ids.sort_unstable();
            hook_ids.dedup();
            let hooks: Vec<Value> = hook_ids
                .iter()
                .map(|id| context! { id, paused => pauses.contains_key(*id) })
                .collect();
            Ok(page(
                StatusCode::OK,
                "target.html",
                context! { csrf, store, target, deploys, current, hooks },
            ))
        }
        Page::Logout => {
            let mut resp = admin_api::redirect("/ui/login");
            if let Ok(v) = HeaderValue::try_from(state.admin.session_cookie(None)) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Page::Login | Page::Asset(_) => Err(AdminError::NotFound("page".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for name in [
            "layout.html",
            "login.html",
            "index.html",
            "job.html",
            "target.html",
        ] {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn page_paths() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(Page::parse(&Method::GET, "/ui"), Some(Page::Home));
        assert_eq!(
            Page::parse(&Method::GET, &format!("/ui/jobs/{id}")),
            Some(Page::Job(id.into()))
        );
        assert_eq!(Page::parse(&Method::GET, "/ui/jobs/x"), None);
        assert_eq!(
            Page::parse(&Method::GET, "/ui/deploys/swarm:web"),
            Some(Page::Target("swarm:web".into()))
        );
        assert_eq!(Page::parse(&Method::GET, "/ui/logout"), None);
        assert_eq!(Page::parse(&Method::POST, "/ui/logout"), Some(Page::Logout));
    }

    #[test]
    fn values_are_escaped() {
        let html = TEMPLATES
            .get_template("login.html")
            .unwrap()
            .render(context! { configured => true, error => "<script>x</script>", csrf => "" , store => context!{} })
            .unwrap();
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(!html.contains("<script>x"));
    }
}
