//! The memory budget for request bodies and what is made from them, so that peak memory
//! stays bounded whatever mix of large bodies arrives at once.
//!
//! # Theory of operation
//! Two pools, each a fair (FIFO) semaphore counted in KiB. A request reserves from `bodies`
//! once, before it reads its body: the body itself and the worst case of the parse its hook
//! needs (a JSON payload is read in place and costs nothing more; forms, multipart and XML are
//! converted into a document of bounded size, see [`parse_cost`]). Once the payload exists, what
//! is made from it (the values rendered for rules and commands, a JSONPath tree, a registry
//! event's tree) is measured and reserved from `work`, one reservation at a time, each
//! released before the next is asked for. A request never waits for `bodies` while it holds
//! `work`, and holds at most one reservation of each, so no set of requests can wait on each
//! other: every wait ends when some request finishes. Waiting requests hold nothing; their
//! bodies stay in the kernel's socket buffers, which slows their clients down.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default budget: bodies, payloads and values of requests in progress.
pub const DEFAULT_BUDGET: u64 = 96 * 1024 * 1024;

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

/// The two pools.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    bodies: Arc<Semaphore>,
    work: Arc<Semaphore>,
    bodies_kib: u64,
    work_kib: u64,
}

/// A need larger than its whole pool: it could never be met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("needs {need} bytes of a {pool}-byte memory pool")]
pub struct OverBudget {
    pub need: u64,
    pub pool: u64,
}

/// Memory held for a request; released when dropped.
#[derive(Debug)]
pub struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    /// Gives back what is held beyond `bytes`.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = kib(bytes) as usize;
        if let Some(permit) = &mut self.0 {
            let extra = permit.num_permits().saturating_sub(keep);
            if extra > 0 {
                drop(permit.split(extra));
            }
        }
    }

    pub fn bytes(&self) -> u64 {
        self.0.as_ref().map_or(0, |p| p.num_permits() as u64 * KIB)
    }
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(KIB)
}

impl MemoryBudget {
    /// A budget of `total` bytes: two thirds for bodies, one third for work; the bodies pool
    /// is never smaller than `largest_body` (the most one request can need to be read).
    pub fn new(total: u64, largest_body: u64) -> Self {
        let bodies_kib = kib(total / 3 * 2).max(kib(largest_body));
        let work_kib = kib(total / 3).max(1);
        let permits = |n: u64| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS)
        };
        MemoryBudget {
            bodies: Arc::new(Semaphore::new(permits(bodies_kib))),
            work: Arc::new(Semaphore::new(permits(work_kib))),
            bodies_kib,
            work_kib,
        }
    }

    /// Bytes of both pools together: the bound this budget keeps.
    pub fn total(&self) -> u64 {
        (self.bodies_kib + self.work_kib) * KIB
    }

    pub fn bodies_pool(&self) -> u64 {
        self.bodies_kib * KIB
    }

    /// Waits for `bytes` of the bodies pool.
    pub async fn reserve_body(&self, bytes: u64) -> Result<Reservation, OverBudget> {
        reserve(&self.bodies, self.bodies_kib, bytes).await
    }

    /// Waits for `bytes` of the work pool.
    pub async fn reserve_work(&self, bytes: u64) -> Result<Reservation, OverBudget> {
        reserve(&self.work, self.work_kib, bytes).await
    }
}

async fn reserve(
    pool: &Arc<Semaphore>,
    pool_kib: u64,
    bytes: u64,
) -> Result<Reservation, OverBudget> {
    let need = kib(bytes);
    if need == 0 {
        return Ok(Reservation(None));
    }
    if need > pool_kib {
        return Err(OverBudget {
            need: bytes,
            pool: pool_kib * KIB,
        });
    }
    let n = u32::try_from(need).map_err(|_| OverBudget {
        need: bytes,
        pool: pool_kib * KIB,
    })?;
    let permit = Arc::clone(pool)
        .acquire_many_owned(n)
        .await
        .expect("the budget's semaphores are never closed");
    Ok(Reservation(Some(permit)))
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
}
