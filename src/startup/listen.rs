//! The listeners: the hooks listener (TCP, TLS, a Unix socket, or one systemd passes in) and
//! the optional `-health-address` listener.

use anyhow::{Context, Result};

use hookrun::cli::ServeArgs;
use hookrun::logging::LIFECYCLE;
use hookrun::server::Listener;
use hookrun::systemd;

/// Opens the listener; returns it with where hooks are served, for the start line.
pub async fn bind(args: &ServeArgs) -> Result<(Listener, String)> {
    let prefix = args.urlprefix.trim_matches('/');
    let path = if prefix.is_empty() {
        "/{id}".to_string()
    } else {
        format!("/{prefix}/{{id}}")
    };
    if let Some(inherited) = systemd::inherited_listener().context("socket activation")? {
        return inherited_listener(args, inherited, &path);
    }
    if let Some(socket) = &args.socket.0 {
        let _ = std::fs::remove_file(socket);
        let l = tokio::net::UnixListener::bind(socket)
            .with_context(|| format!("listening on socket {}", socket.display()))?;
        return Ok((
            Listener::Unix(l),
            format!("unix:{}:{path}", socket.display()),
        ));
    }
    let addr = format!("{}:{}", args.ip, args.port);
    let tcp = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = tcp.local_addr().map_or(addr, |a| a.to_string());
    if !args.secure {
        return Ok((Listener::Tcp(tcp), format!("http://{bound}{path}")));
    }
    let acceptor = args.tls_acceptor().context("-secure")?;
    Ok((
        Listener::Tls(tcp, acceptor),
        format!("https://{bound}{path}"),
    ))
}

/// Opens the `-health-address` listener, if there is one.
pub async fn bind_health(args: &ServeArgs) -> Result<Option<tokio::net::TcpListener>> {
    if args.health_address.is_empty() {
        return Ok(None);
    }
    let addr = &args.health_address;
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("-health-address: listening on {addr}"))?;
    let bound = tcp
        .local_addr()
        .map_or_else(|_| addr.clone(), |a| a.to_string());
    tracing::info!(target: LIFECYCLE, address = %bound, "serving /healthz, /readyz and /metrics");
    Ok(Some(tcp))
}

/// The listener systemd opened (socket activation): it replaces -ip/-port and -socket.
fn inherited_listener(
    args: &ServeArgs,
    inherited: systemd::Inherited,
    path: &str,
) -> Result<(Listener, String)> {
    match inherited {
        systemd::Inherited::Unix(l) => {
            let l = tokio::net::UnixListener::from_std(l).context("socket activation")?;
            let name = l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_default();
            Ok((Listener::Unix(l), format!("unix:{name}:{path} (systemd)")))
        }
        systemd::Inherited::Tcp(l) => {
            let tcp = tokio::net::TcpListener::from_std(l).context("socket activation")?;
            let bound = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
            if !args.secure {
                return Ok((
                    Listener::Tcp(tcp),
                    format!("http://{bound}{path} (systemd)"),
                ));
            }
            let acceptor = args.tls_acceptor().context("-secure")?;
            Ok((
                Listener::Tls(tcp, acceptor),
                format!("https://{bound}{path} (systemd)"),
            ))
        }
    }
}
