//! Runs hook commands.
//!
//! # Theory of operation
//! Every command is built by [`spawn`]: its own process group, stdin from /dev/null, arguments
//! and environment passed as argv/envp (never through a shell), and stdout and stderr both the
//! write end of ONE pipe, as Go's `CombinedOutput` does for the reference: the output is one
//! stream in the order the command wrote it (two pipes merged by arrival would reorder
//! `echo out; echo err >&2`). A reader task copies the pipe into an [`OutputLog`], so the pipe
//! cannot fill up and block the child; bytes beyond the cap are read and dropped. The command
//! gets a deadline:
//! when it passes, the whole group gets SIGTERM, then after the grace period SIGKILL, and the
//! child is always reaped. The end of the output is awaited first and the command then reaped,
//! which usually finds it ended: its pidfd is registered with the runtime only for a command
//! still running then or [`PIPE_FIRST`] after its start. Once the main process has exited, the
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
mod output;
pub mod result_file;
mod result_folder;
mod tempfile;
mod vfork;

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::command;

pub use cgroup::{Isolation, JobCgroup, JobCgroups};
pub use output::{OutputLog, Snapshot};
pub use result_file::ResultFile;
pub use tempfile::TempFile;

/// Everything needed to run one command.
#[derive(Debug)]
pub struct Invocation {
    /// `execute-command` as written; argv[0].
    pub program: String,
    pub args: Vec<String>,
    /// Added to the inherited environment.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// Files to create before the command starts: (variable, contents).
    pub files: Vec<(String, Vec<u8>)>,
    pub timeout: Duration,
    pub kill_grace: Duration,
    /// What its start waits for: the request's handler knows whether anyone waits for the
    /// command's end.
    pub start: Start,
}

#[cfg(test)]
impl Invocation {
    /// For tests: `program` with `args`, nothing added to the environment, no files, run where
    /// hookrun runs, 300 ms between SIGTERM and SIGKILL, and a start that waits for the exec.
    pub(crate) fn command(program: &str, args: &[&str], timeout: Duration) -> Self {
        Invocation {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            working_dir: None,
            files: Vec::new(),
            timeout,
            kill_grace: Duration::from_millis(300),
            start: Start::AtExec,
        }
    }
}

/// What a command's start waits for, where its child is born in a job cgroup by `clone3`
/// (elsewhere every start waits for the exec). See README "Execution control".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Start {
    /// The child's exec (`CLONE_VFORK`, as `posix_spawn`): the starting thread sleeps until
    /// then and is woken by the exec, so a burst's children finish their own start-up (the
    /// dynamic loader) once the server is idle rather than beside the requests still to be
    /// answered. For commands whose answer goes out before they end.
    #[default]
    AtExec,
    /// Only the child's birth: it runs on to its exec beside hookrun's threads, sparing a
    /// context switch each way and the start's hold on its thread. For commands whose answer
    /// waits for their end anyway (their output in the response, or streamed).
    AtClone,
}

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
        Ok((inv, Ok(mut started))) => {
            let cgroup = started.cgroup.as_ref();
            let child = &mut started.child;
            let exit = supervise(child, started.output, &inv, &log, cancel, cgroup).await;
            // A start that did not wait for the exec learns of its failure here.
            let exit = match child.start_error() {
                Some(e) => Exit::SpawnFailed(spawn_error(&inv, e).to_string()),
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

/// The program to start. An absolute `execute-command` is not looked at before its start: its
/// exec finds out whether it runs, and only a start that failed asks why ([`spawn_error`]).
/// That spares a `statx` per command; any other is found as the reference finds it
/// ([`resolve`]).
fn program_path(inv: &Invocation) -> Result<PathBuf, SpawnError> {
    if Path::new(&inv.program).is_absolute() {
        return Ok(PathBuf::from(&inv.program));
    }
    resolve(&inv.program, inv.working_dir.as_deref())
}

/// The program to start: `execute-command` found as the reference finds it (see
/// [`crate::config::command`]).
fn resolve(program: &str, working_dir: Option<&Path>) -> Result<PathBuf, SpawnError> {
    command::resolve(program, working_dir).map_err(|e| SpawnError::NotFound {
        program: program.to_string(),
        reason: e.to_string(),
    })
}

/// A running command: started by std (process groups only) or, in its job cgroup, by `vfork`.
enum Process {
    Std(Child),
    InCgroup(vfork::Child),
}

impl Process {
    fn id(&self) -> Option<u32> {
        match self {
            Process::Std(child) => child.id(),
            Process::InCgroup(child) => child.id(),
        }
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match self {
            Process::Std(child) => child.wait().await,
            Process::InCgroup(child) => child.wait().await,
        }
    }

    /// Why it ended without exec'ing, once reaped, where its start did not wait for the exec.
    fn start_error(&mut self) -> Option<std::io::Error> {
        match self {
            Process::Std(_) => None,
            Process::InCgroup(child) => child.start_error(),
        }
    }

    fn start_kill(&mut self) -> std::io::Result<()> {
        match self {
            Process::Std(child) => child.start_kill(),
            Process::InCgroup(child) => child.start_kill(),
        }
    }
}

/// A started command, the read end of its output pipe and the files (and cgroup) that live as
/// long as it runs.
struct Started {
    child: Process,
    output: OwnedFd,
    files: Vec<TempFile>,
    result: JobResultFile,
    cgroup: Option<JobCgroup>,
}

/// A command's `HOOKRUN_RESULT` file: in the result folder of the job cgroups, where it may be
/// kept for the next job run in the same cgroup, or (without cgroups, or where no file could be
/// made there) a file of its own in [`tempfile::result_dir`]. Either is removed on drop.
enum JobResultFile {
    Kept(result_folder::KeptResult),
    Own(TempFile),
}

impl JobResultFile {
    fn path(&self) -> &Path {
        match self {
            JobResultFile::Kept(kept) => kept.path(),
            JobResultFile::Own(own) => own.path(),
        }
    }

    /// The file for a command: kept with its job cgroup where it has one, else its own.
    fn make(isolation: &Isolation, cgroup: Option<&mut JobCgroup>) -> Result<Self, SpawnError> {
        if let (Isolation::Cgroups(cgroups), Some(cgroup)) = (isolation, cgroup) {
            if let Some(kept) = cgroups.result_file(cgroup) {
                return Ok(JobResultFile::Kept(kept));
            }
        }
        TempFile::create(tempfile::result_dir(), "hookrun-result-", b"")
            .map(JobResultFile::Own)
            .map_err(|source| SpawnError::TempFile {
                env: RESULT_ENV.to_string(),
                source,
            })
    }
}

/// The job's own cgroup, when cgroups are used and one can be made.
fn job_cgroup(isolation: &Isolation) -> Option<JobCgroup> {
    let Isolation::Cgroups(cgroups) = isolation else {
        return None;
    };
    match cgroups.job() {
        Ok(cgroup) => Some(cgroup),
        Err(e) => {
            tracing::warn!(error = %e, "cannot create the job's cgroup; it runs in a process group only");
            None
        }
    }
}

/// The single place commands are built.
fn spawn(
    inv: &Invocation,
    isolation: &Isolation,
    mut cgroup: Option<JobCgroup>,
) -> Result<Started, SpawnError> {
    let path = program_path(inv)?;
    let result = JobResultFile::make(isolation, cgroup.as_mut())?;
    let mut files = Vec::new();
    let mut file_env = Vec::new();
    for (env, data) in &inv.files {
        // Looked up only for a command that has files (`temp_dir` reads the environment).
        let dir = inv.working_dir.clone().unwrap_or_else(std::env::temp_dir);
        let file = TempFile::create(&dir, env, data).map_err(|source| SpawnError::TempFile {
            env: env.clone(),
            source,
        })?;
        file_env.push((env.clone(), file.path().to_string_lossy().into_owned()));
        files.push(file);
    }
    // Close-on-exec, so that no other command started meanwhile inherits this pipe; the child
    // gets the write end as its fds 1 and 2 (dup3 clears the flag there).
    let (output, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Pipe(e.into()))?;
    let spawn_error = |source| spawn_error(inv, source);
    let child = match &cgroup {
        Some(cgroup) => Process::InCgroup(
            cgroup_spawn(inv, &path, &file_env, &result, &write, cgroup).map_err(spawn_error)?,
        ),
        None => {
            Process::Std(std_spawn(inv, &path, &file_env, &result, &write).map_err(spawn_error)?)
        }
    };
    // Dropping this process's copy of the write end (here) lets the reader see the end of the
    // output once the command and its children have closed theirs.
    drop(write);
    Ok(Started {
        child,
        output,
        files,
        result,
        cgroup,
    })
}

/// A command that could not be started: a program that is missing or cannot run says so as
/// the reference does (it was not looked at before the start: [`program_path`]), anything else
/// is a failed start in its folder.
fn spawn_error(inv: &Invocation, source: std::io::Error) -> SpawnError {
    if let Err(not_runnable) = resolve(&inv.program, inv.working_dir.as_deref()) {
        return not_runnable;
    }
    SpawnError::Spawn {
        program: inv.program.clone(),
        dir: inv
            .working_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default(),
        source,
    }
}

/// Starts a command in its job cgroup (`vfork`), with what `std_spawn` gives a command.
fn cgroup_spawn(
    inv: &Invocation,
    path: &Path,
    file_env: &[(String, String)],
    result: &JobResultFile,
    write: &OwnedFd,
    cgroup: &JobCgroup,
) -> std::io::Result<vfork::Child> {
    let mut env: Vec<(&OsStr, &OsStr)> = Vec::new();
    env.extend(inv.env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    env.extend(file_env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    env.push((RESULT_ENV.as_ref(), result.path().as_os_str()));
    vfork::spawn(&vfork::Spawn {
        path,
        arg0: inv.program.as_ref(),
        args: &inv.args,
        env,
        dir: inv.working_dir.as_deref(),
        stdin: dev_null()?,
        output: write.as_fd(),
        cgroup: cgroup.dir(),
        wait_for_exec: inv.start == Start::AtExec,
    })
}

/// /dev/null, opened once (close-on-exec): every command's stdin.
fn dev_null() -> std::io::Result<BorrowedFd<'static>> {
    static NULL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    if let Some(null) = NULL.get() {
        return Ok(null.as_fd());
    }
    let null = std::fs::File::open("/dev/null")?;
    Ok(NULL.get_or_init(|| null).as_fd())
}

/// Starts a command with std (`posix_spawn` where it can): where jobs have no cgroup.
fn std_spawn(
    inv: &Invocation,
    path: &Path,
    file_env: &[(String, String)],
    result: &JobResultFile,
    write: &OwnedFd,
) -> std::io::Result<Child> {
    let stdout = write.try_clone()?;
    let stderr = write.try_clone()?;
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg0(&inv.program)
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .envs(file_env.iter().map(|(k, v)| (k, v)))
        .env(RESULT_ENV, result.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &inv.working_dir {
        cmd.current_dir(dir);
    }
    // `cmd` (dropped on return) holds this process's other copies of the write end.
    cmd.spawn()
}

/// How long [`supervise`] waits for the end of a command's output before it also waits for
/// the command's own end.
///
/// Most commands end their output by exiting: once the pipe has reached its end, one reap
/// (`waitpid` with `WNOHANG`) usually finds the command ended, and its pidfd never has to be
/// registered with the runtime (an `epoll_ctl` to add it, one to remove it, the runtime's
/// record of it; see `vfork::Child::wait`). A command whose output outlives it (a grandchild
/// holding the pipe) is noticed to have ended at most this late, which delays the linger that
/// follows its end by as much.
const PIPE_FIRST: Duration = Duration::from_millis(100);

/// Waits for the child under its deadline, copying output, killing the group when needed.
///
/// The output is copied in this task, next to the wait, not in a task of its own: spawning
/// one cost every command a task allocation and, often, a wake-up of another worker thread
/// that then had nothing to do but read an empty pipe.
async fn supervise(
    child: &mut Process,
    output: OwnedFd,
    inv: &Invocation,
    log: &OutputLog,
    cancel: &CancellationToken,
    cgroup: Option<&JobCgroup>,
) -> Exit {
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let pipe = match pipe_receiver(output) {
        Ok(pipe) => Some(pipe),
        Err(e) => {
            // Cannot happen for a pipe this module made; the command still runs, unread
            // output aside (the pipe is closed, so the command's writes fail).
            tracing::warn!(error = %e, "cannot read the command's output");
            None
        }
    };
    let mut pumped = pipe.is_none();
    let pump = async {
        if let Some(pipe) = pipe {
            pump(pipe, log).await;
        }
    };
    tokio::pin!(pump);
    let now = Instant::now();
    let deadline = now + inv.timeout;
    // The end of the output usually comes with the command's: it is waited for alone first,
    // then the command reaped (see [`PIPE_FIRST`]).
    let mut waiting = pumped;
    let mut timer_at_deadline = deadline <= now + PIPE_FIRST;
    let timer = tokio::time::sleep_until(deadline.min(now + PIPE_FIRST));
    tokio::pin!(timer);
    let ended = loop {
        tokio::select! {
            status = child.wait(), if waiting => break Ok(status),
            () = &mut pump, if !pumped => (pumped, waiting) = (true, true),
            () = &mut timer => {
                if timer_at_deadline {
                    break Err(Exit::TimedOut);
                }
                (waiting, timer_at_deadline) = (true, true);
                timer.as_mut().reset(deadline);
            }
            () = cancel.cancelled() => break Err(Exit::Canceled),
        }
    };
    let (exit, linger_until) = match ended {
        Ok(status) => {
            // Let the reader drain what is buffered, but never past the deadline or a linger:
            // a backgrounded grandchild may hold the pipe open indefinitely.
            let linger = Instant::now() + inv.kill_grace.min(Duration::from_secs(2));
            (status_to_exit(status), linger.min(deadline))
        }
        Err(reason) => {
            // The output is still read while the job is stopped: a command that writes as it
            // handles SIGTERM must not block on a full pipe until SIGKILL.
            let kill = kill_job(child, pgid, cgroup, inv.kill_grace);
            tokio::pin!(kill);
            loop {
                tokio::select! {
                    () = &mut kill => break,
                    () = &mut pump, if !pumped => pumped = true,
                }
            }
            (reason, Instant::now() + Duration::from_millis(200))
        }
    };
    if !pumped {
        // Past the linger the reader is dropped with its end of the pipe.
        let _ = tokio::time::timeout_at(linger_until, pump).await;
    }
    exit
}

/// The read end of the output pipe, non-blocking, for the runtime. `Receiver::from_owned_fd`
/// would first check what `spawn` knows (an `fstat` that it is a FIFO, an `F_GETFL` that it is
/// open for reading) and then set the flag: three system calls per command where one does.
fn pipe_receiver(output: OwnedFd) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    rustix::io::ioctl_fionbio(&output, true)?;
    tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(output)
}

/// SIGTERM to the group and to every process in the job's cgroup, SIGKILL to both after
/// `grace` (`cgroup.kill`), then reap the child (always) and wait for the cgroup to empty.
async fn kill_job(
    child: &mut Process,
    pgid: Option<Pid>,
    cgroup: Option<&JobCgroup>,
    grace: Duration,
) {
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGTERM);
    }
    if let Some(cgroup) = cgroup {
        cgroup.signal(Signal::SIGTERM);
    }
    let grace_end = Instant::now() + grace;
    let _ = tokio::time::timeout_at(grace_end, child.wait()).await;
    // Grandchildren may outlive the leader: give them all the grace period.
    let alive = || pgid.is_some_and(group_alive) || cgroup.is_some_and(JobCgroup::populated);
    while Instant::now() < grace_end && alive() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    if let Some(cgroup) = cgroup {
        cgroup.kill();
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    if let Some(cgroup) = cgroup {
        if !cgroup.emptied(Duration::from_secs(2)).await {
            tracing::warn!(cgroup = %cgroup.path().display(), "processes of a killed job are still in its cgroup");
        }
    }
}

fn group_alive(pgid: Pid) -> bool {
    killpg(pgid, None).is_ok()
}

fn status_to_exit(status: std::io::Result<ExitStatus>) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Code(-1),
        },
        Err(e) => Exit::SpawnFailed(format!("waiting for the command: {e}")),
    }
}

/// Copies the pipe into the log until EOF, reading (and dropping) past the cap.
///
/// Most commands write a line or nothing: a read goes to a small buffer on the stack (not kept
/// in the task between reads) until one fills it; only then is a larger buffer allocated.
/// Allocating 16 KiB up front for every command cost glibc's allocator a large-bin search and,
/// often, a consolidation of its fast bins per command. The larger buffer is read into spare
/// capacity: zeroing it cost a 16 KiB memset per job.
async fn pump(pipe: tokio::net::unix::pipe::Receiver, log: &OutputLog) {
    let mut large: Vec<u8> = Vec::new();
    loop {
        if pipe.readable().await.is_err() {
            return;
        }
        let read = if large.capacity() == 0 {
            let mut small = [0u8; 512];
            let read = pipe.try_read(&mut small);
            if let Ok(n @ 1..) = read {
                log.append(&small[..n]);
                if n == small.len() {
                    large.reserve(16 * 1024);
                }
            }
            read
        } else {
            large.clear();
            let read = pipe.try_read_buf(&mut large);
            if let Ok(1..) = read {
                log.append(&large);
            }
            read
        };
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod cgroup_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;
