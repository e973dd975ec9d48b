//! Stop signals. SIGINT (Ctrl-C) and SIGTERM mean the same to dbkit: stop the work,
//! clean up what dbkit made, exit. `install` (called once by `run`) listens for both.
//!
//! Engines that can stop cleanly listen: `wait()` in a `tokio::select!` (or `stopped()`
//! between steps), then undo their own work (bench's rows, a `Lab`'s database) and
//! return an error. While anyone listens, the first signal is theirs; a second one
//! ends the process at once. When nobody listens, the first signal ends the process
//! as the default disposition would — after dropping the scratch databases still held
//! (`db::scratch`), so no command leaves one behind.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Which signal asked dbkit to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, a CI runner's timeout, a container stop.
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process the signal ended.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

/// The error an engine returns when it stopped because of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub Stop);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by {}", self.0.name())
    }
}

impl std::error::Error for Interrupted {}

/// How long the last-resort cleanup may take before the process exits anyway.
const CLEANUP_BUDGET: Duration = Duration::from_secs(10);

fn channel() -> &'static watch::Sender<Option<Stop>> {
    static STOP: OnceLock<watch::Sender<Option<Stop>>> = OnceLock::new();
    STOP.get_or_init(|| watch::channel(None).0)
}

/// Listen for SIGINT and SIGTERM for the rest of the process. Call once, inside the
/// Tokio runtime, before any work starts.
pub fn install() -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                _ = interrupt.recv() => Stop::Interrupt,
                _ = terminate.recv() => Stop::Terminate,
            };
            let first = channel().borrow().is_none();
            let listened = channel().receiver_count() > 0;
            if first {
                channel().send_replace(Some(stop));
            }
            if !first || !listened {
                let _ = tokio::time::timeout(CLEANUP_BUDGET, crate::db::scratch::drop_held()).await;
                eprintln!("dbkit: stopped by {}", stop.name());
                std::process::exit(i32::from(stop.exit_code()));
            }
        }
    });
    Ok(())
}

/// The signal that asked dbkit to stop, if one arrived.
pub fn stopped() -> Option<Stop> {
    *channel().borrow()
}

/// `Err(Interrupted)` once a stop signal arrived: for `?` between steps of work.
pub fn check() -> Result<(), Interrupted> {
    stopped().map_or(Ok(()), |stop| Err(Interrupted(stop)))
}

/// Resolves when a stop signal arrives (at once if one already has). Creating it
/// counts as listening, so the first signal is left to the caller to act on.
pub fn wait() -> impl Future<Output = Stop> + Send + 'static {
    let mut receiver = channel().subscribe();
    async move {
        loop {
            if let Some(stop) = *receiver.borrow_and_update() {
                return stop;
            }
            if receiver.changed().await.is_err() {
                // The sender is a static: it never closes.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_name_their_signal_and_exit_code() {
        assert_eq!(Stop::Interrupt.exit_code(), 130);
        assert_eq!(Stop::Terminate.exit_code(), 143);
        assert_eq!(
            Interrupted(Stop::Terminate).to_string(),
            "stopped by SIGTERM"
        );
    }

    #[tokio::test]
    async fn nothing_stopped_until_a_signal() {
        assert_eq!(stopped(), None);
        assert!(check().is_ok());
        let waiting = wait();
        assert!(channel().receiver_count() >= 1, "a waiter listens");
        let timed = tokio::time::timeout(Duration::from_millis(20), waiting).await;
        assert!(timed.is_err(), "no signal, no stop");
    }
}
