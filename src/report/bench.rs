//! Rendering `dbkit bench`'s results: a report (an aligned table or markdown — one row
//! per scenario, then the double-booking proof, cleanup and budget verdict — or the JSON
//! of DESIGN.md), the `--before` comparison, and `--cleanup`'s count.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{render_rows, Format, Render};
use crate::bench::before::BeforeAfter;
use crate::bench::{BenchReport, Removed};

impl Render for BenchReport {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(self, format)?.as_bytes())
    }
}

impl Render for BeforeAfter {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render_before_after(self, format)?.as_bytes())
    }
}

impl Render for Removed {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => writeln!(out, "{}", serde_json::json!({ "removed": self.removed })),
            _ => writeln!(
                out,
                "removed {} appointment(s) left by earlier bench runs",
                self.removed
            ),
        }
    }
}

type Result<T> = std::result::Result<T, io::Error>;

fn fmt_err(_: std::fmt::Error) -> io::Error {
    io::Error::other("formatting the bench report")
}

/// Markdown keeps every column with its full cell text.
const HEADERS: [&str; 13] = [
    "scenario",
    "clients",
    "requests",
    "booked",
    "slot taken",
    "errors",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "req/s",
    "pool wait p95",
    "query p95",
];

/// A terminal table fits 100 columns: numbers only, latencies in ms, max and query
/// p95 left to markdown and JSON; the breakdowns of errors and slot-taken go under it.
const TABLE_HEADERS: [&str; 11] = [
    "scenario", "clients", "reqs", "booked", "taken", "errors", "p50", "p95", "p99", "req/s",
    "pool p95",
];

fn render(report: &BenchReport, format: Format) -> Result<String> {
    if format == Format::Json {
        return Ok(serde_json::to_string_pretty(report)? + "\n");
    }
    let markdown = format == Format::Markdown;
    let rows: Vec<Vec<String>> = report
        .scenarios
        .iter()
        .map(|s| {
            let ms = |v: f64| format!("{v:.1}");
            let mut row = vec![
                s.name.clone(),
                s.concurrency.to_string(),
                s.requests.to_string(),
                s.booked.to_string(),
                if markdown {
                    slot_taken_cell(s)
                } else {
                    s.slot_taken.to_string()
                },
                if markdown {
                    errors_cell(s)
                } else {
                    s.errors.to_string()
                },
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
            ];
            if markdown {
                row.push(ms(s.max_ms));
            }
            row.push(format!("{:.0}", s.throughput_rps));
            row.push(ms(s.pool_wait_p95_ms));
            if markdown {
                row.push(ms(s.query_p95_ms));
            }
            row
        })
        .collect();
    let mut out = String::new();
    if format == Format::Markdown {
        out.push_str("### dbkit bench\n\n");
    }
    let headers: &[&str] = if markdown { &HEADERS } else { &TABLE_HEADERS };
    out.push_str(&render_rows(format, headers, &rows));
    let bullet = if markdown { "- " } else { "" };
    out.push('\n');
    if !markdown {
        writeln!(out, "latencies in ms (pool wait + query)").map_err(fmt_err)?;
        for s in &report.scenarios {
            if s.errors > 0 {
                writeln!(out, "{}: errors {}", s.name, errors_cell(s)).map_err(fmt_err)?;
            }
            if s.slot_taken_by_constraint + s.slot_taken_by_deadlock > 0 {
                writeln!(out, "{}: slot taken {}", s.name, slot_taken_cell(s)).map_err(fmt_err)?;
            }
        }
    }
    writeln!(
        out,
        "{bullet}double bookings: {} (overlapping appointments of one provider involving the bench's rows)",
        report.double_bookings
    ).map_err(fmt_err)?;
    writeln!(
        out,
        "{bullet}cleanup: {} appointment(s) inserted ({} by the warm-up), {} deleted; {}",
        report.inserted,
        report.warm_up_inserted,
        report.deleted,
        if report.own_rows_left == 0 {
            "none left".to_string()
        } else {
            format!("{} of the bench's rows LEFT", report.own_rows_left)
        }
    )
    .map_err(fmt_err)?;
    writeln!(
        out,
        "{bullet}pool size {}, statements {}, latency = pool wait + query, budget p95 {} ms",
        report.pool_size, report.statements, report.budget_p95_ms
    )
    .map_err(fmt_err)?;
    if report.failures.is_empty() {
        writeln!(out, "{bullet}budget: passed").map_err(fmt_err)?;
    } else {
        for f in &report.failures {
            writeln!(out, "{bullet}FAILED: {f}").map_err(fmt_err)?;
        }
    }
    Ok(out)
}

/// The "Before / After" table of `--before`, then the head run's report.
fn render_before_after(both: &BeforeAfter, format: Format) -> Result<String> {
    if format == Format::Json {
        let mut value = serde_json::to_value(both)?;
        // DESIGN.md's top-level fields describe the head run.
        value["scenarios"] = serde_json::to_value(&both.after.scenarios)?;
        value["double_bookings"] = both.after.double_bookings.into();
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    let (b, a) = (&both.labels.0, &both.labels.1);
    let headers = [
        "scenario".to_string(),
        "clients".to_string(),
        format!("p95 {b} ms"),
        format!("p95 {a} ms"),
        "p95 cut".to_string(),
        format!("req/s {b}"),
        format!("req/s {a}"),
        "errors".to_string(),
    ];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = both
        .comparison
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.concurrency.to_string(),
                format!("{:.1}", c.p95_before_ms),
                format!("{:.1}", c.p95_after_ms),
                format!("{:.1}×", c.p95_speedup),
                format!("{:.0}", c.throughput_before_rps),
                format!("{:.0}", c.throughput_after_rps),
                format!("{} → {}", c.errors_before, c.errors_after),
            ]
        })
        .collect();
    let mut out = String::new();
    if format == Format::Markdown {
        writeln!(
            out,
            "### dbkit bench: before ({b}) / after ({a}), {} orgs\n",
            both.orgs
        )
        .map_err(fmt_err)?;
    } else {
        writeln!(
            out,
            "Before ({b}) / After ({a}), {} orgs, same seeded data:",
            both.orgs
        )
        .map_err(fmt_err)?;
    }
    out.push_str(&render_rows(format, &headers, &rows));
    out.push('\n');
    let bullet = if format == Format::Markdown { "- " } else { "" };
    writeln!(
        out,
        "{bullet}double bookings: {b} {}, {a} {}",
        both.before.double_bookings, both.after.double_bookings
    )
    .map_err(fmt_err)?;
    for f in &both.before.failures {
        writeln!(out, "{bullet}{b} (expected to fail, not judged): {f}").map_err(fmt_err)?;
    }
    writeln!(out, "\nAfter ({a}):").map_err(fmt_err)?;
    out.push_str(&render(&both.after, format)?);
    if let Some(url) = &both.kept {
        writeln!(out, "{bullet}kept the lab database: {url}").map_err(fmt_err)?;
    }
    if let Some(cache) = &both.lab_cache {
        // One line each: template names are long, the table's width is 100.
        writeln!(out, "{bullet}lab cache, seeded database: {}", cache.seeded).map_err(fmt_err)?;
        writeln!(out, "{bullet}lab cache, migrated head: {}", cache.head).map_err(fmt_err)?;
        writeln!(out, "{bullet}`dbkit db prune-cache` removes the templates").map_err(fmt_err)?;
    }
    Ok(out)
}

/// `0`, or `2 (40P01×1, 57014×1)`: errors by SQLSTATE.
fn errors_cell(s: &crate::bench::stats::ScenarioSummary) -> String {
    if s.errors == 0 {
        return "0".to_string();
    }
    let by: Vec<String> = s
        .errors_by_sqlstate
        .iter()
        .map(|(c, n)| format!("{c}×{n}"))
        .collect();
    format!("{} ({})", s.errors, by.join(", "))
}

/// `12`, or `12 (3 by constraint, 1 deadlock)` when the constraint had to step in.
fn slot_taken_cell(s: &crate::bench::stats::ScenarioSummary) -> String {
    let mut why = Vec::new();
    if s.slot_taken_by_constraint > 0 {
        why.push(format!("{} by constraint", s.slot_taken_by_constraint));
    }
    if s.slot_taken_by_deadlock > 0 {
        why.push(format!("{} deadlock", s.slot_taken_by_deadlock));
    }
    if why.is_empty() {
        s.slot_taken.to_string()
    } else {
        format!("{} ({})", s.slot_taken, why.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::{Outcome, PhaseStats, Taken};
    use std::time::Duration;

    fn report() -> BenchReport {
        let mut s = PhaseStats::default();
        s.record(
            &Outcome::SlotTaken(Taken::ConflictCheck),
            Duration::from_millis(1),
            Duration::from_millis(2),
        );
        s.record(
            &Outcome::Error("40P01".into()),
            Duration::ZERO,
            Duration::from_millis(2),
        );
        s.elapsed = Duration::from_secs(1);
        BenchReport {
            scenarios: vec![s.summary("burst", 30)],
            double_bookings: 0,
            pool_size: 10,
            budget_p95_ms: 500.0,
            statements: "queries/ (embedded)".into(),
            inserted: 0,
            warm_up_inserted: 0,
            deleted: 0,
            own_rows_left: 0,
            failures: vec![],
        }
    }

    #[test]
    fn json_has_the_design_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&render(&report(), Format::Json).unwrap()).unwrap();
        let s = &v["scenarios"][0];
        for key in [
            "name",
            "concurrency",
            "requests",
            "errors",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "throughput_rps",
        ] {
            assert!(!s[key].is_null(), "missing {key}");
        }
        assert_eq!(v["double_bookings"], 0);
        assert_eq!(s["errors_by_sqlstate"]["40P01"], 1);
    }

    #[test]
    fn human_formats_show_errors_by_sqlstate_and_verdict() {
        let md = render(&report(), Format::Markdown).unwrap();
        assert!(md.contains("| burst | 30 | 2 |"), "{md}");
        assert!(md.contains("1 (40P01×1)"), "{md}");
        assert!(md.contains("- budget: passed"), "{md}");
        let table = render(&report(), Format::Table).unwrap();
        assert!(table.contains("double bookings: 0"), "{table}");
        assert!(table.contains("burst: errors 1 (40P01×1)"), "{table}");
        assert!(table.contains("deleted; none left"), "{table}");
    }

    #[test]
    fn a_failed_report_lists_each_failure() {
        let mut r = report();
        r.own_rows_left = 2;
        r.failures = vec!["burst: p95 900.0 ms exceeds the budget of 500 ms".into()];
        let table = crate::report::to_string(&r, Format::Table);
        assert!(table.contains("2 of the bench's rows LEFT"), "{table}");
        assert!(table.contains("FAILED: burst: p95 900.0 ms"), "{table}");
        let md = crate::report::to_string(&r, Format::Markdown);
        assert!(md.starts_with("### dbkit bench\n"), "{md}");
        assert!(md.contains("- FAILED: burst"), "{md}");
    }

    fn before_after() -> BeforeAfter {
        let (mut before, after) = (report(), report());
        before.scenarios[0].p95_ms = 8.0;
        before.failures = vec!["burst: p95 8.0 ms exceeds the budget of 1 ms".into()];
        let comparison = crate::bench::before::compare(&before, &after);
        BeforeAfter {
            before_version: 3,
            after_version: 6,
            labels: ("V3".into(), "V6".into()),
            orgs: 5,
            before,
            after,
            comparison,
            kept: Some("postgres://u:***@localhost/dbkit_scratch_bench_1_0".into()),
            lab_cache: crate::bench::before::LabCache::of(
                &crate::lab::CacheUse::Hit("dbkit_cache_0a1b2c3d4e5f0a1b2c3d4e5f".into()),
                &crate::lab::CacheUse::Stored("dbkit_cache_2c3d4e5f0a1b2c3d4e5f0a1b".into()),
            ),
        }
    }

    #[test]
    fn before_after_in_every_format() {
        let both = before_after();
        let table = crate::report::to_string(&both, Format::Table);
        for shown in [
            "Before (V3) / After (V6), 5 orgs",
            "p95 V3 ms",
            "V3 (expected to fail, not judged)",
            "kept the lab database: postgres://u:***@",
            "lab cache, migrated head: stored dbkit_cache_2c3d4e5f0a1b2c3d4e5f0a1b",
        ] {
            assert!(table.contains(shown), "{shown}\n{table}");
        }
        for line in table.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line}");
        }
        let md = crate::report::to_string(&both, Format::Markdown);
        assert!(
            md.starts_with("### dbkit bench: before (V3) / after (V6), 5 orgs"),
            "{md}"
        );
        assert!(md.contains("| burst | 30 |"), "{md}");
        let v: serde_json::Value =
            serde_json::from_str(&crate::report::to_string(&both, Format::Json)).unwrap();
        assert_eq!(v["before_version"], 3);
        assert_eq!(v["scenarios"][0]["name"], "burst");
        assert_eq!(v["comparison"][0]["p95_before_ms"], 8.0);
        assert_eq!(
            v["lab_cache"]["seeded"],
            "reused dbkit_cache_0a1b2c3d4e5f0a1b2c3d4e5f"
        );
        assert!(md.contains("- lab cache, seeded database: reused"), "{md}");
        assert_eq!(v["double_bookings"], 0);
    }

    #[test]
    fn removed_in_every_format() {
        let r = Removed { removed: 4 };
        let text = "removed 4 appointment(s) left by earlier bench runs\n";
        assert_eq!(crate::report::to_string(&r, Format::Table), text);
        assert_eq!(crate::report::to_string(&r, Format::Markdown), text);
        assert_eq!(
            crate::report::to_string(&r, Format::Json),
            "{\"removed\":4}\n"
        );
    }
}
