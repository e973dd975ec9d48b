//! Rendering a rehearsal: a table of every statement (what it locked, what the traffic
//! saw) with the findings and their safer recipes under it; markdown for a pull
//! request (one row per migration — worst lock, time, stall, verdict — then the
//! statements); or the JSON of issue 12.

use std::io::{self, Write};

use super::{render_rows, Format, Render};
use crate::migrate::Version;
use crate::rehearse::{LockTaken, MigrationRehearsal, Rehearsal, StatementRehearsal};

impl Render for Rehearsal {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => super::write_json(out, self),
            Format::Table => table(self, out),
            Format::Markdown => markdown(self, out),
        }
    }
}

fn heading(r: &Rehearsal) -> String {
    let head = r
        .migrations
        .last()
        .map(|m| format!(" → {}", r.label(m.version)))
        .unwrap_or_else(|| " (nothing pending)".to_string());
    format!(
        "rehearsal {}{head}, {} orgs, {} {} clients; stall budget {} ms",
        r.label(r.before_version),
        r.orgs,
        r.clients,
        clients_of(r),
        r.stall_budget_ms
    )
}

/// What the traffic sends: bookings, or the catalog's requests.
fn requests_of(r: &Rehearsal) -> &'static str {
    if r.traffic == "booking" {
        "bookings"
    } else {
        "requests"
    }
}

/// What the traffic's clients are called: booking clients, or the catalog's.
fn clients_of(r: &Rehearsal) -> &'static str {
    if r.traffic == "booking" {
        "booking"
    } else {
        "catalog-mix"
    }
}

fn baseline(r: &Rehearsal) -> String {
    format!(
        "baseline: {} {}, {} errors, p99 {:.1} ms",
        r.baseline.requests,
        if r.traffic == "booking" {
            "bookings"
        } else {
            "requests"
        },
        r.baseline.errors,
        r.baseline.p99_ms
    )
}

/// `V6:12`, or `V6 commit` (a Supabase version by its timestamp).
fn step(r: &Rehearsal, m: &MigrationRehearsal, s: &StatementRehearsal) -> String {
    match s.line {
        Some(line) => format!("{}:{line}", r.label(m.version)),
        None => format!("{} commit", r.label(m.version)),
    }
}

/// The statement's first words, whitespace folded (the table's cell).
fn short_sql(sql: &str, max: usize) -> String {
    let folded = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max {
        return folded;
    }
    let cut: String = folded.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn verdict(s: &StatementRehearsal) -> &'static str {
    if s.failures.is_empty() {
        "ok"
    } else {
        "FAIL"
    }
}

/// The table's lock cell, `ShareUpdateExclusive appointments`: mode without `Lock`,
/// relation without `public.` (markdown and JSON keep both names whole, and every
/// lock). One cell, so a long name wraps at the space rather than mid-word.
fn short_lock(l: &LockTaken) -> String {
    format!(
        "{} {}",
        l.mode.trim_end_matches("Lock"),
        l.relation.trim_start_matches("public.")
    )
}

fn table(r: &Rehearsal, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", heading(r))?;
    writeln!(out, "{}", baseline(r))?;
    let steps: Vec<(&MigrationRehearsal, &StatementRehearsal)> = r
        .migrations
        .iter()
        .flat_map(|m| m.statements.iter().map(move |s| (m, s)))
        .collect();
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|(m, s)| {
            let lock = s
                .locks
                .iter()
                .max_by_key(|l| crate::rehearse::sampler::strength(&l.mode))
                .map(short_lock)
                .unwrap_or_else(|| "-".into());
            vec![
                step(r, m, s),
                format!("{:.0}", s.ms),
                lock,
                s.traffic.requests.to_string(),
                s.traffic.errors.to_string(),
                format!("{:.0}", s.traffic.max_ms),
                format!("{:.0}", s.traffic.lock_wait_ms),
                verdict(s).to_string(),
            ]
        })
        .collect();
    out.write_all(
        render_rows(
            Format::Table,
            &[
                "step",
                "ms",
                "worst lock",
                "reqs",
                "err",
                "max",
                "wait",
                "ok?",
            ],
            &rows,
        )
        .as_bytes(),
    )?;
    writeln!(
        out,
        "reqs, err, max (ms): {} started during the step; wait: the longest lock wait (ms)",
        requests_of(r)
    )?;
    // The statements themselves under the table, so its rows fit the width.
    for (m, s) in &steps {
        if s.line.is_some() {
            writeln!(out, "{:<7} {}", step(r, m, s), short_sql(&s.sql, 88))?;
        }
    }
    for s in steps.iter().map(|(_, s)| s) {
        if !s.rewrites.is_empty() {
            writeln!(out, "rewritten: {}", s.rewrites.join(", "))?;
        }
    }
    findings(r, out, "")?;
    verdict_line(r, out, "")
}

fn findings(r: &Rehearsal, out: &mut dyn Write, bullet: &str) -> io::Result<()> {
    for f in &r.findings {
        writeln!(out, "{bullet}FAILED {}", f.message)?;
        writeln!(out, "{bullet}  safer: {}", f.recipe)?;
    }
    Ok(())
}

fn verdict_line(r: &Rehearsal, out: &mut dyn Write, bullet: &str) -> io::Result<()> {
    if !r.not_rehearsed.is_empty() {
        writeln!(
            out,
            "{bullet}not rehearsed (an earlier migration failed): {}",
            r.not_rehearsed.join(", ")
        )?;
    }
    let failed: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.sqlstate.is_some())
        .map(|f| r.label(f.version))
        .collect();
    if !failed.is_empty() {
        writeln!(
            out,
            "{bullet}verdict: {} failed under traffic; {} finding(s)",
            failed.join(", "),
            r.findings.len()
        )?;
    } else if r.passed() {
        writeln!(
            out,
            "{bullet}verdict: passed (no statement stalled {} beyond {} ms or failed more than 1% of them)",
            requests_of(r),
            r.stall_budget_ms
        )?;
    } else {
        writeln!(
            out,
            "{bullet}verdict: {} statement(s) over budget",
            r.findings.len()
        )?;
    }
    if let Some(cache) = &r.lab_cache {
        writeln!(
            out,
            "{bullet}lab cache: seeded database {cache} (`dbkit db prune-cache` removes templates)"
        )?;
    }
    if let Some(url) = &r.kept {
        writeln!(out, "{bullet}kept the lab database: {url}")?;
    }
    Ok(())
}

fn markdown(r: &Rehearsal, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### dbkit {}\n", heading(r))?;
    writeln!(out, "{}\n", baseline(r))?;
    let per_migration: Vec<Vec<String>> = r
        .migrations
        .iter()
        .map(|m| {
            vec![
                crate::migrate::failure::file_name_of(r.layout, Version::new(m.version), &m.name)
                    .trim_end_matches(".sql")
                    .to_string(),
                m.worst_lock()
                    .map(|l| format!("{} on {}", l.mode, l.relation))
                    .unwrap_or_else(|| "-".into()),
                format!("{:.0}", m.ms()),
                format!("{:.0}", m.stall_ms()),
                if m.passed() { "ok" } else { "FAIL" }.to_string(),
            ]
        })
        .collect();
    out.write_all(
        render_rows(
            Format::Markdown,
            &["migration", "worst lock", "time ms", "stall ms", "verdict"],
            &per_migration,
        )
        .as_bytes(),
    )?;
    writeln!(out, "\n#### Statements\n")?;
    let rows: Vec<Vec<String>> = r
        .migrations
        .iter()
        .flat_map(|m| m.statements.iter().map(move |s| (m, s)))
        .map(|(m, s)| {
            let locks: Vec<String> = s
                .locks
                .iter()
                .map(|l| format!("{} on {}", l.mode, l.relation))
                .collect();
            vec![
                step(r, m, s),
                format!("`{}`", short_sql(&s.sql, 200).replace('`', "'")),
                format!("{:.1}", s.ms),
                locks.join(", "),
                s.rewrites.join(", "),
                s.traffic.requests.to_string(),
                s.traffic.errors.to_string(),
                format!("{:.1}", s.traffic.p50_ms),
                format!("{:.1}", s.traffic.p99_ms),
                format!("{:.1}", s.traffic.max_ms),
                format!("{:.1}", s.traffic.lock_wait_ms),
                s.retries.to_string(),
                verdict(s).to_string(),
            ]
        })
        .collect();
    out.write_all(
        render_rows(
            Format::Markdown,
            &[
                "step",
                "statement",
                "ms",
                "locks",
                "rewrites",
                "requests",
                "errors",
                "p50 ms",
                "p99 ms",
                "max ms",
                "lock wait ms",
                "retries",
                "verdict",
            ],
            &rows,
        )
        .as_bytes(),
    )?;
    writeln!(out)?;
    findings(r, out, "- ")?;
    verdict_line(r, out, "- ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rehearse::{Baseline, Finding, Traffic};
    use crate::report::testing::assert_contains;

    fn statement(line: Option<usize>, sql: &str, mode: &str, max_ms: f64) -> StatementRehearsal {
        StatementRehearsal {
            line,
            sql: sql.into(),
            ms: 1234.5,
            locks: vec![LockTaken {
                relation: "public.appointments".into(),
                mode: mode.into(),
            }],
            rewrites: vec![],
            traffic: Traffic {
                requests: 40,
                errors: 0,
                p50_ms: 3.0,
                p99_ms: max_ms,
                max_ms,
                lock_wait_ms: max_ms - 5.0,
                ..Traffic::default()
            },
            retries: 0,
            failures: if max_ms > 2000.0 {
                vec!["bookings stalled 2600 ms (budget 2000 ms)".into()]
            } else {
                vec![]
            },
            error: None,
            waited_for: None,
        }
    }

    fn rehearsal() -> Rehearsal {
        let v4 = MigrationRehearsal {
            version: 4,
            name: "appointment_indexes".into(),
            mode: "no-transaction".into(),
            wall_ms: 1300.0,
            statements: vec![statement(
                Some(14),
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_org_provider_time_idx\n    ON appointments (org_id, provider_id, scheduled_at)",
                "ShareUpdateExclusiveLock",
                12.0,
            )],
        };
        let mut commit = statement(None, "COMMIT", "RowExclusiveLock", 9.0);
        commit.locks[0].relation = "public.refinery_schema_history".into();
        let v6 = MigrationRehearsal {
            version: 6,
            name: "no_double_booking".into(),
            mode: "transactional".into(),
            wall_ms: 2500.0,
            statements: vec![
                statement(
                    Some(9),
                    "ALTER TABLE appointments ADD CONSTRAINT appointments_no_provider_overlap EXCLUDE USING gist (org_id WITH =)",
                    "AccessExclusiveLock",
                    2600.0,
                ),
                commit,
            ],
        };
        Rehearsal {
            layout: crate::migrate::Layout::Dbkit,
            traffic: "booking".into(),
            before_version: 3,
            orgs: 5,
            clients: 5,
            baseline: Baseline {
                p99_ms: 4.5,
                requests: 900,
                errors: 0,
            },
            stall_budget_ms: 2000,
            migrations: vec![v4, v6],
            findings: vec![Finding {
                version: 6,
                file: "V6__no_double_booking.sql".into(),
                line: Some(9),
                lock: "AccessExclusiveLock on public.appointments".into(),
                stall_ms: 2600.0,
                message: "V6__no_double_booking.sql:9: AccessExclusiveLock on public.appointments: bookings stalled 2600 ms (budget 2000 ms)".into(),
                recipe: crate::rehearse::verdict::recipe("EXCLUDE"),
                sqlstate: None,
            }],
            not_rehearsed: vec![],
            lab_cache: Some("reused dbkit_cache_0123".into()),
            kept: None,
        }
    }

    #[test]
    fn table_lists_every_statement_within_100_columns_and_findings_below() {
        let text = crate::report::to_string(&rehearsal(), Format::Table);
        assert!(
            text.starts_with("rehearsal V3 → V6, 5 orgs, 5 booking clients"),
            "{text}"
        );
        assert_contains(
            &text,
            &[
                "V4:14",
                "ShareUpdateExclusive appointments",
                // A long name is not cut.
                "RowExclusive refinery_schema_history",
                "V6 commit",
                // The statements under the table.
                "\nV4:14   CREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_org_provider_time_idx ON",
                "FAIL",
                "FAILED V6__no_double_booking.sql:9: AccessExclusiveLock",
                "safer: no lock-free way exists",
                "lab cache: seeded database reused dbkit_cache_0123",
                "verdict: 1 statement(s) over budget",
            ],
        );
        let table: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(['┌', '│', '├', '└']))
            .collect();
        assert!(!table.is_empty());
        let columns = |l: &str| l.matches('│').count();
        for line in &table {
            assert!(line.chars().count() <= 100, "too wide: {line}");
        }
        assert!(
            table
                .iter()
                .filter(|l| l.starts_with('│'))
                .all(|l| columns(l) == 9),
            "8 columns, header and rows alike: {text}"
        );
    }

    #[test]
    fn markdown_has_one_row_per_migration_then_the_statements() {
        let md = crate::report::to_string(&rehearsal(), Format::Markdown);
        assert!(md.starts_with("### dbkit rehearsal V3 → V6"), "{md}");
        assert_contains(
            &md,
            &[
                "| V4__appointment_indexes | ShareUpdateExclusiveLock on public.appointments | 1234 | 12 | ok |",
                "| V6__no_double_booking | AccessExclusiveLock on public.appointments | 2469 | 2600 | FAIL |",
                "#### Statements",
                "| V6:9 | `ALTER TABLE appointments ADD CONSTRAINT",
                "- FAILED V6__no_double_booking.sql:9",
            ],
        );
    }

    #[test]
    fn json_has_the_shape_of_the_issue() {
        let v: serde_json::Value =
            serde_json::from_str(&crate::report::to_string(&rehearsal(), Format::Json)).unwrap();
        for key in ["p99_ms", "requests", "errors"] {
            assert!(!v["baseline"][key].is_null(), "baseline.{key}");
        }
        assert_eq!(v["stall_budget_ms"], 2000);
        let m = &v["migrations"][1];
        assert_eq!(m["version"], 6);
        assert_eq!(m["name"], "no_double_booking");
        let s = &m["statements"][0];
        for key in ["line", "sql", "ms", "locks", "rewrites", "traffic"] {
            assert!(s.get(key).is_some(), "statement.{key}");
        }
        assert_eq!(s["locks"][0]["mode"], "AccessExclusiveLock");
        assert_eq!(s["locks"][0]["relation"], "public.appointments");
        for key in [
            "requests",
            "errors",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "lock_wait_ms",
        ] {
            assert!(!s["traffic"][key].is_null(), "traffic.{key}");
        }
        assert!(m["statements"][1]["line"].is_null(), "COMMIT has no line");
        assert!(v.get("kept").is_none());
    }

    /// V6 deadlocked with the traffic at its line 9; V7 never ran.
    fn failed_under_traffic() -> Rehearsal {
        let mut r = rehearsal();
        r.migrations.truncate(1);
        let mut lock = statement(
            Some(4),
            "LOCK TABLE providers IN ACCESS EXCLUSIVE MODE",
            "AccessExclusiveLock",
            12.0,
        );
        lock.failures =
            vec!["the migration failed here: deadlock detected (SQLSTATE 40P01)".into()];
        lock.error = Some(crate::rehearse::StepFailure {
            sqlstate: Some("40P01".into()),
            message: "deadlock detected".into(),
            conflict: Some("the migration waits for AccessExclusiveLock on public.providers, blocked by a booking (pid 7)".into()),
        });
        r.migrations.push(MigrationRehearsal {
            version: 6,
            name: "lock_order".into(),
            mode: "transactional".into(),
            wall_ms: 1100.0,
            statements: vec![lock],
        });
        r.findings = vec![Finding {
            version: 6,
            file: "V6__lock_order.sql".into(),
            line: Some(4),
            lock: "AccessExclusiveLock on public.providers (waited for)".into(),
            stall_ms: 12.0,
            message: "V6__lock_order.sql:4: failed under the booking traffic: deadlock detected (SQLSTATE 40P01): the migration waits for AccessExclusiveLock on public.providers, blocked by a booking (pid 7)".into(),
            recipe: "take the locks in a fixed order".into(),
            sqlstate: Some("40P01".into()),
        }];
        r.not_rehearsed = vec!["V7__later.sql".into()];
        r
    }

    #[test]
    fn a_migration_failed_under_traffic_is_reported_with_what_was_measured() {
        let r = failed_under_traffic();
        for format in [Format::Table, Format::Markdown] {
            let text = crate::report::to_string(&r, format);
            // What was measured before it, the failure, its recipe, what never ran.
            assert_contains(
                &text,
                &[
                    "V4:14",
                    "V6:4",
                    "FAILED V6__lock_order.sql:4: failed under the booking traffic: deadlock detected (SQLSTATE 40P01)",
                    "safer: take the locks in a fixed order",
                    "not rehearsed (an earlier migration failed): V7__later.sql",
                    "verdict: V6 failed under traffic; 1 finding(s)",
                ],
            );
        }
        let v: serde_json::Value =
            serde_json::from_str(&crate::report::to_string(&r, Format::Json)).unwrap();
        assert_eq!(v["findings"][0]["sqlstate"], "40P01");
        assert_eq!(
            v["migrations"][1]["statements"][0]["error"]["sqlstate"],
            "40P01"
        );
        assert_eq!(v["not_rehearsed"][0], "V7__later.sql");
        assert!(v["migrations"][0]["statements"][0].get("error").is_none());
    }

    #[test]
    fn long_statements_are_shortened_in_the_table_only() {
        assert_eq!(short_sql("SELECT\n   1", 28), "SELECT 1");
        assert_eq!(short_sql(&"x".repeat(40), 10).chars().count(), 10);
    }
}
