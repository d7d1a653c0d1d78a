//! Signals: SIGUSR1/SIGHUP reload the hooks, SIGTERM/SIGINT shut down (a second one stops
//! waiting for jobs). Handlers are installed early so that no delivery is lost or fatal.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};

use hookrun::reload::Reloader;
use hookrun::server::{Shutdown, ShutdownStage};
use hookrun::systemd;

/// Handles two signals that mean the same thing (SIGUSR1/SIGHUP, SIGTERM/SIGINT) from now on:
/// deliveries are kept until [`on_signals`] reads them.
pub fn install_signals(kinds: [SignalKind; 2], names: &str) -> Result<[Signal; 2]> {
    let install = |kind| signal(kind).with_context(|| format!("installing {names} handlers"));
    Ok([install(kinds[0])?, install(kinds[1])?])
}

/// Runs `on_signal` for each delivery of either of two signals, one delivery at a time.
fn on_signals<F, Fut>(signals: [Signal; 2], mut on_signal: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let [mut a, mut b] = signals;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = a.recv() => {}
                _ = b.recv() => {}
            }
            on_signal().await;
        }
    });
}

/// SIGUSR1/SIGHUP: reload the hooks, telling systemd.
pub fn spawn_reload_signals(
    signals: [Signal; 2],
    reloader: Arc<Reloader>,
    systemd: Arc<systemd::Notifier>,
) {
    on_signals(signals, move || {
        let (reloader, systemd) = (reloader.clone(), systemd.clone());
        async move {
            tracing::info!("reload requested by signal");
            systemd.reloading();
            let hooks = reloader.hooks.clone();
            let _ = tokio::task::spawn_blocking(move || reloader.reload(true)).await;
            // A rejected reload keeps serving the previous hooks: ready either way.
            let count = hooks.snapshot().len();
            systemd.ready(&format!("serving {count} hook(s)"));
        }
    })
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: stop waiting for jobs (still killing them).
pub fn spawn_shutdown_signals(
    signals: [Signal; 2],
    shutdown: Shutdown,
    systemd: Arc<systemd::Notifier>,
) {
    on_signals(signals, move || {
        // The server says when it stops accepting; only a second signal needs a word here.
        match shutdown.trigger() {
            ShutdownStage::Graceful => systemd.stopping(),
            ShutdownStage::Forced => tracing::warn!("second signal: stopping running jobs now"),
        }
        std::future::ready(())
    })
}
