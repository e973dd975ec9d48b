//! `dbkit review`: the pull-request verdict. Owns the composition of the engines —
//! check (lints, catalog rules, the isolation proof and, with a rehearsal, each new
//! migration under booking traffic, so inline ignores apply to all of it), then explain
//! `--before` the base — into one `Review`, and the verdict over it (`--fail-on`).
//! Sections switched off are named, never silently left out. Prints nothing:
//! `report::review` renders the document.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::check::rule::Finding;
use crate::check::{CheckOptions, Findings};
use crate::db::DbUrl;
use crate::explain::{ExplainOptions, ExplainReport, Phase};
use crate::rule::Severity;
use crate::workload::CatalogSource;

/// What to review.
#[derive(Debug)]
pub struct ReviewOptions {
    /// check's options: `base` set, `rehearse` set unless the rehearsal is switched off.
    pub check: CheckOptions,
    /// explain `--before` the base; None when switched off.
    pub plans: Option<PlanOptions>,
    pub fail_on: Severity,
    /// Sections switched off, with the flag that did it (`rehearsal: --no-rehearse`).
    pub not_run: Vec<String>,
}

/// explain `--before` the base, on `server`.
#[derive(Debug)]
pub struct PlanOptions {
    pub server: DbUrl,
    pub explain: ExplainOptions,
}

/// The verdict's material.
#[derive(Debug, Serialize)]
pub struct Review {
    /// The version the pull request starts from.
    pub base: i64,
    /// check's findings (the rehearsal's among them), and what ran: the proof, the
    /// rehearsal itself.
    pub check: Findings,
    /// The plans before → after (None: not measured, see `not_run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plans: Option<ExplainReport>,
    /// Plan findings that appear after the migrations and not before.
    pub plan_findings: Vec<Finding>,
    pub fail_on: Severity,
    pub not_run: Vec<String>,
}

/// Pass or fail, and why, in a line's worth of reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub reasons: Vec<String>,
}

pub async fn review(opts: ReviewOptions) -> Result<Review> {
    let base = opts.check.base.unwrap_or_default();
    let check = crate::check::check(&opts.check).await?;
    let (plans, plan_findings) = match &opts.plans {
        Some(p) => {
            let report = crate::explain::explain(&p.server, &p.explain).await?;
            // Derived queries have no files: their findings carry no location.
            let dir = match &p.explain.catalog {
                CatalogSource::Loaded(catalog) => Some(catalog.dir.as_path()),
                CatalogSource::Derived { .. } => None,
            };
            let findings = appeared(&report, dir);
            (Some(report), findings)
        }
        None => (None, Vec::new()),
    };
    Ok(Review {
        base,
        check,
        plans,
        plan_findings,
        fail_on: opts.fail_on,
        not_run: opts.not_run,
    })
}

/// The after phase's plan findings whose rule the same query × org × role did not
/// have before: what the migrations bring. Placed on the query's file when it exists.
pub fn appeared(report: &ExplainReport, queries: Option<&Path>) -> Vec<Finding> {
    let before = |run: &crate::explain::Run, rule| {
        report.runs.iter().any(|b| {
            b.phase == Phase::Before
                && (&b.query, &b.org, b.role) == (&run.query, &run.org, run.role)
                && b.findings.iter().any(|f| f.rule == rule)
        })
    };
    let mut out = Vec::new();
    for run in report.runs.iter().filter(|r| r.phase == Phase::After) {
        for f in run.findings.iter().filter(|f| !before(run, f.rule)) {
            let mut finding = Finding::new(f.rule, f.message.clone()).object(run.label());
            finding.severity = f.severity;
            if let Some(file) = queries.and_then(|dir| query_file(dir, &run.query)) {
                finding = finding.at(file, 1);
            }
            out.push(finding);
        }
    }
    out
}

fn query_file(queries: &Path, query: &str) -> Option<String> {
    let path = queries.join(format!("{query}.sql"));
    path.is_file()
        .then(|| path.to_string_lossy().trim_start_matches("./").to_string())
}

impl Review {
    /// Every finding of the verdict, worst first: check's, then the plans'.
    pub fn findings(&self) -> Vec<&Finding> {
        let mut all: Vec<&Finding> = self
            .check
            .findings
            .iter()
            .chain(&self.plan_findings)
            .collect();
        all.sort_by_key(|f| std::cmp::Reverse(f.severity));
        all
    }

    /// Plan runs that failed (a statement error, a timeout): plans not measured.
    pub fn failed_runs(&self) -> usize {
        self.plans
            .as_ref()
            .map(|p| p.runs.iter().filter(|r| r.error.is_some()).count())
            .unwrap_or(0)
    }

    pub fn verdict(&self) -> Verdict {
        let failing: Vec<&Finding> = self
            .findings()
            .into_iter()
            .filter(|f| f.severity >= self.fail_on)
            .collect();
        let mut reasons = Vec::new();
        // Fail closed: a check whose catalog rules and isolation proof could not run
        // has not proven the schema safe, whatever --fail-on says.
        if let Some(why) = &self.check.incomplete {
            reasons.push(format!(
                "INCOMPLETE: the catalog rules and the isolation proof did not run ({why})"
            ));
        }
        if !failing.is_empty() {
            let mut rules: Vec<&str> = failing.iter().map(|f| f.rule.id()).collect();
            rules.dedup();
            let mut seen = std::collections::BTreeSet::new();
            rules.retain(|r| seen.insert(*r));
            reasons.push(format!(
                "{} finding(s) at or above {}: {}",
                failing.len(),
                self.fail_on,
                rules.join(", ")
            ));
        }
        let failed_runs = self.failed_runs();
        if failed_runs > 0 {
            reasons.push(format!("{failed_runs} plan run(s) failed"));
        }
        Verdict {
            passed: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::check::isolation::{Proof, Tried};
    use crate::check::Ran;
    use crate::rule::Rule;

    /// A review of a pull request adding a leaking policy and a blocking index.
    pub(crate) fn leaking() -> Review {
        let findings = vec![
            Finding::new(
                Rule::RequireConcurrentIndexCreation,
                "CREATE INDEX on appointments without CONCURRENTLY",
            )
            .at("migrations/V7__notes_index.sql", 3)
            .object("appointments_notes"),
            Finding::new(
                Rule::TenantLeak,
                "public.notes: 2 of org B's rows read — SELECT as authenticated allowed by policy notes_read",
            )
            .at("migrations/V7__notes_index.sql", 9)
            .object("public.notes"),
            Finding::new(Rule::PolicyMissingRole, "notes_read applies to PUBLIC")
                .object("notes.notes_read"),
        ];
        let tried = ["SELECT", "INSERT", "UPDATE", "DELETE"]
            .iter()
            .flat_map(|op| {
                ["authenticated", "anon"].map(|role| Tried {
                    object: "public.notes".into(),
                    role,
                    operation: op,
                    leaked: *op == "SELECT" && role == "authenticated",
                })
            })
            .collect();
        Review {
            base: 6,
            check: Findings {
                incomplete: None,
                findings,
                ran: Ran {
                    files: 7,
                    statements: 40,
                    applied: true,
                    base: Some(6),
                    proof: Some(Proof {
                        tried,
                        ..Proof::default()
                    }),
                    ..Ran::default()
                },
                rehearsal: None,
            },
            plans: None,
            plan_findings: vec![],
            fail_on: Severity::Error,
            not_run: vec!["query plans: --no-plans".into()],
        }
    }

    #[test]
    fn errors_fail_and_name_their_rules() {
        let verdict = leaking().verdict();
        assert!(!verdict.passed);
        assert_eq!(
            verdict.reasons,
            vec!["2 finding(s) at or above error: require-concurrent-index-creation, tenant-leak"]
        );
    }

    #[test]
    fn an_incomplete_check_fails_whatever_fail_on_says() {
        let mut review = leaking();
        review.check.findings.clear();
        review.fail_on = crate::rule::Severity::Error;
        assert!(review.verdict().passed);
        review.check.incomplete = Some("V4 could not be applied".into());
        let verdict = review.verdict();
        assert!(!verdict.passed);
        assert!(
            verdict.reasons[0].starts_with("INCOMPLETE"),
            "{:?}",
            verdict.reasons
        );
    }

    #[test]
    fn below_fail_on_passes() {
        let mut review = leaking();
        review
            .check
            .findings
            .retain(|f| f.severity < Severity::Error);
        assert!(review.verdict().passed);
        review.fail_on = Severity::Warning;
        assert!(!review.verdict().passed);
    }
}
