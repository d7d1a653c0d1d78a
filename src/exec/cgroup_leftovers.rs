//! What a hookrun killed with SIGKILL left: instance cgroups (`hookrun-<pid ns>-<pid>-<start>`)
//! next to this one whose owner provably no longer runs. Their jobs' processes are killed with
//! `cgroup.kill` and the cgroups removed. Nothing else is touched: not another hookrun's live
//! instance, not one from another pid namespace, not any cgroup named otherwise.

use std::path::Path;
use std::time::{Duration, Instant};

use super::cgroup::{populated, write_file, Owner};

/// Kills and removes the instance cgroups under `own` left by dead hookruns (not `me`).
pub(super) fn clean(own: &Path, me: &Owner) {
    let Ok(entries) = std::fs::read_dir(own) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(Owner::parse) else {
            continue;
        };
        if owner == *me || !owner.is_gone() || !entry.path().is_dir() {
            continue;
        }
        let killed = kill_instance(&entry.path());
        if killed > 0 {
            tracing::warn!(
                cgroup = %entry.path().display(),
                processes = killed,
                "killed the processes of jobs left by a hookrun that ended without shutting down"
            );
        }
    }
}

/// Kills every job cgroup under `instance` and removes them and it; returns how many processes
/// were in them.
fn kill_instance(instance: &Path) -> usize {
    let mut killed = 0;
    let jobs = std::fs::read_dir(instance)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_else(|_| Vec::new());
    for job in jobs {
        killed += std::fs::read_to_string(job.join("cgroup.procs"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let _ = write_file(&job.join("cgroup.kill"), b"1");
        // SIGKILL is delivered at once, but the cgroup empties only as the processes are reaped
        // by their parents (init, for orphans).
        let end = Instant::now() + Duration::from_secs(2);
        while populated(&job) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Err(e) = std::fs::remove_dir(&job) {
            tracing::warn!(cgroup = %job.display(), error = %e, "cannot remove a leftover job cgroup");
        }
    }
    let _ = std::fs::remove_dir(instance);
    killed
}
