//! Who made an instance cgroup (and a result folder): this process's pid namespace, pid and
//! start time, written into the name, and whether such an owner provably no longer runs.

/// Identifies this process for the instance cgroup's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::exec) struct Owner {
    pid_namespace: u64,
    pid: u32,
    start_time: u64,
}

impl Owner {
    pub(in crate::exec) fn of_pid(pid: u32) -> Option<Owner> {
        Some(Owner {
            pid_namespace: pid_namespace()?,
            pid,
            start_time: start_time(pid)?,
        })
    }

    /// This owner's namespace with another pid and start time.
    #[cfg(test)]
    pub(in crate::exec) fn with_pid(&self, pid: u32, start_time: u64) -> Owner {
        Owner {
            pid,
            start_time,
            ..*self
        }
    }

    pub(in crate::exec) fn name(&self) -> String {
        format!(
            "hookrun-{}-{}-{}",
            self.pid_namespace, self.pid, self.start_time
        )
    }

    pub(in crate::exec) fn parse(name: &str) -> Option<Owner> {
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
    pub(in crate::exec) fn is_gone(&self) -> bool {
        pid_namespace() == Some(self.pid_namespace) && start_time(self.pid) != Some(self.start_time)
    }
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
}
