//! Secrets read at start, before privileges are dropped: the admin credential and the
//! PostgreSQL password of `-state` (from a file, systemd's credentials or `PGPASSWORD`; never
//! logged, only where it came from).

use anyhow::{bail, Context, Result};

use hookrun::cli::ServeArgs;
use hookrun::server::{self, AdminAuth};
use hookrun::store::{Location, StoreSettings};

/// The systemd credential holding the PostgreSQL password of `-state`.
const STATE_PASSWORD_CREDENTIAL: &str = "hookrun-state-password";

/// The admin credential: `-admin-token-file`, else systemd's `hookrun-admin-token`
/// credential (`LoadCredential=`), else none (admin URLs answer 401 saying how to set one).
pub fn admin_auth(args: &ServeArgs) -> Result<AdminAuth> {
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
pub fn store_settings(args: &ServeArgs) -> Result<StoreSettings> {
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
