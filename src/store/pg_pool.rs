//! Connections to PostgreSQL: opening one (TLS per `sslmode`, keepalives, the session's
//! bounds), driving the server's other messages, and the small pool that requests and the
//! shared queue take connections from.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::location::PgTarget;
use super::postgres::pg_error;
use super::{pg_tls, StoreError};

/// The server's messages besides query results: notifications, notices, the end.
pub type Messages = Pin<Box<dyn Stream<Item = Result<AsyncMessage, tokio_postgres::Error>> + Send>>;
/// Opens a connection; returns the client and the stream of the server's other messages,
/// which the caller must drive (see [`spawn_connection`]).
pub async fn connect_raw(target: &PgTarget) -> Result<(Client, Messages), StoreError> {
    // An error the server itself sends (authentication, a missing database) or a
    // certificate that does not verify is a refusal: trying again will not help.
    let connect_error = |e: tokio_postgres::Error| {
        if e.as_db_error().is_some() || is_tls_failure(&e) {
            StoreError::Refused(pg_error(e).to_string())
        } else {
            pg_error(e)
        }
    };
    match pg_tls::connector(&target.tls)? {
        None => {
            let (client, mut conn) = target.config.connect(NoTls).await.map_err(connect_error)?;
            let messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
            Ok((client, Box::pin(messages)))
        }
        Some(tls) => {
            let (client, mut conn) = target.config.connect(tls).await.map_err(connect_error)?;
            let messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
            Ok((client, Box::pin(messages)))
        }
    }
}

fn is_tls_failure(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        source = s.source();
    }
    false
}

/// Opens a connection whose messages are driven (and dropped) by a task of its own.
pub async fn connect(target: &PgTarget) -> Result<Client, StoreError> {
    let (client, messages) = connect_raw(target).await?;
    spawn_connection(messages);
    // A replica cut off in the middle of a transaction must not hold a hook's lock until
    // the server notices the connection is dead (hours, with default keepalives).
    client
        .batch_execute(SESSION_SETTINGS)
        .await
        .map_err(pg_error)?;
    Ok(client)
}

/// Bounds on what one session can hold: an abandoned transaction, a statement that hangs.
const SESSION_SETTINGS: &str =
    "SET idle_in_transaction_session_timeout = '30s'; SET statement_timeout = '120s'";

pub fn spawn_connection(mut messages: Messages) {
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notice(n)) => {
                    tracing::debug!(notice = %n.message(), "postgres notice")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %pg_error(e), "postgres connection closed");
                    break;
                }
            }
        }
    });
}

/// A few connections shared by requests: each caller gets one to itself (a transaction needs
/// that), connected on first use and again after it broke.
pub struct Pool {
    target: PgTarget,
    slots: Vec<tokio::sync::Mutex<Option<Client>>>,
    /// One permit per free slot, handed out in the order asked for.
    free: tokio::sync::Semaphore,
}

/// A connection taken from the [`Pool`]; back in the pool when dropped (the slot before its
/// permit: whoever gets the permit finds the slot free).
pub struct Pooled<'a> {
    slot: tokio::sync::MutexGuard<'a, Option<Client>>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.slot
            .as_ref()
            .expect("a pooled connection is connected")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.slot
            .as_mut()
            .expect("a pooled connection is connected")
    }
}

impl Pool {
    pub fn new(target: PgTarget, size: usize) -> Pool {
        let size = size.max(1);
        Pool {
            target,
            slots: (0..size).map(|_| tokio::sync::Mutex::new(None)).collect(),
            free: tokio::sync::Semaphore::new(size),
        }
    }

    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// A connection: the first slot to come free, whichever it is. (Waiting for one given
    /// slot left a caller queued behind a transaction waiting for a hook's lock while other
    /// connections were free.)
    pub async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let permit = self
            .free
            .acquire()
            .await
            .map_err(|_| StoreError::Database("the connection pool is closed".into()))?;
        let mut slot = self
            .slots
            .iter()
            .find_map(|slot| slot.try_lock().ok())
            .expect("a permit stands for a free slot");
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(connect(&self.target).await?);
        }
        Ok(Pooled {
            slot,
            _permit: permit,
        })
    }
}
