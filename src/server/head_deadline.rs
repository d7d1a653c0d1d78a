//! The header timeout of a connection: a client gets `-header-timeout` to send a request's
//! head, counted from the start of the connection (after the TLS handshake) and, on a
//! keep-alive connection, from the end of the previous response; a client that sends nothing
//! or only part of a head by then is cut off, with no answer.
//!
//! # Theory of operation
//! This is what hyper's own `header_read_timeout` does, and replaces it: hyper makes, registers
//! and drops a timer for every request (an allocation, two locked changes of the runtime's
//! timer wheel and a clock read), which a connection that answers many requests pays each time.
//! Here a connection has one timer, moved only when it fires. The connection's [`HeadClock`]
//! records when a head arrives (the service is called) and when the response ends (hyper drops
//! its body, which it does before it reads the next head). When the timer fires, [`expire`]
//! looks at the clock: a request in progress does not count (look again one timeout later,
//! which is never later than its own deadline, as that starts when the response ends); a
//! response that ended since the timer was set moves it to that end plus the timeout; no head
//! since then means the deadline has passed.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::body::{Frame, SizeHint};
use tokio::time::Instant;

/// The value of [`HeadClock::idle_since`] while a request is being answered.
const BUSY: u64 = u64::MAX;

/// When a connection last started waiting for a request's head.
pub(super) struct HeadClock {
    start: Instant,
    /// Nanoseconds from `start` to the end of the last response (0: none yet), or [`BUSY`].
    idle_since: AtomicU64,
}

impl HeadClock {
    /// A clock for a connection that starts waiting for its first head now.
    pub(super) fn start() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            idle_since: AtomicU64::new(0),
        })
    }

    /// A request's head has arrived: its deadline is met.
    pub(super) fn head_received(&self) {
        self.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// Wraps a response's body so that the end of the response restarts the clock.
    pub(super) fn track(self: Arc<Self>, body: Body) -> TrackedBody {
        TrackedBody { body, clock: self }
    }

    fn response_ended(&self) {
        // At least 1 ns, so that it differs from the start of the connection; two responses
        // cannot end within the same nanosecond on one connection (a head is read in between).
        let nanos = u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(BUSY - 1)
            .clamp(1, BUSY - 1);
        self.idle_since.store(nanos, Ordering::Relaxed);
    }
}

/// Completes when the connection has waited `limit` for a request's head (see the module doc).
pub(super) async fn expire(clock: &HeadClock, limit: Duration) {
    let mut waiting_since = 0;
    let timer = tokio::time::sleep_until(clock.start + limit);
    tokio::pin!(timer);
    loop {
        timer.as_mut().await;
        match clock.idle_since.load(Ordering::Relaxed) {
            BUSY => timer.as_mut().reset(Instant::now() + limit),
            since if since == waiting_since => return,
            since => {
                waiting_since = since;
                let end = clock.start + Duration::from_nanos(since);
                timer.as_mut().reset(end + limit);
            }
        }
    }
}

/// A response body that tells its connection's [`HeadClock`] when hyper is done with it.
pub(super) struct TrackedBody {
    body: Body,
    clock: Arc<HeadClock>,
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.clock.response_ended();
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    /// Runs `steps` beside the clock's timer; asserts that it expired `after` the start (to
    /// within the timer wheel's millisecond).
    async fn assert_expires(clock: &HeadClock, steps: impl Future<Output = ()>, after: Duration) {
        let start = Instant::now();
        tokio::join!(expire(clock, LIMIT), steps);
        let took = start.elapsed();
        assert!(
            took >= after && took <= after + Duration::from_millis(2),
            "expired after {took:?}, not {after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_head_expires_after_the_limit() {
        let clock = HeadClock::start();
        assert_expires(&clock, async {}, LIMIT).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_never_expires() {
        let clock = HeadClock::start();
        let steps = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            clock.head_received();
            // Answered for 35 s, three timeouts and a half.
            tokio::time::sleep(Duration::from_secs(35)).await;
            drop(clock.clone().track(Body::empty()));
        };
        // Then the next head gets its full limit from the end of the response.
        assert_expires(&clock, steps, Duration::from_secs(46)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn each_response_restarts_the_limit() {
        let clock = HeadClock::start();
        let steps = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(9)).await;
                clock.head_received();
                tokio::time::sleep(Duration::from_millis(500)).await;
                drop(clock.clone().track(Body::empty()));
            }
        };
        // Three requests 9 s apart, each answered in 0.5 s: the last one ended at 28.5 s.
        assert_expires(&clock, steps, Duration::from_millis(38_500)).await;
    }
}
