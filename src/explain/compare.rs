//! Before/after comparison: per query, org and role, the two phases' time and buffers,
//! the speedup, and which rules' findings appeared or disappeared. Pure.

use std::collections::BTreeSet;

use super::model::{DiffRow, Phase, Run};
use super::rules::Rule;

pub fn diff(runs: &[Run]) -> Vec<DiffRow> {
    let mut out = Vec::new();
    for before in runs
        .iter()
        .filter(|r| r.phase == Phase::Before && r.error.is_none())
    {
        let Some(after) = runs.iter().find(|r| {
            r.phase == Phase::After
                && r.error.is_none()
                && r.query == before.query
                && r.org == before.org
                && r.role == before.role
        }) else {
            continue;
        };
        let rules = |r: &Run| {
            r.findings
                .iter()
                .map(|f| f.rule)
                .collect::<BTreeSet<Rule>>()
        };
        let (b, a) = (rules(before), rules(after));
        out.push(DiffRow {
            query: before.query.clone(),
            org: before.org.clone(),
            role: before.role,
            before_ms: before.execution_ms,
            after_ms: after.execution_ms,
            speedup: before.execution_ms / after.execution_ms.max(0.001),
            before_buffers: before.buffers,
            after_buffers: after.buffers,
            buffers_change_pct: pct(before.buffers, after.buffers),
            appeared: a.difference(&b).copied().collect(),
            disappeared: b.difference(&a).copied().collect(),
        });
    }
    out
}

fn pct(before: u64, after: u64) -> f64 {
    if before == 0 {
        return if after == 0 { 0.0 } else { 100.0 };
    }
    ((after as f64 - before as f64) / before as f64 * 1000.0).round() / 10.0
}

/// Buffers may grow by this share before it counts as a regression…
pub const BUFFERS_REGRESSION_PCT: f64 = 20.0;
/// …and by at least this many blocks (3 → 4 blocks is not a regression).
pub const BUFFERS_REGRESSION_MIN: u64 = 10;

/// What makes `--fail-on regression` fail: a new seq-scan or rls-per-row finding, or
/// shared buffers up more than 20 % (and 10 blocks) on any query.
pub fn regressions(rows: &[DiffRow]) -> Vec<String> {
    let mut out = Vec::new();
    for row in rows {
        for rule in &row.appeared {
            if matches!(rule, Rule::SeqScan | Rule::RlsPerRow) {
                out.push(format!(
                    "{} ({}, {}): new {rule}",
                    row.query, row.org, row.role
                ));
            }
        }
        if row.buffers_change_pct > BUFFERS_REGRESSION_PCT
            && row.after_buffers.saturating_sub(row.before_buffers) >= BUFFERS_REGRESSION_MIN
        {
            out.push(format!(
                "{} ({}, {}): buffers {} → {} (+{:.0}%)",
                row.query,
                row.org,
                row.role,
                row.before_buffers,
                row.after_buffers,
                row.buffers_change_pct
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::rules::Role;

    fn run(phase: Phase, ms: f64, buffers: u64, rules: &[Rule]) -> Run {
        let mut run = Run::empty("provider_conflict_check", "largest", phase, Role::Tenant);
        run.execution_ms = ms;
        run.buffers = buffers;
        run.flagged(rules)
    }

    #[test]
    fn speedup_and_findings_that_disappear() {
        let runs = vec![
            run(Phase::Before, 40.0, 5456, &[Rule::SeqScan, Rule::RlsPerRow]),
            run(Phase::After, 0.05, 4, &[]),
        ];
        let rows = diff(&runs);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].speedup, 800.0);
        assert_eq!(rows[0].disappeared, [Rule::SeqScan, Rule::RlsPerRow]);
        assert!(regressions(&rows).is_empty());
    }

    #[test]
    fn new_seq_scans_and_more_buffers_are_regressions() {
        let runs = vec![
            run(Phase::Before, 1.0, 100, &[]),
            run(Phase::After, 1.0, 130, &[Rule::SeqScan]),
        ];
        let found = regressions(&diff(&runs));
        assert_eq!(found.len(), 2, "{found:?}");
        let small = vec![
            run(Phase::Before, 1.0, 3, &[]),
            run(Phase::After, 1.0, 5, &[]),
        ];
        assert!(regressions(&diff(&small)).is_empty());
    }
}
