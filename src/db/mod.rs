//! Everything about reaching PostgreSQL: URLs and TLS (`connect`), the one redaction
//! of secrets (`redact`), dbkit's own local cluster (`cluster`, with `bindir`, `owner`
//! and `postmaster`), whether a URL stays on this machine (`locality`) and throw-away
//! databases (`scratch`), and what engines running statements on several connections
//! share (`session`: connectors, lost connections). Nothing here writes to stdout.

pub mod bindir;
pub mod cluster;
pub mod connect;
pub mod ident;
pub mod locality;
pub mod owner;
pub mod postmaster;
pub mod redact;
pub mod scratch;
pub mod session;
pub mod settings;

pub use connect::{connect, DbUrl};

/// Run `sql` (it takes no parameters) and read each row it returns with `read`; an
/// error says `context` (what could not be read).
pub async fn read_rows<T>(
    client: &impl tokio_postgres::GenericClient,
    sql: &str,
    context: &str,
    read: impl FnMut(&tokio_postgres::Row) -> T,
) -> anyhow::Result<Vec<T>> {
    use anyhow::Context;
    let rows = client.query(sql, &[]).await.context(context.to_string())?;
    Ok(rows.iter().map(read).collect())
}

/// Run a future to completion from sync code, inside or outside a Tokio runtime (of
/// either flavour): on a thread of its own with a small runtime.
pub(crate) fn block_on<T, F>(fut: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("a database helper thread panicked"))?
}
