//! `disk-sort`: a sort or hash that spilled to disk (Sort Space Type: Disk, or a hash
//! split into more batches than planned) — `work_mem` too small for this query.

use super::{Evidence, Finding, PlanContext, Rule, Severity};

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in ctx.plan.nodes() {
        if !node.executed() {
            continue;
        }
        if node.sort_space_type.as_deref() == Some("Disk") {
            let kb = node.sort_space_kb.unwrap_or(0.0);
            out.push(Finding {
                rule: Rule::DiskSort,
                severity: Severity::Warning,
                message: format!(
                    "{} spilled {kb} kB to disk ({}) on key {}; raise work_mem or sort fewer rows",
                    node.label(),
                    node.sort_method.as_deref().unwrap_or("sort"),
                    node.sort_key.join(", ")
                ),
                evidence: Evidence {
                    node: Some(node.label()),
                    ..Default::default()
                }
                .number("disk_kb", kb)
                .number("temp_written_blocks", node.temp_written),
            });
        } else if let Some(batches) = node.hash_batches.filter(|b| *b > 1.0) {
            out.push(Finding {
                rule: Rule::DiskSort,
                severity: Severity::Warning,
                message: format!(
                    "{} used {batches} batches (planned {}): the hash table did not fit in work_mem and spilled to disk",
                    node.label(),
                    node.original_hash_batches.unwrap_or(1.0)
                ),
                evidence: Evidence { node: Some(node.label()), ..Default::default() }
                    .number("hash_batches", batches)
                    .number("temp_written_blocks", node.temp_written),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn an_external_merge_sort_is_flagged() {
        let found = fixtures::findings(check, "disk_sort_small_work_mem");
        assert!(!found.is_empty(), "{found:#?}");
        assert!(found[0].message.contains("spilled"), "{}", found[0].message);
    }

    #[test]
    fn in_memory_sorts_are_clean() {
        assert!(fixtures::findings(check, "provider_conflict_check_v6_service").is_empty());
    }
}
