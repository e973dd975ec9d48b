//! From what the probe recorded to the rehearsal's result: statements grouped by
//! migration with the traffic each one saw (a booking that waited on a lock taken by an
//! earlier statement of the same transaction counts for that statement), and the
//! findings — statements over the stall or error budget, and the statement a migration
//! failed at under the traffic.

use crate::bench::stats::PhaseStats;
use crate::migrate::failure::MigrationFailed;
use crate::migrate::{MigrationSet, Mode, Version};

use super::probe::StepRecord;
use super::{failure, round1, sampler, verdict};
use super::{Finding, LockTaken, MigrationRehearsal, StatementRehearsal, Traffic};

/// Records and traffic windows → one entry per migration, statements in file order.
/// `failed` is where the migrations stopped (its statement keeps its error; other
/// records' errors were retried away).
pub fn assemble(
    set: &MigrationSet,
    records: Vec<StepRecord>,
    windows: &[PhaseStats],
    budget_ms: f64,
    failed: Option<&MigrationFailed>,
) -> Vec<MigrationRehearsal> {
    let mut traffic: Vec<PhaseStats> = records
        .iter()
        .map(|r| {
            let mut s = PhaseStats::default();
            for &w in &r.windows {
                if let Some(stats) = windows.get(w) {
                    s.merge(stats);
                }
            }
            s
        })
        .collect();
    let mut lock_wait: Vec<f64> = records.iter().map(|r| r.lock_wait_ms).collect();
    for (i, r) in records.iter().enumerate() {
        if r.mode != Mode::Transactional {
            continue;
        }
        let owner = records[..i].iter().position(|o| {
            o.version == r.version
                && o.line.is_some()
                && o.locks
                    .iter()
                    .any(|(rel, mode)| r.waited_on.contains(rel) && sampler::blocks_writes(mode))
        });
        if let Some(j) = owner {
            let moved = std::mem::take(&mut traffic[i]);
            traffic[j].merge(&moved);
            lock_wait[j] = lock_wait[j].max(lock_wait[i]);
            lock_wait[i] = 0.0;
        }
    }
    let mut out: Vec<MigrationRehearsal> = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        let t = &traffic[i];
        let summary = Traffic {
            requests: t.requests(),
            errors: t.error_count(),
            errors_by_sqlstate: t.errors.clone(),
            p50_ms: round1(t.latency.quantile_ms(0.5)),
            p99_ms: round1(t.latency.quantile_ms(0.99)),
            max_ms: round1(t.latency.max_ms()),
            lock_wait_ms: round1(lock_wait[i]),
        };
        let error = r
            .failure
            .clone()
            .filter(|_| failed.is_some_and(|f| f.version.get() == r.version));
        let mut failures =
            verdict::reasons(summary.max_ms, summary.errors, summary.requests, budget_ms);
        if let Some(e) = &error {
            failures.insert(0, format!("the migration failed here: {}", said(e)));
        }
        let statement = StatementRehearsal {
            line: r.line,
            sql: r.sql.clone(),
            ms: round1(r.elapsed.as_secs_f64() * 1000.0),
            locks: r
                .locks
                .iter()
                .map(|(relation, mode)| LockTaken {
                    relation: relation.clone(),
                    mode: mode.clone(),
                })
                .collect(),
            rewrites: r.rewrites.clone(),
            traffic: summary,
            retries: r.retries,
            failures,
            waited_for: error
                .as_ref()
                .and(r.waiting_for.as_ref())
                .map(|w| LockTaken {
                    relation: w.lock.0.clone(),
                    mode: w.lock.1.clone(),
                }),
            error,
        };
        match out.iter_mut().find(|m| m.version == r.version) {
            Some(m) => m.statements.push(statement),
            None => out.push(MigrationRehearsal {
                version: r.version,
                name: r.name.clone(),
                mode: set
                    .get(Version::from(r.version))
                    .map(|f| f.mode.to_string())
                    .unwrap_or_default(),
                wall_ms: 0.0,
                statements: vec![statement],
            }),
        }
    }
    for m in &mut out {
        // COMMIT last; statements by line.
        m.statements.sort_by_key(|s| s.line.unwrap_or(usize::MAX));
    }
    out
}

/// `deadlock detected (SQLSTATE 40P01)`.
fn said(e: &failure::StepFailure) -> String {
    match &e.sqlstate {
        Some(code) => format!("{} (SQLSTATE {code})", e.message),
        None => e.message.clone(),
    }
}

/// One finding per statement that fails the gate; a migration that failed under the
/// traffic gets one even when no statement record shows it (fail closed).
pub fn findings(
    set: &MigrationSet,
    migrations: &[MigrationRehearsal],
    failed: Option<&MigrationFailed>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in migrations {
        let file = set
            .get(Version::from(m.version))
            .map(|f| f.file_name.clone())
            .unwrap_or_else(|| format!("V{}__{}.sql", m.version, m.name));
        for s in m.statements.iter().filter(|s| !s.failures.is_empty()) {
            let place = match s.line {
                Some(line) => format!("{file}:{line}"),
                None => format!("{file} (COMMIT)"),
            };
            let strongest = s
                .locks
                .iter()
                .max_by_key(|l| sampler::strength(&l.mode))
                .map(|l| format!("{} on {}", l.mode, l.relation));
            let finding = match &s.error {
                Some(error) => {
                    let wanted = s.waited_for.as_ref().map(|l| l.relation.as_str());
                    let lock = match &s.waited_for {
                        Some(l) => format!("{} on {} (waited for)", l.mode, l.relation),
                        None => strongest.unwrap_or_else(|| "no relation lock seen".into()),
                    };
                    let conflict = error
                        .conflict
                        .as_ref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    let rest = &s.failures[1..];
                    let also = if rest.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", rest.join("; "))
                    };
                    Finding {
                        version: m.version,
                        file: file.clone(),
                        line: s.line,
                        lock,
                        stall_ms: s.traffic.max_ms,
                        message: format!(
                            "{place}: failed under the booking traffic: {}{conflict}{also}",
                            said(error)
                        ),
                        recipe: failure::recipe(error, &held(m, s), wanted),
                        sqlstate: error.sqlstate.clone(),
                    }
                }
                None => {
                    let lock = strongest.unwrap_or_else(|| "no relation lock seen".into());
                    Finding {
                        version: m.version,
                        file: file.clone(),
                        line: s.line,
                        lock: lock.clone(),
                        stall_ms: s.traffic.max_ms,
                        message: format!("{place}: {lock}: {}", s.failures.join("; ")),
                        recipe: if s.locks.iter().any(|l| sampler::blocks_writes(&l.mode))
                            || s.traffic.lock_wait_ms > 0.0
                        {
                            verdict::recipe(&s.sql)
                        } else {
                            verdict::LOAD_ONLY.to_string()
                        },
                        sqlstate: None,
                    }
                }
            };
            out.push(finding);
        }
    }
    if let Some(f) = failed {
        if !out
            .iter()
            .any(|x| x.sqlstate.is_some() && x.version == f.version.get())
        {
            out.push(Finding {
                version: f.version.get(),
                file: f.file.clone(),
                line: f.line,
                lock: "no relation lock seen".into(),
                stall_ms: 0.0,
                message: format!(
                    "{}: failed under the booking traffic: {}",
                    f.place(),
                    f.reason()
                ),
                recipe: failure::recipe(
                    &failure::StepFailure {
                        sqlstate: f.sqlstate.clone(),
                        message: f.message.clone(),
                        conflict: None,
                    },
                    &[],
                    None,
                ),
                sqlstate: f.sqlstate.clone(),
            });
        }
    }
    out
}

/// Relations the migration held write-blocking locks on when `failing` failed: its own
/// and, in a transactional file, the earlier statements' (held until COMMIT).
fn held(m: &MigrationRehearsal, failing: &StatementRehearsal) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let before = m
        .statements
        .iter()
        .filter(|s| m.mode == Mode::Transactional.to_string() && s.line < failing.line);
    for s in before.chain(std::iter::once(failing)) {
        for l in s.locks.iter().filter(|l| sampler::blocks_writes(&l.mode)) {
            if !out.contains(&l.relation) {
                out.push(l.relation.clone());
            }
        }
    }
    out
}
