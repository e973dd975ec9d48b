//! A migration that fails under the booking traffic — a deadlock (40P01), lock_timeout
//! still exhausted after the retries (55P03), anything PostgreSQL rejects only when the
//! traffic is there — is a finding of the rehearsal, not a tool error: which statement,
//! which locks conflicted and with whom (the server's deadlock report with relation
//! names and roles, or the lock the sampler saw the migration wait for), the SQLSTATE,
//! and how to write the migration so it does not happen.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::sampler::Waiting;
use crate::bench::runner::APPLICATION_NAME;

/// Why a step failed, as the rehearsal reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepFailure {
    /// PostgreSQL's SQLSTATE (`40P01`), when the server reported the error.
    pub sqlstate: Option<String>,
    pub message: String,
    /// The lock conflict, in relation names and roles (the migration, a booking).
    pub conflict: Option<String>,
}

/// The SQLSTATE of a deadlock.
pub const DEADLOCK: &str = "40P01";
/// The SQLSTATE of lock_timeout.
pub const LOCK_TIMEOUT: &str = "55P03";

/// What `error` says, with the conflict named: for a deadlock the server's report
/// (process and relation numbers resolved through `client`, which sees the lab), for a
/// lock timeout the lock `waiting` saw the migration (backend `pid`) wait for.
pub async fn describe(
    client: &Client,
    pid: i32,
    error: &tokio_postgres::Error,
    waiting: Option<&Waiting>,
) -> StepFailure {
    let db = error.as_db_error();
    let sqlstate = error.code().map(|c| c.code().to_string());
    let message = db
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| error.to_string());
    let conflict = match error.code() {
        Some(&SqlState::T_R_DEADLOCK_DETECTED) => match db.and_then(|d| d.detail()) {
            Some(detail) => Some(deadlock_cycle(client, pid, detail).await),
            None => None,
        },
        _ => waiting.map(|w| {
            format!(
                "the migration waited for {} on {}, held by {}",
                w.lock.1,
                w.lock.0,
                role_of_application(&w.blockers)
            )
        }),
    };
    StepFailure {
        sqlstate,
        message,
        conflict,
    }
}

fn role_of_application(names: &str) -> String {
    if names.is_empty() {
        "another session".to_string()
    } else if names == APPLICATION_NAME {
        format!("the booking traffic ({APPLICATION_NAME})")
    } else {
        names.to_string()
    }
}

/// `Process 123` in the server's deadlock report.
fn process_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    compiled(&RE, r"(?i)\bprocess (\d+)")
}

/// `relation 16390 of database 5` in the server's deadlock report.
fn relation_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    compiled(&RE, r"relation (\d+) of database \d+")
}

fn compiled<'a>(cell: &'a OnceLock<Regex>, pattern: &str) -> &'a Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// Names of relations and application names of backends, by number.
const RELATIONS_SQL: &str = "SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid::int8 = ANY ($1)";
const BACKENDS_SQL: &str =
    "SELECT pid, application_name FROM pg_stat_activity WHERE pid = ANY ($1)";

/// The server's deadlock report (`Process 1 waits for X on relation 16390 of database
/// 5; blocked by process 2.`, one line per process) with relations named and processes
/// said as roles: `the migration`, `a booking (pid 2)`.
async fn deadlock_cycle(client: &Client, migration: i32, detail: &str) -> String {
    let pids: Vec<i32> = process_re()
        .captures_iter(detail)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    let oids: Vec<i64> = relation_re()
        .captures_iter(detail)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    let relations: BTreeMap<i64, String> = match client.query(RELATIONS_SQL, &[&oids]).await {
        Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        Err(_) => BTreeMap::new(),
    };
    let backends: BTreeMap<i32, String> = match client.query(BACKENDS_SQL, &[&pids]).await {
        Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        Err(_) => BTreeMap::new(),
    };
    name_cycle(detail, migration, &relations, &backends)
}

/// `deadlock_cycle`'s rewriting, pure.
fn name_cycle(
    detail: &str,
    migration: i32,
    relations: &BTreeMap<i64, String>,
    backends: &BTreeMap<i32, String>,
) -> String {
    let lines: Vec<String> = detail
        .lines()
        .map(|line| {
            let line = relation_re().replace_all(line, |c: &Captures| {
                let oid: i64 = c[1].parse().unwrap_or_default();
                relations
                    .get(&oid)
                    .cloned()
                    .unwrap_or_else(|| format!("relation {oid}"))
            });
            let line = process_re().replace_all(&line, |c: &Captures| {
                let pid: i32 = c[1].parse().unwrap_or_default();
                if pid == migration {
                    "the migration".to_string()
                } else {
                    match backends.get(&pid).map(String::as_str) {
                        Some(APPLICATION_NAME) => format!("a booking (pid {pid})"),
                        Some(name) if !name.is_empty() => format!("pid {pid} ({name})"),
                        _ => format!("pid {pid}"),
                    }
                }
            });
            line.trim()
                .trim_end_matches('.')
                .replace("; blocked by", ", blocked by")
        })
        .collect();
    lines.join("; ")
}

/// How to write the migration so the traffic cannot make it fail.
pub fn recipe(failure: &StepFailure, held: &[String], wanted: Option<&str>) -> String {
    match failure.sqlstate.as_deref() {
        Some(DEADLOCK) => {
            // Traffic holds what the migration wanted and waits for what it held: take
            // the wanted one first, in one LOCK statement at the top of the file.
            let mut order: Vec<&str> = wanted.into_iter().collect();
            order.extend(held.iter().map(String::as_str).filter(|r| Some(*r) != wanted));
            let tables = if order.is_empty() {
                "<every table the file alters>".to_string()
            } else {
                order.join(", ")
            };
            format!(
                "take the locks in a fixed order, the order the traffic takes them: start the file with `LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE;` (it waits instead of deadlocking), or split the file so each transaction locks one table"
            )
        }
        Some(LOCK_TIMEOUT) => "the lock was never free within lock_timeout, retries included: the traffic holds it continuously. Split the file so each transaction takes one lock and is short, start it with `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` so it queues once, or apply it when traffic is low (raising --lock-timeout makes the bookings queue behind it)".to_string(),
        _ => "PostgreSQL rejected the statement under traffic: fix the migration (it applies on the data without traffic, so look at what the concurrent bookings change)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadlock_report_names_relations_and_roles() {
        let detail = "Process 10 waits for AccessExclusiveLock on relation 200 of database 5; blocked by process 11.\nProcess 11 waits for AccessShareLock on relation 100 of database 5; blocked by process 10.";
        let relations = BTreeMap::from([
            (100, "public.appointments".to_string()),
            (200, "public.providers".to_string()),
        ]);
        let backends = BTreeMap::from([(11, APPLICATION_NAME.to_string())]);
        assert_eq!(
            name_cycle(detail, 10, &relations, &backends),
            "the migration waits for AccessExclusiveLock on public.providers, blocked by a booking (pid 11); \
             a booking (pid 11) waits for AccessShareLock on public.appointments, blocked by the migration"
        );
        // Unknown numbers stay numbers.
        assert_eq!(
            name_cycle(
                "Process 3 waits for ShareLock on relation 9 of database 5; blocked by process 4.",
                1,
                &BTreeMap::new(),
                &BTreeMap::new()
            ),
            "pid 3 waits for ShareLock on relation 9, blocked by pid 4"
        );
    }

    #[test]
    fn recipes_follow_the_sqlstate() {
        let failure = |code: &str| StepFailure {
            sqlstate: Some(code.to_string()),
            message: String::new(),
            conflict: None,
        };
        let held = vec!["public.appointments".to_string()];
        let r = recipe(&failure(DEADLOCK), &held, Some("public.providers"));
        assert!(
            r.contains("LOCK TABLE public.providers, public.appointments IN ACCESS EXCLUSIVE MODE"),
            "{r}"
        );
        assert!(recipe(&failure(LOCK_TIMEOUT), &held, None).contains("Split the file"));
        assert!(recipe(&failure("23505"), &held, None).starts_with("PostgreSQL rejected"));
    }
}
