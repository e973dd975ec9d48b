//! Renderers for an explain report: table (tabled), markdown for a PR comment
//! (headline, diff table, findings, collapsed plans) and JSON per DESIGN.md. Each
//! writes to any `io::Write`.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::compare::DiffRow;
use super::plan::render_tree;
use super::rules::{count, Rule, Severity};
use super::runner::{Phase, Run};
use crate::report::{render_rows, Format};

/// Where the runs came from (for headlines and JSON consumers).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Setting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointments: Option<i64>,
    /// Wall-clock milliseconds per step (scratch, migrate, seed, explain before, ...).
    pub timings_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub runs: Vec<Run>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Vec<DiffRow>>,
    pub regressions: Vec<String>,
    pub setting: Setting,
    pub notes: Vec<String>,
}

pub fn render(report: &Report, format: Format, out: &mut impl Write) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Markdown => markdown(report, out),
        Format::Table => table(report, out),
    }
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

fn headline(report: &Report) -> String {
    let s = &report.setting;
    let mut text = match (s.before_version, s.after_version) {
        (Some(b), Some(a)) => format!("V{b} → V{a}"),
        _ => "current database".to_string(),
    };
    if let Some(orgs) = s.orgs {
        text.push_str(&format!(", {orgs} org{}", if orgs == 1 { "" } else { "s" }));
    }
    if let Some(n) = s.appointments {
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

/// The before/after table of `--before`, in a human format.
fn diff_table(rows: &[DiffRow], format: Format) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
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
                rule_changes(r),
            ]
        })
        .collect();
    render_rows(
        format,
        &[
            "query", "org", "role", "before", "after", "speedup", "buffers", "findings",
        ],
        &body,
    )
}

/// One row per run (query × org × role), in a human format.
fn runs_table(runs: &[Run], format: Format) -> String {
    let body: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                code(&r.query, format),
                r.org.clone(),
                r.role.to_string(),
                r.error
                    .clone()
                    .map_or_else(|| ms(r.execution_ms), |e| format!("error: {e}")),
                count(r.buffers as f64),
                r.seq_scans.join(", "),
                r.findings
                    .iter()
                    .map(|f| code(f.rule, format))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    render_rows(
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
    )
}

fn table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "dbkit explain: {}", headline(report))?;
    if let Some(rows) = &report.diff {
        write!(out, "{}", diff_table(rows, Format::Table))?;
    } else {
        write!(out, "{}", runs_table(&report.runs, Format::Table))?;
    }
    // With a diff, the before phase's findings are summarised in the diff's last
    // column; listing them all would bury what is left after the migrations.
    let last = if report.diff.is_some() {
        Phase::After
    } else {
        Phase::Current
    };
    let findings: Vec<Vec<String>> = report
        .runs
        .iter()
        .filter(|r| r.phase == last)
        .flat_map(|r| {
            r.findings.iter().map(move |f| {
                vec![
                    format!("{} ({}, {})", r.query, r.org, r.role),
                    f.severity.to_string(),
                    f.rule.to_string(),
                    f.message.clone(),
                ]
            })
        })
        .collect();
    if report.diff.is_some() {
        writeln!(
            out,
            "\nFindings before: {}; after: {}.",
            findings_summary(&report.runs, Phase::Before),
            findings_summary(&report.runs, Phase::After)
        )?;
    }
    if !findings.is_empty() {
        writeln!(out, "\nFindings ({last})")?;
        write!(
            out,
            "{}",
            render_rows(
                Format::Table,
                &["query", "severity", "rule", "message"],
                &findings
            )
        )?;
    }
    footer(report, out)
}

fn footer(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    for r in report.runs.iter().filter(|r| r.error.is_some()) {
        writeln!(
            out,
            "error: {} ({}, {}, {}): {}",
            r.query,
            r.org,
            r.role,
            r.phase,
            r.error.as_deref().unwrap_or("")
        )?;
    }
    for reg in &report.regressions {
        writeln!(out, "regression: {reg}")?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
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

fn markdown(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
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
        write!(out, "{}", diff_table(rows, Format::Markdown))?;
    } else {
        write!(out, "{}", runs_table(&report.runs, Format::Markdown))?;
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
    writeln!(out)?;
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
    use crate::explain::rules::{check_plan, fixtures, PlanContext, Role, Thresholds};

    fn run(phase: Phase, role: Role, fixture: &str) -> Run {
        let plan = fixtures::plan(fixture);
        let t = Thresholds::default();
        let findings = check_plan(&PlanContext {
            plan: &plan,
            role,
            thresholds: &t,
        });
        Run {
            query: "provider_conflict_check".into(),
            org: "largest".into(),
            phase,
            role,
            execution_ms: plan.execution_ms,
            planning_ms: plan.planning_ms,
            buffers: plan.buffers().shared(),
            buffers_detail: plan.buffers(),
            runs: 5,
            seq_scans: plan.seq_scans(),
            findings,
            params: vec![(
                "org_id".into(),
                "d448b959-3670-3db7-d092-3122172fb13c".into(),
            )],
            error: None,
            plan: Some(plan),
            raw_plan: None,
        }
    }

    fn report() -> Report {
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
        Report {
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
        }
    }

    fn rendered(format: Format) -> String {
        let mut out = Vec::new();
        render(&report(), format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_has_the_design_fields() {
        let value: serde_json::Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
        let first = &value["runs"][0];
        for key in [
            "query",
            "phase",
            "role",
            "execution_ms",
            "buffers",
            "seq_scans",
            "findings",
        ] {
            assert!(first.get(key).is_some(), "{key} missing: {first}");
        }
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
        assert!(
            md.contains("**provider_conflict_check** (largest org, tenant)"),
            "{md}"
        );
        assert!(
            md.contains("| query | org | role | before | after | speedup | buffers | findings |")
        );
        assert!(md.contains("−seq-scan"), "{md}");
        assert!(md.contains("<details><summary>Plan: provider_conflict_check · before · service"));
    }

    #[test]
    fn table_lists_the_diff_and_findings() {
        let table = rendered(Format::Table);
        assert!(
            table.contains("Findings before: seq-scan 2; after: rows-removed 2."),
            "{table}"
        );
        assert!(
            table.contains("Index Scan using appointments_org"),
            "{table}"
        );
        // Before-phase details stay in json/markdown; the diff column summarises them.
        assert!(!table.contains("Seq Scan on appointments read"), "{table}");
    }
}
