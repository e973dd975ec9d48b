//! Renders `dbkit review`'s `Review`: one markdown document for a pull-request comment,
//! in the order a reviewer reads it — the verdict line; the findings by severity with
//! file:line; the isolation proof (tables × roles × operations, what leaked); each new
//! migration's lock, duration and stall under traffic; the query plans before → after.
//! Long sections are collapsed (`<details>`), and the document stays within GitHub's
//! comment limit by cutting the last sections with a count, never the verdict. The
//! table format is the same text for a terminal; JSON is the `Review` itself.

use std::io::{self, Write};

use crate::check::isolation::Proof;
use crate::check::rule::Finding;
use crate::rehearse::Rehearsal;
use crate::report::{render_rows, to_string, write_json, Format, Render};
use crate::review::Review;
use crate::rule::Severity;

/// The hidden line a sticky comment is found by (the action's script edits the
/// comment that carries it).
pub const MARKER: &str = "<!-- dbkit-review -->";
/// GitHub's limit on a comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Rows a table shows before it is collapsed.
const OPEN_ROWS: usize = 10;

/// A `Review` rendered within `limit` characters.
pub struct ReviewReport<'a> {
    pub review: &'a Review,
    pub limit: usize,
}

impl Render for ReviewReport<'_> {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => write_json(
                out,
                &Json {
                    verdict: self.review.verdict(),
                    review: self.review,
                },
            ),
            Format::Markdown | Format::Table => {
                out.write_all(document(self.review, self.limit).as_bytes())
            }
        }
    }
}

/// The JSON document: the verdict, then the review's fields.
#[derive(serde::Serialize)]
struct Json<'a> {
    verdict: crate::review::Verdict,
    #[serde(flatten)]
    review: &'a Review,
}

/// The whole document within `limit` characters.
pub fn document(review: &Review, limit: usize) -> String {
    let head = format!("{MARKER}\n{}\n\n{}\n", verdict_line(review), scope(review));
    let sections = [
        findings_section(review),
        proof_section(review.check.ran.proof.as_ref()),
        rehearsal_section(review),
        plans_section(review),
    ];
    fit(&head, &sections, limit)
}

/// The head whole, then the sections while they fit; the first that does not is cut
/// at a line, its open `<details>` closed, and a line says how much was left out.
fn fit(head: &str, sections: &[String], limit: usize) -> String {
    let mut out = head.to_string();
    let total: usize = sections.iter().map(|s| s.chars().count()).sum();
    let mut used = 0;
    for section in sections {
        let text = format!("\n{section}");
        let room = limit.saturating_sub(out.chars().count());
        if text.chars().count() <= room {
            out.push_str(&text);
            used += section.chars().count();
            continue;
        }
        // Room for the cut notice and the closing tags.
        let reserve = 200;
        let mut kept = String::new();
        for line in text.split_inclusive('\n') {
            if kept.chars().count() + line.chars().count() + reserve > room {
                break;
            }
            kept.push_str(line);
        }
        let open = kept.matches("<details>").count() - kept.matches("</details>").count();
        used += kept.chars().count();
        out.push_str(&kept);
        for _ in 0..open {
            out.push_str("\n</details>\n");
        }
        let cut = total.saturating_sub(used);
        out.push_str(&format!(
            "\n**{cut} characters cut** to stay within GitHub's {limit}-character comment limit: run `dbkit review` locally or read the job's log for the whole report.\n"
        ));
        break;
    }
    out
}

fn verdict_line(review: &Review) -> String {
    let verdict = review.verdict();
    if verdict.passed {
        let count = review.findings().len();
        format!(
            "## dbkit review: ✅ pass — no finding at or above {} ({count} below)",
            review.fail_on
        )
    } else {
        format!("## dbkit review: ❌ fail — {}", verdict.reasons.join("; "))
    }
}

/// What was looked at, and what was not run.
fn scope(review: &Review) -> String {
    let ran = &review.check.ran;
    let mut parts = vec![format!(
        "Base V{}; {} migration file(s), {} statement(s) checked",
        review.base, ran.files, ran.statements
    )];
    if ran.ignored > 0 {
        parts.push(format!(
            "{} finding(s) silenced by `-- dbkit:ignore`",
            ran.ignored
        ));
    }
    if !ran.present_at_base.is_empty() {
        parts.push(format!(
            "{} catalog finding(s) already present at V{} not counted",
            ran.present_at_base.len(),
            review.base
        ));
    }
    for what in &review.not_run {
        parts.push(format!("not run: {what}"));
    }
    parts.join(" · ")
}

fn details(summary: &str, body: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{body}\n</details>\n")
}

/// A table, collapsed when it is long.
fn table(summary: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let text = render_rows(Format::Markdown, headers, rows);
    if rows.len() > OPEN_ROWS {
        details(summary, &text)
    } else {
        text
    }
}

fn place(f: &Finding) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("`{file}:{line}`"),
        (Some(file), None) => format!("`{file}`"),
        _ => "database".into(),
    }
}

fn findings_section(review: &Review) -> String {
    let mut out = String::from("### Findings\n\n");
    let all = review.findings();
    if all.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let rows: Vec<Vec<String>> = all
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| {
                vec![
                    format!("`{}`", f.rule),
                    place(f),
                    f.object.clone().unwrap_or_default(),
                    f.message.clone(),
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("**{severity}** ({})\n\n", rows.len()));
        out.push_str(&table(
            &format!("{} {severity}(s)", rows.len()),
            &["rule", "where", "object", "message"],
            &rows,
        ));
        out.push('\n');
    }
    out
}

fn proof_section(proof: Option<&Proof>) -> String {
    let mut out = String::from("### Tenant isolation\n\n");
    let Some(proof) = proof else {
        out.push_str(
            "Not run: the migrations did not apply on a scratch database (see the findings).\n",
        );
        return out;
    };
    if proof.tried.is_empty() {
        out.push_str("Nothing to try: no table an API role can reach.\n");
        return out;
    }
    let mut objects: Vec<&str> = proof.tried.iter().map(|t| t.object.as_str()).collect();
    objects.dedup();
    let mut seen = std::collections::BTreeSet::new();
    objects.retain(|o| seen.insert(*o));
    let mut roles: Vec<&str> = proof.tried.iter().map(|t| t.role).collect();
    let mut seen = std::collections::BTreeSet::new();
    roles.retain(|r| seen.insert(*r));
    let operations = ["SELECT", "INSERT", "UPDATE", "DELETE"];
    out.push_str(&format!(
        "{} request(s) tried on {} table(s) × {} role(s) × {} operation(s): **{} leaked**.\n\n",
        proof.tried.len(),
        objects.len(),
        roles.len(),
        operations.len(),
        proof.leaks()
    ));
    let leaks: Vec<String> = proof
        .tried
        .iter()
        .filter(|t| t.leaked)
        .map(|t| format!("- `{}`: {} as {}", t.object, t.operation, t.role))
        .collect();
    if !leaks.is_empty() {
        out.push_str("Leaks:\n\n");
        out.push_str(&leaks.join("\n"));
        out.push_str("\n\n");
    }
    let mut rows = Vec::new();
    for object in &objects {
        for role in &roles {
            let mut row = vec![format!("`{object}`"), role.to_string()];
            for op in operations {
                let cell = proof
                    .tried
                    .iter()
                    .filter(|t| t.object == *object && t.role == *role && t.operation == op)
                    .fold(None, |acc: Option<bool>, t| {
                        Some(acc.unwrap_or(false) || t.leaked)
                    });
                row.push(
                    match cell {
                        None => "–",
                        Some(false) => "held",
                        Some(true) => "**LEAK**",
                    }
                    .to_string(),
                );
            }
            rows.push(row);
        }
    }
    out.push_str(&details(
        &format!("{} table × role rows", rows.len()),
        &render_rows(
            Format::Markdown,
            &["table", "role", "SELECT", "INSERT", "UPDATE", "DELETE"],
            &rows,
        ),
    ));
    out
}

fn rehearsal_section(review: &Review) -> String {
    let mut out = String::from("### Migrations under traffic\n\n");
    let Some(r) = review.check.rehearsal.as_ref() else {
        out.push_str("Not rehearsed (`--no-rehearse`).\n");
        return out;
    };
    out.push_str(&rehearsal_summary(r));
    out.push_str(&details(
        "every statement",
        to_string(r, Format::Markdown).trim_end(),
    ));
    out
}

fn rehearsal_summary(r: &Rehearsal) -> String {
    let mut out = format!(
        "V{} → head on {} org(s) under {} booking client(s); stall budget {} ms, baseline p99 {:.0} ms.\n\n",
        r.before_version, r.orgs, r.clients, r.stall_budget_ms, r.baseline.p99_ms
    );
    let rows: Vec<Vec<String>> = r
        .migrations
        .iter()
        .map(|m| {
            vec![
                format!("V{}__{}", m.version, m.name),
                m.worst_lock()
                    .map(|l| format!("{} on {}", l.mode, l.relation))
                    .unwrap_or_else(|| "–".into()),
                format!("{:.0} ms", m.ms()),
                format!("{:.0} ms", m.stall_ms()),
                if m.passed() { "ok" } else { "**FAIL**" }.to_string(),
            ]
        })
        .collect();
    out.push_str(&render_rows(
        Format::Markdown,
        &[
            "migration",
            "strongest lock",
            "duration",
            "stall",
            "verdict",
        ],
        &rows,
    ));
    for name in &r.not_rehearsed {
        out.push_str(&format!(
            "\nNot rehearsed (an earlier migration failed): {name}\n"
        ));
    }
    out.push('\n');
    out
}

fn plans_section(review: &Review) -> String {
    let mut out = String::from("### Query plans before → after\n\n");
    let Some(plans) = review.plans.as_ref() else {
        out.push_str("Not measured (`--no-plans`).\n");
        return out;
    };
    // Judged on buffers and rules, not timings (which a busy CI runner moves).
    let rows = plans.diff.as_deref().unwrap_or_default();
    let fewer = rows
        .iter()
        .filter(|r| r.after_buffers < r.before_buffers)
        .count();
    let more = rows
        .iter()
        .filter(|r| r.after_buffers > r.before_buffers)
        .count();
    let appeared: usize = rows.iter().map(|r| r.appeared.len()).sum();
    let disappeared: usize = rows.iter().map(|r| r.disappeared.len()).sum();
    out.push_str(&format!(
        "{} query × org × role series: {fewer} read fewer buffers, {more} more; rules appeared {appeared}, disappeared {disappeared}; {} regression(s).\n\n",
        rows.len(),
        plans.regressions.len(),
    ));
    for regression in &plans.regressions {
        out.push_str(&format!("- regression: {regression}\n"));
    }
    if review.failed_runs() > 0 {
        for line in crate::report::explain::error_lines(plans) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push('\n');
    out.push_str(&details(
        "time, buffers and rules per query",
        to_string(plans, Format::Markdown).trim_end(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::assert_contains;
    use crate::review::tests::leaking;

    #[test]
    fn the_verdict_comes_first_then_the_sections_in_order() {
        let md = document(&leaking(), COMMENT_LIMIT);
        assert!(md.starts_with(MARKER), "{md}");
        let verdict = md.lines().nth(1).unwrap();
        assert_eq!(
            verdict,
            "## dbkit review: ❌ fail — 2 finding(s) at or above error: require-concurrent-index-creation, tenant-leak"
        );
        let order = [
            "### Findings",
            "**error** (2)",
            "`migrations/V7__notes_index.sql:3`",
            "**warning** (1)",
            "### Tenant isolation",
            "8 request(s) tried on 1 table(s) × 2 role(s) × 4 operation(s): **1 leaked**",
            "- `public.notes`: SELECT as authenticated",
            "### Migrations under traffic",
            "### Query plans before → after",
        ];
        let mut at = 0;
        for part in order {
            let found = md[at..]
                .find(part)
                .unwrap_or_else(|| panic!("{part:?} out of order in:\n{md}"));
            at += found;
        }
        assert_contains(
            &md,
            &[
                "| `public.notes` | authenticated | **LEAK** | held | held | held |",
                "not run: query plans: --no-plans",
            ],
        );
    }

    #[test]
    fn a_long_document_is_cut_with_a_count_and_keeps_the_verdict() {
        let mut review = leaking();
        for n in 0..400 {
            review.check.findings.push(
                Finding::new(
                    crate::rule::Rule::NoPrimaryKey,
                    format!("table t{n} has no primary key; ").repeat(5),
                )
                .object(format!("t{n}")),
            );
        }
        let whole = document(&review, usize::MAX);
        assert!(whole.chars().count() > 20_000);
        let md = document(&review, 20_000);
        assert!(md.chars().count() <= 20_000, "{}", md.chars().count());
        assert!(md
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("## dbkit review: ❌ fail"));
        assert_contains(&md, &["characters cut", "### Findings"]);
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count(),
            "every collapsed section is closed"
        );
    }

    #[test]
    fn json_is_the_review() {
        let out = to_string(
            &ReviewReport {
                review: &leaking(),
                limit: COMMENT_LIMIT,
            },
            Format::Json,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["base"], 6);
        assert_eq!(v["verdict"]["passed"], false);
        assert_eq!(
            v["check"]["ran"]["proof"]["tried"][0]["object"],
            "public.notes"
        );
    }
}
