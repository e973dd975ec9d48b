//! `require-concurrent-partition-detach`: DETACH PARTITION takes an ACCESS EXCLUSIVE
//! lock on the parent table: every query on any partition waits. DETACH PARTITION …
//! CONCURRENTLY (PostgreSQL 14+, in a `-- dbkit:no-transaction` file) takes SHARE
//! UPDATE EXCLUSIVE instead.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::ban_concurrent_index_in_transaction::partition_cmd;
use super::tree::{self, relation_key};
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if !tree::is(cmd, AlterTableType::AtDetachPartition) {
            return None;
        }
        let partition = partition_cmd(cmd)?;
        if partition.concurrent {
            return None;
        }
        let name = partition.name.as_ref().map(relation_key).unwrap_or_default();
        Some(Violation {
            lock: None,
            rule: Rule::RequireConcurrentPartitionDetach,
            object: format!("{table}.{name}"),
            message: format!(
                "DETACH PARTITION {name} takes an ACCESS EXCLUSIVE lock on {table}: every query on it waits; use DETACH PARTITION … CONCURRENTLY in a `-- dbkit:no-transaction` migration"
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RequireConcurrentPartitionDetach as R;

    #[test]
    fn flags_detach_without_concurrently() {
        assert_flags(
            R,
            &["ALTER TABLE measurements DETACH PARTITION measurements_2020;"],
        );
    }

    #[test]
    fn passes_concurrently_finalize_and_attach() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;",
                "ALTER TABLE measurements DETACH PARTITION measurements_2020 FINALIZE;",
                "ALTER TABLE measurements ATTACH PARTITION m_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');",
            ],
        );
    }
}
