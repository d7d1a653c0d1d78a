//! The `HOOKRUN_RESULT` file: structured results a command may write for hookrun (the image it
//! replaced, the one it deployed, whether it rolled back...), in the format of GitHub Actions'
//! output files: `key=value` lines and `key<<DELIM` … `DELIM` blocks for multi-line values.
//!
//! The file is written by a command that may be hostile or broken, so reading it is bounded and
//! forgiving: at most [`MAX_RESULT_BYTES`] are read (the rest is ignored with a warning), a
//! symbolic link or anything but a regular file is refused (a command must not make a root
//! hookrun copy `/etc/shadow` into a job record), invalid keys and unterminated blocks are
//! skipped with a warning, and bytes that are not UTF-8 become U+FFFD. Values are data: they are
//! never trimmed, expanded or interpreted. A key written twice keeps its last value, as in
//! GitHub Actions.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

/// Bytes of a result file that are read; the rest is ignored.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// Longest key accepted.
const MAX_KEY_LEN: usize = 128;

/// Warnings kept per file: a file of 10,000 bad lines must not make 10,000 log lines.
const MAX_WARNINGS: usize = 20;

static KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][A-Za-z0-9_.-]*$").expect("static key pattern is valid")
});

/// What a command wrote: its values and what was wrong with the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFile {
    pub values: BTreeMap<String, String>,
    /// Problems found (skipped lines, truncation), for the log and the job record.
    pub warnings: Vec<String>,
}

impl ResultFile {
    fn warn(&mut self, warning: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning);
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings
                .push("more problems were not listed".to_string());
        }
    }
}

/// Why a result file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    #[error("result file {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("result file {path}: not a regular file")]
    NotAFile { path: String },
}

/// Reads and parses the result file at `path`. A file that does not exist means the command
/// wrote no results: an empty [`ResultFile`].
pub fn read(path: &Path) -> Result<ResultFile, ResultFileError> {
    read_noting_empty(path).map(|(result, _)| result)
}

/// [`read`], also telling whether the file was left an empty regular file (which may then
/// serve another command: see `result_folder`).
pub(super) fn read_noting_empty(path: &Path) -> Result<(ResultFile, bool), ResultFileError> {
    let shown = path.display().to_string();
    // Most commands leave their file empty: `lstat` tells so without the open, `fstat`, read
    // and close (four system calls per command). Anything else (a symlink, a FIFO, a file with
    // data) is opened and checked below.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => return Ok((ResultFile::default(), true)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((ResultFile::default(), false))
        }
        _ => {}
    }
    let open_error = |source| ResultFileError::Open {
        path: shown.clone(),
        source,
    };
    // O_NOFOLLOW: a symlink planted by the command is refused (ELOOP); O_NONBLOCK: a FIFO
    // cannot make hookrun wait for a writer.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((ResultFile::default(), false))
        }
        Err(e) => return Err(open_error(e)),
    };
    if !file.metadata().map_err(open_error)?.is_file() {
        return Err(ResultFileError::NotAFile { path: shown });
    }
    let mut bytes = Vec::new();
    file.take(MAX_RESULT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(open_error)?;
    Ok((parse(&bytes), false))
}

/// Parses the contents of a result file (at most [`MAX_RESULT_BYTES`] of it are used).
pub fn parse(bytes: &[u8]) -> ResultFile {
    let mut result = ResultFile::default();
    let bytes = if bytes.len() > MAX_RESULT_BYTES {
        result.warn(format!(
            "larger than {} KiB: the rest was ignored",
            MAX_RESULT_BYTES / 1024
        ));
        // Up to the last complete line, so no value is silently cut in the middle.
        let head = &bytes[..MAX_RESULT_BYTES];
        match head.iter().rposition(|&b| b == b'\n') {
            Some(end) => &head[..=end],
            None => &[][..],
        }
    } else {
        bytes
    };
    let text = String::from_utf8_lossy(bytes);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        result.warn("not valid UTF-8: invalid bytes were replaced by U+FFFD".to_string());
    }
    let mut lines = text.split('\n').enumerate().map(|(i, l)| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        (i + 1, l)
    });
    while let Some((number, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (_, Some(h)) if eq.is_none_or(|e| h < e) => {
                let (key, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value: Vec<&str> = Vec::new();
                let mut closed = false;
                for (_, l) in lines.by_ref() {
                    if l == delimiter {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                if delimiter.is_empty() {
                    result.warn(format!("line {number}: empty delimiter after \"<<\""));
                } else if !closed {
                    result.warn(format!(
                        "line {number}: block {key:?} has no closing delimiter line: ignored"
                    ));
                } else {
                    insert(&mut result, number, key, value.join("\n"));
                }
            }
            (Some(e), _) => insert(&mut result, number, &line[..e], line[e + 1..].to_string()),
            _ => result.warn(format!(
                "line {number}: neither key=value nor key<<DELIMITER"
            )),
        }
    }
    result
}

fn insert(result: &mut ResultFile, number: usize, key: &str, value: String) {
    if key.len() > MAX_KEY_LEN || !KEY.is_match(key) {
        let shown: String = key.chars().take(40).collect();
        result.warn(format!(
            "line {number}: invalid key {shown:?} (keys are [A-Za-z_][A-Za-z0-9_.-]*)"
        ));
        return;
    }
    result.values.insert(key.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text.as_bytes()).values.into_iter().collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn key_value_lines() {
        let text = "target=swarm:web\nimage_before=nginx:1.26\r\nimage_after=nginx:1.27\nrolled_back=false\n\nmessage=a=b c\n";
        assert_eq!(
            values(text),
            pairs(&[
                ("image_after", "nginx:1.27"),
                ("image_before", "nginx:1.26"),
                ("message", "a=b c"),
                ("rolled_back", "false"),
                ("target", "swarm:web"),
            ])
        );
        assert!(parse(text.as_bytes()).warnings.is_empty());
    }

    #[test]
    fn heredoc_blocks() {
        let text = "message<<EOF\nline one\n\nline=three\nEOF\nk.v-1<<x<<y\nv\nx<<y\nempty<<E\nE\n";
        assert_eq!(
            values(text),
            pairs(&[
                ("empty", ""),
                ("k.v-1", "v"),
                ("message", "line one\n\nline=three"),
            ])
        );
    }

    #[test]
    fn equals_before_heredoc_is_a_value() {
        assert_eq!(values("a=b<<c\n"), pairs(&[("a", "b<<c")]));
    }

    #[test]
    fn last_value_wins() {
        assert_eq!(values("a=1\na=2\n"), pairs(&[("a", "2")]));
    }

    #[test]
    fn values_are_never_interpreted() {
        let text = "cmd=$(touch /tmp/x); `id` ${HOME} \\n %s\nspace= padded \n";
        assert_eq!(
            values(text),
            pairs(&[
                ("cmd", "$(touch /tmp/x); `id` ${HOME} \\n %s"),
                ("space", " padded "),
            ])
        );
    }

    #[test]
    fn invalid_keys_are_skipped_with_a_warning() {
        let long = "k".repeat(129);
        let text = format!(
            "1abc=x\nbad key=x\n=x\n-a=x\n$(id)=x\n{long}=x\nok=1\nno separator\n\u{e9}=x\n"
        );
        let r = parse(text.as_bytes());
        assert_eq!(
            r.values.into_iter().collect::<Vec<_>>(),
            pairs(&[("ok", "1")])
        );
        assert_eq!(r.warnings.len(), 8, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("line 1: invalid key \"1abc\""));
        assert!(r.warnings[6].contains("neither key=value"));
        assert!(r.warnings[7].contains("invalid key"));
    }

    #[test]
    fn unterminated_block_is_dropped() {
        let r = parse(b"a=1\nmessage<<EOF\nnever closed\nb=2\n");
        assert_eq!(
            r.values.into_iter().collect::<Vec<_>>(),
            pairs(&[("a", "1")])
        );
        assert!(r.warnings[0].contains("no closing delimiter"));
        let r = parse(b"a<<\nx\n\n");
        assert!(r.values.is_empty());
        assert!(r.warnings[0].contains("empty delimiter"));
    }

    #[test]
    fn oversized_file_is_cut_at_a_line() {
        let mut text = String::from("first=1\n");
        let filler = format!("filler={}\n", "x".repeat(1000));
        while text.len() < MAX_RESULT_BYTES - 500 {
            text.push_str(&filler);
        }
        text.push_str(&format!("cut={}\n", "y".repeat(2000)));
        text.push_str("late=1\n");
        let r = parse(text.as_bytes());
        assert_eq!(r.values["first"], "1");
        assert!(
            !r.values.contains_key("cut"),
            "a value cut mid-line is not kept"
        );
        assert!(!r.values.contains_key("late"));
        assert!(r.warnings[0].contains("64 KiB"));
        // One huge line with no newline inside the limit keeps nothing.
        let r = parse("a=".repeat(MAX_RESULT_BYTES).as_bytes());
        assert!(r.values.is_empty());
    }

    #[test]
    fn hostile_bytes() {
        let r = parse(b"bin=\xff\xfe\x00\x1b[31m\nnul\x00=1\n");
        assert_eq!(r.values["bin"], "\u{fffd}\u{fffd}\u{0}\u{1b}[31m");
        assert_eq!(r.values.len(), 1);
        assert!(r.warnings[0].contains("UTF-8"));
        // Many bad lines: the warnings stay bounded.
        let r = parse("?\n".repeat(10_000).as_bytes());
        assert_eq!(r.warnings.len(), MAX_WARNINGS + 1);
    }

    #[test]
    fn read_refuses_links_and_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("none")).unwrap();
        assert_eq!(missing, ResultFile::default());

        let real = dir.path().join("result");
        std::fs::write(&real, "target=container:web\n").unwrap();
        assert_eq!(read(&real).unwrap().values["target"], "container:web");

        let secret = dir.path().join("secret");
        std::fs::write(&secret, "password=hunter2\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        assert!(matches!(read(&link), Err(ResultFileError::Open { .. })));

        // An empty file reads as no results; a link to one is still refused, not followed.
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(read(&empty).unwrap(), ResultFile::default());
        let empty_link = dir.path().join("empty-link");
        std::os::unix::fs::symlink(&empty, &empty_link).unwrap();
        assert!(matches!(
            read(&empty_link),
            Err(ResultFileError::Open { .. })
        ));

        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(read(&fifo), Err(ResultFileError::NotAFile { .. })));
        assert!(matches!(
            read(dir.path()),
            Err(ResultFileError::NotAFile { .. })
        ));
    }

    #[test]
    fn read_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let mut text = "a=1\n".to_string();
        text.push_str(&"b=2\n".repeat(100_000));
        std::fs::write(&big, text).unwrap();
        let r = read(&big).unwrap();
        assert_eq!(r.values["a"], "1");
        assert!(r.warnings[0].contains("ignored"));
    }
}
