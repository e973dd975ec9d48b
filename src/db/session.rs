//! What every engine that runs statements on several connections shares: a
//! `Connector` (opens one more connection to the database being measured), the SQLSTATE
//! of an error, whether an error means the session is gone, and the one hinted error a
//! lost connection ends a command with.

use anyhow::Result;
use futures_util::future::BoxFuture;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::DbUrl;
use crate::error::{hinted, one_line};

/// Opens one more connection to the database being worked on.
pub type Connector = dyn Fn() -> BoxFuture<'static, Result<Client>> + Send + Sync;

/// A `Connector` for `url`.
pub fn connector(url: &DbUrl) -> Box<Connector> {
    let url = url.clone();
    Box::new(move || {
        let url = url.clone();
        Box::pin(async move { super::connect(&url).await })
    })
}

/// The SQLSTATE of the first PostgreSQL error in the chain.
pub fn sql_state(err: &anyhow::Error) -> Option<&SqlState> {
    err.chain()
        .find_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .and_then(|e| e.code())
}

/// Whether `err` means the session is gone (the server restarted, or the backend was
/// terminated): nothing more can run on this connection.
pub fn is_lost(client: &Client, err: &anyhow::Error) -> bool {
    let closed = err
        .chain()
        .filter_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .any(|e| e.is_closed());
    let shutdown = matches!(
        sql_state(err),
        Some(s) if *s == SqlState::ADMIN_SHUTDOWN
            || *s == SqlState::CRASH_SHUTDOWN
            || *s == SqlState::CANNOT_CONNECT_NOW
    );
    closed || shutdown || client.is_closed()
}

/// The one error a lost connection ends the command with.
pub fn lost_connection(err: anyhow::Error, doing: &str) -> anyhow::Error {
    hinted(
        format!(
            "lost the connection to the database while {doing}: {}",
            one_line(&err)
        ),
        "the server ended the session (restarted, or the backend was terminated): check that it is up and rerun; every run was rolled back",
    )
}
