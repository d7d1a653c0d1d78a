//! The listener (PostgreSQL): one connection that `LISTEN`s on the `hookrun` channel for as long
//! as the store is open, reconnecting with backoff when it breaks. `pause` reloads the pauses
//! into memory; `q <hook>` tells the job manager that the hook's shared queue changed; after a
//! reconnect (notifications may have been missed) the pauses are reloaded and the job manager
//! is told to look at every queue.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::location::PgTarget;
use super::postgres::{self, CHANNEL};
use super::{Notice, Store, StoreError};

pub(super) fn spawn(
    target: PgTarget,
    store: Weak<Store>,
    notices: UnboundedSender<Notice>,
    closed: CancellationToken,
) {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(100);
        loop {
            let started = tokio::time::Instant::now();
            let listened = tokio::select! {
                () = closed.cancelled() => return,
                r = listen(&target, &store, &notices) => r,
            };
            let Err(e) = listened else { return };
            if started.elapsed() > Duration::from_secs(10) {
                // The connection had lasted: this is a new outage.
                wait = Duration::from_millis(100);
                tracing::warn!(error = %e, "the store's listener lost PostgreSQL; reconnecting");
            } else {
                tracing::debug!(error = %e, "the store's listener cannot reach PostgreSQL yet");
            }
            tokio::select! {
                () = closed.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(2));
            if store.strong_count() == 0 {
                return;
            }
        }
    });
}

/// Listens until the connection breaks (an error) or the store is gone (`Ok`).
async fn listen(
    target: &PgTarget,
    store: &Weak<Store>,
    notices: &UnboundedSender<Notice>,
) -> Result<(), StoreError> {
    let (client, mut messages) = super::pg_pool::connect_raw(target).await?;
    // The connection's messages must be driven for the LISTEN to complete: forward them.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(m) = messages.next().await {
            let end = m.is_err();
            if tx.send(m).is_err() || end {
                break;
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(postgres::pg_error)?;
    reload_pauses(&client, store).await?;
    let _ = notices.send(Notice::Resync);
    tracing::debug!("the store's listener is listening");
    while let Some(message) = rx.recv().await {
        let Some(store) = store.upgrade() else {
            return Ok(());
        };
        match message.map_err(postgres::pg_error)? {
            AsyncMessage::Notification(n) => match n.payload() {
                "pause" => reload_pauses(&client, &std::sync::Arc::downgrade(&store)).await?,
                "gone" => {
                    let _ = notices.send(Notice::Resync);
                }
                payload => {
                    if let Some(hook) = payload.strip_prefix("q ") {
                        let _ = notices.send(Notice::Queue(hook.to_string()));
                    }
                }
            },
            AsyncMessage::Notice(n) => tracing::debug!(notice = %n.message(), "postgres notice"),
            _ => {}
        }
    }
    Err(StoreError::Database(
        "the listener's connection closed".into(),
    ))
}

async fn reload_pauses(
    client: &tokio_postgres::Client,
    store: &Weak<Store>,
) -> Result<(), StoreError> {
    let pauses = postgres::pauses(client).await?;
    if let Some(store) = store.upgrade() {
        store.replace_pauses(pauses);
    }
    Ok(())
}
