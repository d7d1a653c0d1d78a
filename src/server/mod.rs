//! The HTTP server: accepting connections (limits, TLS, timeouts), routing, the hook handler,
//! the jobs endpoints and graceful shutdown. `serve` takes its listener, state and shutdown
//! signal as arguments, so tests run it on `127.0.0.1:0`.

mod hook;
mod jobs_api;
mod reply;
pub mod respond;
mod route;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue, Method};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::HookSet;
use crate::jobs::JobManager;

/// Server-wide settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-urlprefix`, without slashes; empty serves hooks at `/{id}`.
    pub url_prefix: String,
    /// `-header name=value`, sent with hook responses.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// `-http-methods`: allowed methods for hooks that set none.
    pub default_methods: Option<Vec<Method>>,
    /// `-x-request-id` and `-x-request-id-limit` (0 = no limit).
    pub use_x_request_id: bool,
    pub x_request_id_limit: usize,
    pub max_body: u64,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub command_timeout: Duration,
    pub kill_grace: Duration,
    /// How long `Retry-After` tells a client refused with 429 to wait.
    pub retry_after: Duration,
    /// `-job-output`: whether the jobs endpoints show commands' output.
    pub job_output: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url_prefix: "hooks".into(),
            response_headers: Vec::new(),
            default_methods: None,
            use_x_request_id: false,
            x_request_id_limit: 0,
            max_body: 10 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
            command_timeout: Duration::from_secs(30 * 60),
            kill_grace: Duration::from_secs(5),
            retry_after: Duration::from_secs(10),
            job_output: true,
        }
    }
}

/// What every request can reach.
pub struct AppState {
    pub hooks: ArcSwap<HookSet>,
    pub settings: Settings,
    pub jobs: Arc<JobManager>,
}

/// A listener: plain TCP, TCP with TLS, or a Unix socket.
pub enum Listener {
    Tcp(TcpListener),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
    Unix(tokio::net::UnixListener),
}

/// Time open connections get to write their last answers once `give_up` has fired.
const FLUSH: Duration = Duration::from_millis(500);

/// Serves until `shutdown` fires, then closes the listener (new connections are refused) and
/// lets open requests finish until they are done or `give_up` fires. Running jobs are the
/// caller's to wait for (`JobManager::shutdown`); it fires `give_up` once they have ended, since
/// responses that wait on a job (captured or streamed output) end with it.
pub async fn serve(
    listener: Listener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    give_up: CancellationToken,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limit = Arc::new(Semaphore::new(state.settings.max_connections.max(1)));
    // HTTP/1 only, as the reference serves plain connections (no h2c). It also makes hyper's
    // header timeout run from the moment of accept: protocol sniffing reads until it can tell
    // the bytes from the h2 preface, with no timeout, so a client that connected and sent
    // nothing held a `-max-connections` slot forever.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.header_timeout)
        .title_case_headers(true);
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            _ = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = match &listener {
            Listener::Tls(_, acceptor) => Some(acceptor.clone()),
            _ => None,
        };
        tokio::spawn(async move {
            let _permit = permit;
            let Some(io) = handshake(stream, tls, state.settings.header_timeout).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(route::dispatch(state, remote, req).await)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("stopped accepting connections");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = async {
            give_up.cancelled().await;
            tokio::time::sleep(FLUSH).await;
        } => tracing::warn!("open connections did not finish in time; closing them"),
    }
    Ok(())
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> IoStream for T {}

/// Accepts one connection (no TLS yet: handshakes run on the connection's own task).
async fn accept(listener: &Listener) -> std::io::Result<(Box<dyn IoStream>, Option<SocketAddr>)> {
    match listener {
        Listener::Tcp(l) | Listener::Tls(l, _) => {
            let (s, addr) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Box::new(s), Some(addr)))
        }
        Listener::Unix(l) => {
            let (s, _) = l.accept().await?;
            Ok((Box::new(s), None))
        }
    }
}

/// Runs the TLS handshake when the listener has TLS, within the time a client gets to send
/// its request headers (the handshake comes before them).
async fn handshake(
    stream: Box<dyn IoStream>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limit: Duration,
) -> Option<Box<dyn IoStream>> {
    let Some(acceptor) = tls else {
        return Some(stream);
    };
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(Box::new(s)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}
