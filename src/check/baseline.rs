//! `--base V`: a pull request answers for the catalog findings its migrations introduce,
//! not for the ones production already has. The catalog rules run twice — on the
//! upgrade lab database at V (before migrating on) and on the final schema — and a
//! finding of the head that the base already had (same rule, same object; messages may
//! differ) is "already present", counted in one line and shown with `--all`.

use std::collections::HashSet;

use super::rule::{Family, Finding, Rule};

/// What the catalog rules found at the base: (rule, object) pairs.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    present: HashSet<(Rule, Option<String>)>,
}

impl Baseline {
    pub fn new(findings: &[Finding]) -> Baseline {
        Baseline {
            present: findings
                .iter()
                .filter(|f| f.rule.family() == Family::Catalog)
                .map(|f| (f.rule, f.object.clone()))
                .collect(),
        }
    }

    /// Split the head's findings into (introduced since the base, already present).
    /// Only catalog findings can be already present: file checks, lints, apply failures
    /// and the isolation proof judge the change itself.
    pub fn split(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
        findings.into_iter().partition(|f| {
            f.rule.family() != Family::Catalog
                || !self.present.contains(&(f.rule, f.object.clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: Rule, object: &str, message: &str) -> Finding {
        Finding::new(rule, message).object(object)
    }

    #[test]
    fn findings_of_the_base_are_matched_by_rule_and_object() {
        let base = Baseline::new(&[
            finding(Rule::NoPrimaryKey, "log", "table log has no primary key"),
            finding(Rule::TenantLeak, "appointments", "a leak"),
        ]);
        let head = vec![
            // Same rule and object, other words: already there.
            finding(Rule::NoPrimaryKey, "log", "reworded"),
            finding(Rule::NoPrimaryKey, "log2", "table log2 has no primary key"),
            finding(
                Rule::PolicyMissingRole,
                "log",
                "another rule on the same object",
            ),
            // Not a catalog finding: never hidden.
            finding(Rule::TenantLeak, "appointments", "a leak"),
        ];
        let (new, old) = base.split(head);
        let objects = |fs: &[Finding]| -> Vec<(Rule, String)> {
            fs.iter()
                .map(|f| (f.rule, f.object.clone().unwrap()))
                .collect()
        };
        assert_eq!(
            objects(&new),
            vec![
                (Rule::NoPrimaryKey, "log2".into()),
                (Rule::PolicyMissingRole, "log".into()),
                (Rule::TenantLeak, "appointments".into()),
            ]
        );
        assert_eq!(objects(&old), vec![(Rule::NoPrimaryKey, "log".into())]);
    }
}
