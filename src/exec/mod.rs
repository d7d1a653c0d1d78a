//! Runs hook commands.
//!
//! # Theory of operation
//! Every command is built by [`spawn()`]: its own process group, stdin from /dev/null, arguments
//! and environment passed as argv/envp (never through a shell), and stdout and stderr both the
//! write end of ONE pipe, as Go's `CombinedOutput` does for the reference: the output is one
//! stream in the order the command wrote it (two pipes merged by arrival would reorder
//! `echo out; echo err >&2`). A reader task copies the pipe into an [`OutputLog`], so the pipe
//! cannot fill up and block the child; bytes beyond the cap are read and dropped. The command
//! gets a deadline:
//! when it passes, the whole group gets SIGTERM, then after the grace period SIGKILL, and the
//! child is always reaped. The end of the output is awaited first and the command then reaped,
//! which usually finds it ended: its pidfd is registered with the runtime only for a command
//! still running then or [`supervise::PIPE_FIRST`] after its start. Once the main process has exited, the
//! reader gets a short linger to drain what is buffered; a grandchild that keeps the pipe open
//! cannot hold the run past it.
//! Temporary files live in the [`Invocation`] and are deleted when the run ends.
//!
//! Where a writable cgroup v2 hierarchy exists, each command also runs in its own cgroup
//! (`cgroup`), born in it or entered before its exec (`vfork`, which starts it as `posix_spawn`
//! would, without copying hookrun; without waiting for the exec where [`Start`] allows): the
//! timeout and shutdown then reach every process it started, also those that left its process
//! group with `setsid`, and `cgroup.kill` ends them all at once. Elsewhere the process group is
//! all there is ([`isolation`]).
//!
//! Every command also gets an empty, private file named in `HOOKRUN_RESULT` where it may write
//! structured results (`result_file`); it is read (bounded) once the command has ended and
//! removed with the other temporary files, or, left empty by a command in a job cgroup, kept for
//! the next job run in that cgroup (`result_folder`).

mod cgroup;
mod cgroup_leftovers;
mod invocation;
mod output;
pub mod result_file;
mod result_folder;
mod spawn;
mod supervise;
mod tempfile;
mod vfork;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use spawn::{job_cgroup, spawn, spawn_error, JobResultFile, Started};
use supervise::supervise;

pub use cgroup::{Isolation, JobCgroup, JobCgroups};
pub use invocation::{Invocation, Start};
pub use output::{OutputLog, Snapshot};
pub use result_file::ResultFile;
pub use tempfile::TempFile;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exited with a code (0 is success).
    Code(i32),
    /// Killed by a signal it did not get from us.
    Signal(i32),
    /// Its deadline passed; the group was killed.
    TimedOut,
    /// Stopped because the server was shutting down; the group was killed.
    Canceled,
    /// Could not be started (not found, not executable, bad working directory...).
    SpawnFailed(String),
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("exec: {program:?}: {reason}")]
    NotFound { program: String, reason: String },
    #[error("creating the file for {env}: {source}")]
    TempFile {
        env: String,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the output pipe: {0}")]
    Pipe(#[source] std::io::Error),
    #[error("starting {program:?} in {}: {source}", dir.display())]
    Spawn {
        program: String,
        /// The folder it was started in.
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The variable naming the command's result file.
pub const RESULT_ENV: &str = "HOOKRUN_RESULT";

/// How a run ended and what the command wrote to its result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit: Exit,
    pub result: ResultFile,
}

/// How this process keeps jobs apart: detected on first use, which `main` makes at start so
/// that the choice is logged then.
pub fn isolation() -> &'static Isolation {
    static ISOLATION: std::sync::OnceLock<Isolation> = std::sync::OnceLock::new();
    ISOLATION.get_or_init(|| {
        let isolation = Isolation::detect();
        isolation.log();
        isolation
    })
}

/// Runs `inv` to the end, writing its output to `log` (closed when done). `cancel` ends it early
/// (shutdown): the group is killed as on a timeout.
pub async fn run(inv: Invocation, log: Arc<OutputLog>, cancel: &CancellationToken) -> Finished {
    run_isolated(inv, log, cancel, isolation().clone()).await
}

/// [`run`] with the given isolation.
pub async fn run_isolated(
    inv: Invocation,
    log: Arc<OutputLog>,
    cancel: &CancellationToken,
    isolation: Isolation,
) -> Finished {
    // At most one fork per core at a time: a burst of hundreds of jobs must not crowd out the
    // threads that accept and answer requests.
    let fork_slot = fork_slots().acquire().await;
    let cgroups = match &isolation {
        Isolation::Cgroups(cgroups) => Some(cgroups.clone()),
        Isolation::ProcessGroups { .. } => None,
    };
    let cgroup = job_cgroup(&isolation);
    // A start in a job cgroup by `clone3` that need not wait for the exec returns as soon as
    // the child exists; any other holds its thread until the child has exec'd (`vfork`,
    // std's `posix_spawn`).
    let holds_thread = inv.start == Start::AtExec || cgroup.is_none() || !vfork::returns_at_clone();
    let here = match (inv.files.is_empty(), holds_thread) {
        (false, _) => None,
        (true, false) => Some(None),
        (true, true) => starts_here().try_acquire().ok().map(Some),
    };
    let spawned = if let Some(_here) = here {
        // Without files to write, a start is a few metadata calls (PATH probed in the dentry
        // cache, an empty result file made, usually on a tmpfs: see [`tempfile::result_dir`])
        // and a clone, which holds this thread at most until the child has exec'd: done
        // here. The hop to a blocking thread and back cost more (a thread wake-up each way).
        #[cfg(test)]
        let _counted = holds_thread.then(tests::StartHere::enter);
        let result = spawn(&inv, &isolation, cgroup);
        Ok((inv, result))
    } else {
        // `pass-file-to-command` files are written to the working directory, on any disk and
        // of any size: blocking work, kept off the runtime's threads.
        tokio::task::spawn_blocking(move || {
            let result = spawn(&inv, &isolation, cgroup);
            (inv, result)
        })
        .await
    };
    drop(fork_slot);
    let finished = match spawned {
        Ok((inv, Ok(started))) => run_started(&inv, started, &log, cancel, cgroups).await,
        Ok((_, Err(e))) => Finished {
            exit: Exit::SpawnFailed(e.to_string()),
            result: ResultFile::default(),
        },
        Err(e) => Finished {
            exit: Exit::SpawnFailed(format!("starting the command: {e}")),
            result: ResultFile::default(),
        },
    };
    log.close();
    finished
}

/// Runs a started command to its end ([`supervise()`]), reads its result file, removes its
/// temporary files and hands its cgroup (and a result file it left empty) back to `cgroups`.
async fn run_started(
    inv: &Invocation,
    mut started: Started,
    log: &OutputLog,
    cancel: &CancellationToken,
    cgroups: Option<Arc<JobCgroups>>,
) -> Finished {
    let cgroup = started.cgroup.as_ref();
    let child = &mut started.child;
    let exit = supervise(child, started.output, inv, log, cancel, cgroup).await;
    // A start that did not wait for the exec learns of its failure here.
    let exit = match child.start_error() {
        Some(e) => Exit::SpawnFailed(spawn_error(inv, e).to_string()),
        None => exit,
    };
    let (result, left_empty) = match (&cgroups, &started.result) {
        (Some(cgroups), JobResultFile::Kept(kept)) if cgroups.result_left_empty(kept) => {
            (ResultFile::default(), true)
        }
        _ => read_result(started.result.path()),
    };
    drop(started.files);
    if let (Some(cgroups), Some(cgroup)) = (cgroups, started.cgroup) {
        // Killed jobs' cgroups are empty; what a command left on purpose moves out.
        // A result file left empty may serve the next job in the cgroup.
        let keep = match started.result {
            JobResultFile::Kept(kept) if left_empty => Some(kept),
            _ => None,
        };
        cgroups.finish(cgroup, matches!(exit, Exit::Code(_)), keep);
    }
    Finished { exit, result }
}

/// Reads the result file of an ended command; a file that cannot be read is a warning in the
/// result, never a failed job.
///
/// Read on the calling (runtime) thread, not in the blocking pool: the file was just written
/// (in the page cache, usually on a tmpfs: see [`tempfile::result_dir`]), it is opened without
/// blocking (a FIFO planted there cannot make the read wait) and at most 64 KiB are read. The
/// hop to a blocking thread and back cost more than the read (a thread wake-up each way, for a
/// file that is empty for most commands). Also tells whether the command left the file an empty
/// regular file.
fn read_result(path: &Path) -> (ResultFile, bool) {
    match result_file::read_noting_empty(path) {
        Ok(read) => read,
        Err(e) => (
            ResultFile {
                warnings: vec![e.to_string()],
                ..ResultFile::default()
            },
            false,
        ),
    }
}

/// Process-wide bound on concurrent spawns: one per core.
fn fork_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    })
}

/// Starts that hold their thread until the child has exec'd (all but `clone3`'s into a job
/// cgroup) made on a runtime thread at once ([`run_isolated`]): one fewer than there are cores
/// (the runtime's worker threads), so that a worker held by a start never leaves requests
/// without one; the others hop to the blocking pool. Waiting for the permit instead of hopping
/// made starts go one at a time (a start holds the permit until its child has exec'd, which on
/// a busy machine is most of a command's time): 1,211 commands a second against 2,685 on the
/// bench's matched load (2 cores, 6 pairs), for no less CPU per command.
fn starts_here() -> &'static tokio::sync::Semaphore {
    static HERE: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    HERE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores - 1)
    })
}

#[cfg(test)]
mod cgroup_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;
