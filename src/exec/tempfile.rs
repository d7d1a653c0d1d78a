//! `pass-file-to-command` files and `HOOKRUN_RESULT` files: written before the command starts,
//! private to the owner, and removed when the value is dropped, whatever way the command ended.
//! Also where result files are made ([`result_dir`]).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A temporary file that deletes itself on drop.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Creates `dir/{prefix}{random}` (mode 0600) holding `data`, as the reference's
    /// `ioutil.TempFile(dir, envname)` does.
    pub fn create(dir: &Path, prefix: &str, data: &[u8]) -> std::io::Result<TempFile> {
        for _ in 0..16 {
            let path = dir.join(format!("{prefix}{}", rand::random::<u32>()));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match file {
                Ok(mut f) => {
                    let temp = TempFile { path };
                    f.write_all(data)?;
                    return Ok(temp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(
            "could not find a free temporary file name",
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where `HOOKRUN_RESULT` files are made: the folder `TMPDIR` names when it is set (the user
/// chose it), else `/dev/shm` when it is a writable tmpfs, else `/tmp`. Every command gets one
/// such file, created and removed around it, and most stay empty: on a disk file system (where
/// /tmp usually is) the create and the unlink each go through the journal, which cost about
/// 35 µs of kernel time per command on the benchmark machine; on a tmpfs they are memory only.
/// The file is made as in /tmp (a random name, `O_EXCL`, mode 0600): /dev/shm is, like /tmp,
/// world-writable with the sticky bit, so no other user can plant or replace it.
pub(super) fn result_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| pick_result_dir(std::env::var_os("TMPDIR"), Path::new("/dev/shm")))
}

/// [`result_dir`]'s choice, given `TMPDIR` and the shared-memory folder.
fn pick_result_dir(tmpdir: Option<OsString>, shm: &Path) -> PathBuf {
    if let Some(tmpdir) = tmpdir.filter(|t| !t.is_empty()) {
        return PathBuf::from(tmpdir);
    }
    let writable_tmpfs = nix::sys::statfs::statfs(shm)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        && nix::unistd::access(
            shm,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        )
        .is_ok();
    if writable_tmpfs {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn result_files_go_to_tmpdir_when_set_else_to_a_writable_tmpfs() {
        let disk = ::tempfile::tempdir().unwrap();
        // A folder that is not a tmpfs (the test's own temporary folder may be one: then it
        // stands for the tmpfs case below).
        let on_tmpfs = |dir: &Path| {
            nix::sys::statfs::statfs(dir)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        };
        let tmpdir = Some(OsString::from("/somewhere"));
        assert_eq!(
            pick_result_dir(tmpdir, disk.path()),
            Path::new("/somewhere")
        );
        let picked = pick_result_dir(None, disk.path());
        if on_tmpfs(disk.path()) {
            assert_eq!(picked, disk.path());
        } else {
            assert_eq!(picked, std::env::temp_dir());
        }
        let missing = disk.path().join("missing");
        assert_eq!(pick_result_dir(None, &missing), std::env::temp_dir());
        assert_eq!(
            pick_result_dir(Some(OsString::new()), &missing),
            std::env::temp_dir()
        );
        if on_tmpfs(Path::new("/dev/shm")) {
            assert_eq!(
                pick_result_dir(None, Path::new("/dev/shm")),
                Path::new("/dev/shm")
            );
        }
    }

    #[test]
    fn writes_private_file_and_removes_it_on_drop() {
        let dir = ::tempfile::tempdir().unwrap();
        let f = TempFile::create(dir.path(), "HOOK_X", b"data").unwrap();
        let path = f.path().to_path_buf();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("HOOK_X"));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(f);
        assert!(!path.exists());
    }
}
