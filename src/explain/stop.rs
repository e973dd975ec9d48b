//! The stop request `explain --before` listens for while it owns a scratch database:
//! Ctrl-C (SIGINT) or SIGTERM, so a stopped run drops its database instead of leaving
//! it behind. One small function, so a shared stop-signal helper can replace it.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when the process is asked to stop; names the signal.
pub async fn requested() -> &'static str {
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            // Without a handler SIGTERM keeps its default action; wait for Ctrl-C only.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    tokio::select! {
        () = interrupt => "Ctrl-C",
        () = terminate => "SIGTERM",
    }
}
