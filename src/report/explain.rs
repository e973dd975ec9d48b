//! Renders `ExplainReport`: a narrow table (runs or the before/after diff, short
//! columns only, findings listed under it as wrapped lines, all within the table
//! width), markdown for a PR comment (headline, diff table, findings, collapsed plans)
//! and JSON per DESIGN.md. Markdown and JSON keep every message in full.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{render_rows_within, table_width, write_json, write_wrapped, Format, Render};
use crate::explain::model::DiffRow;
use crate::explain::plan::render_tree;
use crate::explain::rules::{count, Rule, Severity};
use crate::explain::{ExplainReport, Phase, Run};

impl Render for ExplainReport {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        render_within(self, format, table_width(), out)
    }
}

/// `render` with an explicit table width (tests).
pub fn render_within(
    report: &ExplainReport,
    format: Format,
    width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Json => write_json(out, report),
        Format::Markdown => markdown(report, out),
        Format::Table => table(report, width, out),
    }
}

/// One `error:` line per catalog query that could not run (file:line first) and per
/// run that failed (a statement timeout, a query error).
pub fn error_lines(report: &ExplainReport) -> Vec<String> {
    let catalog = report.catalog_errors.iter().map(|e| format!("error: {e}"));
    let runs = report.runs.iter().filter_map(|r| {
        let error = r.error.as_deref()?;
        Some(format!("error: {} ({}): {error}", r.label(), r.phase))
    });
    catalog.chain(runs).collect()
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.3} ms")
    }
}

fn speedup(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}×")
    } else {
        format!("{v:.1}×")
    }
}

fn rule_changes(row: &DiffRow) -> String {
    let mut parts: Vec<String> = row.disappeared.iter().map(|r| format!("−{r}")).collect();
    parts.extend(row.appeared.iter().map(|r| format!("+{r}")));
    parts.join(" ")
}

fn findings_summary(runs: &[Run], phase: Phase) -> String {
    let mut by_rule: BTreeMap<Rule, usize> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.phase == phase) {
        for f in &run.findings {
            *by_rule.entry(f.rule).or_default() += 1;
        }
    }
    if by_rule.is_empty() {
        return "none".into();
    }
    by_rule
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The headline row: the booking path's conflict check for the largest org as a tenant
/// when present, else the biggest speedup.
fn headline_row(rows: &[DiffRow]) -> Option<&DiffRow> {
    rows.iter()
        .find(|r| {
            r.query == "provider_conflict_check"
                && r.org == "largest"
                && r.role.to_string() == "tenant"
        })
        .or_else(|| rows.iter().max_by(|a, b| a.speedup.total_cmp(&b.speedup)))
}

fn headline(report: &ExplainReport) -> String {
    let s = &report.setting;
    let mut text = match (&s.labels, s.before_version, s.after_version) {
        (Some((b, a)), _, _) => format!("{b} → {a}"),
        (None, Some(b), Some(a)) => format!("V{b} → V{a}"),
        _ => "current database".to_string(),
    };
    if let Some(orgs) = s.orgs {
        text.push_str(&format!(", {orgs} org{}", if orgs == 1 { "" } else { "s" }));
    }
    if let Some(t) = &s.largest_table {
        text.push_str(&format!(", {} {}", count(t.rows as f64), t.table));
    } else if let Some(n) = s.appointments {
        text.push_str(&format!(", {} appointments", count(n as f64)));
    }
    text
}

/// A name as a table cell: in backticks for markdown.
fn code(name: impl std::fmt::Display, format: Format) -> String {
    if format == Format::Markdown {
        format!("`{name}`")
    } else {
        name.to_string()
    }
}

/// The before/after table of `--before`. The table keeps to short columns; markdown
/// adds the rules that appeared and disappeared.
fn diff_table(rows: &[DiffRow], format: Format, width: usize) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                code(&r.query, format),
                r.org.clone(),
                r.role.to_string(),
                ms(r.before_ms),
                ms(r.after_ms),
                speedup(r.speedup),
                format!(
                    "{} → {}",
                    count(r.before_buffers as f64),
                    count(r.after_buffers as f64)
                ),
            ];
            if format == Format::Markdown {
                row.push(rule_changes(r));
            }
            row
        })
        .collect();
    let mut headers = vec![
        "query", "org", "role", "before", "after", "speedup", "buffers",
    ];
    if format == Format::Markdown {
        headers.push("findings");
    }
    render_rows_within(format, &headers, &body, width)
}

/// One row per run (query × org × role). The table counts findings (listed under
/// it); markdown names their rules.
fn runs_table(runs: &[Run], format: Format, width: usize) -> String {
    let body: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let findings = if format == Format::Markdown {
                r.findings
                    .iter()
                    .map(|f| code(f.rule, format))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                r.findings.len().to_string()
            };
            let time = match (&r.error, format) {
                (None, _) => ms(r.execution_ms),
                (Some(_), Format::Table) => "error".into(),
                (Some(e), _) => format!("error: {e}"),
            };
            vec![
                code(&r.query, format),
                r.org.clone(),
                r.role.to_string(),
                time,
                count(r.buffers as f64),
                r.seq_scans.join(", "),
                findings,
            ]
        })
        .collect();
    render_rows_within(
        format,
        &[
            "query",
            "org",
            "role",
            "time",
            "buffers",
            "seq scans",
            "findings",
        ],
        &body,
        width,
    )
}

fn table(report: &ExplainReport, width: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "dbkit explain: {}", headline(report))?;
    if let Some(rows) = &report.diff {
        write!(out, "{}", diff_table(rows, Format::Table, width))?;
        let summary = format!(
            "Findings before: {}; after: {}.",
            findings_summary(&report.runs, Phase::Before),
            findings_summary(&report.runs, Phase::After)
        );
        writeln!(out)?;
        write_wrapped(out, &summary, "", "", width)?;
    } else {
        write!(out, "{}", runs_table(&report.runs, Format::Table, width))?;
    }
    // With a diff, the before phase's findings are summarised above; listing them all
    // would bury what is left after the migrations.
    let last = report.last_phase();
    let findings: Vec<(&Run, &crate::explain::rules::Finding)> = report
        .runs
        .iter()
        .filter(|r| r.phase == last)
        .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
        .collect();
    if !findings.is_empty() {
        writeln!(out, "\nFindings ({last}): {}", findings.len())?;
        for (run, f) in findings {
            let line = format!(
                "{}  {} ({})  {}",
                run.label(),
                f.rule,
                f.severity,
                f.message
            );
            write_wrapped(out, &line, "  ", "      ", width)?;
        }
    }
    if let Some(advice) = &report.advice {
        let wrap = move |out: &mut dyn Write, text: &str, first: &str, rest: &str| {
            write_wrapped(out, text, first, rest, width)
        };
        super::advice::table(advice, width, out, &wrap)?;
    }
    let mut footer: Vec<String> = error_lines(report);
    footer.extend(
        report
            .regressions
            .iter()
            .map(|r| format!("regression: {r}")),
    );
    footer.extend(report.notes.iter().map(|n| format!("note: {n}")));
    if !footer.is_empty() {
        writeln!(out)?;
    }
    for line in footer {
        write_wrapped(out, &line, "", "  ", width)?;
    }
    Ok(())
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Error => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
    }
}

/// Cap on the collapsed plans, so the comment stays under GitHub's 65,536 characters.
const PLANS_BUDGET: usize = 40_000;

fn markdown(report: &ExplainReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## dbkit explain: {}\n", headline(report))?;
    if let Some(rows) = &report.diff {
        if let Some(h) = headline_row(rows) {
            writeln!(
                out,
                "**{}** ({} org, {}): {} → {} (**{} faster**), buffers {} → {}{}.\n",
                h.query,
                h.org,
                h.role,
                ms(h.before_ms),
                ms(h.after_ms),
                speedup(h.speedup),
                count(h.before_buffers as f64),
                count(h.after_buffers as f64),
                if h.disappeared.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; gone: {}",
                        h.disappeared
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )?;
        }
        let faster = rows.iter().filter(|r| r.speedup >= 1.1).count();
        writeln!(
            out,
            "{faster} of {} query runs faster. Findings before: {}; after: {}.\n",
            rows.len(),
            findings_summary(&report.runs, Phase::Before),
            findings_summary(&report.runs, Phase::After)
        )?;
        write!(out, "{}", diff_table(rows, Format::Markdown, usize::MAX))?;
    } else {
        write!(
            out,
            "{}",
            runs_table(&report.runs, Format::Markdown, usize::MAX)
        )?;
    }
    let phases: Vec<Phase> = if report.diff.is_some() {
        vec![Phase::After, Phase::Before]
    } else {
        vec![Phase::Current]
    };
    for phase in phases {
        let items: Vec<String> = report
            .runs
            .iter()
            .filter(|r| r.phase == phase)
            .flat_map(|r| {
                r.findings.iter().map(move |f| {
                    format!(
                        "- {} `{}` **{}** ({}, {}): {}",
                        icon(f.severity),
                        f.rule,
                        r.query,
                        r.org,
                        r.role,
                        f.message.replace('|', "\\|")
                    )
                })
            })
            .collect();
        writeln!(out, "\n### Findings ({phase}): {}\n", items.len())?;
        for item in items {
            writeln!(out, "{item}")?;
        }
    }
    writeln!(out)?;
    let mut used = 0;
    let mut skipped = 0;
    for run in report.runs.iter().filter(|r| r.org == "largest") {
        let Some(plan) = &run.plan else { continue };
        let tree = render_tree(plan);
        if used + tree.len() > PLANS_BUDGET {
            skipped += 1;
            continue;
        }
        used += tree.len();
        writeln!(
            out,
            "<details><summary>Plan: {} · {} · {} · {}</summary>\n\n```\n{}```\n</details>",
            run.query,
            run.phase,
            run.role,
            ms(run.execution_ms),
            tree
        )?;
    }
    if skipped > 0 {
        writeln!(out, "\n_{skipped} more plans left out to keep this comment short; `--format json` has every run._")?;
    }
    if let Some(advice) = &report.advice {
        super::advice::markdown(advice, out)?;
    }
    writeln!(out)?;
    for error in &report.catalog_errors {
        writeln!(out, "- ⛔ error: {}", error.replace('|', "\\|"))?;
    }
    for reg in &report.regressions {
        writeln!(out, "- ⛔ regression: {reg}")?;
    }
    for note in &report.notes {
        writeln!(out, "> {note}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::compare;
    use crate::explain::model::Setting;
    use crate::explain::rules::{check_plan, fixtures, PlanContext, Role, Thresholds};
    use crate::report::testing::{assert_contains, assert_has_keys};

    fn run(phase: Phase, role: Role, fixture: &str) -> Run {
        let plan = fixtures::plan(fixture);
        let t = Thresholds::default();
        let findings = check_plan(&PlanContext {
            plan: &plan,
            role,
            thresholds: &t,
            policy: &crate::explain::rules::NO_POLICY,
        });
        let mut run = Run::empty("provider_conflict_check", "largest", phase, role);
        run.execution_ms = plan.execution_ms;
        run.planning_ms = plan.planning_ms;
        run.buffers = plan.buffers().shared();
        run.buffers_detail = plan.buffers();
        run.runs = 5;
        run.seq_scans = plan.seq_scans();
        run.findings = findings;
        run.params = vec![(
            "org_id".into(),
            "d448b959-3670-3db7-d092-3122172fb13c".into(),
        )];
        run.plan = Some(plan);
        run
    }

    fn report() -> ExplainReport {
        let runs = vec![
            run(
                Phase::Before,
                Role::Service,
                "provider_conflict_check_v3_service",
            ),
            run(
                Phase::Before,
                Role::Tenant,
                "provider_conflict_check_v3_tenant",
            ),
            run(
                Phase::After,
                Role::Service,
                "provider_conflict_check_v6_service",
            ),
            run(
                Phase::After,
                Role::Tenant,
                "provider_conflict_check_v6_tenant",
            ),
        ];
        let diff = compare::diff(&runs);
        ExplainReport {
            runs,
            regressions: compare::regressions(&diff),
            diff: Some(diff),
            setting: Setting {
                before_version: Some(3),
                after_version: Some(6),
                orgs: Some(50),
                appointments: Some(300_002),
                ..Setting::default()
            },
            notes: vec![],
            advice: None,
            catalog_errors: vec![],
        }
    }

    fn rendered(format: Format) -> String {
        rendered_within(&report(), format, 100)
    }

    fn rendered_within(report: &ExplainReport, format: Format, width: usize) -> String {
        let mut out = Vec::new();
        render_within(report, format, width, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The report without `--before`: the after phase's runs as `current` ones, with a
    /// failed run and a long note.
    fn current_report() -> ExplainReport {
        let mut runs: Vec<Run> = report()
            .runs
            .into_iter()
            .filter(|r| r.phase == Phase::Before)
            .map(|mut r| {
                r.phase = Phase::Current;
                r
            })
            .collect();
        let mut broken = runs[0].clone();
        broken.query = "org_upcoming".into();
        broken.error = Some("canceling statement due to statement timeout".into());
        broken.findings.clear();
        runs.push(broken);
        ExplainReport {
            runs,
            diff: None,
            regressions: vec![],
            setting: Setting::default(),
            notes: vec!["service runs use the connecting role, and RLS still applies to it on appointments, contacts, members, org_settings, providers: connect as the tables' owner".into()],
            advice: None,
            catalog_errors: vec![],
        }
    }

    /// The current report with `--advise`'s verified set.
    fn advised_report() -> ExplainReport {
        ExplainReport {
            advice: Some(crate::report::advice::tests::advice()),
            ..current_report()
        }
    }

    #[test]
    fn advice_is_rendered_in_every_format() {
        let report = advised_report();
        let table = rendered_within(&report, Format::Table, 100);
        assert_fits(&table, 100);
        assert_contains(&table, &["Index advice: 1 index verified on a lab copy"]);
        assert_contains(&table, &["1. CREATE INDEX CONCURRENTLY IF NOT EXISTS"]);
        assert_contains(&table, &["provider_conflict_check │ read  │ 32,990 │ 6"]);
        assert_contains(
            &table,
            &["left out: appointments (org_id): cuts no query's buffers"],
        );
        let md = rendered_within(&report, Format::Markdown, 100);
        assert_contains(&md, &["### Index advice"]);
        assert_contains(&md, &["```sql\nCREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_org_id_provider_id_ends_at_partial_idx"]);
        assert_contains(&md, &["| `booking_insert` | write | 2 | 7 | +250% |"]);
        assert_contains(&md, &["<details><summary>Every run</summary>"]);
        let json: serde_json::Value =
            serde_json::from_str(&rendered_within(&report, Format::Json, 100)).unwrap();
        let index = &json["advice"]["indexes"][0];
        assert_has_keys(
            index,
            &["table", "name", "statement", "reason", "size_bytes"],
        );
        assert_eq!(json["advice"]["runs"][2]["writes"], true);
        assert_eq!(report.advised_indexes()[0].table, "appointments");
    }

    fn assert_fits(text: &str, width: usize) {
        for line in text.lines() {
            assert!(line.chars().count() <= width, "wider than {width}: {line}");
        }
    }

    /// A Supabase project's report: timestamps in the headline, its own largest table,
    /// a catalog query that no longer runs, in every format.
    #[test]
    fn a_foreign_project_has_its_versions_table_and_catalog_errors_in_every_format() {
        let mut r = report();
        r.setting.labels = Some(("20240101120000".into(), "20240301090000".into()));
        r.setting.appointments = None;
        r.setting.largest_table = Some(crate::explain::model::TableRows {
            table: "bookings".into(),
            rows: 12_345,
        });
        r.catalog_errors = vec![
            "queries/bookings_newest.sql:3: query `bookings_newest` no longer runs: column \"starts\" does not exist (SQLSTATE 42703)".into(),
        ];
        let table = rendered_within(&r, Format::Table, 100);
        assert!(
            table.starts_with(
                "dbkit explain: 20240101120000 → 20240301090000, 50 orgs, 12,345 bookings"
            ),
            "{table}"
        );
        assert_contains(
            &table,
            &["error: queries/bookings_newest.sql:3: query `bookings_newest`"],
        );
        let md = rendered_within(&r, Format::Markdown, 100);
        assert_contains(&md, &["- ⛔ error: queries/bookings_newest.sql:3:"]);
        let json: serde_json::Value =
            serde_json::from_str(&rendered_within(&r, Format::Json, 100)).unwrap();
        assert_eq!(json["setting"]["largest_table"]["table"], "bookings");
        assert!(json["catalog_errors"][0].as_str().unwrap().contains(":3:"));
        assert!(r.fails(&[]), "a catalog error fails the run");
    }

    #[test]
    fn json_has_the_design_fields() {
        let value: serde_json::Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
        let first = &value["runs"][0];
        assert_has_keys(
            first,
            &[
                "query",
                "phase",
                "role",
                "execution_ms",
                "buffers",
                "seq_scans",
                "findings",
            ],
        );
        assert_eq!(first["phase"], "before");
        assert_eq!(first["role"], "service");
        assert_eq!(first["seq_scans"][0], "appointments");
        assert_eq!(first["findings"][0]["rule"], "seq-scan");
        assert_eq!(first["findings"][0]["severity"], "warning");
        assert!(value["diff"][0]["speedup"].as_f64().unwrap() > 10.0);
    }

    #[test]
    fn markdown_has_headline_diff_findings_and_collapsed_plans() {
        let md = rendered(Format::Markdown);
        assert!(
            md.starts_with("## dbkit explain: V3 → V6, 50 orgs, 300,002 appointments"),
            "{md}"
        );
        assert_contains(&md, &["**provider_conflict_check** (largest org, tenant)"]);
        assert!(
            md.contains("| query | org | role | before | after | speedup | buffers | findings |")
        );
        assert_contains(&md, &["−seq-scan"]);
        assert!(md.contains("<details><summary>Plan: provider_conflict_check · before · service"));
    }

    #[test]
    fn table_lists_the_diff_and_findings() {
        let table = rendered(Format::Table);
        assert_contains(
            &table,
            &["Findings before: seq-scan 2; after: rows-removed 2."],
        );
        assert!(
            table.contains("Index Scan using") && table.contains("appointments_org"),
            "{table}"
        );
        // Before-phase details stay in json/markdown; the summary line counts them.
        assert!(!table.contains("Seq Scan on appointments read"), "{table}");
    }

    #[test]
    fn the_diff_table_and_its_findings_fit_100_columns() {
        let table = rendered(Format::Table);
        assert_fits(&table, 100);
        // Findings are listed under the table, one wrapped item each, not as a table.
        let items: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("  provider_conflict_check (largest, "))
            .collect();
        assert_eq!(items.len(), 2, "{table}");
        assert!(items[0].contains("rows-removed (warning)"), "{table}");
        assert_contains(&table, &["Findings (after): 2"]);
        // The message is complete, only wrapped: its words come back in order.
        let report = report();
        let message = &report.runs[2].findings[0].message;
        let words: Vec<&str> = table.split_whitespace().collect();
        let first: Vec<&str> = message.split_whitespace().collect();
        assert!(
            words.windows(first.len()).any(|w| w == first.as_slice()),
            "{table}"
        );
        // The diff table keeps to short columns: the rule changes are markdown's.
        assert!(!table.contains("−seq-scan"), "{table}");
    }

    #[test]
    fn a_narrow_terminal_gets_a_narrow_table() {
        assert_fits(&rendered_within(&report(), Format::Table, 60), 60);
        assert_fits(&rendered_within(&current_report(), Format::Table, 60), 60);
    }

    #[test]
    fn the_runs_table_fits_and_lists_errors_and_notes_under_it() {
        let table = rendered_within(&current_report(), Format::Table, 100);
        assert_fits(&table, 100);
        assert!(
            table.starts_with("dbkit explain: current database\n"),
            "{table}"
        );
        assert!(
            table.contains("seq scans") && table.contains("│ findings │"),
            "{table}"
        );
        assert_contains(&table, &["error: org_upcoming (largest, service) (current): canceling statement due to statement timeout", "note: service runs use the connecting role", "Findings (current): 2"]);
    }

    #[test]
    fn markdown_and_json_keep_the_full_text() {
        let report = current_report();
        let long = &report.notes[0];
        let md = rendered_within(&report, Format::Markdown, 100);
        assert!(md.contains(long.as_str()), "{md}");
        assert_contains(
            &md,
            &["error: canceling statement due to statement timeout"],
        );
        let json: serde_json::Value =
            serde_json::from_str(&rendered_within(&report, Format::Json, 100)).unwrap();
        assert_eq!(json["notes"][0], long.as_str());
        assert_eq!(
            json["runs"][2]["error"],
            "canceling statement due to statement timeout"
        );
    }
}
