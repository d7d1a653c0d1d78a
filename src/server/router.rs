//! Routing with the reference's path rules (gorilla/mux): the decoded path is matched, an
//! unclean path (`//`, `/./`, `/../`) is redirected with 301 to its clean form, `/` answers
//! `OK`, `/{prefix}/{id}` is a hook (ids may contain slashes), anything else is Go's 404 page.
//! The jobs endpoints live under `/jobs/` with 32-hex ids only, so they shadow no real hook.
//! `GET /healthz`, `/readyz` and `/metrics` (see `health`) and the admin URLs (`/ui`,
//! `/jobs`, `/deploys`, `/admin/…`, see `admin_api`) come before
//! hooks: with the default prefix they shadow nothing; with an empty `-urlprefix` they take
//! those ids.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use futures_util::future::{self, Either};
use http::Request;

use super::admin_api::{self, AdminPath};
use super::error::HttpError;
use super::health::{self, HealthPath};
use super::{handler, jobs_api, reply, AppState, RequestBody};

/// Answers one request. Generic over the body so that tests can call it without a socket.
///
/// A plain function that routes at once and returns the answer's future: hyper moves the
/// future of every request a few times before it first polls it, and an `async fn` here held
/// the request (and, in the hook's branch, the request again as the handler's argument)
/// across those moves. A hook's answer is the handler's own future (`handler::handle` boxes
/// its state itself, under its log context); the routes without a body to wait for answer at
/// once; the jobs and admin pages' futures are boxed (several KiB for the admin pages).
pub fn dispatch<B: RequestBody>(
    state: Arc<AppState>,
    remote: Option<SocketAddr>,
    req: Request<B>,
) -> impl Future<Output = Response> + Send {
    let answered = |response| Either::Right(Either::Left(future::ready(response)));
    match route(&state.settings, &req) {
        Ok(Route::Hook(id)) => Either::Left(handler::handle(state, remote, id, req)),
        Ok(Route::Root) => answered(reply::root()),
        Ok(Route::Health(path)) => answered(health::answer(&state, path)),
        Ok(Route::Job { id, output }) => {
            // The head without the body, which the answer borrows across its waits (a body
            // need not be `Sync`); the body is kept until the answer, as before.
            let (parts, body) = req.into_parts();
            let head = Request::from_parts(parts, ());
            boxed(async move {
                let answer = jobs_api::answer(&state, &id, output, &head).await;
                drop(body);
                answer.unwrap_or_else(IntoResponse::into_response)
            })
        }
        Ok(Route::Admin(path)) => boxed(admin_api::answer(state, path, req)),
        Err(e) => answered(e.into_response()),
    }
}

/// The answer of a route whose future is boxed.
fn boxed<H>(
    answer: impl Future<Output = Response> + Send + 'static,
) -> Either<H, Either<future::Ready<Response>, BoxedAnswer>> {
    Either::Right(Either::Right(Box::pin(answer)))
}

type BoxedAnswer = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `/`: the reference's `OK`.
    Root,
    /// `/jobs/{id}` or `/jobs/{id}/output` (GET or HEAD, a job-shaped id).
    Job { id: String, output: bool },
    /// `/healthz`, `/readyz`, `/metrics` (unless `-health-address` serves them elsewhere).
    Health(HealthPath),
    /// An admin URL: listings, actions, the dashboard.
    Admin(AdminPath),
    /// `/{prefix}/{id}`: a hook id (which may hold slashes).
    Hook(String),
}

fn route<B>(settings: &super::Settings, req: &Request<B>) -> Result<Route, HttpError> {
    let prefix = settings.url_prefix.as_str();
    let path = percent_decode(req.uri().path()).ok_or(HttpError::BadRequestLine)?;
    if !is_clean(&path) {
        return Err(HttpError::UncleanPath {
            location: redirect_target(&clean_path(&path), req.uri().query()),
        });
    }
    // captainhook's router has no `/`.
    if path == "/" && settings.captainhook_dir.is_none() {
        return Ok(Route::Root);
    }
    if let Some(health) = HealthPath::parse(req.method(), &path) {
        if settings.health_with_hooks {
            return Ok(Route::Health(health));
        }
    }
    if let Some(admin) = AdminPath::parse(req.method(), &path) {
        return Ok(Route::Admin(admin));
    }
    if let Some(rest) = path.strip_prefix("/jobs/") {
        let (id, output) = match rest.strip_suffix("/output") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let readable = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        if crate::jobs::is_job_id(id) && readable {
            return Ok(Route::Job {
                id: id.to_string(),
                output,
            });
        }
    }
    let id = if prefix.is_empty() {
        path.strip_prefix('/')
    } else {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(prefix))
            .and_then(|p| p.strip_prefix('/'))
    };
    id.map(|id| Route::Hook(id.to_string()))
        .ok_or(HttpError::NoRoute)
}

fn redirect_target(path: &str, query: Option<&str>) -> String {
    let path = escape_path(path);
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// Go's `URL.EscapedPath` for a decoded path: everything but unreserved characters and
/// `$&+,/:;=@` is percent-encoded, so `?`, `#` or `\` in a decoded path cannot change the
/// meaning of the `Location` it is redirected to.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes as Go's URL parser does for `URL.Path`. An invalid escape is `None`:
/// Go's server refuses such a request line with 400 before any handler sees it.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.as_bytes().contains(&b'%') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// Whether `clean_path` leaves `p` as it is (without building its clean form): rooted, no
/// empty segment but a trailing slash's, no `.` or `..` segment.
fn is_clean(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else {
        return false;
    };
    // Split as bytes: `str::split` on a char costs a searcher per call.
    let mut segments = rest.as_bytes().split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == b"." || segment == b".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// gorilla/mux `cleanPath`: Go's `path.Clean`, keeping a trailing slash.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_string();
    }
    let rooted = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in rooted.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut clean = format!("/{}", parts.join("/"));
    if p.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_escape_the_clean_path() {
        for (path, query, want) in [
            ("/hooks/a", Some("t=1"), "/hooks/a?t=1"),
            ("/\\evil.com", None, "/%5Cevil.com"),
            ("/hooks/a?x=1", None, "/hooks/a%3Fx=1"),
            ("/hooks/é", None, "/hooks/%C3%A9"),
        ] {
            assert_eq!(redirect_target(path, query), want, "{path}");
        }
    }

    #[test]
    fn cleans_paths_like_gorilla() {
        for (input, want) in [
            ("/", "/"),
            ("/hooks/a", "/hooks/a"),
            ("/hooks//a", "/hooks/a"),
            ("/hooks/a/", "/hooks/a/"),
            ("/hooks/./a", "/hooks/a"),
            ("/hooks/../x", "/x"),
            ("/..", "/"),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
        for path in [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a//",
            "//a",
            "/a/b",
            "a",
            "a/b",
            "/.",
            "/..",
            "/./",
            "/a/.",
            "/a/..",
            "/a/./b",
            "/a/../b",
            "/.a",
            "/..a",
            "/a.",
            "/a/...",
            "/a/.b/",
            "/hooks/deploy",
            "/hooks//deploy",
            "/hooks/deploy/.",
            "/hooks/x%2Fy",
        ] {
            assert_eq!(is_clean(path), clean_path(path) == path, "{path:?}");
        }
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(
            percent_decode("/hooks/a%2Fb").as_deref(),
            Some("/hooks/a/b")
        );
        assert_eq!(percent_decode("/x%41").as_deref(), Some("/xA"));
        for bad in ["/hooks/%zz", "/hooks/a%2", "/hooks/%", "/hooks/%+1"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
