//! The traffic a rehearsal runs under: the booking service's transaction (bench's
//! booking runner, each client on providers of its own) or any catalog's weighted mix
//! (`bench::mix`) — the same queries `dbkit bench` and `dbkit explain` run, so the
//! stall measured is the stall this project's queries see. Either records every
//! request in the rehearsal's `Windows`, one per migration statement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_postgres::Client;

use crate::bench::mix::{Mix, MixPhase, MixRunner};
use crate::bench::progress::Counter;
use crate::bench::runner::{self, Runner, Windows};
use crate::bench::scenario::{self, Stop};
use crate::bench::transaction::{self, BookingStatements, Fatal};
use crate::bench::{verify, workload};
use crate::db::DbUrl;
use crate::explain::rules::Role;
use crate::workload::CatalogSource;

/// What the rehearsal's clients send.
#[derive(Debug, Clone)]
pub enum TrafficSource {
    /// The booking transaction (the booking catalog's own scenario).
    Booking(BookingStatements),
    /// The mix of a catalog: the project's queries/, or derived from its schema.
    Catalog(CatalogSource),
}

/// Tenants the mix's traffic is spread over.
const MIX_TENANTS: usize = 20;

/// The clients running, and what cleaning up after them takes.
pub enum Clients {
    Booking {
        runner: Arc<Runner>,
        marker: String,
        pool: deadpool_postgres::Pool,
    },
    Mix {
        runner: Arc<MixRunner>,
        pool: deadpool_postgres::Pool,
    },
}

impl Clients {
    /// Up to `clients` clients on the lab `url`, recording into `windows`, warmed up
    /// (connections open, statements prepared). The number of clients it will run.
    pub async fn prepare(
        source: &TrafficSource,
        url: &DbUrl,
        control: &Client,
        clients: usize,
        seed: u64,
        windows: Arc<Windows>,
    ) -> Result<(Clients, usize)> {
        match source {
            TrafficSource::Booking(statements) => {
                let tenants = workload::load(control).await?;
                let providers: usize = tenants.iter().map(|t| t.providers.len()).sum();
                // One client per provider at most: clients never share a provider's calendar.
                let clients = clients.min(providers);
                let workload = workload::Workload::new(tenants, 0.0)?.partitioned(clients);
                let marker = transaction::marker(uuid::Uuid::new_v4());
                let pool = runner::pool(url, clients.max(1))?;
                let runner = Arc::new(
                    Runner::new(
                        pool.clone(),
                        statements.clone(),
                        workload,
                        marker.clone(),
                        seed,
                    )
                    .with_windows(windows),
                );
                if clients > 0 {
                    if let Err(fatal) = runner.warm_up(clients).await? {
                        return Err(cannot_start(fatal));
                    }
                }
                Ok((
                    Clients::Booking {
                        runner,
                        marker,
                        pool,
                    },
                    clients,
                ))
            }
            TrafficSource::Catalog(source) => {
                let mut catalog = source.resolve(control, "rehearse").await?;
                crate::workload::validate::validate(control, &mut catalog).await?;
                let tenants =
                    crate::workload::sample::sample_tenants(control, &catalog, MIX_TENANTS).await?;
                let mix = Mix::new(&catalog, tenants, Role::Tenant)?;
                let pool = runner::pool(url, clients.max(1))?;
                let runner =
                    Arc::new(MixRunner::new(pool.clone(), mix, seed).with_windows(windows));
                if clients > 0 {
                    runner.warm_up(clients).await.map_err(cannot_start)?;
                }
                Ok((Clients::Mix { runner, pool }, clients))
            }
        }
    }

    /// The flag that stops every client after its current request.
    pub fn abort_flag(&self) -> Arc<AtomicBool> {
        match self {
            Clients::Booking { runner, .. } => runner.abort_flag(),
            Clients::Mix { runner, .. } => runner.abort_flag(),
        }
    }

    /// Run `clients` clients until the abort flag is set.
    pub fn spawn(&self, clients: usize) -> tokio::task::JoinHandle<Result<(), Fatal>> {
        // A day is only the upper bound: the abort flag ends the phase.
        let day = Stop::Duration(Duration::from_secs(86_400));
        match self {
            Clients::Booking { runner, .. } => {
                let runner = runner.clone();
                let phase = scenario::custom(clients, day);
                tokio::spawn(async move {
                    runner
                        .run_phase(&phase, 0, &Counter::default())
                        .await
                        .map(|_| ())
                })
            }
            Clients::Mix { runner, .. } => {
                let runner = runner.clone();
                let phase = MixPhase {
                    concurrency: clients,
                    stop: day,
                    rate: None,
                };
                tokio::spawn(async move { runner.run_phase(&phase, 0).await.map(|_| ()) })
            }
        }
    }

    /// Stop the clients, close the pool and remove what the traffic committed.
    pub async fn stop_and_clean(&self, control: &Client) {
        self.abort_flag().store(true, Ordering::Relaxed);
        match self {
            Clients::Booking {
                runner,
                marker,
                pool,
            } => {
                pool.close();
                let _ = verify::cleanup(control, &runner.inserted(), marker.as_str()).await;
            }
            Clients::Mix { runner, pool } => {
                pool.close();
                let _ = runner.remove_committed(control).await;
            }
        }
    }

    /// Close the pool (the clients have stopped).
    pub fn close(&self) {
        match self {
            Clients::Booking { pool, .. } | Clients::Mix { pool, .. } => pool.close(),
        }
    }
}

fn cannot_start(fatal: Fatal) -> anyhow::Error {
    crate::error::hinted(
        format!("the traffic cannot start: {}", fatal.message),
        "check the lab server and run again",
    )
}
