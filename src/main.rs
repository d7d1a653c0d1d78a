//! The `hookrun` binary: parses flags, loads hooks, binds the listener, drops privileges,
//! turns signals into reloads and shutdown, and runs `server::run`. Everything else is the
//! library.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::signal::unix::{signal, SignalKind};

use hookrun::cli::{self, LogFormat, ServeArgs, Subcommand, ValidateArgs};
use hookrun::config::{self, template::SystemEnv, LoadOptions};
use hookrun::reload::Reloader;
use hookrun::server::{self, AdminAuth, AppState, Listener, Shutdown, ShutdownStage};
use hookrun::store::Store;

/// Exit codes: 1 for start-up errors (as the reference), 2 for invalid hooks in `validate`.
const EXIT_STARTUP: u8 = 1;
const EXIT_INVALID: u8 = 2;

/// The SMTP password, when `-smtp-password-file` is not given.
const SMTP_PASSWORD_ENV: &str = "HOOKRUN_SMTP_PASSWORD";

fn main() -> ExitCode {
    let cli = cli::parse();
    match cli.subcommand {
        Some(Subcommand::Validate(args)) => return validate(&args),
        Some(Subcommand::Notify(args)) => return hookrun::notify::cli::run(*args),
        None => {}
    }
    // Read once, then out of the environment that hook commands inherit.
    let smtp_password = std::env::var(SMTP_PASSWORD_ENV).ok();
    std::env::remove_var(SMTP_PASSWORD_ENV);
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
    match runtime.block_on(serve(args, smtp_password)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrun: {e:#}");
            ExitCode::from(EXIT_STARTUP)
        }
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let loaded = config::load(&args.files, &args.load_options(), &SystemEnv);
    for p in &loaded.problems {
        println!("{p}");
    }
    let smtp = args.smtp.settings(&|name| std::env::var(name).ok());
    if let Err(e) = &smtp {
        println!("error: {e}");
    }
    match &loaded.set {
        Some(_) if smtp.is_err() => {
            println!("invalid: the mail server settings");
            ExitCode::from(EXIT_INVALID)
        }
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

async fn serve(args: ServeArgs, smtp_password: Option<String>) -> Result<()> {
    init_logging(&args)?;
    if std::process::id() == 1 {
        // Orphans of hook commands (`cmd &` in a script) are re-parented to PID 1; hookrun only
        // reaps its own children, so without an init they stay zombies.
        tracing::warn!("running as PID 1: orphaned processes of hook commands will not be reaped; run hookrun under an init (tini, docker run --init)");
    }
    let opts = args.load_options();
    let hooks = initial_hooks(&args, &opts)?;
    // Before dropping privileges: the password and CA files are usually root's.
    let env = |name: &str| (name == SMTP_PASSWORD_ENV).then(|| smtp_password.clone())?;
    let settings = args.server_settings(&env).map_err(anyhow::Error::msg)?;
    let listener = bind(&args).await?;
    // Before dropping privileges: the pid file usually lives in a root-owned folder.
    if let Some(pidfile) = &args.pidfile.0 {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", pidfile.display()))?;
    }
    let admin = admin_auth(&args)?;
    drop_privileges(&args)?;
    // As the user jobs run as: a job cgroup must be one that user may create and enter.
    let isolation = hookrun::exec::isolation();
    // After dropping privileges: the state folder belongs to the user hookrun runs as.
    let store = Store::open(args.store_settings()).context("opening the state store")?;
    let state = AppState::with_store(hooks, settings, args.job_limits(), store, admin)
        .context("starting notifications")?;
    let shutdown = Shutdown::new();
    let reloader = Reloader::new(args.hooks.clone(), opts, state.hooks.clone());
    if args.hotreload {
        let (reloader, shutdown) = (reloader.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = reloader.watch(shutdown.requested()).await {
                tracing::error!(error = %e, "cannot watch hooks files; use SIGUSR1/SIGHUP to reload");
            }
        });
    }
    spawn_reload_signals(reloader)?;
    spawn_shutdown_signals(shutdown.clone())?;
    let served = server::run(listener, state, shutdown).await;
    if let hookrun::exec::Isolation::Cgroups(cgroups) = isolation {
        cgroups.remove();
    }
    for path in [&args.pidfile.0, &args.socket.0].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("shut down");
    served.context("serving")
}

/// The admin credential: `-admin-token-file`, else systemd's `hookrun-admin-token`
/// credential (`LoadCredential=`), else none (admin URLs answer 401 saying how to set one).
fn admin_auth(args: &ServeArgs) -> Result<AdminAuth> {
    let from_systemd = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| std::path::Path::new(&dir).join(server::admin_auth::CREDENTIAL_NAME))
        .filter(|p| p.is_file());
    let Some(path) = args.admin_token_file.0.clone().or(from_systemd) else {
        tracing::info!("no admin credential: /ui, /jobs, /deploys and /admin answer 401 (see -admin-token-file)");
        return Ok(AdminAuth::none());
    };
    let mut auth = AdminAuth::from_file(&path)?;
    auth.secure_cookies = args.secure;
    tracing::info!(file = %path.display(), "admin credential loaded");
    Ok(auth)
}

fn init_logging(args: &ServeArgs) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let level = if args.debug {
        "debug"
    } else if args.verbose || args.logfile.0.is_some() {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("HOOKRUN_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let writer: Box<dyn Fn() -> Box<dyn std::io::Write> + Send + Sync> = match &args.logfile.0 {
        None => Box::new(|| Box::new(std::io::stderr())),
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            let file = Arc::new(file);
            Box::new(move || Box::new(LogFile(file.clone())))
        }
    };
    let result = match args.log_format {
        LogFormat::Json => builder.json().with_writer(writer).try_init(),
        LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
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
    if let Some(socket) = &args.socket.0 {
        let _ = std::fs::remove_file(socket);
        let l = tokio::net::UnixListener::bind(socket)
            .with_context(|| format!("listening on socket {}", socket.display()))?;
        tracing::info!(socket = %socket.display(), "serving hooks");
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
    Ok(Listener::Tls(tcp, args.tls_acceptor()?))
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

/// Runs `on_signal` for each delivery of either of two signals that mean the same thing
/// (SIGUSR1/SIGHUP, SIGTERM/SIGINT), one delivery at a time.
fn on_signals<F, Fut>(kinds: [SignalKind; 2], names: &str, mut on_signal: F) -> Result<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let install = |kind| signal(kind).with_context(|| format!("installing {names} handlers"));
    let (mut a, mut b) = (install(kinds[0])?, install(kinds[1])?);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = a.recv() => {}
                _ = b.recv() => {}
            }
            on_signal().await;
        }
    });
    Ok(())
}

fn spawn_reload_signals(reloader: Arc<Reloader>) -> Result<()> {
    let kinds = [SignalKind::user_defined1(), SignalKind::hangup()];
    on_signals(kinds, "SIGUSR1/SIGHUP", move || {
        let reloader = reloader.clone();
        async move {
            tracing::info!("reload requested by signal");
            let _ = tokio::task::spawn_blocking(move || reloader.reload(true)).await;
        }
    })
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: stop waiting for jobs (still killing them).
fn spawn_shutdown_signals(shutdown: Shutdown) -> Result<()> {
    let kinds = [SignalKind::terminate(), SignalKind::interrupt()];
    on_signals(kinds, "SIGTERM/SIGINT", move || {
        match shutdown.trigger() {
            ShutdownStage::Graceful => {
                tracing::info!("shutting down: finishing requests and running jobs");
            }
            ShutdownStage::Forced => tracing::warn!("second signal: stopping running jobs now"),
        }
        std::future::ready(())
    })
}
