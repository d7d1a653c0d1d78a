//! `pass-file-to-command` files: written before the command starts, private to the owner, and
//! removed when the value is dropped, whatever way the command ended.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
