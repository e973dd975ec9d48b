//! Rendering `dbkit bench` on a catalog's mix (`MixReport`): one row per query and the
//! overall row (requests, errors, p50 / p95 / p99, throughput, pool wait), then errors
//! by SQLSTATE, the queries that could not run, what was committed and removed, and
//! the budget's verdict. JSON is the report as it is.

use std::io::{self, Write};

use super::{render_rows, write_json, Format, Render};
use crate::bench::before::MixBeforeAfter;
use crate::bench::mix::{MixReport, QueryRow};

impl Render for MixBeforeAfter {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(out, self);
        }
        let (b, a) = (&self.labels.0, &self.labels.1);
        let markdown = format == Format::Markdown;
        let heading = format!(
            "Before ({b}) / After ({a}), {} orgs, same seeded data",
            self.orgs
        );
        if markdown {
            writeln!(out, "### dbkit bench: {heading}\n")?;
        } else {
            writeln!(out, "{heading}:")?;
        }
        let rows: Vec<Vec<String>> = self
            .comparison
            .iter()
            .map(|c| {
                vec![
                    if markdown {
                        format!("`{}`", c.name)
                    } else {
                        c.name.clone()
                    },
                    format!("{:.1}", c.p95_before_ms),
                    format!("{:.1}", c.p95_after_ms),
                    format!("{:.1}×", c.p95_speedup),
                    format!("{:.0}", c.throughput_before_rps),
                    format!("{:.0}", c.throughput_after_rps),
                    format!("{} → {}", c.errors_before, c.errors_after),
                ]
            })
            .collect();
        let headers = [
            "query".to_string(),
            format!("p95 {b}"),
            format!("p95 {a}"),
            "cut".to_string(),
            format!("req/s {b}"),
            format!("req/s {a}"),
            "errors".to_string(),
        ];
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        write!(out, "{}", render_rows(format, &headers, &rows))?;
        writeln!(out, "\nAfter ({a}):")?;
        self.after.render(format, out)?;
        let bullet = if markdown { "- " } else { "" };
        if let Some(url) = &self.kept {
            writeln!(out, "{bullet}kept the lab database: {url}")?;
        }
        if let Some(cache) = &self.lab_cache {
            writeln!(out, "{bullet}lab cache, seeded database: {}", cache.seeded)?;
            writeln!(out, "{bullet}lab cache, migrated head: {}", cache.head)?;
        }
        Ok(())
    }
}

impl Render for MixReport {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(out, self);
        }
        let markdown = format == Format::Markdown;
        let rate = self
            .rate
            .map(|r| format!(", open loop at {r} req/s"))
            .unwrap_or_default();
        let heading = format!(
            "dbkit bench: the mix of {} ({} queries) as {}",
            self.catalog,
            self.queries.len(),
            self.role,
        );
        let setting = format!(
            "{} clients{rate}, pool {}, {} tenants, {:.1} s",
            self.concurrency, self.pool_size, self.tenants, self.duration_s
        );
        if markdown {
            writeln!(out, "## {heading}\n\n{setting}\n")?;
        } else {
            writeln!(out, "{heading}\n{setting}")?;
        }
        let row = |r: &QueryRow, name: String| {
            let ms = |v: f64| format!("{v:.1}");
            vec![
                name,
                r.requests.to_string(),
                r.errors.to_string(),
                ms(r.p50_ms),
                ms(r.p95_ms),
                ms(r.p99_ms),
                format!("{:.0}", r.throughput_rps),
                ms(r.pool_wait_p95_ms),
            ]
        };
        let mut rows: Vec<Vec<String>> = self
            .queries
            .iter()
            .map(|r| {
                row(
                    r,
                    if markdown {
                        format!("`{}`", r.query)
                    } else {
                        r.query.clone()
                    },
                )
            })
            .collect();
        rows.push(row(
            &self.overall,
            if markdown {
                "**all**".into()
            } else {
                "all".into()
            },
        ));
        let headers = [
            "query", "reqs", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s", "pool p95",
        ];
        write!(out, "{}", render_rows(format, &headers, &rows))?;
        let bullet = if markdown { "- " } else { "" };
        for r in self.queries.iter().filter(|r| r.errors > 0) {
            let codes: Vec<String> = r
                .errors_by_sqlstate
                .iter()
                .map(|(code, n)| format!("{code} × {n}"))
                .collect();
            writeln!(out, "{bullet}errors in {}: {}", r.query, codes.join(", "))?;
        }
        if self.rate.is_some() {
            writeln!(
                out,
                "{bullet}schedule lag p95: {:.1} ms (latency counts from the scheduled start)",
                self.overall.lag_p95_ms
            )?;
        }
        if self.committed > 0 {
            writeln!(
                out,
                "{bullet}committed {} row(s), removed {} ({} left)",
                self.committed, self.removed, self.committed_left
            )?;
        }
        for e in &self.catalog_errors {
            writeln!(out, "{bullet}error: {e}")?;
        }
        for s in &self.skipped {
            writeln!(out, "{bullet}skipped {s}")?;
        }
        if self.failures.is_empty() {
            writeln!(
                out,
                "{bullet}verdict: within budget (p95 ≤ {} ms, errors ≤ 1%)",
                self.budget_p95_ms
            )?;
        } else {
            for f in &self.failures {
                writeln!(out, "{bullet}FAILED {f}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::rules::Role;
    use crate::report::testing::{assert_contains, assert_has_keys};
    use crate::report::to_string;

    fn row(query: &str, errors: u64) -> QueryRow {
        QueryRow {
            query: query.into(),
            requests: 1200,
            errors,
            errors_by_sqlstate: if errors > 0 {
                [("57014".to_string(), errors)].into_iter().collect()
            } else {
                Default::default()
            },
            p50_ms: 1.25,
            p95_ms: 4.5,
            p99_ms: 9.75,
            max_ms: 20.0,
            throughput_rps: 120.0,
            pool_wait_p95_ms: 0.2,
            lag_p95_ms: 0.4,
        }
    }

    fn report() -> MixReport {
        MixReport {
            catalog: "queries".into(),
            role: Role::Tenant,
            concurrency: 4,
            rate: Some(200.0),
            pool_size: 4,
            tenants: 5,
            duration_s: 10.0,
            queries: vec![row("bookings_newest", 0), row("bookings_by_staff_id", 30)],
            overall: row("all", 30),
            committed: 12,
            removed: 12,
            committed_left: 0,
            budget_p95_ms: 500.0,
            catalog_errors: vec!["queries/x.sql:2: query `x` no longer runs: column \"y\" does not exist (SQLSTATE 42703)".into()],
            skipped: vec!["bookings_by_id: the sampler of `bookings_by_id.id` found no value".into()],
            failures: vec!["2.5% of requests failed".into()],
        }
    }

    #[test]
    fn before_after_compares_each_query_in_every_format() {
        let (before, after) = (report(), report());
        let comparison = vec![crate::bench::before::Comparison {
            name: "bookings_newest".into(),
            concurrency: 4,
            p95_before_ms: 45.0,
            p95_after_ms: 4.5,
            p95_speedup: 10.0,
            throughput_before_rps: 80.0,
            throughput_after_rps: 800.0,
            errors_before: 0,
            errors_after: 0,
        }];
        let both = MixBeforeAfter {
            before_version: 20_250_106_093_000,
            after_version: 20_250_203_100_000,
            labels: ("20250106093000".into(), "20250203100000".into()),
            orgs: 5,
            before,
            after,
            comparison,
            kept: None,
            lab_cache: None,
        };
        let table = to_string(&both, Format::Table);
        assert_contains(
            &table,
            &[
                "Before (20250106093000) / After (20250203100000), 5 orgs",
                "10.0×",
                "After (20250203100000):",
            ],
        );
        let md = to_string(&both, Format::Markdown);
        assert_contains(&md, &["| `bookings_newest` | 45.0 | 4.5 | 10.0× |"]);
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&both, Format::Json)).unwrap();
        assert_eq!(json["before_version"], 20_250_106_093_000i64);
        assert_eq!(json["comparison"][0]["p95_speedup"], 10.0);
    }

    #[test]
    fn every_format_has_the_rows_errors_and_verdict() {
        let table = to_string(&report(), Format::Table);
        assert_contains(
            &table,
            &[
                "the mix of queries (2 queries) as tenant\n4 clients, open loop at 200 req/s",
                "bookings_by_staff_id",
                "errors in bookings_by_staff_id: 57014 × 30",
                "schedule lag p95: 0.4 ms",
                "committed 12 row(s), removed 12 (0 left)",
                "error: queries/x.sql:2:",
                "skipped bookings_by_id:",
                "FAILED 2.5% of requests failed",
            ],
        );
        for line in table
            .lines()
            .filter(|l| l.starts_with(['│', '┌', '├', '└']))
        {
            assert!(line.chars().count() <= 100, "wider than 100: {line}");
        }
        let md = to_string(&report(), Format::Markdown);
        assert_contains(
            &md,
            &[
                "## dbkit bench",
                "| `bookings_newest` | 1200 | 0 | 1.2 | 4.5 |",
                "| **all** |",
                "- FAILED",
            ],
        );
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&report(), Format::Json)).unwrap();
        assert_has_keys(
            &json,
            &[
                "queries",
                "overall",
                "role",
                "concurrency",
                "rate",
                "failures",
            ],
        );
        assert_has_keys(
            &json["queries"][0],
            &[
                "query",
                "requests",
                "errors",
                "errors_by_sqlstate",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "throughput_rps",
                "pool_wait_p95_ms",
            ],
        );
    }
}
