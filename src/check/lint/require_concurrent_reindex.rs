//! `require-concurrent-reindex`: REINDEX takes a SHARE lock on the table (writes
//! wait) and an ACCESS EXCLUSIVE lock on each index it rebuilds (reads through it wait)
//! for the whole rebuild. REINDEX … CONCURRENTLY (PostgreSQL 12+, in a
//! `-- dbkit:no-transaction` file) rebuilds beside the old index.

use pg_query::NodeEnum;

use super::tree::{has_option, relation_key};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(_ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let NodeEnum::ReindexStmt(reindex) = stmt else {
        return vec![];
    };
    // System catalogs cannot be reindexed concurrently: nothing better to suggest.
    if has_option(&reindex.params, "concurrently")
        || reindex.kind() == pg_query::protobuf::ReindexObjectType::ReindexObjectSystem
    {
        return vec![];
    }
    let object = reindex
        .relation
        .as_ref()
        .map_or(reindex.name.clone(), relation_key);
    vec![Violation {
        lock: None,
        rule: Rule::RequireConcurrentReindex,
        message: format!(
            "REINDEX {object} blocks writes to the table and reads through the index while it rebuilds: use REINDEX … CONCURRENTLY in a `-- dbkit:no-transaction` migration"
        ),
        object: object.clone(),
    }
    .holding(&object, Work::Build)]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RequireConcurrentReindex as R;

    #[test]
    fn flags_reindex_without_concurrently() {
        assert_flags(
            R,
            &[
                "REINDEX TABLE appointments;",
                "REINDEX INDEX appointments_org_idx;",
                "REINDEX (VERBOSE) TABLE appointments;",
                "REINDEX (CONCURRENTLY false) TABLE appointments;",
            ],
        );
    }

    #[test]
    fn passes_concurrently() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nREINDEX TABLE CONCURRENTLY appointments;",
                "-- dbkit:no-transaction\nREINDEX (CONCURRENTLY) INDEX appointments_org_idx;",
                "-- dbkit:no-transaction\nREINDEX SYSTEM postgres;",
            ],
        );
    }
}
