//! The single place commands are built and started: the program found, the result file and
//! `pass-file-to-command` files made, the output pipe, and the child started in its job cgroup
//! (`vfork`) or, without one, by std; and the error of a start that failed.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::process::Child;

use super::{
    result_folder, tempfile, vfork, Invocation, Isolation, JobCgroup, SpawnError, Start, TempFile,
    RESULT_ENV,
};
use crate::config::command;

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
pub(super) enum Process {
    Std(Child),
    InCgroup(vfork::Child),
}

impl Process {
    pub(super) fn id(&self) -> Option<u32> {
        match self {
            Process::Std(child) => child.id(),
            Process::InCgroup(child) => child.id(),
        }
    }

    pub(super) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match self {
            Process::Std(child) => child.wait().await,
            Process::InCgroup(child) => child.wait().await,
        }
    }

    /// Why it ended without exec'ing, once reaped, where its start did not wait for the exec.
    pub(super) fn start_error(&mut self) -> Option<std::io::Error> {
        match self {
            Process::Std(_) => None,
            Process::InCgroup(child) => child.start_error(),
        }
    }

    pub(super) fn start_kill(&mut self) -> std::io::Result<()> {
        match self {
            Process::Std(child) => child.start_kill(),
            Process::InCgroup(child) => child.start_kill(),
        }
    }
}

/// A started command, the read end of its output pipe and the files (and cgroup) that live as
/// long as it runs.
pub(super) struct Started {
    pub(super) child: Process,
    pub(super) output: OwnedFd,
    pub(super) files: Vec<TempFile>,
    pub(super) result: JobResultFile,
    pub(super) cgroup: Option<JobCgroup>,
}

/// A command's `HOOKRUN_RESULT` file: in the result folder of the job cgroups, where it may be
/// kept for the next job run in the same cgroup, or (without cgroups, or where no file could be
/// made there) a file of its own in [`tempfile::result_dir`]. Either is removed on drop.
pub(super) enum JobResultFile {
    Kept(result_folder::KeptResult),
    Own(TempFile),
}

impl JobResultFile {
    pub(super) fn path(&self) -> &Path {
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
pub(super) fn job_cgroup(isolation: &Isolation) -> Option<JobCgroup> {
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
pub(super) fn spawn(
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
pub(super) fn spawn_error(inv: &Invocation, source: std::io::Error) -> SpawnError {
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
