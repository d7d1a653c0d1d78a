//! Health and metrics: `GET /healthz` (the process answers), `GET /readyz` (hooks are loaded
//! and the server is not shutting down) and `GET /metrics` (Prometheus, see `crate::metrics`).
//! They are served next to the hooks, or with `-health-address` on a listener of their own
//! ([`serve_health`]) that keeps answering while the server drains, so a load balancer sees
//! `/readyz` fail before the hooks listener closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::gohttp::go_text;
use super::AppState;

/// One of the health URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HealthPath {
    Healthz,
    Readyz,
    Metrics,
}

impl HealthPath {
    /// The health URL `path` names, for GET and HEAD; anything else is not one.
    pub(super) fn parse(method: &Method, path: &str) -> Option<HealthPath> {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return None;
        }
        match path {
            "/healthz" => Some(HealthPath::Healthz),
            "/readyz" => Some(HealthPath::Readyz),
            "/metrics" => Some(HealthPath::Metrics),
            _ => None,
        }
    }
}

/// Why the server is not ready, if it is not.
fn not_ready(state: &AppState) -> Option<&'static str> {
    if state.draining.load(Ordering::SeqCst) {
        Some("not ready: shutting down\n")
    } else if !state.hooks.is_loaded() {
        Some("not ready: the hooks could not be loaded\n")
    } else {
        None
    }
}

/// Answers a health URL.
pub(super) fn answer(state: &AppState, path: HealthPath) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let plain = HeaderValue::from_static("text/plain; charset=utf-8");
    match path {
        HealthPath::Healthz => {
            headers.insert(header::CONTENT_TYPE, plain);
            go_text(StatusCode::OK, headers, "ok\n")
        }
        HealthPath::Readyz => {
            headers.insert(header::CONTENT_TYPE, plain);
            match not_ready(state) {
                Some(why) => go_text(StatusCode::SERVICE_UNAVAILABLE, headers, why),
                None => go_text(StatusCode::OK, headers, "ready\n"),
            }
        }
        HealthPath::Metrics => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            let text = state
                .metrics
                .render(&state.jobs.queues(), state.jobs.store().health());
            go_text(StatusCode::OK, headers, text)
        }
    }
}

/// Serves only the health URLs on `listener` (`-health-address`) until `stop` completes;
/// anything else is 404.
pub async fn serve_health(
    listener: TcpListener,
    state: Arc<AppState>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.header_timeout);
    let connections = tokio_util::task::TaskTracker::new();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "health listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let builder = builder.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<_>| {
                let found = HealthPath::parse(req.method(), req.uri().path());
                let response = match found {
                    Some(path) => answer(&state, path),
                    None => go_text(
                        StatusCode::NOT_FOUND,
                        HeaderMap::new(),
                        "404 page not found\n",
                    ),
                };
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    connections.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_urls_are_read_only() {
        assert_eq!(
            HealthPath::parse(&Method::GET, "/readyz"),
            Some(HealthPath::Readyz)
        );
        assert_eq!(
            HealthPath::parse(&Method::HEAD, "/metrics"),
            Some(HealthPath::Metrics)
        );
        assert_eq!(HealthPath::parse(&Method::POST, "/healthz"), None);
        assert_eq!(HealthPath::parse(&Method::GET, "/healthz/"), None);
    }
}
