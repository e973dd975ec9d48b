//! Renders `explain --advise`'s verified index set under the explain report: the
//! statements with their reasons, the measured buffers per query before and after the
//! set (summed over orgs and roles; markdown adds every run, collapsed), the write cost
//! on the catalog's writes, and what was tried. JSON carries `Advice` as it is (in the
//! explain document's `advice`).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{render_rows_within, Format};
use crate::explain::advice::Advice;
use crate::explain::rules::count;

/// Per query, in the order of the runs: (before, after, writes).
fn per_query(advice: &Advice) -> Vec<(String, u64, u64, bool)> {
    let mut order: Vec<String> = Vec::new();
    let mut sums: BTreeMap<String, (u64, u64, bool)> = BTreeMap::new();
    for r in &advice.runs {
        if !order.contains(&r.query) {
            order.push(r.query.clone());
        }
        let e = sums.entry(r.query.clone()).or_insert((0, 0, r.writes));
        e.0 += r.before;
        e.1 += r.after;
    }
    order
        .into_iter()
        .map(|q| {
            let (b, a, w) = sums[&q];
            (q, b, a, w)
        })
        .collect()
}

fn change(before: u64, after: u64) -> String {
    if before == 0 {
        return "—".into();
    }
    let pct = (after as f64 - before as f64) / before as f64 * 100.0;
    if pct.abs() < 0.5 {
        "=".into()
    } else {
        format!("{pct:+.0}%")
    }
}

/// The one-line summary: how many indexes, the reads and the write cost.
pub fn summary(advice: &Advice) -> String {
    let (rb, ra) = advice.reads();
    let (wb, wa) = advice.writes();
    let mut text = format!(
        "{} index{} verified on a lab copy ({} candidate{} measured): reads {} → {} blocks ({})",
        advice.indexes.len(),
        if advice.indexes.len() == 1 { "" } else { "es" },
        advice.tried,
        if advice.tried == 1 { "" } else { "s" },
        count(rb as f64),
        count(ra as f64),
        change(rb, ra),
    );
    if wb > 0 || wa > 0 {
        text.push_str(&format!(
            "; write cost: the catalog's writes read {} → {} blocks ({:+})",
            count(wb as f64),
            count(wa as f64),
            wa as i64 - wb as i64
        ));
    }
    text
}

fn query_table(advice: &Advice, format: Format, width: usize) -> String {
    let body: Vec<Vec<String>> = per_query(advice)
        .into_iter()
        .map(|(q, b, a, w)| {
            let name = if format == Format::Markdown {
                format!("`{q}`")
            } else {
                q
            };
            vec![
                name,
                if w { "write" } else { "read" }.to_string(),
                count(b as f64),
                count(a as f64),
                change(b, a),
            ]
        })
        .collect();
    render_rows_within(
        format,
        &["query", "kind", "before", "after", "change"],
        &body,
        width,
    )
}

/// Writes `text` wrapped: (out, text, first line's indent, the others' indent).
pub type Wrap<'a> = dyn Fn(&mut dyn Write, &str, &str, &str) -> io::Result<()> + 'a;

/// The advice as plain text within `width` (under the explain table).
pub fn table(
    advice: &Advice,
    width: usize,
    out: &mut dyn Write,
    wrap: &Wrap<'_>,
) -> io::Result<()> {
    writeln!(out)?;
    wrap(
        out,
        &format!("Index advice: {}.", summary(advice)),
        "",
        "  ",
    )?;
    for (i, index) in advice.indexes.iter().enumerate() {
        wrap(
            out,
            &format!("{}. {}", i + 1, index.statement),
            "  ",
            "      ",
        )?;
        wrap(out, &index.reason, "      ", "      ")?;
    }
    writeln!(
        out,
        "Buffers per query on the lab copy (all orgs and roles), without → with the set:"
    )?;
    write!(out, "{}", query_table(advice, Format::Table, width))?;
    for r in &advice.rejected {
        wrap(out, &format!("left out: {r}"), "", "  ")?;
    }
    for n in &advice.notes {
        wrap(out, &format!("advice: {n}"), "", "  ")?;
    }
    Ok(())
}

/// The advice as a markdown section.
pub fn markdown(advice: &Advice, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n### Index advice\n\n{}.\n", summary(advice))?;
    if !advice.indexes.is_empty() {
        writeln!(out, "```sql")?;
        for index in &advice.indexes {
            writeln!(out, "{}", index.statement)?;
        }
        writeln!(out, "```\n")?;
        for index in &advice.indexes {
            writeln!(
                out,
                "- `{}` on `{}` ({} kB): {}",
                index.name,
                index.table,
                index.size_bytes / 1024,
                index.reason.replace('|', "\\|")
            )?;
        }
        writeln!(out)?;
    }
    write!(out, "{}", query_table(advice, Format::Markdown, usize::MAX))?;
    let rows: Vec<Vec<String>> = advice
        .runs
        .iter()
        .map(|r| {
            vec![
                format!("`{}`", r.query),
                r.org.clone(),
                r.role.to_string(),
                count(r.before as f64),
                count(r.after as f64),
                change(r.before, r.after),
            ]
        })
        .collect();
    writeln!(
        out,
        "\n<details><summary>Every run</summary>\n\n{}</details>\n",
        render_rows_within(
            Format::Markdown,
            &["query", "org", "role", "before", "after", "change"],
            &rows,
            usize::MAX
        )
    )?;
    for r in &advice.rejected {
        writeln!(out, "- left out: {}", r.replace('|', "\\|"))?;
    }
    for n in &advice.notes {
        writeln!(out, "> advice: {n}")?;
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::explain::advice::{AdviceRun, IndexAdvice};
    use crate::explain::rules::Role;

    pub fn advice() -> Advice {
        let run = |query: &str, org: &str, before, after, writes| AdviceRun {
            query: query.into(),
            org: org.into(),
            role: Role::Service,
            before,
            after,
            writes,
        };
        Advice {
            indexes: vec![IndexAdvice {
                table: "appointments".into(),
                name: "appointments_org_id_provider_id_ends_at_partial_idx".into(),
                statement: "CREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_org_id_provider_id_ends_at_partial_idx ON appointments (org_id, provider_id, ends_at) WHERE status <> 'cancelled'::TEXT;".into(),
                reason: "serves provider_conflict_check 32990 → 6 (buffers, all orgs and roles); from filter, constant predicate (partial)".into(),
                size_bytes: 5 * 1024 * 1024,
            }],
            runs: vec![
                run("provider_conflict_check", "largest", 16_495, 3, false),
                run("provider_conflict_check", "median", 16_495, 3, false),
                run("booking_insert", "largest", 2, 7, true),
            ],
            tried: 12,
            rejected: vec!["appointments (org_id): cuts no query's buffers".into()],
            notes: vec![],
        }
    }

    #[test]
    fn the_summary_counts_reads_and_the_write_cost() {
        assert_eq!(
            summary(&advice()),
            "1 index verified on a lab copy (12 candidates measured): reads 32,990 → 6 blocks (-100%); write cost: the catalog's writes read 2 → 7 blocks (+5)"
        );
    }

    #[test]
    fn per_query_sums_orgs_and_roles() {
        assert_eq!(
            per_query(&advice()),
            [
                ("provider_conflict_check".to_string(), 32_990, 6, false),
                ("booking_insert".to_string(), 2, 7, true)
            ]
        );
        assert_eq!(change(2, 7), "+250%");
        assert_eq!(change(100, 100), "=");
    }
}
