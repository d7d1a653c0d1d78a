//! The `hookrun` binary: parses flags, loads hooks, binds the listener, drops privileges,
//! turns signals into reloads and shutdown, and runs `server::run`. Everything else is the
//! library.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};

use hookrun::cli::{self, LogFormat, ServeArgs, Stop, Subcommand, ValidateArgs};
use hookrun::config::verdict::{self, Checked, StartOptions, Verdict};
use hookrun::config::{self, template::SystemEnv, Severity};
use hookrun::logging::{self, LogSettings, Verbosity, LIFECYCLE};
use hookrun::reload::Reloader;
use hookrun::server::{self, AdminAuth, AppState, Listener, Shutdown, ShutdownStage};
use hookrun::store::{Location, Store, StoreSettings};
use hookrun::systemd;

/// The systemd credential holding the PostgreSQL password of `-state`.
const STATE_PASSWORD_CREDENTIAL: &str = "hookrun-state-password";

/// Exit codes: 1 when the server does not start (as the reference) and when `validate` finds
/// that it would not; 2 for usage errors (as Go's flag package).
const EXIT_STARTUP: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The SMTP password, when `-smtp-password-file` is not given.
const SMTP_PASSWORD_ENV: &str = "HOOKRUN_SMTP_PASSWORD";

fn main() -> ExitCode {
    hookrun::allocator::return_large_blocks();
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(Stop::Help(text)) => {
            print(&text);
            return ExitCode::SUCCESS;
        }
        Err(Stop::Usage(text)) => {
            eprintln!("{text}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli.subcommand {
        Some(Subcommand::Validate(args)) => return validate(&args),
        Some(Subcommand::Notify(args)) => return hookrun::notify::cli::run(*args),
        Some(Subcommand::CaptainhookRun) => return hookrun::runbook::run_from_env(),
        None => {}
    }
    // Read once, then out of the environment that hook commands inherit.
    let smtp_password = std::env::var(SMTP_PASSWORD_ENV).ok();
    std::env::remove_var(SMTP_PASSWORD_ENV);
    let args = cli.serve;
    if args.version {
        print(&format!(
            "hookrun version {} (adnanh/webhook 2.8.0 compatible)",
            env!("CARGO_PKG_VERSION")
        ));
        return ExitCode::SUCCESS;
    }
    if args.list_cipher_suites {
        print(&server::tls::cipher_suite_names().join("\n"));
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

/// Writes `text` and a newline to standard output; a reader that went away (`| head`) is not
/// an error worth a panic.
fn print(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// `hookrun validate`: the server's start verdict on the files and the mail settings, with
/// every problem.
fn validate(args: &ValidateArgs) -> ExitCode {
    let opts = StartOptions {
        load: args.load_options(),
        ..StartOptions::default()
    };
    let checked = verdict::check(&args.files, &opts, &SystemEnv);
    let mut report: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
    let count = |severity| {
        checked
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    };
    let mut errors = count(Severity::Error);
    // The server refuses mail settings it cannot use before it serves anything.
    if let Err(e) = args.smtp.settings(&|name| std::env::var(name).ok()) {
        report.push(format!("mail server: {e}"));
        errors += 1;
    }
    let warnings = match count(Severity::Warning) {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        n => format!(", {n} warnings"),
    };
    let code = match &checked.verdict {
        Verdict::Start(set) if errors == 0 => {
            report.push(format!(
                "ok: {} hook(s) in {} file(s){warnings}; hookrun starts with these files",
                set.len(),
                set.files.len()
            ));
            ExitCode::SUCCESS
        }
        _ => {
            report.push(format!(
                "invalid: {errors} error(s){warnings}; hookrun would not start with these files"
            ));
            ExitCode::from(EXIT_STARTUP)
        }
    };
    print(&report.join("\n"));
    code
}

async fn serve(args: ServeArgs, smtp_password: Option<String>) -> Result<()> {
    init_logging(&args)?;
    let systemd = Arc::new(systemd::Notifier::from_env());
    raise_open_file_limit();
    if std::process::id() == 1 {
        // Orphans of hook commands (`cmd &` in a script) are re-parented to PID 1; hookrun only
        // reaps its own children, so without an init they stay zombies.
        tracing::warn!("running as PID 1: orphaned processes of hook commands will not be reaped; run hookrun under an init (tini, docker run --init)");
    }
    let opts = args.load_options();
    // Before the port listens: a client that sees it listening may ask for a reload at once,
    // and the signal must then be neither lost nor (SIGHUP's default action) fatal. Deliveries
    // wait in the streams until the reloader exists.
    let reload_signals = install_signals(
        [SignalKind::user_defined1(), SignalKind::hangup()],
        "SIGUSR1/SIGHUP",
    )?;
    let (hooks, loaded) = initial_hooks(&args)?;
    // Before dropping privileges: the password and CA files are usually root's.
    let env = |name: &str| (name == SMTP_PASSWORD_ENV).then(|| smtp_password.clone())?;
    let settings = args.server_settings(&env).map_err(anyhow::Error::msg)?;
    let (listener, address) = bind(&args).await?;
    let health = bind_health(&args).await?;
    // Before dropping privileges: the pid file usually lives in a root-owned folder.
    if let Some(pidfile) = &args.pidfile.0 {
        write_pidfile(pidfile)?;
    }
    let admin = admin_auth(&args)?;
    drop_privileges(&args)?;
    // As the user jobs run as: a job cgroup must be one that user may create and enter.
    let isolation = hookrun::exec::isolation();
    let hook_count = hooks.len();
    // After dropping privileges: the state folder belongs to the user hookrun runs as.
    let store = Store::open(store_settings(&args)?)
        .await
        .context("opening the state store")?;
    let state = AppState::with_store(hooks, settings, args.job_limits(), store, admin)
        .context("starting notifications")?;
    if !loaded {
        state.hooks.mark_not_loaded();
    }
    let shutdown = Shutdown::new();
    let reloader = Reloader::with_metrics(
        args.sources(),
        opts,
        state.hooks.clone(),
        state.metrics.clone(),
    );
    if args.hotreload {
        let (reloader, shutdown) = (reloader.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = reloader.watch(shutdown.requested()).await {
                tracing::error!(error = %e, "cannot watch hooks files; use SIGUSR1/SIGHUP to reload");
            }
        });
    }
    spawn_reload_signals(reload_signals, reloader, systemd.clone());
    // Installed once start-up is done: until then SIGTERM ends a start-up that hangs (on a
    // state database, say) as it ends any process.
    let shutdown_signals = install_signals(
        [SignalKind::terminate(), SignalKind::interrupt()],
        "SIGTERM/SIGINT",
    )?;
    spawn_shutdown_signals(shutdown_signals, shutdown.clone(), systemd.clone());
    tracing::info!(
        target: LIFECYCLE,
        version = env!("CARGO_PKG_VERSION"),
        address = %address,
        hooks = hook_count,
        "serving hooks"
    );
    // The health listener outlives the hooks listener: /readyz says 503 while jobs drain.
    let health_done = tokio_util::sync::CancellationToken::new();
    if let Some(health) = health {
        let (state, done) = (state.clone(), health_done.clone());
        tokio::spawn(async move {
            server::serve_health(health, state, done.cancelled_owned()).await;
        });
    }
    systemd.ready(&format!("serving {hook_count} hook(s) on {address}"));
    let served = server::run(listener, state, shutdown).await;
    health_done.cancel();
    if let hookrun::exec::Isolation::Cgroups(cgroups) = isolation {
        cgroups.remove();
    }
    for path in [&args.pidfile.0, &args.socket.0].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!(target: LIFECYCLE, "shut down");
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

/// The store's settings, with the PostgreSQL password (if `-state` names a server whose URL
/// has none): `-state-password-file`, else systemd's `hookrun-state-password` credential, else
/// `PGPASSWORD`. The password is never logged, only where it came from.
fn store_settings(args: &ServeArgs) -> Result<StoreSettings> {
    let mut settings = args.store_settings();
    let Location::Postgres(target) = &mut settings.location else {
        return Ok(settings);
    };
    if settings.lease < std::time::Duration::from_secs(3) {
        bail!("-replica-lease must be at least 3s");
    }
    if args.kill_grace + std::time::Duration::from_secs(1) >= settings.lease / 2 {
        // A replica that loses the database stops its jobs after half the lease; they must be
        // gone (SIGTERM, -kill-grace, SIGKILL) before the others take over after the whole.
        tracing::warn!(kill_grace = ?args.kill_grace, lease = ?settings.lease, "-kill-grace should stay below half of -replica-lease minus a second: a replica that loses the database might still be stopping a job when another starts the next");
    }
    let from_systemd = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| std::path::Path::new(&dir).join(STATE_PASSWORD_CREDENTIAL))
        .filter(|p| p.is_file());
    let file = args.state_password_file.0.clone().or(from_systemd);
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the state password from {}", path.display()))?;
        let password = text.trim_end_matches(['\n', '\r']);
        if target.has_password() {
            tracing::warn!(file = %path.display(), "-state names a password and a password file is given: using the file");
        }
        target.set_password(password);
        tracing::info!(file = %path.display(), "PostgreSQL password read from a file");
    } else if target.has_password() {
        tracing::warn!("the -state URL holds a password: it shows in the process list; prefer -state-password-file or PGPASSWORD");
    } else if let Some(password) = std::env::var_os("PGPASSWORD") {
        target.set_password(password.to_string_lossy().as_ref());
        tracing::info!("PostgreSQL password taken from PGPASSWORD");
    }
    Ok(settings)
}

/// Writes the pid file as the reference does: refuses when it names another running process,
/// creates missing parent folders (0755), writes the pid without a newline (0600).
fn write_pidfile(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let ours = std::process::id();
    let recorded = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    // A container restarted with the same pid file is the same pid, not a second instance.
    if let Some(pid) = recorded.filter(|&pid| pid != ours) {
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            bail!(
                "pid file found, ensure hookrun is not running or delete {}",
                path.display()
            );
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("creating the folder of pid file {}", path.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing pid file {}", path.display()))?;
    std::io::Write::write_all(&mut file, ours.to_string().as_bytes())
        .with_context(|| format!("writing pid file {}", path.display()))
}

fn init_logging(args: &ServeArgs) -> Result<()> {
    let verbosity = if args.debug {
        Verbosity::Debug
    } else if args.verbose || args.logfile.0.is_some() {
        Verbosity::Verbose
    } else {
        Verbosity::Default
    };
    let settings = LogSettings {
        verbosity,
        format: match args.log_format {
            LogFormat::Text => logging::Format::Text,
            LogFormat::Json => logging::Format::Json,
        },
        file: args.logfile.0.clone(),
        filter: std::env::var(logging::FILTER_ENV)
            .ok()
            .filter(|f| !f.is_empty()),
    };
    logging::init(&settings)?;
    Ok(())
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does for the
/// reference: each connection and each running command's output pipe is a descriptor, and the
/// common soft limit of 1024 is below `-max-connections` plus `-max-jobs`.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open files limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open files limit"),
    }
}

/// The hooks to serve at start, by the start verdict: a refusal ends the start with every
/// problem listed once; otherwise warnings (and, with `-nopanic`, the errors it starts
/// despite) are logged. The flag is false when, with `-nopanic`, no hooks could be loaded.
fn initial_hooks(args: &ServeArgs) -> Result<(config::HookSet, bool)> {
    let opts = StartOptions {
        load: args.load_options(),
        verbose: args.verbose,
        nopanic: args.nopanic,
    };
    let Checked { verdict, problems } = verdict::check(&args.sources(), &opts, &SystemEnv);
    if let Verdict::Refuse(refusal) = verdict {
        // The list goes to standard error once, with the reason; a log file gets it too, as
        // it is not where standard error goes.
        if args.logfile.0.is_some() {
            config::log_problems(&problems);
            tracing::error!(reason = %refusal, "not starting");
        }
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "{refusal}:\n  {}{}",
            list.join("\n  "),
            lenient_hint(args, &opts.load)
        );
    }
    config::log_problems(&problems);
    let (set, loaded) = match verdict {
        Verdict::Start(set) => (set, true),
        _ => {
            tracing::error!(
                "hooks could not be loaded; serving none until a reload succeeds (-nopanic)"
            );
            (config::HookSet::default(), false)
        }
    };
    for id in set.ids() {
        tracing::debug!(hook = id, "loaded hook");
    }
    hookrun::allocator::release_free_memory();
    Ok((set, loaded))
}

/// After a refused start: whether `-lenient` would start, and what it would do.
fn lenient_hint(args: &ServeArgs, opts: &config::LoadOptions) -> &'static str {
    if opts.lenient {
        return "";
    }
    let lenient = config::LoadOptions {
        lenient: true,
        ..opts.clone()
    };
    match config::load(&args.sources(), &lenient, &SystemEnv).set {
        Some(set) if !set.is_empty() || args.verbose => "\nadnanh/webhook would start with these files: -lenient starts too, serving each invalid hook the way it does (broken rules answer 500, the other hooks work)",
        _ => "",
    }
}

/// Opens the listener; returns it with where hooks are served, for the start line.
async fn bind(args: &ServeArgs) -> Result<(Listener, String)> {
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
async fn bind_health(args: &ServeArgs) -> Result<Option<tokio::net::TcpListener>> {
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

/// Handles two signals that mean the same thing (SIGUSR1/SIGHUP, SIGTERM/SIGINT) from now on:
/// deliveries are kept until [`on_signals`] reads them.
fn install_signals(kinds: [SignalKind; 2], names: &str) -> Result<[Signal; 2]> {
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

fn spawn_reload_signals(
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
fn spawn_shutdown_signals(
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
