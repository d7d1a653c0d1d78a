//! A cgroup (v2) per job, where hookrun may create them: a process group cannot hold a
//! grandchild that calls `setsid`, a cgroup holds every descendant, and `cgroup.kill` kills
//! them all at once.
//!
//! # Theory of operation
//! At start ([`Isolation::detect`]) hookrun finds its own cgroup in the cgroup2 mount
//! (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts; systemd's `Delegate=yes`,
//! container runtimes with a writable cgroup namespace) and creates an *instance* cgroup under
//! it, named `hookrun-<pid namespace>-<pid>-<start time>`: the name proves whose it is. Each job
//! gets `<instance>/job-<n>`; the child is born in it (`clone3` with `CLONE_INTO_CGROUP`), or,
//! where the kernel cannot do that, writes itself into its `cgroup.procs` between its clone and
//! exec (`vfork`), so not even the command's first fork happens outside it. On a timeout or at
//! shutdown every process in the cgroup gets SIGTERM, then after the grace period `cgroup.kill`
//! (SIGKILL to all, atomically, forks included). A command that exits by itself may leave a
//! daemon it started on purpose, as with process groups: what is left is moved to hookrun's own
//! cgroup.
//!
//! An emptied job cgroup is kept for a later job instead of being removed (up to
//! [`IDLE_CGROUPS`] of them): creating a cgroup and removing it cost the kernel about 55 µs of
//! a command's 1 ms here (kernfs nodes for each of its files, an RCU-delayed release in a
//! kworker), more than anything else hookrun adds to a command. A cgroup is only kept when
//! `cgroup.events` shows it holds no process (in it or in a cgroup below it) and is not frozen,
//! it has no cgroup below it (its link count), and it was not killed: not by hookrun (a timeout,
//! shutdown), and its command exited by itself (one killed by a signal may have written
//! `cgroup.kill` itself; on Linux 6.18 a command started in a cgroup once killed was found
//! killed at birth). What a command could have changed in it otherwise (its limits:
//! `cgroup.max.*`) has no effect on the processes born in it. Job cgroups have no controllers
//! (the instance's `cgroup.subtree_control` is never written), so nothing else carries over.
//! A cgroup that cannot be kept is removed, as is every idle one at exit
//! ([`JobCgroups::remove`]). A kept cgroup also keeps its job's `HOOKRUN_RESULT` file when the
//! command left it empty, for the next job run in it (`result_folder`).
//!
//! A hookrun killed with SIGKILL cannot clean up. The next one to start in the same cgroup
//! finds instance cgroups whose owner (same pid namespace, that pid with that start time) no
//! longer runs, kills what they hold and removes them; an instance from another pid
//! namespace cannot be proven dead and is left alone.
//!
//! Where no writable cgroup2 hierarchy exists, jobs run in process groups only, and the start
//! says so once.

mod cgroupfs;
mod job;
mod owner;

use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::result_folder::{KeptResult, ResultFolder};
use cgroupfs::own_cgroup_dir;

pub(super) use cgroupfs::{populated, write_file};
pub use job::JobCgroup;
pub(super) use owner::Owner;

/// How jobs are kept apart from each other and from hookrun.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// Each job in its own cgroup under this instance's.
    Cgroups(Arc<JobCgroups>),
    /// Process groups only; the reason no cgroup could be used.
    ProcessGroups { reason: String },
}

impl Isolation {
    /// Finds a writable cgroup2 hierarchy, creates this process's instance cgroup in it and
    /// cleans up what dead instances left; process groups where that cannot be done.
    pub fn detect() -> Isolation {
        match JobCgroups::create() {
            Ok(cgroups) => Isolation::Cgroups(Arc::new(cgroups)),
            Err(reason) => Isolation::ProcessGroups { reason },
        }
    }

    /// Logs which it is (once, at start; shown at the default level).
    pub fn log(&self) {
        match self {
            Isolation::Cgroups(c) => tracing::info!(
                target: crate::logging::LIFECYCLE,
                cgroup = %c.instance.display(),
                "each job runs in its own cgroup (cgroup v2): timeouts and shutdown kill every process in it"
            ),
            Isolation::ProcessGroups { reason } => tracing::info!(
                target: crate::logging::LIFECYCLE,
                %reason,
                "no writable cgroup v2 hierarchy: jobs run in process groups, which a process that calls setsid leaves (it then outlives its job's timeout)"
            ),
        }
    }
}

/// Emptied job cgroups kept for later jobs: enough for the jobs a busy server runs at once in
/// steady state; a burst beyond them creates (and then removes) the rest. An idle cgroup costs
/// the kernel a few KiB.
pub const IDLE_CGROUPS: usize = 64;

/// This process's instance cgroup, under which job cgroups are made.
#[derive(Debug)]
pub struct JobCgroups {
    /// hookrun's own cgroup: where a finished job's daemons are moved.
    own: Arc<PathBuf>,
    instance: PathBuf,
    next: AtomicU64,
    /// Emptied job cgroups, the most recently used last.
    idle: Mutex<Vec<JobCgroup>>,
    /// Where jobs' result files are made and kept; none where it could not be made (each job
    /// then gets a file of its own, made and removed around it).
    results: Option<ResultFolder>,
}

impl JobCgroups {
    fn create() -> Result<JobCgroups, String> {
        let own = own_cgroup_dir()?;
        let owner = Owner::of_pid(std::process::id())
            .ok_or("cannot read this process's pid namespace or start time")?;
        super::cgroup_leftovers::clean(&own, &owner);
        let results = super::tempfile::result_dir();
        super::result_folder::clean(results, &owner);
        let mut cgroups = JobCgroups::create_in(own, &owner)?;
        match ResultFolder::create(results, &owner) {
            Ok(folder) => cgroups.results = Some(folder),
            Err(e) => tracing::warn!(
                folder = %results.join(owner.name()).display(),
                error = %e,
                "cannot make this instance's result folder: every command's result file is made and removed around it"
            ),
        }
        Ok(cgroups)
    }

    /// The instance cgroup of `owner` under `own`, checked to hold processes.
    pub(super) fn create_in(own: PathBuf, owner: &Owner) -> Result<JobCgroups, String> {
        let instance = own.join(owner.name());
        match std::fs::create_dir(&instance) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", instance.display())),
        }
        let cgroups = JobCgroups {
            own: Arc::new(own),
            instance,
            next: AtomicU64::new(1),
            idle: Mutex::new(Vec::new()),
            results: None,
        };
        if !cgroups.instance.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&cgroups.instance);
            return Err("the kernel has no cgroup.kill (needs Linux 5.14)".into());
        }
        cgroups.probe()?;
        Ok(cgroups)
    }

    /// Proves a child can be started in a job cgroup: a child started there that fails to
    /// exec a path that does not exist reports "not found"; a refused start or move reports its
    /// own error (the cgroup's owner, delegation, a threaded subtree...).
    fn probe(&self) -> Result<(), String> {
        let job = self
            .job()
            .map_err(|e| format!("cannot create a job cgroup: {e}"))?;
        let null =
            std::fs::File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
        let missing = job.path.join("no-such-program");
        let started = super::vfork::start_and_wait(
            &super::vfork::Spawn {
                path: &missing,
                arg0: missing.as_os_str(),
                args: &[],
                env: Vec::new(),
                dir: None,
                stdin: null.as_fd(),
                output: null.as_fd(),
                cgroup: job.dir(),
                wait_for_exec: false,
            },
            Duration::from_secs(5),
        );
        let moved = match started {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("a child cannot move into a job cgroup: {e}")),
            Ok(()) => Err("the probe unexpectedly started".into()),
        };
        drop(job);
        if moved.is_err() {
            let _ = std::fs::remove_dir(&self.instance);
        }
        moved
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<JobCgroup>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty cgroup for one job: one an earlier job emptied ([`JobCgroups::reuse`]), or a
    /// new one.
    pub fn job(&self) -> std::io::Result<JobCgroup> {
        if let Some(idle) = self.idle().pop() {
            return Ok(idle);
        }
        self.create_job()
    }

    /// The result file for a job run in `job`: the one an earlier job left empty in it, if it
    /// is still unchanged ([`ResultFolder::reusable`]), else a new one in the result folder;
    /// none where there is no folder or a file cannot be made there.
    pub(super) fn result_file(&self, job: &mut JobCgroup) -> Option<KeptResult> {
        let folder = self.results.as_ref()?;
        if let Some(kept) = job.result.take() {
            if folder.reusable(&kept) {
                return Some(kept);
            }
        }
        match folder.file() {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::debug!(error = %e, "no result file in the result folder");
                None
            }
        }
    }

    /// Whether `kept`, made in the result folder, was left an empty regular file by its
    /// command ([`ResultFolder::left_empty`]).
    pub(super) fn result_left_empty(&self, kept: &KeptResult) -> bool {
        self.results
            .as_ref()
            .is_some_and(|folder| folder.left_empty(kept))
    }

    /// Ends the use of `job`, whose command has ended (`exited`: by itself, with an exit code,
    /// not by a signal): moves out what the command left running on purpose, then keeps the
    /// cgroup for a later job when it is empty and unchanged (see the module's theory of
    /// operation), else removes it (on drop). `result`, the job's result file that its command
    /// left empty, is kept with the cgroup unless the command left a process in it (which may
    /// still write to the file); else it is removed.
    pub fn finish(&self, mut job: JobCgroup, exited: bool, result: Option<KeptResult>) {
        let mut events = job.events();
        let left_running = events.populated;
        if events.populated {
            job.release_leftovers();
            events = job.events();
        }
        // A command killed by a signal may have been killed by `cgroup.kill` written by itself
        // or one of its processes, which hookrun cannot see afterwards.
        if !exited
            || job.killed.load(Ordering::Relaxed)
            || events.populated
            || events.frozen
            || !job.childless()
        {
            return;
        }
        if !left_running {
            job.result = result;
        }
        let mut idle = self.idle();
        if idle.len() < IDLE_CGROUPS {
            idle.push(job);
        }
    }

    /// Another instance cgroup next to this one, named `name` (which no hookrun's is, so the
    /// clean-up of dead instances leaves it alone), with its own idle cgroups.
    #[cfg(test)]
    pub(super) fn separate(&self, name: &str) -> JobCgroups {
        let instance = self.own.join(name);
        std::fs::create_dir(&instance).expect("a separate instance cgroup");
        JobCgroups {
            own: self.own.clone(),
            instance,
            next: AtomicU64::new(1),
            idle: Mutex::new(Vec::new()),
            results: None,
        }
    }

    /// These cgroups with a result folder in `parent` (named for this process).
    #[cfg(test)]
    pub(super) fn with_result_folder(mut self, parent: &Path) -> JobCgroups {
        let me = Owner::of_pid(std::process::id()).expect("this process");
        self.results = Some(ResultFolder::create(parent, &me).expect("a result folder"));
        self
    }

    /// The result folder, if there is one.
    #[cfg(test)]
    pub(super) fn result_folder(&self) -> Option<&ResultFolder> {
        self.results.as_ref()
    }

    /// Whether the job cgroup at `path` is kept for a later job.
    #[cfg(test)]
    pub(super) fn is_idle(&self, path: &Path) -> bool {
        self.idle().iter().any(|job| job.path == path)
    }

    /// A new cgroup for one job.
    fn create_job(&self) -> std::io::Result<JobCgroup> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.instance.join(format!("job-{n}"));
        std::fs::create_dir(&path)?;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECTORY.bits())
            .open(&path);
        let opened = dir.and_then(|dir| {
            // Its `cgroup.procs` looked up once, so that the kernel keeps the file's entry
            // (and inode) cached: every child born in the cgroup by `clone3` is checked as a
            // move into it would be, by the inode of this file, which without a cached entry
            // was made and freed again (an RCU-delayed free) at every start. A lookup that
            // fails only costs that again.
            let _ = rustix::fs::statat(&dir, "cgroup.procs", rustix::fs::AtFlags::empty());
            let events = rustix::fs::openat(
                &dir,
                "cgroup.events",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?;
            Ok((dir, events))
        });
        match opened {
            Ok((dir, events)) => Ok(JobCgroup {
                result: None,
                path,
                own: self.own.clone(),
                killed: AtomicBool::new(false),
                dir,
                events,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    /// Removes the idle job cgroups and the instance cgroup (at exit, once every job has
    /// ended).
    pub fn remove(&self) {
        self.idle().clear();
        if let Some(results) = &self.results {
            results.remove();
        }
        let _ = std::fs::remove_dir(&self.instance);
    }

    /// This process's instance cgroup, which holds the job cgroups.
    pub fn instance(&self) -> &Path {
        &self.instance
    }

    /// hookrun's own cgroup.
    pub fn own_dir(&self) -> &Path {
        &self.own
    }
}
