//! `require-concurrent-index-creation`: a plain CREATE INDEX takes a SHARE lock, which
//! blocks every write to the table until the build ends. On a table that existed before
//! the migration, build it CONCURRENTLY (in a `-- dbkit:no-transaction` file).

use pg_query::NodeEnum;

use super::tree::relation_key;
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let NodeEnum::IndexStmt(index) = stmt else {
        return vec![];
    };
    let Some(relation) = &index.relation else {
        return vec![];
    };
    if index.concurrent || !ctx.existed_before(relation) {
        return vec![];
    }
    let table = relation_key(relation);
    let object = if index.idxname.is_empty() {
        table.clone()
    } else {
        index.idxname.clone()
    };
    vec![Violation {
        lock: None,
        rule: Rule::RequireConcurrentIndexCreation,
        object,
        message: format!(
            "CREATE INDEX on existing table {table} blocks writes (SHARE lock) while it builds: use CREATE INDEX CONCURRENTLY in a `-- dbkit:no-transaction` migration"
        ),
    }
    .holding(&table, Work::Build)]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RequireConcurrentIndexCreation as R;

    #[test]
    fn flags_plain_index_on_existing_table() {
        assert_flags(
            R,
            &[
                "CREATE INDEX a_idx ON appointments (org_id);",
                "CREATE UNIQUE INDEX IF NOT EXISTS a_idx ON public.appointments USING btree (org_id, id);",
                "CREATE INDEX ON appointments (org_id);",
            ],
        );
    }

    #[test]
    fn passes_concurrent_or_new_table() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                "CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);",
            ],
        );
    }
}
