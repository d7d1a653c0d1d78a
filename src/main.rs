//! The `hookrun` binary: parses flags, loads hooks, binds the listener, drops privileges,
//! installs signal handlers and runs the server until shutdown. Everything else is the library.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue, Method};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use hookrun::cli::{self, Command, ServeArgs, ValidateArgs};
use hookrun::config::{self, template::SystemEnv, LoadOptions, UnknownKeys};
use hookrun::jobs::{self, JobManager};
use hookrun::reload::Reloader;
use hookrun::server::{self, AppState, Listener};

/// Exit codes: 1 for start-up errors (as the reference), 2 for invalid hooks in `validate`.
const EXIT_STARTUP: u8 = 1;
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::parse();
    match cli.command {
        Some(Command::Validate(args)) => return validate(&args),
        Some(Command::Notify(args)) => return hookrun::notify::cli::run(*args),
        None => {}
    }
    let args = cli.serve;
    if args.version {
        println!(
            "hookrun version {} (adnanh/webhook 2.8.0 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    if args.list_cipher_suites {
        for name in server::tls::cipher_suite_names() {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookrun: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_STARTUP);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrun: {e:#}");
            ExitCode::from(EXIT_STARTUP)
        }
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let opts = LoadOptions {
        template: args.template,
        unknown_keys: if args.lenient {
            UnknownKeys::Warn
        } else {
            UnknownKeys::Error
        },
    };
    let loaded = config::load(&args.files, &opts, &SystemEnv);
    for p in &loaded.problems {
        println!("{p}");
    }
    match &loaded.set {
        Some(set) => {
            println!("ok: {} hook(s) in {} file(s)", set.len(), set.files.len());
            ExitCode::SUCCESS
        }
        None => {
            println!("invalid: {} error(s)", loaded.errors().count());
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn init_logging(args: &ServeArgs) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let level = if args.debug {
        "debug"
    } else if args.verbose || !args.logfile.is_empty() {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("HOOKRUN_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let writer: Box<dyn Fn() -> Box<dyn std::io::Write> + Send + Sync> = if args.logfile.is_empty()
    {
        Box::new(|| Box::new(std::io::stderr()))
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.logfile)
            .with_context(|| format!("opening log file {}", args.logfile))?;
        let file = Arc::new(file);
        Box::new(move || Box::new(LogFile(file.clone())))
    };
    let result = if args.log_format == "json" {
        builder.json().with_writer(writer).try_init()
    } else {
        builder.with_ansi(false).with_writer(writer).try_init()
    };
    result.map_err(|e| anyhow::anyhow!("initialising logging: {e}"))
}

struct LogFile(Arc<std::fs::File>);

impl std::io::Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        (&*self.0).flush()
    }
}

fn duration(flag: &str, value: &str) -> Result<Duration> {
    config::parse_duration(value).map_err(|e| anyhow::anyhow!("-{flag}: {e}"))
}

fn settings(args: &ServeArgs) -> Result<(server::Settings, jobs::Settings)> {
    let mut response_headers = Vec::new();
    for h in &args.header {
        let Some((name, value)) = h.split_once('=') else {
            bail!("-header {h:?}: header flag must be in name=value format");
        };
        let name =
            HeaderName::try_from(name).with_context(|| format!("-header {h:?}: invalid name"))?;
        let value = HeaderValue::try_from(value)
            .with_context(|| format!("-header {h:?}: invalid value"))?;
        response_headers.push((name, value));
    }
    let methods = args.http_methods.replace(' ', "").to_ascii_uppercase();
    let default_methods = if methods.is_empty() {
        None
    } else {
        let list = methods
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|m| {
                Method::from_bytes(m.as_bytes())
                    .with_context(|| format!("-http-methods: invalid method {m:?}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Some(list)
    };
    let size =
        |flag: &str, v: &str| config::parse_size(v).map_err(|e| anyhow::anyhow!("-{flag}: {e}"));
    let server = server::Settings {
        url_prefix: args.urlprefix.trim_matches('/').to_string(),
        response_headers,
        default_methods,
        use_x_request_id: args.x_request_id,
        x_request_id_limit: args.x_request_id_limit,
        max_body: size("max-body-size", &args.max_body_size)?,
        header_timeout: duration("header-timeout", &args.header_timeout)?,
        body_timeout: duration("body-timeout", &args.body_timeout)?,
        max_connections: args.max_connections.max(1),
        command_timeout: duration("command-timeout", &args.command_timeout)?,
        kill_grace: duration("kill-grace", &args.kill_grace)?,
        retry_after: Duration::from_secs(10),
        job_output: args.job_output,
    };
    let jobs = jobs::Settings {
        max_jobs: args.max_jobs.max(1),
        max_queue: args.max_queue,
        history: args.job_history,
        max_output: usize::try_from(size("max-output", &args.max_output)?).unwrap_or(usize::MAX),
        history_bytes: usize::try_from(size("job-history-size", &args.job_history_size)?)
            .unwrap_or(usize::MAX),
    };
    Ok((server, jobs))
}

/// Loads the hooks at start-up: errors are fatal unless `-nopanic`.
fn initial_hooks(args: &ServeArgs, opts: &LoadOptions) -> Result<config::HookSet> {
    let loaded = config::load(&args.hooks, opts, &SystemEnv);
    loaded.log_problems();
    let set = match loaded.set {
        Some(set) => set,
        None if args.nopanic => {
            tracing::error!("hooks could not be loaded; starting without hooks (-nopanic)");
            config::HookSet::default()
        }
        None => {
            let list: Vec<String> = loaded.errors().map(ToString::to_string).collect();
            bail!("couldn't load hooks:\n  {}", list.join("\n  "));
        }
    };
    if set.is_empty() && !args.verbose && !args.nopanic {
        bail!("couldn't load any hooks from file!\naborting webhook execution since the -verbose flag is set to false.\nIf, for some reason, you want webhook to start without the hooks, either use -verbose flag, or -nopanic");
    }
    for id in set.ids() {
        tracing::info!(hook = id, "loaded hook");
    }
    Ok(set)
}

async fn bind(args: &ServeArgs) -> Result<Listener> {
    if !args.socket.is_empty() {
        let _ = std::fs::remove_file(&args.socket);
        let l = tokio::net::UnixListener::bind(&args.socket)
            .with_context(|| format!("listening on socket {}", args.socket))?;
        tracing::info!(socket = %args.socket, "serving hooks");
        return Ok(Listener::Unix(l));
    }
    let addr = format!("{}:{}", args.ip, args.port);
    let tcp = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let scheme = if args.secure { "https" } else { "http" };
    tracing::info!(address = %format!("{scheme}://{addr}/{}/{{id}}", args.urlprefix), "serving hooks");
    if !args.secure {
        return Ok(Listener::Tcp(tcp));
    }
    let acceptor = server::tls::acceptor(
        args.cert.as_ref(),
        args.key.as_ref(),
        &args.tls_min_version,
        &args.cipher_suites,
    )?;
    Ok(Listener::Tls(tcp, acceptor))
}

fn drop_privileges(args: &ServeArgs) -> Result<()> {
    match (args.setuid, args.setgid) {
        (0, 0) => Ok(()),
        (0, _) | (_, 0) => bail!("error: setuid and setgid options must be used together"),
        (uid, gid) => {
            use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
            let _ = setgroups(&[Gid::from_raw(gid)]);
            setgid(Gid::from_raw(gid)).context("setgid")?;
            setuid(Uid::from_raw(uid)).context("setuid")?;
            tracing::info!(uid, gid, "dropped privileges");
            Ok(())
        }
    }
}

async fn run(args: ServeArgs) -> Result<()> {
    init_logging(&args)?;
    if std::process::id() == 1 {
        // Orphans of hook commands (`cmd &` in a script) are re-parented to PID 1; hookrun only
        // reaps its own children, so without an init they stay zombies.
        tracing::warn!("running as PID 1: orphaned processes of hook commands will not be reaped; run hookrun under an init (tini, docker run --init)");
    }
    let opts = LoadOptions {
        template: args.template,
        unknown_keys: if args.lenient {
            UnknownKeys::Warn
        } else {
            UnknownKeys::Error
        },
    };
    let (server_settings, job_settings) = settings(&args)?;
    let hooks = initial_hooks(&args, &opts)?;
    let listener = bind(&args).await?;
    // Before dropping privileges: the pid file usually lives in a root-owned folder.
    if !args.pidfile.is_empty() {
        std::fs::write(&args.pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", args.pidfile))?;
    }
    drop_privileges(&args)?;
    let state = Arc::new(AppState {
        hooks: ArcSwap::from_pointee(hooks),
        settings: server_settings,
        jobs: JobManager::new(job_settings),
    });
    let reloader = Reloader::new(args.hooks.clone(), opts, state.clone());
    let stop = CancellationToken::new();
    if args.hotreload {
        let (r, c) = (reloader.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = r.watch(c).await {
                tracing::error!(error = %e, "cannot watch hooks files; use SIGUSR1/SIGHUP to reload");
            }
        });
    }
    spawn_reload_signals(reloader)?;
    let force = CancellationToken::new();
    spawn_shutdown_signals(stop.clone(), force.clone())?;
    let shutdown_timeout = duration("shutdown-timeout", &args.shutdown_timeout)?;
    let served = serve_then_drain(listener, state, stop, force, shutdown_timeout).await;
    if !args.pidfile.is_empty() {
        let _ = std::fs::remove_file(&args.pidfile);
    }
    if !args.socket.is_empty() {
        let _ = std::fs::remove_file(&args.socket);
    }
    tracing::info!("shut down");
    served.context("serving")
}

/// Serves until `stop`, then winds jobs and open connections down together within one
/// `shutdown_timeout`: connections that wait on a job end with it, so they get until the jobs
/// are done (or killed; `force` stops the waiting at once).
async fn serve_then_drain(
    listener: Listener,
    state: Arc<AppState>,
    stop: CancellationToken,
    force: CancellationToken,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let give_up = CancellationToken::new();
    let jobs_stopped = {
        let (state, stop, give_up) = (state.clone(), stop.clone(), give_up.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            let stopped = state.jobs.shutdown(shutdown_timeout, force).await;
            give_up.cancel();
            stopped
        })
    };
    let served = server::serve(listener, state, stop.clone(), give_up).await;
    stop.cancel();
    for job in jobs_stopped.await.unwrap_or_default() {
        tracing::warn!(job = %job.id, hook = %job.hook, "job did not finish before shutdown; its process group was killed");
    }
    served
}

fn spawn_reload_signals(reloader: Arc<Reloader>) -> Result<()> {
    let mut usr1 = signal(SignalKind::user_defined1()).context("installing SIGUSR1 handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = usr1.recv() => {}
                _ = hup.recv() => {}
            }
            tracing::info!("reload requested by signal");
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload(true)).await;
        }
    });
    Ok(())
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: stop waiting for jobs (still killing them).
fn spawn_shutdown_signals(stop: CancellationToken, force: CancellationToken) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                tracing::info!("shutting down: finishing requests and running jobs");
                stop.cancel();
            } else {
                tracing::warn!("second signal: stopping running jobs now");
                force.cancel();
            }
        }
    });
    Ok(())
}
