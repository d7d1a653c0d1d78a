//! Connections: accepting them under `-max-connections`, the TLS handshake within the header
//! timeout, and serving each with hyper (HTTP/1, Go's header case, half-closed connections
//! answered, each head within the header timeout: `head_deadline`) on its own task, closed
//! gracefully at shutdown (`closing`). Every request's Host is checked (`host`) before it is
//! routed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use axum::response::IntoResponse;
use futures_util::future::{self, Either};
use futures_util::FutureExt;

use super::closing::Connections;
use super::head_deadline::{self, HeadClock};
use super::{host, router, AppState, HttpError};

/// A listener: plain TCP, TCP with TLS, or a Unix socket.
pub enum Listener {
    Tcp(TcpListener),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
    Unix(tokio::net::UnixListener),
}

/// Accepts connections and serves each on its own task, forever (the caller stops it).
pub(super) async fn accept_loop(
    listener: &Listener,
    state: &Arc<AppState>,
    connections: &Connections,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(state.settings.max_connections.max(1)));
    // HTTP/1 only, as the reference serves plain connections (no h2c), with hyper's HTTP/1
    // connection itself: hyper_util's `auto` builder, even limited to HTTP/1, wraps every
    // read in a rewind buffer and the connection in its own state machine. No protocol
    // sniffing also means the header timeout runs from the moment of accept (sniffing read
    // with no timeout, so a client that sent nothing held a `-max-connections` slot forever).
    //
    // The header timeout is the connection's own (`head_deadline`), not hyper's, which makes
    // and drops a timer for every request (and hyper, given no timer, keeps none of its own).
    //
    // Half-close: a client may send its request and shut its write side (`nc -N`, scripted
    // clients) while it waits; hyper would otherwise take the EOF for a vanished client and
    // drop the request. The reference answers such clients.
    let mut builder = http1::Builder::new();
    builder
        .header_read_timeout(None)
        .half_close(true)
        .title_case_headers(true);
    let tls = match listener {
        Listener::Tls(_, acceptor) => Some(acceptor.clone()),
        _ => None,
    };
    loop {
        let permit = limit
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (stream, remote) = match accept(listener).await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let builder = builder.clone();
        let mut closing = connections.watch();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Some(io) = handshake(stream, tls, state.settings.header_timeout).await else {
                return;
            };
            let limit = state.settings.header_timeout;
            let clock = HeadClock::start();
            let service = hyper::service::service_fn({
                let clock = clock.clone();
                move |req| {
                    clock.head_received();
                    // The router's future itself, mapped (an `async` block awaiting it
                    // would hold it twice, across hyper's moves of the future).
                    let answer = match host::check(&req) {
                        Ok(()) => Either::Left(router::dispatch(state.clone(), remote, req)),
                        Err(problem) => {
                            tracing::debug!(?problem, "request refused: invalid Host header");
                            Either::Right(future::ready(
                                HttpError::BadHost(problem).into_response(),
                            ))
                        }
                    };
                    let clock = clock.clone();
                    answer.map(move |resp| {
                        Ok::<_, std::convert::Infallible>(resp.map(|body| clock.track(body)))
                    })
                }
            });
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let expired = head_deadline::expire(&clock, limit);
            tokio::pin!(conn, expired);
            let mut close_asked = false;
            loop {
                tokio::select! {
                    // Shutdown, then the connection: a head that has arrived is served, as
                    // hyper's own timeout serves a head it can parse.
                    biased;
                    () = &mut closing, if !close_asked => {
                        // Ends the connection after the request in progress, or at once if
                        // it is idle; the header timeout still applies to a partial head.
                        conn.as_mut().graceful_shutdown();
                        close_asked = true;
                    }
                    ended = conn.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = &mut expired => {
                        tracing::debug!("no request head within the header timeout: connection closed");
                        break;
                    }
                }
            }
        });
    }
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
