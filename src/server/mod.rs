//! The HTTP server: accepting connections (limits, TLS, timeouts), routing, the hook handler,
//! the jobs endpoints and graceful shutdown. [`run`] takes its listener, state and shutdown
//! signal as arguments and binds, reads and installs nothing itself, so a test runs a real
//! server on `127.0.0.1:0` in a few lines.
//!
//! A request goes `connection` (accept, TLS, limits, the `host` check) → `router` (path
//! rules, `/jobs/`) → `handler` (one hook, as a list of steps ending in an `Answer`; `body`
//! reads its body within the memory budget) → `reply` (every success response) or `error`
//! (every other response). `notifications` tells a hook's `notify` targets
//! how its jobs ended and writes each attempt into the job record.
//!
//! # Theory of operation
//! [`run`] accepts connections until the [`Shutdown`] is triggered, each on its own task and
//! holding one of `-max-connections` permits. Then it drops the listener (new connections are
//! refused), tells every open connection to finish its current request and close, and asks the
//! job manager to stop: running and queued jobs get `-shutdown-timeout` to end, after which
//! (or at once, on a second trigger) their process groups are killed and reaped. Responses that
//! wait on a job (captured or streamed output) end with it, so connections and jobs wind down
//! together. Once every job has stopped, a connection still open (a client that does not read
//! its answer) gets `-kill-grace`, the grace commands get too, and is then closed. Jobs whose
//! hook notifies someone (or that answer a Docker Hub delivery) are watched by `notifications`;
//! once every job has stopped, the notifier sends what is pending until the end of
//! `-shutdown-timeout` (at least `-kill-grace`; a second trigger gives up at once). `run`
//! returns when jobs, notifications and connections are done.

mod admin_actions;
mod admin_api;
pub mod admin_auth;
mod body;
mod closing;
mod connection;
mod dashboard;
mod error;
mod gohttp;
mod handler;
mod head_deadline;
mod health;
mod host;
mod jobs_api;
mod notifications;
mod reply;
mod router;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio_util::sync::CancellationToken;

use crate::config::{HookSet, LiveHooks};
use crate::jobs::{self, JobManager};
use crate::metrics::Metrics;
use crate::notify;
use crate::request::MemoryBudget;
use crate::store::Store;
use closing::Connections;
use notifications::JobNotifications;

pub use admin_auth::AdminAuth;
pub use connection::Listener;
pub use error::HttpError;
pub use health::serve_health;
pub use router::dispatch;

/// A request body: hyper's, or whatever a test builds (`axum::body::Body`, `Full<Bytes>`).
/// Its errors can be sent, so that the router's answer to it can be (`router::dispatch`).
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: Into<BoxError> + Send> + Send + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<BoxError> + Send> + Send + 'static
{
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// `-max-body-memory`: the memory budget for bodies and what is made from them.
    pub body_memory: u64,
    /// `-max-multipart-mem`: Go's `ParseMultipartForm(maxMemory)`, which refuses a form whose
    /// values take more than it and 10 MiB (`request::multipart`).
    pub multipart_memory: i64,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub command_timeout: Duration,
    pub kill_grace: Duration,
    /// `-shutdown-timeout`: how long running jobs get to finish once shutdown starts.
    pub shutdown_timeout: Duration,
    /// How long `Retry-After` tells a client refused with 429 to wait.
    pub retry_after: Duration,
    /// `-job-output`: whether the jobs endpoints show commands' output.
    pub job_output: bool,
    /// Notifications: the mail server, rate limit, Docker Hub callback allow-list, retries.
    pub notify: notify::Settings,
    /// Whether `/healthz`, `/readyz` and `/metrics` are served next to the hooks (false with
    /// `-health-address`, which serves them on a listener of their own).
    pub health_with_hooks: bool,
    /// `-captainhook DIR`: hooks are captainhook run books, answered as captainhook does when
    /// a request names none.
    pub captainhook_dir: Option<String>,
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
            body_memory: crate::request::budget::DEFAULT_BUDGET,
            multipart_memory: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
            command_timeout: Duration::from_secs(30 * 60),
            kill_grace: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            retry_after: Duration::from_secs(10),
            job_output: true,
            notify: notify::Settings::default(),
            health_with_hooks: true,
            captainhook_dir: None,
        }
    }
}

/// What every request can reach.
pub struct AppState {
    /// The hooks being served; reloads swap them.
    pub hooks: Arc<LiveHooks>,
    pub settings: Settings,
    /// The jobs, and through them the store (`jobs.store()`).
    pub jobs: Arc<JobManager>,
    /// Who may use the admin URLs (`/ui`, `/jobs`, `/deploys`, `/admin/…`).
    pub admin: AdminAuth,
    /// Tells hooks' `notify` targets (and Docker Hub) how jobs ended.
    pub notifications: JobNotifications,
    /// Memory for bodies in progress (see `request::budget`).
    pub memory: MemoryBudget,
    /// What `/metrics` shows; the job manager counts into it too.
    pub metrics: Arc<Metrics>,
    /// Set once shutdown starts: `/readyz` fails from then on.
    pub draining: AtomicBool,
}

impl AppState {
    /// A server with its history in memory and no admin credential.
    pub fn new(
        hooks: HookSet,
        settings: Settings,
        job_limits: jobs::JobLimits,
    ) -> Result<Arc<Self>, notify::delivery::StartError> {
        AppState::with_store(
            hooks,
            settings,
            job_limits,
            Store::memory(),
            AdminAuth::none(),
        )
    }

    /// A server recording its jobs in `store`, with the admin credential `admin`; starts the
    /// notifier on the current runtime, which fails only on unusable mail TLS settings or
    /// callback allow-list.
    pub fn with_store(
        hooks: HookSet,
        settings: Settings,
        job_limits: jobs::JobLimits,
        store: Arc<Store>,
        admin: AdminAuth,
    ) -> Result<Arc<Self>, notify::delivery::StartError> {
        let largest = body::largest_body_cost(settings.max_body);
        let memory = MemoryBudget::new(settings.body_memory, largest);
        if memory.bodies_pool() > settings.body_memory / 3 * 2 + 1024 {
            tracing::warn!(
                body_memory = settings.body_memory,
                needed = memory.total(),
                "-max-body-memory is too small for one body of -max-body-size; using more"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let jobs = JobManager::with_metrics(job_limits, store, metrics.clone());
        let notifications = JobNotifications::start(
            settings.notify.clone(),
            &jobs,
            settings.job_output,
            &metrics,
        )?;
        Ok(Arc::new(AppState {
            hooks: Arc::new(LiveHooks::new(hooks)),
            settings,
            jobs,
            admin,
            notifications,
            memory,
            metrics,
            draining: AtomicBool::new(false),
        }))
    }
}

/// Tells a running server to stop. The first [`trigger`](Shutdown::trigger) starts a graceful
/// shutdown; a second one stops waiting for running jobs (they are still killed and reaped).
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: CancellationToken,
    forced: CancellationToken,
}

/// What a [`Shutdown::trigger`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownStage {
    /// Stop accepting, let jobs finish within the shutdown timeout.
    Graceful,
    /// Stop waiting for jobs: kill them now.
    Forced,
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown::default()
    }

    pub fn trigger(&self) -> ShutdownStage {
        if self.requested.is_cancelled() {
            self.forced.cancel();
            ShutdownStage::Forced
        } else {
            self.requested.cancel();
            ShutdownStage::Graceful
        }
    }

    pub fn is_requested(&self) -> bool {
        self.requested.is_cancelled()
    }

    /// Completes once shutdown has been triggered.
    pub async fn requested(&self) {
        self.requested.cancelled().await;
    }

    /// Completes once shutdown has been triggered a second time.
    pub async fn forced(&self) {
        self.forced.cancelled().await;
    }
}

/// Serves `listener` until `shutdown` is triggered, then drains connections and jobs (see the
/// module's theory of operation). Errors only if accepting cannot go on at all.
pub async fn run(
    listener: Listener,
    state: Arc<AppState>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let connections = Connections::new();
    let accepted = tokio::select! {
        result = connection::accept_loop(&listener, &state, &connections) => result,
        () = shutdown.requested() => Ok(()),
    };
    drop(listener);
    state.draining.store(true, Ordering::SeqCst);
    tracing::info!(
        target: crate::logging::LIFECYCLE,
        "shutting down: stopped accepting connections, finishing requests and running jobs"
    );
    drain(&state, connections, &shutdown).await;
    accepted
}

/// Winds jobs and open connections down together; once jobs have stopped, pending notifications
/// get what is left of the shutdown timeout (at least the kill grace connections get too).
async fn drain(state: &AppState, connections: Connections, shutdown: &Shutdown) {
    let deadline = tokio::time::Instant::now() + state.settings.shutdown_timeout;
    let jobs_stopped = CancellationToken::new();
    let jobs = async {
        let give_up = async {
            tokio::select! {
                () = tokio::time::sleep(state.settings.shutdown_timeout) => {}
                () = shutdown.forced() => {}
            }
        };
        for job in state.jobs.shutdown(give_up).await {
            tracing::warn!(job_id = %job.id, hook = %job.hook, request_id = %job.request_id, "job did not finish before shutdown; its process group was killed");
        }
        // Every job has its final record queued: commit them before the process ends.
        let store = state.jobs.store().clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        jobs_stopped.cancel();
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(state.settings.kill_grace);
        let report = tokio::select! {
            report = state.notifications.shutdown(left) => report,
            () = shutdown.forced() => state.notifications.shutdown(Duration::ZERO).await,
        };
        if report.abandoned > 0 {
            tracing::warn!(
                abandoned = report.abandoned,
                "notifications still being sent at the shutdown deadline were given up"
            );
        }
    };
    let connections = async {
        tokio::select! {
            () = connections.shutdown() => {}
            () = async {
                jobs_stopped.cancelled().await;
                tokio::time::sleep(state.settings.kill_grace).await;
            } => tracing::warn!("open connections did not finish in time; closing them"),
        }
    };
    tokio::join!(jobs, connections);
}
