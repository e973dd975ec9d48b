//! The explain engine's vocabulary: what it is asked to do (`ExplainOptions`, plain
//! values — no clap type, no output format) and what it returns (`ExplainReport`: the
//! runs, the before/after diff, the setting and notes). The reporter
//! (`crate::report::explain`) renders these; the command layer decides the exit code
//! from `ExplainReport::fails`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::advice::model::{Advice, IndexAdvice};
use super::plan::{Buffers, Explained};
use super::rules::{Finding, Role, Rule, Thresholds};
use crate::migrate::{MigrationSet, Version};
use crate::seed::SeedOptions;
use crate::workload::CatalogSource;

/// Everything `explain` needs, as plain values.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// The queries: a catalog loaded from a directory (or shipped), or derived from
    /// the schema of the database explained (narrowed to `--only` either way).
    pub catalog: CatalogSource,
    pub run: RunOptions,
    /// `--before V`: explain on a scratch database before and after the migrations.
    pub before: Option<BeforeOptions>,
    /// `--advise`: one verified index set, measured on a lab copy of the database the
    /// last phase ran on.
    pub advise: Option<AdviseOptions>,
}

/// The `--advise` part of the options.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// The project's migrations: what a copy of the target needs provided again
    /// (the Supabase platform objects) when there is no `--before` lab.
    pub migrations: MigrationSet,
    /// dbkit.yaml: the tenancy model that names each table's tenant key.
    pub config: crate::schema::Config,
}

/// The `--before V` part of the options.
#[derive(Debug, Clone)]
pub struct BeforeOptions {
    pub version: Version,
    pub migrations: MigrationSet,
    /// How to seed the scratch database at V (orgs, seed, profile).
    pub seed: SeedOptions,
    /// Keep the scratch database instead of dropping it.
    pub keep: bool,
    /// Whether the lab reuses and keeps templates of its builds.
    pub cache: crate::lab::CachePolicy,
}

/// How to run each query × org × role.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub runs: usize,
    /// Time for one query × org × role, warm-up included: fewer than K runs when it is spent.
    pub series_budget: Duration,
    pub statement_timeout: Duration,
    pub jobs: usize,
    pub index_suggestions: bool,
    pub thresholds: Thresholds,
}

/// Before the migrations, after them, or the target database as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    After,
    Current,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Before => "before",
            Phase::After => "after",
            Phase::Current => "current",
        })
    }
}

/// One query × org × role in one phase: median figures, the plan, the findings.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub query: String,
    pub org: String,
    pub phase: Phase,
    pub role: Role,
    pub execution_ms: f64,
    pub planning_ms: f64,
    /// Shared blocks hit + read (the root node's, including children).
    pub buffers: u64,
    pub buffers_detail: Buffers,
    /// Measured runs behind the median (fewer than --runs when the time budget ran out).
    pub runs: usize,
    pub seq_scans: Vec<String>,
    pub findings: Vec<Finding>,
    pub params: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub plan: Option<Explained>,
    /// The median run's EXPLAIN output as PostgreSQL returned it (for --save-plans).
    #[serde(skip)]
    pub raw_plan: Option<serde_json::Value>,
}

impl Run {
    /// A run not measured yet (figures zero, no plan).
    pub fn empty(query: &str, org: &str, phase: Phase, role: Role) -> Run {
        Run {
            query: query.to_string(),
            org: org.to_string(),
            phase,
            role,
            execution_ms: 0.0,
            planning_ms: 0.0,
            buffers: 0,
            buffers_detail: Buffers::default(),
            runs: 0,
            seq_scans: Vec::new(),
            findings: Vec::new(),
            params: Vec::new(),
            error: None,
            plan: None,
            raw_plan: None,
        }
    }

    /// `query (org, role)`: how a run is named in lists.
    pub fn label(&self) -> String {
        format!("{} ({}, {})", self.query, self.org, self.role)
    }
}

/// Where the runs came from (for headlines and JSON consumers).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Setting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_version: Option<i64>,
    /// The two versions as the project's layout names them (`V3`, `20240101120000`).
    #[serde(skip)]
    pub labels: Option<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointments: Option<i64>,
    /// The largest table seeded and its rows (`appointments` for the booking schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_table: Option<TableRows>,
    /// Wall-clock milliseconds per step (scratch, migrate, seed, explain before, ...).
    pub timings_ms: BTreeMap<String, u64>,
}

/// A table and how many rows it holds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

/// What `explain` found.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    pub runs: Vec<Run>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Vec<DiffRow>>,
    pub regressions: Vec<String>,
    pub setting: Setting,
    pub notes: Vec<String>,
    /// `--advise`: the verified index set and its measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<Advice>,
    /// Catalog queries that could not run (a broken file, a column the schema lost),
    /// each `file:line: message`: errors, the other queries ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catalog_errors: Vec<String>,
}

/// One `--fail-on` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Rule(Rule),
    Regression,
}

impl ExplainReport {
    /// The indexes to write as the next migration: the verified set with `--advise`,
    /// else the hypopg suggestions of the last phase (one per statement).
    pub fn advised_indexes(&self) -> Vec<IndexAdvice> {
        if let Some(advice) = &self.advice {
            return advice.indexes.clone();
        }
        let last = self.last_phase();
        let mut out: Vec<IndexAdvice> = Vec::new();
        for run in self.runs.iter().filter(|r| r.phase == last) {
            for f in run
                .findings
                .iter()
                .filter(|f| f.rule == Rule::IndexSuggestion)
            {
                let (Some(table), Some(statement)) = (&f.evidence.relation, &f.evidence.expression)
                else {
                    continue;
                };
                if out.iter().any(|i| &i.statement == statement) {
                    continue;
                }
                out.push(IndexAdvice {
                    table: table.clone(),
                    name: statement
                        .split_whitespace()
                        .nth(3)
                        .unwrap_or_default()
                        .to_string(),
                    statement: statement.clone(),
                    reason: format!("{}: {}", run.label(), f.message),
                    size_bytes: 0,
                });
            }
        }
        out
    }

    /// The phase rules are judged on: after (with a diff), else current.
    pub fn last_phase(&self) -> Phase {
        if self.diff.is_some() {
            Phase::After
        } else {
            Phase::Current
        }
    }

    /// `--fail-on`: rules judged on the last phase's runs; regression on the diff. A
    /// run that errored fails too, and so does a catalog query that could not run.
    pub fn fails(&self, fail_on: &[FailOn]) -> bool {
        let last = self.last_phase();
        let failing = fail_on.iter().any(|f| match f {
            FailOn::Regression => !self.regressions.is_empty(),
            FailOn::Rule(rule) => self
                .runs
                .iter()
                .filter(|r| r.phase == last)
                .any(|r| r.findings.iter().any(|x| x.rule == *rule)),
        });
        failing || self.runs.iter().any(|r| r.error.is_some()) || !self.catalog_errors.is_empty()
    }
}

#[cfg(test)]
impl Run {
    /// The run with a warning (no message) for each of `rules` (tests).
    pub fn flagged(mut self, rules: &[Rule]) -> Run {
        use crate::explain::rules::{Evidence, Severity};
        self.findings = rules
            .iter()
            .map(|r| Finding {
                rule: *r,
                severity: Severity::Warning,
                message: String::new(),
                evidence: Evidence::default(),
            })
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(phase: Phase, rules: &[Rule]) -> Run {
        Run::empty("q", "largest", phase, Role::Tenant).flagged(rules)
    }

    fn report(runs: Vec<Run>, diff: bool, regressions: Vec<String>) -> ExplainReport {
        ExplainReport {
            runs,
            diff: diff.then(Vec::new),
            regressions,
            setting: Setting::default(),
            notes: vec![],
            advice: None,
            catalog_errors: vec![],
        }
    }

    #[test]
    fn rules_are_judged_on_the_last_phase_only() {
        let r = report(
            vec![run(Phase::Before, &[Rule::SeqScan]), run(Phase::After, &[])],
            true,
            vec![],
        );
        assert!(!r.fails(&[FailOn::Rule(Rule::SeqScan)]));
        let r = report(vec![run(Phase::Current, &[Rule::SeqScan])], false, vec![]);
        assert!(r.fails(&[FailOn::Rule(Rule::SeqScan)]));
        assert!(!r.fails(&[FailOn::Rule(Rule::DiskSort)]));
        assert!(!r.fails(&[]));
    }

    #[test]
    fn suggested_indexes_come_once_from_the_last_phase() {
        use crate::explain::rules::{Evidence, Severity};
        let suggestion = |table: &str, ddl: &str| Finding {
            rule: Rule::IndexSuggestion,
            severity: Severity::Info,
            message: String::new(),
            evidence: Evidence {
                relation: Some(table.into()),
                expression: Some(ddl.into()),
                ..Default::default()
            },
        };
        let mut before = run(Phase::Before, &[]);
        before.findings = vec![suggestion(
            "a",
            "CREATE INDEX CONCURRENTLY a_x_idx ON a (x);",
        )];
        let mut after = run(Phase::After, &[]);
        after.findings = vec![
            suggestion("b", "CREATE INDEX CONCURRENTLY b_y_idx ON b (y);"),
            suggestion("b", "CREATE INDEX CONCURRENTLY b_y_idx ON b (y);"),
        ];
        let r = report(vec![before, after], true, vec![]);
        let found: Vec<(String, String)> = r
            .advised_indexes()
            .into_iter()
            .map(|i| (i.table, i.statement))
            .collect();
        assert_eq!(
            found,
            [(
                "b".to_string(),
                "CREATE INDEX CONCURRENTLY b_y_idx ON b (y);".to_string()
            )]
        );
    }

    #[test]
    fn regressions_and_errors_fail() {
        let r = report(
            vec![run(Phase::After, &[])],
            true,
            vec!["q: new seq-scan".into()],
        );
        assert!(r.fails(&[FailOn::Regression]));
        assert!(!r.fails(&[]));
        let mut broken = run(Phase::Current, &[]);
        broken.error = Some("canceling statement due to statement timeout".into());
        assert!(report(vec![broken], false, vec![]).fails(&[]));
    }
}

/// One query × org × role before and after the migrations (`--before`).
#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    pub query: String,
    pub org: String,
    pub role: Role,
    pub before_ms: f64,
    pub after_ms: f64,
    /// before_ms / after_ms (> 1 is faster).
    pub speedup: f64,
    pub before_buffers: u64,
    pub after_buffers: u64,
    /// Percentage change of shared buffers (negative is fewer).
    pub buffers_change_pct: f64,
    pub appeared: Vec<Rule>,
    pub disappeared: Vec<Rule>,
}
