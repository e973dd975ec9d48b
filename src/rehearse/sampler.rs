//! What rehearse reads from the server while a migration statement runs, always from a
//! connection of its own (never the migration's session, never the traffic's): the
//! relation locks the migration backend holds, the traffic backends waiting on a lock
//! that backend holds or queues for, and each table's relfilenode (a rewrite changes it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio_postgres::Client;

/// How often a running statement is sampled: every 10 ms at first (a short statement's
/// locks and the first waits are caught), the pause doubling up to 100 ms. A long
/// statement holds its locks from its start to its end (or COMMIT), so later samples
/// add little but cost a backend's CPU on a loaded server — on 2 cores, time taken
/// from the very migration being measured. What a coarser pause can miss is at most
/// one pause of a booking's lock wait; the stall itself is measured by the traffic.
pub const FIRST_INTERVAL: Duration = Duration::from_millis(10);
pub const MAX_INTERVAL: Duration = Duration::from_millis(100);

/// Relation locks of backend `$1` in this database, by relation name and PostgreSQL's
/// mode name, granted or not; for a lock it waits for, who holds it (or is queued
/// ahead): application names, `pid N` when a backend has none. System catalogs are
/// left out (every DDL touches them), and so are relations the migration created in
/// its open transaction (not visible here, and nobody else can wait for them).
const LOCKS_SQL: &str = "
SELECT format('%I.%I', n.nspname, c.relname), l.mode, l.granted,
       CASE WHEN NOT l.granted THEN
         (SELECT string_agg(DISTINCT coalesce(nullif(a.application_name, ''), 'pid ' || a.pid), ', ')
            FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)))
       END
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = $1 AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

/// Traffic backends (`application_name` `$2`) waiting on a heavyweight lock that
/// backend `$1` holds or is queued ahead for: how long the waiting statement has run,
/// and the relation it waits on (when the wait is on a relation).
const WAITS_SQL: &str = "
SELECT (extract(epoch FROM clock_timestamp() - a.query_start) * 1000)::float8,
       (SELECT format('%I.%I', n.nspname, c.relname)
          FROM pg_locks l
          JOIN pg_class c ON c.oid = l.relation
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'relation'
         LIMIT 1)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.application_name = $2
  AND a.wait_event_type = 'Lock' AND $1 = ANY (pg_blocking_pids(a.pid))";

/// Tables and materialized views with their relfilenode, by oid.
const FILENODES_SQL: &str = "
SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relfilenode
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

/// A relation lock: (relation, mode).
pub type Lock = (String, String);

/// Relation locks backend `pid` holds now.
pub async fn locks(client: &Client, pid: i32) -> Result<BTreeSet<Lock>> {
    let rows = client
        .query(LOCKS_SQL, &[&pid])
        .await
        .context("reading pg_locks of the migration backend")?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, bool>(2))
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Every relation this session can see, by name. The migration's uncommitted relations
/// (an index its transaction built) are not among them: `LOCKS_SQL` cannot name them
/// until COMMIT makes them visible, so their locks would seem taken by the COMMIT.
const RELATIONS_SQL: &str = "
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

pub async fn relations(client: &Client) -> Result<BTreeSet<String>> {
    let rows = client
        .query(RELATIONS_SQL, &[])
        .await
        .context("reading the relations")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// oid → (relation, relfilenode).
pub type Filenodes = BTreeMap<u32, (String, u32)>;

pub async fn filenodes(client: &Client) -> Result<Filenodes> {
    let rows = client
        .query(FILENODES_SQL, &[])
        .await
        .context("reading relfilenodes")?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, u32>(0), (r.get(1), r.get(2))))
        .collect())
}

/// Relations whose relfilenode changed between two snapshots (rewritten).
pub fn rewritten(before: &Filenodes, after: &Filenodes) -> Vec<String> {
    after
        .iter()
        .filter(|(oid, (_, node))| before.get(oid).is_some_and(|(_, old)| old != node))
        .map(|(_, (name, _))| name.clone())
        .collect()
}

/// What the samples of one statement saw.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub locks: BTreeSet<Lock>,
    /// Longest time a traffic statement was seen waiting on the migration's lock.
    pub lock_wait_ms: f64,
    /// Relations traffic waited on.
    pub waited_on: BTreeSet<String>,
    /// The last lock the migration was seen waiting for, and who held it.
    pub waiting_for: Option<Waiting>,
    pub count: u64,
}

/// A lock the migration backend waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub lock: Lock,
    /// Application names of the backends ahead of it (`dbkit-bench`: the traffic).
    pub blockers: String,
}

/// Sample until `stop` turns true (it wakes the pause at once, so the statement's end
/// is not delayed by it): the migration backend's locks and the traffic's waits.
/// Sampling errors end the loop early (the statement's own before/after snapshots
/// still stand); they are returned so the caller can fail closed.
pub async fn sample(
    client: Arc<Client>,
    pid: i32,
    application: &'static str,
    mut stop: watch::Receiver<bool>,
) -> (Samples, Option<String>) {
    let mut samples = Samples::default();
    let (lock_params, wait_params): (
        [&(dyn tokio_postgres::types::ToSql + Sync); 1],
        [&(dyn tokio_postgres::types::ToSql + Sync); 2],
    ) = ([&pid], [&pid, &application]);
    let mut pause = FIRST_INTERVAL;
    loop {
        // Both queries pipelined on the one connection.
        let (locks, waits) = tokio::join!(
            client.query(LOCKS_SQL, &lock_params),
            client.query(WAITS_SQL, &wait_params)
        );
        match (locks, waits) {
            (Ok(locks), Ok(waits)) => {
                samples.count += 1;
                for l in &locks {
                    let lock: Lock = (l.get(0), l.get(1));
                    if l.get::<_, bool>(2) {
                        samples.locks.insert(lock);
                    } else {
                        let blockers: Option<String> = l.get(3);
                        samples.waiting_for = Some(Waiting {
                            lock,
                            blockers: blockers.unwrap_or_default(),
                        });
                    }
                }
                for w in &waits {
                    let ms: Option<f64> = w.get(0);
                    samples.lock_wait_ms = samples.lock_wait_ms.max(ms.unwrap_or(0.0));
                    if let Some(rel) = w.get::<_, Option<String>>(1) {
                        samples.waited_on.insert(rel);
                    }
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                return (samples, Some(format!("sampling pg_locks: {e}")));
            }
        }
        if *stop.borrow() {
            return (samples, None);
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            // A dropped sender stops the sampling too.
            _ = stop.changed() => {}
        }
        pause = (pause * 2).min(MAX_INTERVAL);
        if *stop.borrow() || stop.has_changed().is_err() {
            return (samples, None);
        }
    }
}

/// PostgreSQL's lock modes, weakest first.
pub const MODES: [&str; 8] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

/// How strong a mode is (unknown modes count as weakest).
pub fn strength(mode: &str) -> usize {
    MODES.iter().position(|m| *m == mode).unwrap_or(0)
}

/// Whether a lock in `mode` blocks the booking traffic's writes (RowExclusiveLock on
/// INSERT, AccessShareLock on reads): ShareLock and above block writes, and
/// AccessExclusiveLock blocks reads too.
pub fn blocks_writes(mode: &str) -> bool {
    strength(mode) >= strength("ShareLock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_are_changed_filenodes_of_surviving_relations() {
        let before = Filenodes::from([
            (1, ("public.a".to_string(), 10)),
            (2, ("public.b".to_string(), 20)),
        ]);
        let after = Filenodes::from([
            (1, ("public.a".to_string(), 11)),
            (2, ("public.b".to_string(), 20)),
            (3, ("public.c".to_string(), 30)),
        ]);
        assert_eq!(rewritten(&before, &after), vec!["public.a".to_string()]);
    }

    #[test]
    fn modes_are_ordered_as_postgresql_documents_them() {
        assert!(strength("AccessExclusiveLock") > strength("ShareUpdateExclusiveLock"));
        assert!(blocks_writes("ShareLock") && blocks_writes("AccessExclusiveLock"));
        assert!(!blocks_writes("ShareUpdateExclusiveLock"));
        assert!(!blocks_writes("RowExclusiveLock"));
    }
}
