//! What start-up does to the process itself: its logger, its open files limit, its pid file
//! and, last, its user and group (`-setuid`/`-setgid`); once it serves, the file pages only
//! start-up used.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use hookrun::clean_pages::PageMap;
use hookrun::cli::{LogFormat, ServeArgs};
use hookrun::logging::{self, LogSettings, Verbosity};

/// Installs the logger the flags (and `HOOKRUN_LOG`) ask for.
pub fn init_logging(args: &ServeArgs) -> Result<()> {
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
pub fn raise_open_file_limit() {
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

/// Writes the pid file as the reference does: refuses when it names another running process,
/// creates missing parent folders (0755), writes the pid without a newline (0600).
pub fn write_pidfile(path: &std::path::Path) -> Result<()> {
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

/// Becomes `-setuid`/`-setgid` (both or neither), keeping only that group.
pub fn drop_privileges(args: &ServeArgs) -> Result<()> {
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

/// The page map that start-up and every reload release file pages with
/// (`hookrun::clean_pages`); open it before dropping privileges. Nothing depends on it: none
/// is worth a debug line only.
pub fn open_page_map() -> Option<Arc<PageMap>> {
    PageMap::open()
        .map(Arc::new)
        .map_err(|e| tracing::debug!(error = %e, "cannot open the page map: file pages stay"))
        .ok()
}

/// Drops the file pages start-up mapped that are still the page cache's
/// (`hookrun::clean_pages`). Nothing depends on it: a failure is worth a debug line only.
pub fn release_start_up_pages(page_map: Option<&PageMap>) {
    let Some(page_map) = page_map else {
        return;
    };
    match page_map.release() {
        Ok(released) => tracing::debug!(
            mappings = released.mappings,
            released_kib = released.bytes / 1024,
            kept_kib = released.kept_bytes / 1024,
            "released start-up's file pages"
        ),
        Err(e) => tracing::debug!(error = %e, "could not release start-up's file pages"),
    }
}
