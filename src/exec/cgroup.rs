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

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::result_folder::{KeptResult, ResultFolder};

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

/// Identifies this process for the instance cgroup's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pid_namespace: u64,
    pid: u32,
    start_time: u64,
}

impl Owner {
    pub(super) fn of_pid(pid: u32) -> Option<Owner> {
        Some(Owner {
            pid_namespace: pid_namespace()?,
            pid,
            start_time: start_time(pid)?,
        })
    }

    /// This owner's namespace with another pid and start time.
    #[cfg(test)]
    pub(super) fn with_pid(&self, pid: u32, start_time: u64) -> Owner {
        Owner {
            pid,
            start_time,
            ..*self
        }
    }

    pub(super) fn name(&self) -> String {
        format!(
            "hookrun-{}-{}-{}",
            self.pid_namespace, self.pid, self.start_time
        )
    }

    pub(super) fn parse(name: &str) -> Option<Owner> {
        let mut parts = name.strip_prefix("hookrun-")?.split('-');
        let owner = Owner {
            pid_namespace: parts.next()?.parse().ok()?,
            pid: parts.next()?.parse().ok()?,
            start_time: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(owner)
    }

    /// Whether this owner provably no longer runs: same pid namespace as ours, and its pid is
    /// gone or belongs to a process started at another time.
    pub(super) fn is_gone(&self) -> bool {
        pid_namespace() == Some(self.pid_namespace) && start_time(self.pid) != Some(self.start_time)
    }
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

/// One job's cgroup; removed on drop once empty.
#[derive(Debug)]
pub struct JobCgroup {
    path: PathBuf,
    own: Arc<PathBuf>,
    /// `cgroup.kill` was written: the cgroup is not used again (commands started in a cgroup
    /// that had been killed were found killed as well on Linux 6.18).
    killed: AtomicBool,
    /// Its directory, open (close-on-exec): the child is started in it (`vfork`).
    dir: std::fs::File,
    /// Its `cgroup.events`, open (close-on-exec) for as long as the cgroup is used: read again
    /// from its start at the end of every job run in it ([`JobCgroup::events`]).
    events: std::os::fd::OwnedFd,
    /// The result file its last job left empty, for the next one (removed on drop).
    result: Option<KeptResult>,
}

impl JobCgroup {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its directory, open: a child started with it is born in the cgroup (`vfork`).
    pub(super) fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The pids in the cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether any process is left in it (`cgroup.events`: `populated 1`).
    pub fn populated(&self) -> bool {
        populated(&self.path)
    }

    /// Sends `signal` to every process in it (those that call `setsid` too).
    pub fn signal(&self, signal: Signal) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// SIGKILL to every process in it, atomically (`cgroup.kill`).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        if let Err(e) = write_file(&self.path.join("cgroup.kill"), b"1") {
            tracing::warn!(cgroup = %self.path.display(), error = %e, "cgroup.kill failed; killing its processes one by one");
            self.signal(Signal::SIGKILL);
        }
    }

    /// Waits (up to `limit`) until the cgroup is empty; true if it is.
    pub async fn emptied(&self, limit: Duration) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while self.populated() {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Moves what a command left running on purpose (it exited by itself) to hookrun's own
    /// cgroup, where it would be without job cgroups.
    fn release_leftovers(&self) {
        // A leftover may fork while it is moved: go round until nothing is left.
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = write_file(&self.own.join("cgroup.procs"), pid.to_string().as_bytes());
            }
        }
        tracing::warn!(cgroup = %self.path.display(), "processes a job left behind could not all be moved out of its cgroup");
    }

    /// `cgroup.events`; one that cannot be read counts as populated and frozen (the cgroup is
    /// then not used again). Read with one `pread` from the start of the file opened with the
    /// cgroup, as a job ends (a kernfs file read from offset 0 shows the state now; opening it
    /// each time cost a path lookup, an open and a close): the file is two short lines.
    fn events(&self) -> Events {
        let mut buf = [0u8; 128];
        let len = rustix::io::pread(&self.events, &mut buf, 0).unwrap_or(0);
        // A file that fills the buffer is not the one this reads: counts as unreadable.
        let text = if len < buf.len() { &buf[..len] } else { &[] };
        let has = |line: &[u8]| text.split(|&b| b == b'\n').any(|l| l == line);
        Events {
            populated: !has(b"populated 0"),
            frozen: has(b"frozen 1") || text.is_empty(),
        }
    }

    /// Whether no cgroup was made below it: a cgroup2 directory's link count is 2 plus its
    /// subdirectories, the cgroups below it (one `fstat` of the open directory, where
    /// `cgroup.stat`'s `nr_descendants` took an open and five reads).
    fn childless(&self) -> bool {
        rustix::fs::fstat(&self.dir).is_ok_and(|stat| stat.st_nlink == 2)
    }
}

/// What `cgroup.events` says of a cgroup.
struct Events {
    /// A process is in it or in a cgroup below it.
    populated: bool,
    frozen: bool,
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.path) {
            tracing::debug!(cgroup = %self.path.display(), error = %e, "job cgroup not removed");
        }
    }
}

/// hookrun's own cgroup directory in a writable cgroup2 mount.
fn own_cgroup_dir() -> Result<PathBuf, String> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("this process is in no cgroup v2 hierarchy")?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let dir = cgroup2_mounts(&mountinfo)
        .into_iter()
        .filter_map(|(root, mount_point)| {
            let rel = Path::new(own).strip_prefix(&root).ok()?;
            Some(mount_point.join(rel))
        })
        .find(|dir| is_cgroup2(dir))
        .ok_or("no cgroup2 mount shows this process's cgroup")?;
    let procs = dir.join("cgroup.procs");
    nix::unistd::access(&procs, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| format!("{} is not writable: {e}", procs.display()))?;
    Ok(dir)
}

/// (root, mount point) of every cgroup2 mount in `/proc/self/mountinfo`.
fn cgroup2_mounts(mountinfo: &str) -> Vec<(PathBuf, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            if fs.split(' ').next()? != "cgroup2" {
                return None;
            }
            let mut fields = mount.split(' ');
            let root = fields.nth(3)?;
            let mount_point = fields.next()?;
            Some((unescape(root).into(), unescape(mount_point).into()))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(o)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_cgroup2(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

pub(super) fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "populated 1"))
}

pub(super) fn write_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data)
}

/// The inode of this process's pid namespace.
fn pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_str()?;
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// When process `pid` started, in clock ticks after boot (`/proc/<pid>/stat`, field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_round_trip_and_prove_death() {
        let me = Owner::of_pid(std::process::id()).expect("this process");
        assert_eq!(Owner::parse(&me.name()), Some(me));
        assert!(!me.is_gone());
        let restarted = Owner {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(restarted.is_gone(), "same pid, another start time");
        let elsewhere = Owner {
            pid_namespace: me.pid_namespace + 1,
            pid: u32::MAX,
            ..me
        };
        assert!(
            !elsewhere.is_gone(),
            "another pid namespace cannot be checked"
        );
        for bad in [
            "hookrun-1-2",
            "hookrun-1-2-3-4",
            "hookrun-a-2-3",
            "other-1-2-3",
        ] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn cgroup2_mounts_from_mountinfo() {
        let info = "\
25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
36 25 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
37 25 0:32 /docker/abc /mnt/with\\040space rw - cgroup2 none rw
";
        assert_eq!(
            cgroup2_mounts(info),
            [
                (PathBuf::from("/"), PathBuf::from("/sys/fs/cgroup/unified")),
                (
                    PathBuf::from("/docker/abc"),
                    PathBuf::from("/mnt/with space")
                ),
            ]
        );
    }
}
