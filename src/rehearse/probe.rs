//! The observer rehearse hands to the migrate engine: around each step (a statement,
//! or a transactional file's COMMIT) it opens a traffic window, snapshots the
//! migration backend's locks, samples while the step runs, and snapshots again —
//! all from its own connection. Retries of a statement add to the same record.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::failure::{self, StepFailure};
use super::sampler::{self, Filenodes, Lock, Samples, Waiting};
use crate::bench::runner::{Windows, APPLICATION_NAME};
use crate::migrate::apply::{Observer, Step};
use crate::migrate::{MigrationFile, Mode};

/// One step as measured.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub version: i64,
    pub name: String,
    pub mode: Mode,
    /// Line of the statement; None for COMMIT.
    pub line: Option<usize>,
    pub sql: String,
    pub elapsed: Duration,
    /// Locks taken by the step: seen while it ran or after, not held before it.
    pub locks: BTreeSet<Lock>,
    pub rewrites: Vec<String>,
    /// Traffic windows of its attempts.
    pub windows: Vec<usize>,
    pub lock_wait_ms: f64,
    pub waited_on: BTreeSet<String>,
    /// lock_timeout retries of the statement (or, in a transactional file, of the file
    /// when this statement timed out).
    pub retries: u32,
    pub samples: u64,
    /// The last lock the migration was seen waiting for during the step.
    pub waiting_for: Option<Waiting>,
    /// Why the step's last attempt failed (None: it succeeded).
    pub failure: Option<StepFailure>,
}

struct Running {
    key: (i64, Option<usize>),
    started: Instant,
    before: BTreeSet<Lock>,
    /// At a COMMIT: the relations visible when it began. A COMMIT takes no lock on a
    /// relation its own transaction created; such a lock only becomes nameable then.
    visible: Option<BTreeSet<String>>,
    stop: watch::Sender<bool>,
    sampler: JoinHandle<(Samples, Option<String>)>,
}

#[derive(Default)]
struct State {
    records: Vec<StepRecord>,
    running: Option<Running>,
    /// Relfilenodes when the current file (or no-transaction statement) started.
    nodes: Option<(i64, Filenodes)>,
    /// The first sampling error: rehearse fails closed on it.
    error: Option<String>,
    /// Per file: from its first step's start to its last step's end, the probe's own
    /// snapshots included (what the sampling costs shows here).
    walls: Vec<(i64, Instant, Instant)>,
}

pub struct Probe {
    client: Arc<Client>,
    pid: i32,
    windows: Arc<Windows>,
    state: Mutex<State>,
}

impl Probe {
    /// Watch backend `pid` (the migration's session) through `client`, recording
    /// traffic into `windows`.
    pub fn new(client: Arc<Client>, pid: i32, windows: Arc<Windows>) -> Probe {
        Probe {
            client,
            pid,
            windows,
            state: Mutex::new(State::default()),
        }
    }

    /// The records, each file's wall time, and the first sampling error if any.
    pub fn finish(&self) -> (Vec<StepRecord>, Vec<(i64, Duration)>, Option<String>) {
        let mut state = self.lock();
        if let Some(running) = state.running.take() {
            running.sampler.abort();
        }
        let walls = state
            .walls
            .iter()
            .map(|(v, start, end)| (*v, end.duration_since(*start)))
            .collect();
        (
            std::mem::take(&mut state.records),
            walls,
            state.error.take(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, what: String) {
        self.lock().error.get_or_insert(what);
    }

    async fn start(&self, file: &MigrationFile, step: Step<'_>) {
        let key = key_of(file, step);
        {
            let mut state = self.lock();
            if !state.walls.iter().any(|(v, _, _)| *v == file.version.get()) {
                let now = Instant::now();
                state.walls.push((file.version.get(), now, now));
            }
        }
        let need_nodes = !matches!(self.lock().nodes, Some((v, _)) if v == file.version.get());
        if need_nodes {
            match sampler::filenodes(&self.client).await {
                Ok(nodes) => self.lock().nodes = Some((file.version.get(), nodes)),
                Err(e) => self.fail(crate::error::one_line(&e)),
            }
        }
        let before = match sampler::locks(&self.client, self.pid).await {
            Ok(l) => l,
            Err(e) => {
                self.fail(crate::error::one_line(&e));
                BTreeSet::new()
            }
        };
        let visible = match step {
            Step::Commit => match sampler::relations(&self.client).await {
                Ok(v) => Some(v),
                Err(e) => {
                    self.fail(crate::error::one_line(&e));
                    None
                }
            },
            Step::Statement { .. } => None,
        };
        let window = self.windows.open();
        let (stop, stopped) = watch::channel(false);
        let sampler = tokio::spawn(sampler::sample(
            self.client.clone(),
            self.pid,
            APPLICATION_NAME,
            stopped,
        ));
        let mut state = self.lock();
        let (sql, line) = match step {
            Step::Statement { stmt, .. } => (stmt.text.clone(), Some(stmt.line)),
            Step::Commit => ("COMMIT".to_string(), None),
        };
        if !state.records.iter().any(|r| (r.version, r.line) == key) {
            state.records.push(StepRecord {
                version: file.version.get(),
                name: file.name.clone(),
                mode: file.mode,
                line,
                sql,
                elapsed: Duration::ZERO,
                locks: BTreeSet::new(),
                rewrites: Vec::new(),
                windows: Vec::new(),
                lock_wait_ms: 0.0,
                waited_on: BTreeSet::new(),
                retries: 0,
                samples: 0,
                waiting_for: None,
                failure: None,
            });
        }
        if let Some(r) = state
            .records
            .iter_mut()
            .find(|r| (r.version, r.line) == key)
        {
            r.windows.push(window);
        }
        state.running = Some(Running {
            key,
            started: Instant::now(),
            before,
            visible,
            stop,
            sampler,
        });
    }

    async fn end(
        &self,
        file: &MigrationFile,
        step: Step<'_>,
        error: Option<&tokio_postgres::Error>,
    ) {
        let Some(running) = self.lock().running.take() else {
            return;
        };
        let elapsed = running.started.elapsed();
        // Requests starting from now belong to no statement.
        self.windows.open();
        let _ = running.stop.send(true);
        let (samples, sample_error) = running.sampler.await.unwrap_or_default();
        if let Some(e) = sample_error {
            self.fail(e);
        }
        let after = match sampler::locks(&self.client, self.pid).await {
            Ok(l) => l,
            Err(e) => {
                self.fail(crate::error::one_line(&e));
                BTreeSet::new()
            }
        };
        // Committed changes only are visible here: a transactional file's rewrites
        // show at its COMMIT, a no-transaction statement's right after it.
        let rewrites = if error.is_none()
            && (file.mode == Mode::NoTransaction || matches!(step, Step::Commit))
        {
            match sampler::filenodes(&self.client).await {
                Ok(now) => {
                    let mut state = self.lock();
                    let changed = match &state.nodes {
                        Some((_, before)) => sampler::rewritten(before, &now),
                        None => Vec::new(),
                    };
                    state.nodes = Some((file.version.get(), now));
                    changed
                }
                Err(e) => {
                    self.fail(crate::error::one_line(&e));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let timed_out = error.is_some_and(|e| e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE));
        let failure = match error {
            Some(e) => Some(
                failure::describe(&self.client, self.pid, e, samples.waiting_for.as_ref()).await,
            ),
            None => None,
        };
        let mut state = self.lock();
        let version = file.version.get();
        let owner_of = |records: &[StepRecord], relation: &str| -> Option<usize> {
            records.iter().position(|r| {
                r.version == version
                    && r.line.is_some()
                    && r.locks
                        .iter()
                        .any(|(rel, mode)| rel == relation && mode == "AccessExclusiveLock")
            })
        };
        // A rewrite seen at COMMIT happened in the statement that locked the table.
        let mut mine = Vec::new();
        for relation in rewrites {
            match owner_of(&state.records, &relation) {
                Some(i) if matches!(step, Step::Commit) => state.records[i].rewrites.push(relation),
                _ => mine.push(relation),
            }
        }
        if let Some(r) = state
            .records
            .iter_mut()
            .find(|r| (r.version, r.line) == running.key)
        {
            r.elapsed += elapsed;
            r.locks.extend(
                samples
                    .locks
                    .union(&after)
                    .filter(|l| !running.before.contains(*l) && !is_history(&l.0))
                    .filter(|l| running.visible.as_ref().is_none_or(|v| v.contains(&l.0)))
                    .cloned(),
            );
            r.rewrites.extend(mine);
            r.lock_wait_ms = r.lock_wait_ms.max(samples.lock_wait_ms);
            r.waited_on.extend(samples.waited_on);
            r.samples += samples.count;
            if samples.waiting_for.is_some() {
                r.waiting_for = samples.waiting_for;
            }
            r.failure = failure;
            if timed_out {
                r.retries += 1;
            }
        }
        if let Some(wall) = state.walls.iter_mut().find(|(v, _, _)| *v == version) {
            wall.2 = Instant::now();
        }
    }
}

/// dbkit's own bookkeeping (the history row written at COMMIT, into the table and its
/// indexes): not the migration's
/// lock, no booking touches it, and whether a sample catches the INSERT's lock is
/// timing — left out so a rehearsal's locks are the same run after run.
fn is_history(relation: &str) -> bool {
    use crate::migrate::history::{CHECKSUM_TABLE, REFINERY_TABLE, SUPABASE_TABLE};
    let relation = relation.strip_prefix("public.").unwrap_or(relation);
    // The tables and their indexes (`refinery_schema_history_pkey`): the INSERT locks both.
    [REFINERY_TABLE, SUPABASE_TABLE, CHECKSUM_TABLE]
        .iter()
        .any(|table| {
            relation
                .strip_prefix(table)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
        })
}

fn key_of(file: &MigrationFile, step: Step<'_>) -> (i64, Option<usize>) {
    match step {
        Step::Statement { stmt, .. } => (file.version.get(), Some(stmt.line)),
        Step::Commit => (file.version.get(), None),
    }
}

impl Observer for Probe {
    fn before<'a>(&'a self, file: &'a MigrationFile, step: Step<'a>) -> BoxFuture<'a, ()> {
        Box::pin(self.start(file, step))
    }

    fn after<'a>(
        &'a self,
        file: &'a MigrationFile,
        step: Step<'a>,
        error: Option<&'a tokio_postgres::Error>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.end(file, step, error))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(running) = self.lock().running.take() {
            running.sampler.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_history;

    #[test]
    fn the_history_tables_and_their_indexes_are_bookkeeping() {
        for relation in [
            "public.refinery_schema_history",
            "public.refinery_schema_history_pkey",
            "supabase_migrations.schema_migrations_pkey",
            "supabase_migrations.dbkit_checksums",
        ] {
            assert!(is_history(relation), "{relation}");
        }
        for relation in ["public.appointments", "public.refinery_schema_historyx"] {
            assert!(!is_history(relation), "{relation}");
        }
    }
}
