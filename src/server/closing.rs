//! The open connections and the signal that asks them to close at shutdown: what hyper_util's
//! `GracefulShutdown` did, without its cost on every wake-up of a connection.
//!
//! # Theory of operation
//! A connection's task polls its close signal each time it wakes, that is for every request. The
//! signal is a tokio `Notify` shared by all connections (hyper_util's is a `watch` channel, which
//! has one), and a pending `Notified` takes that `Notify`'s mutex on every poll: one lock, shared
//! by every connection and taken by every worker thread, per request. Here a connection's
//! [`CloseSignal`] registers its task's waker once and from then on reads the token's cancelled
//! flag (an atomic load) on each wake-up; the waker is registered again only if the task's waker
//! changes. Shutdown sets the flag and wakes every registered waker, so no connection misses it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// The server's open connections (from accept to close).
pub(super) struct Connections {
    close: CancellationToken,
    open: TaskTracker,
}

impl Connections {
    pub(super) fn new() -> Self {
        Connections {
            close: CancellationToken::new(),
            open: TaskTracker::new(),
        }
    }

    /// What a connection holds from its accept to its close: it counts as open until dropped.
    pub(super) fn watch(&self) -> CloseSignal {
        CloseSignal {
            close: self.close.clone(),
            wait: Box::pin(self.close.clone().cancelled_owned()),
            registered: None,
            _open: self.open.token(),
        }
    }

    /// Asks every open connection to close once its current request is answered (an idle
    /// keep-alive connection closes at once); completes when all of them have closed.
    pub(super) async fn shutdown(self) {
        self.close.cancel();
        self.open.close();
        self.open.wait().await;
    }
}

/// Completes when shutdown asks the connection holding it to close.
pub(super) struct CloseSignal {
    close: CancellationToken,
    /// Boxed: the wait is not `Unpin`, and one allocation per connection keeps this type free
    /// of pin projections.
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The waker `wait` was last polled with: shutdown wakes it.
    registered: Option<Waker>,
    _open: TaskTrackerToken,
}

impl Future for CloseSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.close.is_cancelled() {
            return Poll::Ready(());
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        if this.wait.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        this.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes::default());
        (wakes.clone(), Waker::from(wakes))
    }

    fn poll(signal: &mut CloseSignal, waker: &Waker) -> Poll<()> {
        Pin::new(signal).poll(&mut Context::from_waker(waker))
    }

    #[tokio::test]
    async fn shutdown_wakes_a_waiting_connection_which_then_closes() {
        let connections = Connections::new();
        let mut signal = connections.watch();
        let (wakes, waker) = counting_waker();
        assert!(poll(&mut signal, &waker).is_pending());
        assert!(poll(&mut signal, &waker).is_pending());
        let shutdown = tokio::spawn(connections.shutdown());
        tokio::time::timeout(Duration::from_secs(5), async {
            while wakes.0.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("shutdown wakes the connection");
        assert!(poll(&mut signal, &waker).is_ready());
        drop(signal);
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .expect("shutdown ends once the connection is closed")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_new_waker_is_the_one_shutdown_wakes() {
        let connections = Connections::new();
        let mut signal = connections.watch();
        let (first_wakes, first) = counting_waker();
        let (second_wakes, second) = counting_waker();
        assert!(poll(&mut signal, &first).is_pending());
        assert!(poll(&mut signal, &second).is_pending());
        connections.close.cancel();
        assert_eq!(second_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(first_wakes.0.load(Ordering::SeqCst), 0);
        assert!(poll(&mut signal, &second).is_ready());
    }

    #[tokio::test]
    async fn a_connection_accepted_after_shutdown_closes_at_once() {
        let connections = Connections::new();
        connections.close.cancel();
        let mut signal = connections.watch();
        let (_, waker) = counting_waker();
        assert!(poll(&mut signal, &waker).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_every_open_connection() {
        let connections = Connections::new();
        let first = connections.watch();
        let second = connections.watch();
        let shutdown = tokio::spawn(connections.shutdown());
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!shutdown.is_finished());
        drop(first);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!shutdown.is_finished());
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), shutdown)
            .await
            .expect("shutdown ends with the last connection")
            .expect("no panic");
    }
}
