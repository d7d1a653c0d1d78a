//! The binary's start-up, declared by `main.rs` (not part of the library): `serve` takes the
//! server from parsed flags to `server::run` and back, step by step, and the steps live in the
//! files below. Nothing here is reached by the library or its tests; the built binary's tests
//! (`tests/hookrun/cli.rs`, `systemd.rs`, ...) cover it.
//!
//! # Layout
//! - this file: `serve`, the order of the steps (which must hold privileges, which come after
//!   dropping them), and `validate`'s entry;
//! - `process`: logger, open files limit, pid file, dropping privileges;
//! - `hooks`: the hooks served at start, by the start verdict;
//! - `credentials`: the admin credential and the PostgreSQL password;
//! - `listen`: the hooks listener and the health listener;
//! - `signals`: reload and shutdown signals;
//! - `validate`: `hookrun validate`.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use hookrun::clean_pages::PageMap;
use hookrun::cli::ServeArgs;
use hookrun::config::LoadOptions;
use hookrun::exec::Isolation;
use hookrun::logging::LIFECYCLE;
use hookrun::reload::Reloader;
use hookrun::server::{self, AppState, Shutdown};
use hookrun::store::Store;
use hookrun::systemd;

mod credentials;
mod hooks;
mod listen;
mod process;
mod signals;
mod validate;

pub use validate::validate;

use crate::SMTP_PASSWORD_ENV;

/// Serves hooks until shutdown: each step in the order start-up needs.
pub async fn serve(args: ServeArgs, smtp_password: Option<String>) -> Result<()> {
    process::init_logging(&args)?;
    let systemd = Arc::new(systemd::Notifier::from_env());
    process::raise_open_file_limit();
    warn_if_pid_1();
    let opts = args.load_options();
    // Before the port listens: a client that sees it listening may ask for a reload at once,
    // and the signal must then be neither lost nor (SIGHUP's default action) fatal. Deliveries
    // wait in the streams until the reloader exists.
    let reload_signals = signals::install_signals(
        [SignalKind::user_defined1(), SignalKind::hangup()],
        "SIGUSR1/SIGHUP",
    )?;
    let (hooks, loaded) = hooks::initial_hooks(&args)?;
    // Before dropping privileges: the password and CA files are usually root's.
    let env = |name: &str| (name == SMTP_PASSWORD_ENV).then(|| smtp_password.clone())?;
    let settings = args.server_settings(&env).map_err(anyhow::Error::msg)?;
    let (listener, address) = listen::bind(&args).await?;
    let health = listen::bind_health(&args).await?;
    // Before dropping privileges: the pid file usually lives in a root-owned folder.
    if let Some(pidfile) = &args.pidfile.0 {
        process::write_pidfile(pidfile)?;
    }
    let admin = credentials::admin_auth(&args)?;
    // Kept for the life of the process: reloads release again (`hookrun::reload`).
    let page_map = process::open_page_map();
    process::drop_privileges(&args)?;
    // As the user jobs run as: a job cgroup must be one that user may create and enter.
    let isolation = hookrun::exec::isolation();
    let hook_count = hooks.len();
    // After dropping privileges: the state folder belongs to the user hookrun runs as.
    let store = Store::open(credentials::store_settings(&args)?)
        .await
        .context("opening the state store")?;
    let state = AppState::with_store(hooks, settings, args.job_limits(), store, admin)
        .context("starting notifications")?;
    if !loaded {
        state.hooks.mark_not_loaded();
    }
    let shutdown = Shutdown::new();
    let reload_pages = page_map.clone();
    start_reloads(
        &args,
        opts,
        &state,
        &shutdown,
        reload_signals,
        &systemd,
        reload_pages,
    );
    // Installed once start-up is done: until then SIGTERM ends a start-up that hangs (on a
    // state database, say) as it ends any process.
    let shutdown_signals = signals::install_signals(
        [SignalKind::terminate(), SignalKind::interrupt()],
        "SIGTERM/SIGINT",
    )?;
    signals::spawn_shutdown_signals(shutdown_signals, shutdown.clone(), systemd.clone());
    tracing::info!(
        target: LIFECYCLE,
        version = env!("CARGO_PKG_VERSION"),
        address = %address,
        hooks = hook_count,
        "serving hooks"
    );
    let health_done = spawn_health(health, &state);
    // Ready: what start-up alone ran and read (flags, the hooks file's reader, the loader's
    // and libc's start-up) need not stay mapped; serving maps back what it uses.
    process::release_start_up_pages(page_map.as_deref());
    systemd.ready(&format!("serving {hook_count} hook(s) on {address}"));
    let served = server::run(listener, state, shutdown).await;
    health_done.cancel();
    clean_up(&args, isolation);
    tracing::info!(target: LIFECYCLE, "shut down");
    served.context("serving")
}

/// Orphans of hook commands (`cmd &` in a script) are re-parented to PID 1; hookrun only reaps
/// its own children, so without an init they stay zombies.
fn warn_if_pid_1() {
    if std::process::id() == 1 {
        tracing::warn!("running as PID 1: orphaned processes of hook commands will not be reaped; run hookrun under an init (tini, docker run --init)");
    }
}

/// Reloads on SIGUSR1/SIGHUP and, with `-hotreload`, when a hooks file changes; each reload
/// releases the file pages it mapped back with `page_map`.
fn start_reloads(
    args: &ServeArgs,
    opts: LoadOptions,
    state: &AppState,
    shutdown: &Shutdown,
    reload_signals: [Signal; 2],
    systemd: &Arc<systemd::Notifier>,
    page_map: Option<Arc<PageMap>>,
) {
    let reloader = Reloader::with_metrics(
        args.sources(),
        opts,
        state.hooks.clone(),
        state.metrics.clone(),
        page_map,
    );
    if args.hotreload {
        let (reloader, shutdown) = (reloader.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = reloader.watch(shutdown.requested()).await {
                tracing::error!(error = %e, "cannot watch hooks files; use SIGUSR1/SIGHUP to reload");
            }
        });
    }
    signals::spawn_reload_signals(reload_signals, reloader, systemd.clone());
}

/// Serves `-health-address` until the returned token is cancelled. The health listener
/// outlives the hooks listener: /readyz says 503 while jobs drain.
fn spawn_health(
    health: Option<tokio::net::TcpListener>,
    state: &Arc<AppState>,
) -> CancellationToken {
    let health_done = CancellationToken::new();
    if let Some(health) = health {
        let (state, done) = (state.clone(), health_done.clone());
        tokio::spawn(async move {
            server::serve_health(health, state, done.cancelled_owned()).await;
        });
    }
    health_done
}

/// After serving: the job cgroups, the pid file and the socket go.
fn clean_up(args: &ServeArgs, isolation: &Isolation) {
    if let Isolation::Cgroups(cgroups) = isolation {
        cgroups.remove();
    }
    for path in [&args.pidfile.0, &args.socket.0].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
}
