//! The memory budget for request bodies and what is made from them, so that peak memory
//! stays bounded whatever mix of large bodies arrives at once.
//!
//! # Theory of operation
//! Two pools, each a fair (FIFO) semaphore counted in KiB. A request reserves from `bodies` what
//! its body and the parse its hook needs cost (a JSON payload is read in place and costs
//! nothing more; forms, multipart and XML are converted into a document of bounded size, see
//! [`parse_cost`]): all of it before the body is read when its length is known, or as its bytes
//! arrive when it is not (the server's `body` module). Once the payload exists, what is made
//! from it (the values rendered for rules and commands, a JSONPath tree, a registry event's
//! tree) is measured and reserved from `work`, one reservation at a time, each released before
//! the next is asked for.
//!
//! Only a request that holds nothing waits: for its first reservation of `bodies`, or for one
//! of `work` while it holds `bodies` and nothing of `work`. A request that holds part of a pool
//! and needs more of it takes it only if it is free at once ([`Reservation::try_grow_to`]), and
//! gives up otherwise. So no set of requests can wait on each other: every wait ends when some
//! request finishes. Waiting requests hold nothing; their bodies stay in the kernel's socket
//! buffers, which slows their clients down. A pool's free memory goes to the requests waiting
//! for it in their order, so a request that only tries finds nothing free while one waits.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default budget: bodies, payloads and values of requests in progress. Two thirds of it
/// (70 MiB) are what one body of the default `-max-body-size` (10 MiB) costs parsed the most
/// expensive way (XML, see [`parse_cost`]), so the defaults need no correction at start.
pub const DEFAULT_BUDGET: u64 = 105 * 1024 * 1024;

const KIB: u64 = 1024;

/// What a hook makes of a body, for pricing it before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyUse {
    /// Kept as bytes only (signatures, raw body, registry events): the body itself.
    Raw,
    /// Parsed as JSON: read in place.
    Json,
    Form,
    Multipart,
    Xml,
}

/// Bytes a parse may hold beyond the body, as a multiple of the body's length: the bounds each
/// converter keeps (see `form`, `multipart`, `xml`; the tests measure them).
pub fn parse_cost(body_len: u64, body_use: BodyUse, replaces_payload_values: bool) -> u64 {
    let factor = match body_use {
        BodyUse::Raw | BodyUse::Json => 0,
        BodyUse::Form => 4,
        BodyUse::Multipart => 4,
        BodyUse::Xml => 5,
    };
    // `parse-parameters-as-json` on payload values writes a new document beside the old one.
    let replace = if replaces_payload_values && body_use != BodyUse::Raw {
        2 * factor.max(1) + 1
    } else {
        0
    };
    body_len.saturating_mul(1 + factor + replace)
}

/// One pool: a fair semaphore counted in KiB, and its size.
#[derive(Debug, Clone)]
struct Pool {
    semaphore: Arc<Semaphore>,
    kib: u64,
}

/// The two pools.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    bodies: Pool,
    work: Pool,
}

/// A need larger than its whole pool: it could never be met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("needs {need} bytes of a {pool}-byte memory pool")]
pub struct OverBudget {
    pub need: u64,
    pub pool: u64,
}

/// Why a reservation could not grow at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrowError {
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
    /// The pool is spent, or promised to requests waiting their turn.
    #[error("needs {need} bytes of a memory pool that is in use")]
    Exhausted { need: u64 },
}

/// Memory held for a request; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: Pool,
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Gives back what is held beyond `bytes`.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = kib(bytes) as usize;
        if let Some(permit) = &mut self.permit {
            let extra = permit.num_permits().saturating_sub(keep);
            if extra > 0 {
                drop(permit.split(extra));
            }
        }
    }

    /// Holds at least `bytes`, taking what is missing only if the pool has it free now: a
    /// request that holds memory never waits for more (see the theory of operation).
    pub fn try_grow_to(&mut self, bytes: u64) -> Result<(), GrowError> {
        let need = kib(bytes);
        let held = self.permit.as_ref().map_or(0, |p| p.num_permits() as u64);
        if need <= held {
            return Ok(());
        }
        let over = OverBudget {
            need: bytes,
            pool: self.pool.kib * KIB,
        };
        if need > self.pool.kib {
            return Err(over.into());
        }
        let missing = u32::try_from(need - held).map_err(|_| over)?;
        let more = Arc::clone(&self.pool.semaphore)
            .try_acquire_many_owned(missing)
            .map_err(|_| GrowError::Exhausted { need: bytes })?;
        match &mut self.permit {
            Some(permit) => permit.merge(more),
            None => self.permit = Some(more),
        }
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * KIB)
    }
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(KIB)
}

impl MemoryBudget {
    /// A budget of `total` bytes: two thirds for bodies, one third for work; the bodies pool
    /// is never smaller than `largest_body` (the most one request can need to be read).
    pub fn new(total: u64, largest_body: u64) -> Self {
        let pool = |kib: u64| Pool {
            semaphore: Arc::new(Semaphore::new(
                usize::try_from(kib)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            )),
            kib,
        };
        MemoryBudget {
            bodies: pool(kib(total / 3 * 2).max(kib(largest_body))),
            work: pool(kib(total / 3).max(1)),
        }
    }

    /// Bytes of both pools together: the bound this budget keeps.
    pub fn total(&self) -> u64 {
        (self.bodies.kib + self.work.kib) * KIB
    }

    pub fn bodies_pool(&self) -> u64 {
        self.bodies.kib * KIB
    }

    /// Nothing yet, from the bodies pool: grown with [`Reservation::try_grow_to`].
    pub fn empty_body(&self) -> Reservation {
        Reservation {
            pool: self.bodies.clone(),
            permit: None,
        }
    }

    /// Nothing yet, from the work pool: grown with [`Reservation::try_grow_to`].
    pub fn empty_work(&self) -> Reservation {
        Reservation {
            pool: self.work.clone(),
            permit: None,
        }
    }

    /// Waits for `bytes` of the bodies pool.
    pub fn reserve_body(
        &self,
        bytes: u64,
    ) -> impl Future<Output = Result<Reservation, OverBudget>> + Send + '_ {
        reserve(&self.bodies, bytes)
    }

    /// Waits for `bytes` of the work pool.
    pub fn reserve_work(
        &self,
        bytes: u64,
    ) -> impl Future<Output = Result<Reservation, OverBudget>> + Send + '_ {
        reserve(&self.work, bytes)
    }
}

/// Takes `bytes` of `pool`, waiting for them if they are not free. (Plain functions over this
/// one, not `async fn`s awaiting it, so that a request's future holds its state once.)
async fn reserve(pool: &Pool, bytes: u64) -> Result<Reservation, OverBudget> {
    let mut reservation = Reservation {
        pool: pool.clone(),
        permit: None,
    };
    let need = kib(bytes);
    if need == 0 {
        return Ok(reservation);
    }
    let over = OverBudget {
        need: bytes,
        pool: pool.kib * KIB,
    };
    if need > pool.kib {
        return Err(over);
    }
    let n = u32::try_from(need).map_err(|_| over)?;
    // Free memory is taken at once, without registering to wait: while a request waits, the
    // pool's free memory is already its, so this takes nothing out of turn. Waiting is boxed:
    // the semaphore's waiter would otherwise make every request's future larger, and a
    // request waits only when memory is short.
    let permit = match Arc::clone(&pool.semaphore).try_acquire_many_owned(n) {
        Ok(permit) => permit,
        Err(_) => Box::pin(Arc::clone(&pool.semaphore).acquire_many_owned(n))
            .await
            .expect("the budget's semaphores are never closed"),
    };
    reservation.permit = Some(permit);
    Ok(reservation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_their_turn_and_shrink() {
        let budget = MemoryBudget::new(3 * 1024 * 1024, 0);
        assert_eq!(budget.bodies_pool(), 2 * 1024 * 1024);
        let mut first = budget.reserve_body(2 * 1024 * 1024).await.unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve_body(1024 * 1024).await.unwrap() })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        first.shrink_to(1024 * 1024);
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.bytes(), 1024 * 1024);
        assert!(budget.reserve_work(2 * 1024 * 1024).await.is_err());
        assert_eq!(budget.reserve_body(0).await.unwrap().bytes(), 0);
    }

    #[tokio::test]
    async fn free_memory_goes_to_a_waiting_request_first() {
        let budget = MemoryBudget::new(3 * 1024 * 1024, 0);
        let held = budget.reserve_body(1536 * 1024).await.unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve_body(1024 * 1024).await.unwrap() })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        // 512 KiB are free, but they are the waiting request's: a later one waits behind it.
        let later = budget.reserve_body(256 * 1024);
        let later = tokio::time::timeout(std::time::Duration::from_millis(100), later).await;
        assert!(later.is_err(), "a later request took memory out of turn");
        drop(held);
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.bytes(), 1024 * 1024);
    }

    #[tokio::test]
    async fn growing_takes_only_free_memory_and_never_waits() {
        let budget = MemoryBudget::new(3 * 1024 * 1024, 0);
        let mut growing = budget.empty_body();
        growing.try_grow_to(512 * 1024).unwrap();
        growing.try_grow_to(256 * 1024).unwrap();
        assert_eq!(growing.bytes(), 512 * 1024);
        let held = budget.reserve_body(1024 * 1024).await.unwrap();
        assert_eq!(
            growing.try_grow_to(1536 * 1024),
            Err(GrowError::Exhausted { need: 1536 * 1024 })
        );
        assert!(matches!(
            growing.try_grow_to(4 * 1024 * 1024),
            Err(GrowError::OverBudget(_))
        ));
        // A request waiting its turn is promised what is freed: growing finds nothing.
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve_body(1536 * 1024).await.unwrap() })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(growing.try_grow_to(768 * 1024).is_err());
        drop(held);
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        drop(second);
        growing.try_grow_to(2 * 1024 * 1024).unwrap();
        assert_eq!(growing.bytes(), 2 * 1024 * 1024);
    }
}
