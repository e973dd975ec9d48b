//! `ban-drop-table`: dropping a table loses its data and breaks running clients.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::tree::list_name;
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let NodeEnum::DropStmt(drop) = stmt else {
        return vec![];
    };
    if drop.remove_type() != ObjectType::ObjectTable {
        return vec![];
    }
    drop.objects
        .iter()
        .filter_map(list_name)
        .filter(|table| !ctx.new_tables.contains(table))
        .map(|table| Violation {
            lock: None,
            rule: Rule::BanDropTable,
            message: format!(
                "dropping table {table} loses its data and breaks clients that use it"
            ),
            object: table,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes, hits};
    use crate::check::rule::Rule::BanDropTable as R;

    #[test]
    fn flags_drop_table() {
        assert_flags(
            R,
            &[
                "DROP TABLE appointments;",
                "DROP TABLE public.\"Appointments\" CASCADE;",
            ],
        );
        assert_eq!(hits("DROP TABLE IF EXISTS a, b;", R), 2);
    }

    #[test]
    fn passes_other_drops_and_new_tables() {
        assert_passes(
            R,
            &[
                "DROP INDEX appointments_org_time_idx;",
                "CREATE TABLE t (x int);\nDROP TABLE t;",
            ],
        );
    }
}
