//! One job's cgroup: its open directory and `cgroup.events`, signalling and killing what it
//! holds, moving out what a command left running on purpose, and its removal on drop.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::cgroupfs::{populated, write_file};
use crate::exec::result_folder::KeptResult;

/// One job's cgroup; removed on drop once empty.
#[derive(Debug)]
pub struct JobCgroup {
    pub(super) path: PathBuf,
    pub(super) own: Arc<PathBuf>,
    /// `cgroup.kill` was written: the cgroup is not used again (commands started in a cgroup
    /// that had been killed were found killed as well on Linux 6.18).
    pub(super) killed: AtomicBool,
    /// Its directory, open (close-on-exec): the child is started in it (`vfork`).
    pub(super) dir: std::fs::File,
    /// Its `cgroup.events`, open (close-on-exec) for as long as the cgroup is used: read again
    /// from its start at the end of every job run in it ([`JobCgroup::events`]).
    pub(super) events: std::os::fd::OwnedFd,
    /// The result file its last job left empty, for the next one (removed on drop).
    pub(super) result: Option<KeptResult>,
}

impl JobCgroup {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its directory, open: a child started with it is born in the cgroup (`vfork`).
    pub(in crate::exec) fn dir(&self) -> BorrowedFd<'_> {
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
    pub(super) fn release_leftovers(&self) {
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
    pub(super) fn events(&self) -> Events {
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
    pub(super) fn childless(&self) -> bool {
        rustix::fs::fstat(&self.dir).is_ok_and(|stat| stat.st_nlink == 2)
    }
}

/// What `cgroup.events` says of a cgroup.
pub(super) struct Events {
    /// A process is in it or in a cgroup below it.
    pub(super) populated: bool,
    pub(super) frozen: bool,
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.path) {
            tracing::debug!(cgroup = %self.path.display(), error = %e, "job cgroup not removed");
        }
    }
}
