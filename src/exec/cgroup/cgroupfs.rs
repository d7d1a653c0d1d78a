//! The cgroup2 file system: where hookrun's own cgroup is mounted and writable, and the cgroup
//! files read and written by path.

use std::io::Write;
use std::path::{Path, PathBuf};

/// hookrun's own cgroup directory in a writable cgroup2 mount.
pub(super) fn own_cgroup_dir() -> Result<PathBuf, String> {
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

pub(in crate::exec) fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "populated 1"))
}

pub(in crate::exec) fn write_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

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
