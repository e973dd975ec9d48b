//! Replaying the booking transaction: a deadpool-postgres pool of `--pool-size`
//! connections (what the report suspected), client tasks that each draw a request, wait
//! for a pooled connection (pool wait, measured on its own) and run the transaction
//! (query time). A connection-level failure on any client stops the whole run. The
//! clients, and the connections they open, run on the runner's `ClientThread`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rand::SeedableRng;
use tokio_postgres::NoTls;
use uuid::Uuid;

use super::client_thread::ClientThread;
use super::progress::Counter;
use super::scenario::{Phase, Stop};
use super::stats::{Outcome, PhaseStats};
use super::transaction::{self, BookingStatements, Fatal};
use super::workload::Workload;
use crate::db::connect::tls_connector;
use crate::db::DbUrl;

/// `application_name` of the bench's pooled connections (find them in pg_stat_activity).
pub const APPLICATION_NAME: &str = "dbkit-bench";

/// A pool of `size` connections to `url`, each tagged with `APPLICATION_NAME`.
pub fn pool(url: &DbUrl, size: usize) -> Result<Pool> {
    let mut config = url.config().clone();
    config.application_name(APPLICATION_NAME);
    let manager_config = ManagerConfig {
        // A connection killed mid-run is noticed as closed and replaced.
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls_connector(url)? {
        None => Manager::from_config(config, NoTls, manager_config),
        Some(tls) => Manager::from_config(config, tls, manager_config),
    };
    Pool::builder(manager)
        .max_size(size.max(1))
        .build()
        .context("building the connection pool")
}

/// Traffic measured per window of time, by the window a transaction started in
/// (`dbkit rehearse`: one window per migration statement). Recorded besides the
/// phase's own statistics.
#[derive(Debug, Default)]
pub struct Windows {
    current: AtomicUsize,
    stats: Mutex<Vec<PhaseStats>>,
}

impl Windows {
    /// Start a new window; transactions starting from now count in it. Its index.
    pub fn open(&self) -> usize {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.push(PhaseStats::default());
        let index = stats.len() - 1;
        self.current.store(index, Ordering::SeqCst);
        index
    }

    /// Everything recorded so far, by window index.
    pub fn snapshot(&self) -> Vec<PhaseStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    pub(crate) fn record(
        &self,
        window: usize,
        outcome: &Outcome,
        pool_wait: Duration,
        query: Duration,
    ) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stats.get_mut(window) {
            s.record(outcome, pool_wait, query);
        }
    }
}

/// Everything the client tasks share.
pub struct Runner {
    pool: Pool,
    statements: Arc<BookingStatements>,
    workload: Arc<Workload>,
    marker: Arc<String>,
    seed: u64,
    /// Ids of appointments whose COMMIT was answered: what cleanup deletes.
    inserted: Arc<Mutex<Vec<Uuid>>>,
    /// Set by the first client that hits a fatal error; every client stops.
    abort: Arc<AtomicBool>,
    windows: Option<Arc<Windows>>,
    /// Where warm-up and the client tasks run (stopped when the runner is dropped).
    thread: Arc<ClientThread>,
}

impl Runner {
    pub fn new(
        pool: Pool,
        statements: BookingStatements,
        workload: Workload,
        marker: String,
        seed: u64,
    ) -> Runner {
        Runner {
            pool,
            statements: Arc::new(statements),
            workload: Arc::new(workload),
            marker: Arc::new(marker),
            seed,
            inserted: Arc::new(Mutex::new(Vec::new())),
            abort: Arc::new(AtomicBool::new(false)),
            windows: None,
            thread: Arc::new(ClientThread::start_or_current()),
        }
    }

    /// Also record every transaction in `windows`.
    pub fn with_windows(mut self, windows: Arc<Windows>) -> Runner {
        self.windows = Some(windows);
        self
    }

    /// Open every pooled connection and prepare the statements on it, before timing
    /// starts (pgbench also connects first). A statement the server rejects is a
    /// plain error (nothing was inserted yet); a lost connection is `Fatal`.
    pub async fn warm_up(&self, size: usize) -> Result<Result<(), Fatal>> {
        let (pool, statements) = (self.pool.clone(), self.statements.clone());
        let opened = self
            .thread
            .run(async move { open_and_prepare(&pool, &statements, size).await })
            .await
            .context("the bench's client thread stopped")?;
        Ok(match opened {
            Opened::Ready => Ok(()),
            Opened::Lost(fatal) => Err(fatal),
            Opened::Rejected(e) => return Err(crate::error::hinted(
                format!(
                    "the server rejects a booking statement: {} (SQLSTATE {})",
                    e.message(),
                    e.code().code()
                ),
                "is the database migrated (dbkit migrate)? With --queries, check the query files",
            )),
        })
    }

    /// The flag that stops every client after its current transaction.
    pub fn abort_flag(&self) -> Arc<AtomicBool> {
        self.abort.clone()
    }

    /// Ids inserted so far (also after a fatal error).
    pub fn inserted(&self) -> Vec<Uuid> {
        self.inserted.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Run one phase. `index` varies the random streams between phases; `progress`
    /// counts the transactions done.
    pub async fn run_phase(
        &self,
        phase: &Phase,
        index: u64,
        progress: &Counter,
    ) -> Result<PhaseStats, Fatal> {
        let budget = match phase.stop {
            Stop::Requests(n) => Some(Arc::new(AtomicU64::new(n))),
            Stop::Duration(_) => None,
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(if phase.synchronized {
            phase.concurrency
        } else {
            1
        }));
        let started = Instant::now();
        let deadline = match phase.stop {
            Stop::Duration(d) => Some(started + d),
            Stop::Requests(_) => None,
        };
        let mut clients = Vec::with_capacity(phase.concurrency);
        for client in 0..phase.concurrency {
            let ctx = ClientTask {
                pool: self.pool.clone(),
                statements: self.statements.clone(),
                workload: self.workload.clone(),
                marker: self.marker.clone(),
                inserted: self.inserted.clone(),
                abort: self.abort.clone(),
                windows: self.windows.clone(),
                client,
                budget: budget.clone(),
                deadline,
                barrier: barrier.clone(),
                progress: progress.clone(),
                seed: self
                    .seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(index << 32)
                    .wrapping_add(client as u64),
            };
            clients.push(ctx);
        }
        let spawned = self.thread.run(async move {
            let tasks: Vec<_> = clients.into_iter().map(|c| tokio::spawn(c.run())).collect();
            let mut done = Vec::with_capacity(tasks.len());
            for task in tasks {
                done.push(task.await);
            }
            done
        });
        let done = match spawned.await {
            Ok(done) => done,
            Err(join) => vec![Err(join)],
        };
        let mut stats = PhaseStats::default();
        let mut first_fatal = None;
        for task in done {
            match task {
                Ok((client_stats, fatal)) => {
                    stats.merge(&client_stats);
                    if first_fatal.is_none() {
                        first_fatal = fatal;
                    }
                }
                Err(join) => {
                    first_fatal.get_or_insert(Fatal {
                        message: format!("a bench client panicked: {join}"),
                        code: None,
                    });
                }
            }
        }
        stats.elapsed = started.elapsed();
        match first_fatal {
            Some(f) => Err(f),
            None => Ok(stats),
        }
    }
}

/// How opening the pool went: every connection open with the statements prepared, the
/// server refusing a statement, or a connection lost.
enum Opened {
    Ready,
    Rejected(Box<tokio_postgres::error::DbError>),
    Lost(Fatal),
}

/// Open `size` pooled connections at once (held together, so each is a new one) and
/// prepare the statements on each.
async fn open_and_prepare(pool: &Pool, statements: &BookingStatements, size: usize) -> Opened {
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        match pool.get().await {
            Ok(client) => held.push(client),
            Err(e) => return Opened::Lost(pool_fatal(e)),
        }
    }
    for client in &held {
        if let Err(e) = transaction::prepare(client, statements).await {
            if let Some(db) = e.as_db_error() {
                return Opened::Rejected(Box::new(db.clone()));
            }
            return Opened::Lost(Fatal {
                code: None,
                message: format!("preparing the booking statements: {}", db_message(&e)),
            });
        }
    }
    Opened::Ready
}

struct ClientTask {
    pool: Pool,
    statements: Arc<BookingStatements>,
    workload: Arc<Workload>,
    marker: Arc<String>,
    inserted: Arc<Mutex<Vec<Uuid>>>,
    abort: Arc<AtomicBool>,
    windows: Option<Arc<Windows>>,
    /// This client's number in the phase (a partitioned workload's share).
    client: usize,
    budget: Option<Arc<AtomicU64>>,
    deadline: Option<Instant>,
    barrier: Arc<tokio::sync::Barrier>,
    progress: Counter,
    seed: u64,
}

impl ClientTask {
    async fn run(self) -> (PhaseStats, Option<Fatal>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut stats = PhaseStats::default();
        self.barrier.wait().await;
        loop {
            if self.abort.load(Ordering::Relaxed) || !self.take_ticket() {
                return (stats, None);
            }
            let request = self.workload.sample_for(self.client, &mut rng);
            let window = self.windows.as_ref().map(|w| w.current());
            let waiting = Instant::now();
            let client = match self.pool.get().await {
                Ok(c) => c,
                Err(e) => return (stats, Some(self.stop(pool_fatal(e)))),
            };
            let pool_wait = waiting.elapsed();
            match transaction::book(&client, &self.statements, &request, &self.marker).await {
                Ok((outcome, timing)) => {
                    if let Outcome::Booked(id) = outcome {
                        if let Ok(mut ids) = self.inserted.lock() {
                            ids.push(id);
                        }
                    }
                    stats.record(&outcome, pool_wait, timing.query);
                    if let (Some(windows), Some(window)) = (&self.windows, window) {
                        windows.record(window, &outcome, pool_wait, timing.query);
                    }
                    self.progress.inc();
                }
                Err(fatal) => return (stats, Some(self.stop(fatal))),
            }
        }
    }

    /// May this client start another transaction?
    fn take_ticket(&self) -> bool {
        if let Some(deadline) = self.deadline {
            return Instant::now() < deadline;
        }
        match &self.budget {
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => false,
        }
    }

    fn stop(&self, fatal: Fatal) -> Fatal {
        self.abort.store(true, Ordering::Relaxed);
        fatal
    }
}

fn pool_fatal(err: deadpool_postgres::PoolError) -> Fatal {
    match err {
        deadpool_postgres::PoolError::Backend(e) => Fatal {
            code: e.code().map(|c| c.code().to_string()),
            message: format!("cannot open a pooled connection: {}", db_message(&e)),
        },
        other => Fatal {
            code: None,
            message: format!("connection pool: {other}"),
        },
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let source = std::error::Error::source(e).map(|s| s.to_string());
            source.unwrap_or_else(|| e.to_string())
        }
    }
}
