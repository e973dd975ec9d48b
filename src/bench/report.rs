//! Rendering a bench report: an aligned table or markdown (one row per scenario, then the
//! double-booking proof, cleanup and budget verdict), or the JSON of DESIGN.md.

use std::fmt::Write as _;

use anyhow::Result;

use super::BenchReport;
use crate::report::{render_rows, Format};

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

pub fn render(report: &BenchReport, format: Format) -> Result<String> {
    if format == Format::Json {
        return Ok(serde_json::to_string_pretty(report)? + "\n");
    }
    let rows: Vec<Vec<String>> = report
        .scenarios
        .iter()
        .map(|s| {
            let errors = if s.errors == 0 {
                "0".to_string()
            } else {
                let by: Vec<String> = s
                    .errors_by_sqlstate
                    .iter()
                    .map(|(c, n)| format!("{c}×{n}"))
                    .collect();
                format!("{} ({})", s.errors, by.join(", "))
            };
            vec![
                s.name.clone(),
                s.concurrency.to_string(),
                s.requests.to_string(),
                s.booked.to_string(),
                slot_taken_cell(s),
                errors,
                format!("{:.1}", s.p50_ms),
                format!("{:.1}", s.p95_ms),
                format!("{:.1}", s.p99_ms),
                format!("{:.1}", s.max_ms),
                format!("{:.0}", s.throughput_rps),
                format!("{:.1}", s.pool_wait_p95_ms),
                format!("{:.1}", s.query_p95_ms),
            ]
        })
        .collect();
    let mut out = String::new();
    if format == Format::Markdown {
        out.push_str("### dbkit bench\n\n");
    }
    out.push_str(&render_rows(format, &HEADERS, &rows));
    let bullet = if format == Format::Markdown { "- " } else { "" };
    out.push('\n');
    writeln!(
        out,
        "{bullet}double bookings: {} (overlapping non-cancelled appointments of one provider, where the bench booked)",
        report.double_bookings
    )?;
    writeln!(
        out,
        "{bullet}cleanup: {} appointment(s) inserted ({} by the unmeasured warm-up), {} deleted; row counts {}",
        report.inserted,
        report.warm_up_inserted,
        report.deleted,
        if report.row_counts_unchanged {
            "unchanged"
        } else {
            "CHANGED"
        }
    )?;
    writeln!(
        out,
        "{bullet}pool size {}, statements {}, latency = pool wait + query, budget p95 {} ms",
        report.pool_size, report.statements, report.budget_p95_ms
    )?;
    if report.failures.is_empty() {
        writeln!(out, "{bullet}budget: passed")?;
    } else {
        for f in &report.failures {
            writeln!(out, "{bullet}FAILED: {f}")?;
        }
    }
    Ok(out)
}

/// The "Before / After" table of `--before`, then the head run's report.
pub fn render_before_after(both: &super::before::BeforeAfter, format: Format) -> Result<String> {
    if format == Format::Json {
        let mut value = serde_json::to_value(both)?;
        // DESIGN.md's top-level fields describe the head run.
        value["scenarios"] = serde_json::to_value(&both.after.scenarios)?;
        value["double_bookings"] = both.after.double_bookings.into();
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    let (b, a) = (both.before_version, both.after_version);
    let headers = [
        "scenario".to_string(),
        "clients".to_string(),
        format!("p95 V{b} ms"),
        format!("p95 V{a} ms"),
        "p95 cut".to_string(),
        format!("req/s V{b}"),
        format!("req/s V{a}"),
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
            "### dbkit bench: before (V{b}) / after (V{a}), {} orgs\n",
            both.orgs
        )?;
    } else {
        writeln!(
            out,
            "Before (V{b}) / After (V{a}), {} orgs, same seeded data:",
            both.orgs
        )?;
    }
    out.push_str(&render_rows(format, &headers, &rows));
    out.push('\n');
    let bullet = if format == Format::Markdown { "- " } else { "" };
    writeln!(
        out,
        "{bullet}double bookings: V{b} {}, V{a} {}",
        both.before.double_bookings, both.after.double_bookings
    )?;
    for f in &both.before.failures {
        writeln!(out, "{bullet}V{b} (expected to fail, not judged): {f}")?;
    }
    writeln!(out, "\nAfter (V{a}):")?;
    out.push_str(&render(&both.after, format)?);
    Ok(out)
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
            row_counts_unchanged: true,
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
    }
}
