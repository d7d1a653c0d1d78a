//! Reading a request body within `-max-body-size`, `-body-timeout` and the memory budget.
//!
//! # Theory of operation
//! What a body costs is its bytes plus what its hook's parse makes of them ([`Price`]). A body
//! with a `Content-Length` waits its turn (fairly, holding nothing) for the whole cost before
//! a byte of it is read, and is then read into one buffer of exactly that length, or kept as
//! the one frame it arrived in (a view of the connection's read buffer, which exists anyway and
//! is let go with the request, before the answer is written). A body of unknown length
//! (chunked) waits the same way for the cost of its first frame, at least
//! [`FIRST_GRANT`], so a small body is never refused for not saying its length; beyond that it
//! grows its reservation as its bytes arrive, taking only memory that is free at that moment.
//! When none is, the request is answered 503 with `Retry-After`: a request that holds memory
//! never waits for more, so no set of requests can wait on each other, and a client that
//! trickles a body holds only what it has sent. A need larger than the whole pool is 413.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;

use super::error::HttpError;
use super::{AppState, RequestBody};
use crate::request::budget::{parse_cost, BodyUse, GrowError, OverBudget, Reservation};

/// What a body of unknown length is granted before it has to grow its reservation: enough
/// for the webhooks senders send (a GitHub push event is 5–30 KB).
pub const FIRST_GRANT: u64 = 64 * 1024;

/// What a body costs once its hook has parsed it.
#[derive(Debug, Clone, Copy)]
pub struct Price {
    pub body_use: BodyUse,
    /// `parse-parameters-as-json` replaces payload values.
    pub replaces: bool,
}

impl Price {
    /// The body of `len` bytes and what its parse may hold.
    pub fn of(self, len: u64) -> u64 {
        parse_cost(len, self.body_use, self.replaces)
    }

    /// What a buffer of `capacity` bytes holding `len` of them costs while it is filled: the
    /// parse of what it holds, and the buffer itself.
    fn reading(self, len: u64, capacity: u64) -> u64 {
        self.of(len) - len + capacity
    }
}

/// What one maximum-size body of any kind needs, read at unknown length and parsed: the
/// budget's bodies pool holds at least this. A hook that also replaces payload values
/// (`parse-parameters-as-json`) on such a body may need more, and is refused (413).
pub fn largest_body_cost(max_body: u64) -> u64 {
    [BodyUse::Form, BodyUse::Multipart, BodyUse::Xml]
        .into_iter()
        .map(|body_use| {
            let price = Price {
                body_use,
                replaces: false,
            };
            price.of(max_body) + max_body
        })
        .max()
        .unwrap_or(max_body)
}

/// Reads the body, holding the memory it and its parse need.
pub async fn read<B: RequestBody>(
    state: &AppState,
    declared: Option<u64>,
    price: Price,
    body: B,
) -> Result<(Bytes, Reservation), HttpError> {
    let limit = state.settings.max_body;
    if declared.is_some_and(|len| len > limit) {
        tracing::warn!(declared, limit, "request body too large");
        return Err(HttpError::BodyTooLarge { limit });
    }
    if hyper::body::Body::is_end_stream(&body) {
        return Ok((Bytes::new(), state.memory.empty_body()));
    }
    let mut reader = Reader {
        body: std::pin::pin!(body),
        limit,
        timeout: state.settings.body_timeout,
        left: state.settings.body_timeout,
    };
    if let Some(len) = declared {
        let memory = state
            .memory
            .reserve_body(price.of(len))
            .await
            .map_err(over_budget)?;
        tracing::debug!(bytes = memory.bytes(), "memory for the body reserved");
        // A body that arrives in one frame (a small body comes with its headers) is kept as
        // hyper read it, without a copy; the frames of a larger body are copied into one buffer.
        let Some(first) = reader.next(0).await? else {
            return Ok((Bytes::new(), memory));
        };
        // The whole declared length in one frame: hyper reads no further than a body's
        // Content-Length, so that frame ends the body, and its end is not waited for.
        if first.len() as u64 == len {
            return Ok((first, memory));
        }
        let Some(second) = reader.next(first.len()).await? else {
            return Ok((first, memory));
        };
        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(data) = reader.next(buf.len()).await? {
            buf.extend_from_slice(&data);
        }
        return Ok((Bytes::from(buf), memory));
    }
    let Some(first) = reader.next(0).await? else {
        return Ok((Bytes::new(), state.memory.empty_body()));
    };
    let capacity = (first.len() as u64).max(FIRST_GRANT).min(limit);
    let mut memory = state
        .memory
        .reserve_body(price.of(capacity))
        .await
        .map_err(over_budget)?;
    tracing::debug!(
        bytes = memory.bytes(),
        "memory for the first part of a body of unknown length reserved"
    );
    let mut buf = Vec::with_capacity(capacity as usize);
    buf.extend_from_slice(&first);
    while let Some(data) = reader.next(buf.len()).await? {
        let len = buf.len() + data.len();
        if len > buf.capacity() {
            grow(&mut buf, &mut memory, price, len, limit).map_err(|e| refused(state, e))?;
        }
        buf.extend_from_slice(&data);
    }
    buf.shrink_to_fit();
    memory.shrink_to(price.of(buf.len() as u64));
    Ok((Bytes::from(buf), memory))
}

/// Makes room for `len` bytes in `buf`, doubling it where the budget allows and growing it
/// exactly where only that fits; the reservation covers the old and the new buffer while
/// both exist, then the new one.
fn grow(
    buf: &mut Vec<u8>,
    memory: &mut Reservation,
    price: Price,
    len: usize,
    limit: u64,
) -> Result<(), GrowError> {
    let old = buf.capacity() as u64;
    let doubled = (2 * old).max(len as u64).min(limit);
    let mut result = Ok(());
    for capacity in [doubled, len as u64] {
        result = memory.try_grow_to(price.reading(len as u64, capacity) + old);
        if result.is_ok() {
            buf.reserve_exact(capacity as usize - buf.len());
            memory.shrink_to(price.reading(len as u64, capacity));
            break;
        }
    }
    result
}

/// The answer to a body whose reservation could not grow.
fn refused(state: &AppState, e: GrowError) -> HttpError {
    match e {
        GrowError::OverBudget(e) => {
            tracing::warn!(error = %e, "request needs more memory than the whole budget");
            HttpError::OverBudget
        }
        GrowError::Exhausted { need } => {
            tracing::warn!(
                need,
                "memory budget in use: a body of unknown length is refused"
            );
            HttpError::MemoryBusy {
                retry_after_secs: state.settings.retry_after.as_secs().max(1),
            }
        }
    }
}

/// The answer to a reservation larger than the whole budget. (A reservation's future is
/// awaited where it is made, `reserve_…(n).await.map_err(over_budget)`, not passed to an
/// `async fn` that awaits it, which would hold its state twice in the request's future.) A
/// waiting request holds no memory, only its connection (bounded by `-max-connections`), and
/// its client decides how long to wait.
pub fn over_budget(e: OverBudget) -> HttpError {
    tracing::warn!(error = %e, "request needs more memory than the whole budget");
    HttpError::OverBudget
}

/// The frames of a body, within the size limit and what is left of the body timeout (time
/// spent waiting for memory does not count).
struct Reader<'b, B> {
    body: Pin<&'b mut B>,
    limit: u64,
    /// `-body-timeout`, for the log.
    timeout: Duration,
    left: Duration,
}

impl<B: RequestBody> Reader<'_, B> {
    /// The next data frame, which must not take the body (`read` bytes so far) over the limit.
    async fn next(&mut self, read: usize) -> Result<Option<Bytes>, HttpError> {
        loop {
            // A frame that is already there (a small body arrives with its headers) is taken
            // without setting a timer or reading the clock.
            let frame = match poll_once(self.body.frame()).await {
                Some(frame) => Ok(frame),
                None => {
                    // Boxed: the timer is most of this future's size, and only a body that
                    // has not all arrived with its head waits for it.
                    let started = Instant::now();
                    let frame = Box::pin(tokio::time::timeout(self.left, self.body.frame())).await;
                    self.left = self.left.saturating_sub(started.elapsed());
                    frame
                }
            };
            let frame = match frame {
                Err(_) => {
                    tracing::info!(timeout = %humantime::format_duration(self.timeout), "the body did not arrive in time");
                    return Err(HttpError::BodyTimeout);
                }
                Ok(None) => return Ok(None),
                Ok(Some(frame)) => frame.map_err(|e| {
                    let e: super::BoxError = e.into();
                    tracing::debug!(error = %e, "reading the body failed");
                    HttpError::BodyRead
                })?,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if (read + data.len()) as u64 > self.limit {
                tracing::warn!(limit = self.limit, "request body too large");
                return Err(HttpError::BodyTooLarge { limit: self.limit });
            }
            return Ok(Some(data));
        }
    }
}

/// `future`'s output if it is ready at its first poll, else `None` (the future is dropped).
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        Poll::Ready(match future.as_mut().poll(cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        })
    })
    .await
}
