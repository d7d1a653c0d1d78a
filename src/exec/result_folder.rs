//! This instance's private folder of `HOOKRUN_RESULT` files that are kept with their job cgroup
//! and handed to the next job that takes it, instead of a file created and removed around every
//! command (an `O_EXCL` create, a close and an unlink: about 12 µs of kernel time per command
//! on a tmpfs, the largest cost hookrun could avoid in a command's start and end).
//!
//! # Theory of operation
//! At start the folder `<result dir>/hookrun-<pid namespace>-<pid>-<start time>` (the instance
//! cgroup's name) is made with `mkdir` (mode 0700: it fails if anything is there, so no other
//! user can plant it) and opened. Files in it are made `O_EXCL`, mode 0600, under names never
//! used twice. After a command, its file is kept with the job cgroup only when the command left
//! it empty (an empty regular file by `lstat`, checked anyway to read the results), exited by
//! itself and left no process in the cgroup (a daemon that holds the file or knows its name
//! would write into a later job's results; such a cgroup's file is removed). Before the file is
//! given to another job, [`ResultFolder::reusable`] checks, relative to the open folder, that it
//! is still the very file made (device and inode: a number is only given again once no one holds
//! the file that had it), a regular file (not a symbolic link), of one
//! link (no hard link made to it), owned by hookrun's user, mode 0600, and empty, and that the
//! folder is still closed to other users: else it is removed and a new one made. What cannot be
//! checked: a process outside the job's cgroup that the command gave the file to (its name or
//! an open descriptor: `systemd-run`, a container's bind mount) and that writes to it after the
//! command ended; its lines show up in a later job's results. A hookrun killed with SIGKILL
//! leaves its folder: the next one to start removes the folders of instances that provably no
//! longer run ([`clean`]), as it does their cgroups.

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::cgroup::Owner;

/// This instance's folder of result files, open.
#[derive(Debug)]
pub struct ResultFolder {
    path: PathBuf,
    dir: std::fs::File,
    /// hookrun's effective user: the owner of every file in the folder.
    uid: u32,
    next: AtomicU64,
}

/// A result file made in a [`ResultFolder`]; removed on drop.
#[derive(Debug)]
pub struct KeptResult {
    name: String,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl KeptResult {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KeptResult {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ResultFolder {
    /// Makes `owner`'s folder in `parent` (mode 0700); fails if anything has that name.
    pub(super) fn create(parent: &Path, owner: &Owner) -> std::io::Result<ResultFolder> {
        let path = parent.join(owner.name());
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                nix::fcntl::OFlag::O_DIRECTORY.bits() | nix::fcntl::OFlag::O_NOFOLLOW.bits(),
            )
            .open(&path);
        let folder = dir.map(|dir| ResultFolder {
            path: path.clone(),
            dir,
            uid: rustix::process::geteuid().as_raw(),
            next: AtomicU64::new(1),
        });
        match folder {
            Ok(folder) if folder.is_private() => Ok(folder),
            Ok(_) => {
                let _ = std::fs::remove_dir(&path);
                Err(std::io::Error::other("the folder made is not private"))
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the folder is still hookrun's and closed to other users (a command, which runs
    /// as hookrun's user, could have opened it).
    fn is_private(&self) -> bool {
        rustix::fs::fstat(&self.dir).is_ok_and(|s| s.st_uid == self.uid && s.st_mode & 0o077 == 0)
    }

    /// A new empty file (mode 0600) under a name not used before in this folder.
    pub fn file(&self) -> std::io::Result<KeptResult> {
        if !self.is_private() {
            return Err(std::io::Error::other(format!(
                "{} is no longer private",
                self.path.display()
            )));
        }
        let name = format!("result-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let fd = rustix::fs::openat(
            self.dir.as_fd(),
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let path = self.path.join(&name);
        match rustix::fs::fstat(&fd) {
            Ok(stat) => Ok(KeptResult {
                name,
                path,
                dev: stat.st_dev,
                ino: stat.st_ino,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e.into())
            }
        }
    }

    /// Whether `kept`, once its command has ended, is still the very file made and an empty
    /// regular file: the command wrote no results. Asked relative to the open folder (one path
    /// component to look up, where the file's full path has four); anything else is read from
    /// the path as every result file is (`result_file`).
    pub fn left_empty(&self, kept: &KeptResult) -> bool {
        rustix::fs::statat(
            self.dir.as_fd(),
            kept.name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .is_ok_and(|s| {
            s.st_dev == kept.dev
                && s.st_ino == kept.ino
                && rustix::fs::FileType::from_raw_mode(s.st_mode)
                    == rustix::fs::FileType::RegularFile
                && s.st_size == 0
        })
    }

    /// Whether `kept`, which an earlier command left empty, may be given to another: see the
    /// module's theory of operation.
    pub fn reusable(&self, kept: &KeptResult) -> bool {
        let file = rustix::fs::statat(
            self.dir.as_fd(),
            kept.name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        self.is_private()
            && file.is_ok_and(|s| {
                s.st_dev == kept.dev
                    && s.st_ino == kept.ino
                    && rustix::fs::FileType::from_raw_mode(s.st_mode)
                        == rustix::fs::FileType::RegularFile
                    && s.st_mode & 0o7777 == 0o600
                    && s.st_uid == self.uid
                    && s.st_nlink == 1
                    && s.st_size == 0
            })
    }

    /// Removes the folder and what is left in it (at exit, once every job has ended and the
    /// kept files are dropped; a command may have left files of its own next to its result).
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!(folder = %self.path.display(), error = %e, "result folder not removed");
        }
    }
}

/// Removes the result folders in `parent` left by dead hookruns (not `me`): named for an owner
/// that provably no longer runs, a folder (not a link) and owned by this user. Nothing else is
/// touched.
pub(super) fn clean(parent: &Path, me: &Owner) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let uid = rustix::process::geteuid().as_raw();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(Owner::parse) else {
            continue;
        };
        if owner == *me || !owner.is_gone() {
            continue;
        }
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if !ours {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(folder = %path.display(), "removed the result files left by a hookrun that ended without shutting down")
            }
            Err(e) => {
                tracing::warn!(folder = %path.display(), error = %e, "cannot remove the result files left by a hookrun that ended")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn folder(parent: &Path) -> ResultFolder {
        let me = Owner::of_pid(std::process::id()).expect("this process");
        ResultFolder::create(parent, &me).expect("the result folder")
    }

    #[test]
    fn the_folder_is_private_and_cannot_be_planted() {
        let parent = ::tempfile::tempdir().unwrap();
        let folder = folder(parent.path());
        let mode = std::fs::metadata(folder.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // Another start with the same name (a folder planted before it) fails.
        let me = Owner::of_pid(std::process::id()).unwrap();
        assert!(ResultFolder::create(parent.path(), &me).is_err());
        let file = folder.file().unwrap();
        let meta = std::fs::symlink_metadata(file.path()).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(meta.len(), 0);
        assert!(folder.reusable(&file));
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists(), "a dropped file is removed");
        folder.remove();
        assert!(!folder.path().exists());
    }

    #[test]
    fn only_the_same_empty_private_file_is_reusable() {
        let parent = ::tempfile::tempdir().unwrap();
        let folder = folder(parent.path());
        type Change = (&'static str, fn(&Path));
        let changes: [Change; 6] = [
            ("written to", |p| std::fs::write(p, "a=1\n").unwrap()),
            ("replaced", |p| {
                // The old file is kept: a removed file's inode number may be given to the
                // next file made (ext4 does), which is then as good as the one made.
                std::fs::rename(p, p.with_extension("old")).unwrap();
                std::fs::write(p, "").unwrap();
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }),
            ("hard-linked", |p| {
                std::fs::hard_link(p, p.with_extension("link")).unwrap()
            }),
            ("made readable", |p| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap()
            }),
            ("replaced by a symbolic link", |p| {
                let target = p.with_extension("target");
                std::fs::write(&target, "").unwrap();
                std::fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink(&target, p).unwrap();
            }),
            ("removed", |p| std::fs::remove_file(p).unwrap()),
        ];
        for (what, change) in changes {
            let file = folder.file().unwrap();
            assert!(folder.reusable(&file));
            assert!(folder.left_empty(&file));
            change(file.path());
            assert!(!folder.reusable(&file), "a file {what} was reusable");
            let empty = folder.left_empty(&file);
            // A file made readable or linked is still the empty file made: its command wrote
            // no results (it is not kept: `reusable`).
            let still_empty = matches!(what, "made readable" | "hard-linked");
            assert_eq!(empty, still_empty, "a file {what}: left empty");
        }
        let file = folder.file().unwrap();
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            !folder.reusable(&file),
            "a file in a folder others can read"
        );
        assert!(
            folder.file().is_err(),
            "a file made in a folder others can read"
        );
        folder.remove();
    }

    #[test]
    fn dead_instances_folders_are_removed_and_nothing_else() {
        let parent = ::tempfile::tempdir().unwrap();
        let me = Owner::of_pid(std::process::id()).unwrap();
        let dead = me.with_pid(u32::MAX, 1);
        let other_namespace = Owner::parse(&format!("hookrun-1-{}-1", u32::MAX)).unwrap();
        let dead_folder = ResultFolder::create(parent.path(), &dead).unwrap();
        std::mem::forget(dead_folder.file().unwrap());
        let mine = ResultFolder::create(parent.path(), &me).unwrap();
        let foreign = ResultFolder::create(parent.path(), &other_namespace).unwrap();
        let unrelated = parent.path().join("hookrun-result-123");
        std::fs::write(&unrelated, "").unwrap();
        // A link named as a dead instance's folder is not followed.
        let outside = ::tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "").unwrap();
        let link = parent.path().join(me.with_pid(u32::MAX, 2).name());
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();

        clean(parent.path(), &me);
        assert!(
            !dead_folder.path().exists(),
            "a dead instance's folder was left"
        );
        assert!(mine.path().exists());
        assert!(foreign.path().exists(), "another pid namespace's folder");
        assert!(unrelated.exists());
        assert!(outside.path().join("keep").exists());
        assert!(link.symlink_metadata().is_ok());
    }
}
