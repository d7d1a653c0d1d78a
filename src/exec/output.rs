//! Captured command output: one stream in write order (stdout and stderr are the same pipe, as
//! with Go's `CombinedOutput`), capped; readers can follow it live until the command ends.

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

/// The kept bytes and whether some were dropped.
#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    truncated: bool,
}

/// A command's output, shared between the reader task, the job record and live followers.
#[derive(Debug)]
pub struct OutputLog {
    cap: usize,
    buffer: Mutex<Buffer>,
    /// Bytes kept so far, and whether the output is complete.
    progress: watch::Sender<(usize, bool)>,
}

/// A copy of the output at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// stdout and stderr as the command wrote them, in one stream.
    pub combined: Vec<u8>,
    pub truncated: bool,
}

impl OutputLog {
    /// `cap` bounds the bytes kept.
    pub fn new(cap: usize) -> Self {
        OutputLog {
            cap,
            buffer: Mutex::new(Buffer::default()),
            progress: watch::channel((0, false)).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A panic while holding this lock cannot leave the buffer inconsistent (appends only).
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a chunk; bytes past the cap are dropped and the log marked truncated.
    pub fn append(&self, chunk: &[u8]) {
        let len = {
            let mut b = self.lock();
            let kept = chunk.len().min(self.cap.saturating_sub(b.bytes.len()));
            b.truncated |= kept < chunk.len();
            b.bytes.extend_from_slice(&chunk[..kept]);
            b.bytes.len()
        };
        self.progress.send_replace((len, false));
    }

    /// Marks the output complete: followers see the end; spare capacity is released.
    pub fn close(&self) {
        let len = {
            let mut b = self.lock();
            b.bytes.shrink_to_fit();
            b.bytes.len()
        };
        self.progress.send_replace((len, true));
    }

    /// Bytes this log keeps in memory (for the job history's budget).
    pub fn retained_bytes(&self) -> usize {
        self.lock().bytes.capacity()
    }

    pub fn snapshot(&self) -> Snapshot {
        let b = self.lock();
        Snapshot {
            combined: b.bytes.clone(),
            truncated: b.truncated,
        }
    }

    /// Waits for output past `offset`; `None` once the output is complete and read.
    pub async fn next_chunk(&self, offset: usize) -> Option<Bytes> {
        let mut rx = self.progress.subscribe();
        loop {
            let (len, closed) = *rx.borrow_and_update();
            if len > offset {
                let b = self.lock();
                return Some(Bytes::copy_from_slice(&b.bytes[offset..]));
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
    fn keeps_up_to_the_cap_and_marks_the_rest_dropped() {
        let log = OutputLog::new(4);
        log.append(b"ab");
        log.append(b"XY");
        let s = log.snapshot();
        assert_eq!((s.combined.as_slice(), s.truncated), (&b"abXY"[..], false));
        log.append(b"cdef");
        let s = log.snapshot();
        assert_eq!((s.combined.as_slice(), s.truncated), (&b"abXY"[..], true));
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
        log.append(b"one ");
        tokio::task::yield_now().await;
        log.append(b"two");
        log.close();
        assert_eq!(follower.await.unwrap(), b"one two");
    }
}
