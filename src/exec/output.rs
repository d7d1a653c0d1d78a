//! Captured command output: stdout and stderr kept separately and interleaved in arrival order,
//! each capped; readers can follow the combined log live until the command ends.

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The output, stored once: the bytes in arrival order plus which stream each run came from.
#[derive(Debug, Default)]
struct Buffers {
    combined: Vec<u8>,
    /// Consecutive runs of `combined`: (stream, length).
    runs: Vec<(Stream, usize)>,
    stdout_len: usize,
    stderr_len: usize,
    truncated: bool,
}

/// A command's output, shared between the reader tasks, the job record and live followers.
#[derive(Debug)]
pub struct OutputLog {
    cap: usize,
    buffers: Mutex<Buffers>,
    /// Bytes in `combined` so far, and whether the output is complete.
    progress: watch::Sender<(usize, bool)>,
}

/// A copy of the output at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub combined: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

impl OutputLog {
    /// `cap` bounds each of stdout and stderr.
    pub fn new(cap: usize) -> Self {
        OutputLog {
            cap,
            buffers: Mutex::new(Buffers::default()),
            progress: watch::channel((0, false)).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        // A panic while holding this lock cannot leave the buffers inconsistent (appends only).
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a chunk; bytes past the stream's cap are dropped and the log marked truncated.
    pub fn append(&self, stream: Stream, chunk: &[u8]) {
        let len = {
            let mut b = self.lock();
            let used = match stream {
                Stream::Stdout => b.stdout_len,
                Stream::Stderr => b.stderr_len,
            };
            let kept = chunk.len().min(self.cap.saturating_sub(used));
            b.truncated |= kept < chunk.len();
            if kept > 0 {
                b.combined.extend_from_slice(&chunk[..kept]);
                match b.runs.last_mut() {
                    Some((s, n)) if *s == stream => *n += kept,
                    _ => b.runs.push((stream, kept)),
                }
                match stream {
                    Stream::Stdout => b.stdout_len += kept,
                    Stream::Stderr => b.stderr_len += kept,
                }
            }
            b.combined.len()
        };
        self.progress.send_replace((len, false));
    }

    /// Marks the output complete: followers see the end; spare capacity is released.
    pub fn close(&self) {
        let len = {
            let mut b = self.lock();
            b.combined.shrink_to_fit();
            b.runs.shrink_to_fit();
            b.combined.len()
        };
        self.progress.send_replace((len, true));
    }

    /// Bytes this log keeps in memory (for the job history's budget).
    pub fn retained_bytes(&self) -> usize {
        let b = self.lock();
        b.combined.capacity() + b.runs.capacity() * std::mem::size_of::<(Stream, usize)>()
    }

    pub fn snapshot(&self) -> Snapshot {
        let b = self.lock();
        let mut stdout = Vec::with_capacity(b.stdout_len);
        let mut stderr = Vec::with_capacity(b.stderr_len);
        let mut at = 0;
        for (stream, n) in &b.runs {
            let part = &b.combined[at..at + n];
            match stream {
                Stream::Stdout => stdout.extend_from_slice(part),
                Stream::Stderr => stderr.extend_from_slice(part),
            }
            at += n;
        }
        Snapshot {
            combined: b.combined.clone(),
            stdout,
            stderr,
            truncated: b.truncated,
        }
    }

    /// Waits for combined output past `offset`; `None` once the output is complete and read.
    pub async fn next_chunk(&self, offset: usize) -> Option<Bytes> {
        let mut rx = self.progress.subscribe();
        loop {
            let (len, closed) = *rx.borrow_and_update();
            if len > offset {
                let b = self.lock();
                return Some(Bytes::copy_from_slice(&b.combined[offset..]));
            }
            if closed {
                return None;
            }
            // The sender lives as long as `self`, which the caller borrows.
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_stream_and_interleaves() {
        let log = OutputLog::new(4);
        log.append(Stream::Stdout, b"ab");
        log.append(Stream::Stderr, b"XY");
        log.append(Stream::Stdout, b"cdef");
        let s = log.snapshot();
        assert_eq!(s.stdout, b"abcd");
        assert_eq!(s.stderr, b"XY");
        assert_eq!(s.combined, b"abXYcd");
        assert!(s.truncated);
    }

    #[tokio::test]
    async fn followers_see_chunks_then_the_end() {
        let log = std::sync::Arc::new(OutputLog::new(100));
        let follower = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some(chunk) = log.next_chunk(seen.len()).await {
                    seen.extend_from_slice(&chunk);
                }
                seen
            })
        };
        log.append(Stream::Stdout, b"one ");
        tokio::task::yield_now().await;
        log.append(Stream::Stderr, b"two");
        log.close();
        assert_eq!(follower.await.unwrap(), b"one two");
    }
}
