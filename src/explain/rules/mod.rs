//! Plan rules, one file each. Their ids are `crate::rule::Rule`s of `Family::Plan`
//! (kebab-case, so `--fail-on` parses straight into them).
//! Rules judge plan shape and buffers, never timings alone. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::plan::Explained;

pub mod disk_sort;
pub mod index_suggestion;
pub mod misestimate;
pub mod rls_overhead;
pub mod rls_per_row;
pub mod rows_removed;
pub mod seq_scan;

pub use crate::rule::{Rule, Severity};

/// What a finding rests on: the node, the relation and the numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, f64>,
}

impl Evidence {
    pub fn number(mut self, key: &str, value: f64) -> Self {
        self.numbers.insert(key.to_string(), value);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// One line a reviewer understands.
    pub message: String,
    pub evidence: Evidence,
}

/// Tunable limits (defaults from REFERENCE.md "Thresholds others use").
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// seq-scan: only scans that read at least this many rows count.
    pub seq_scan_min_rows: f64,
    /// seq-scan / rows-removed: share of examined rows thrown away that is notable / bad.
    pub removed_notable: f64,
    pub removed_bad: f64,
    /// rows-removed: ignore nodes that examined fewer rows than this.
    pub removed_min_rows: f64,
    /// misestimate: ignore nodes whose larger row count (planned or actual) is below this.
    pub misestimate_min_rows: f64,
    /// rls-overhead: tenant buffers above service buffers by this factor…
    pub rls_buffers_ratio: f64,
    /// …and by at least this many blocks.
    pub rls_buffers_min_extra: u64,
    /// rls-overhead with per-row policy work in the plan: tenant time ratio that counts.
    pub rls_time_ratio: f64,
    /// index-suggestion: only plans at least this expensive (Dexter: 100).
    pub index_min_cost: f64,
    /// index-suggestion: the hypothetical index must cut the cost by this share (0.5).
    pub index_min_saving: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            seq_scan_min_rows: 1000.0,
            removed_notable: 0.5,
            removed_bad: 0.9,
            removed_min_rows: 1000.0,
            misestimate_min_rows: 100.0,
            rls_buffers_ratio: 1.2,
            rls_buffers_min_extra: 100,
            rls_time_ratio: 2.0,
            index_min_cost: 100.0,
            index_min_saving: 0.5,
        }
    }
}

/// Whether a statement ran as the service role (RLS bypassed) or as a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Service,
    Tenant,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Service => "service",
            Role::Tenant => "tenant",
        })
    }
}

/// What the schema says about the policies a tenant's plan evaluates: the functions
/// they call and the membership table, so per-row policy work can be named and the
/// rewrite that removes it written with the project's own names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyInfo {
    /// Functions the policies call (names as the plan prints them, unqualified).
    pub helpers: Vec<String>,
    /// The table mapping users to tenants.
    pub membership: Option<MembershipInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MembershipInfo {
    pub table: String,
    pub key: String,
    pub user_column: String,
}

impl PolicyInfo {
    /// Nothing known about the policies.
    pub const NONE: PolicyInfo = PolicyInfo {
        helpers: Vec::new(),
        membership: None,
    };

    /// From the schema model: functions any policy calls, and the membership table.
    pub fn of(model: &crate::schema::Model) -> PolicyInfo {
        let texts: Vec<&String> = model
            .facts
            .policies
            .iter()
            .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
            .collect();
        let mut helpers: Vec<String> = model
            .facts
            .functions
            .iter()
            .filter(|f| !f.is_trigger)
            .filter(|f| texts.iter().any(|t| t.contains(&format!("{}(", f.short))))
            .map(|f| f.short.clone())
            .collect();
        helpers.sort();
        helpers.dedup();
        PolicyInfo {
            helpers,
            membership: model.tenancy.membership.as_ref().map(|m| MembershipInfo {
                table: m.table.clone(),
                key: m.key.clone(),
                user_column: m.user_column.clone(),
            }),
        }
    }
}

/// `PolicyInfo::NONE`, to borrow for as long as needed.
pub static NO_POLICY: PolicyInfo = PolicyInfo::NONE;

/// Everything a single-plan rule may look at.
pub struct PlanContext<'a> {
    pub plan: &'a Explained,
    pub role: Role,
    pub thresholds: &'a Thresholds,
    /// The policies' helpers and membership table (`PolicyInfo::NONE` when unknown).
    pub policy: &'a PolicyInfo,
}

/// Run every single-plan rule. (`rls-overhead` compares two runs and
/// `index-suggestion` needs hypothetical indexes: the runner calls those itself.)
pub fn check_plan(ctx: &PlanContext) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(seq_scan::check(ctx));
    findings.extend(rls_per_row::check(ctx));
    findings.extend(rows_removed::check(ctx));
    findings.extend(misestimate::check(ctx));
    findings.extend(disk_sort::check(ctx));
    findings
}

/// Thousands separators for row and block counts in messages.
pub fn count(n: f64) -> String {
    let s = format!("{}", n.round() as i64);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Plans captured from the dev server (PostgreSQL 15) into tests/fixtures/plans/.
    use super::super::plan::Explained;
    use super::{Finding, PlanContext, Role, Thresholds};

    pub fn plan(name: &str) -> Explained {
        let path = format!(
            "{}/tests/fixtures/plans/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Explained::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The context a rule sees for `plan` run as `role` under `thresholds`.
    pub fn context<'a>(
        plan: &'a Explained,
        role: Role,
        thresholds: &'a Thresholds,
    ) -> PlanContext<'a> {
        PlanContext {
            plan,
            role,
            thresholds,
            policy: &super::NO_POLICY,
        }
    }

    /// What `rule` finds in the captured plan `name` run as the service role, default thresholds.
    pub fn findings(rule: fn(&PlanContext) -> Vec<Finding>, name: &str) -> Vec<Finding> {
        findings_with(rule, name, Role::Service, &Thresholds::default())
    }

    /// The one finding `rule` makes in the captured plan `name` (service role, defaults).
    pub fn only_finding(rule: fn(&PlanContext) -> Vec<Finding>, name: &str) -> Finding {
        let mut found = findings(rule, name);
        assert_eq!(found.len(), 1, "{found:#?}");
        found.remove(0)
    }

    /// What `rule` finds in the captured plan `name` run as `role` under `thresholds`.
    pub fn findings_with(
        rule: fn(&PlanContext) -> Vec<Finding>,
        name: &str,
        role: Role,
        thresholds: &Thresholds,
    ) -> Vec<Finding> {
        rule(&context(&plan(name), role, thresholds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
    }
}
