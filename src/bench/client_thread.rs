//! The thread the bench's clients run on: a current-thread tokio runtime of its own, as
//! a pgbench `-j` thread runs its clients in one event loop. The pooled connections are
//! opened from it, so each client task and the task driving its connection share one
//! thread: an answer from the server wakes the client without a hand-off between
//! worker threads. On dbkit's multi-threaded runtime that hand-off cost 1.5× the CPU
//! and 2× the context switches per transaction (perf stat at 30 clients: 0.17 against
//! 0.12 ms, 1.8 against 0.9), CPU the database server on the same machine lacks.

use std::future::Future;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinError;

/// A running client thread; dropping it stops the thread (its tasks are dropped, which
/// closes the connections opened on it).
#[derive(Debug)]
pub struct ClientThread {
    handle: tokio::runtime::Handle,
    /// `None` when the clients run on the caller's runtime.
    _stop: Option<oneshot::Sender<()>>,
}

impl ClientThread {
    /// A client thread, or — should the system refuse a thread — the caller's runtime
    /// (correct, only slower). Call it from within a tokio runtime.
    pub fn start_or_current() -> ClientThread {
        ClientThread::start().unwrap_or_else(|_| ClientThread {
            handle: tokio::runtime::Handle::current(),
            _stop: None,
        })
    }

    pub fn start() -> Result<ClientThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the bench's client runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("dbkit-bench-clients".into())
            .spawn(move || {
                // Drives every task spawned through `handle` until the sender is dropped.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .context("starting the bench's client thread")?;
        Ok(ClientThread {
            handle,
            _stop: Some(stop),
        })
    }

    /// Run `work` on the client thread (tasks it spawns run there too); its output.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, JoinError> {
        self.handle.spawn(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_client_thread_and_its_spawned_tasks_too() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let name = rt.block_on(async {
            let thread = ClientThread::start().unwrap();
            thread
                .run(async {
                    tokio::spawn(async { std::thread::current().name().map(String::from) })
                        .await
                        .unwrap()
                })
                .await
                .unwrap()
        });
        assert_eq!(name.as_deref(), Some("dbkit-bench-clients"));
    }
}
