//! `disallowed-unique-constraint`: ADD UNIQUE or ADD PRIMARY KEY on an existing table
//! builds the index while holding an ACCESS EXCLUSIVE lock (no reads, no writes). Build
//! the unique index CONCURRENTLY first, then attach it with `… USING INDEX`, which only
//! takes the lock for a moment. A UNIQUE or PRIMARY KEY column added with ADD COLUMN
//! builds its index the same way.

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::tree::{self, column_constraint};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if tree::is(cmd, AlterTableType::AtAddConstraint) {
            let c = tree::constraint(cmd)?;
            let kind = match c.contype() {
                ConstrType::ConstrUnique => "UNIQUE",
                ConstrType::ConstrPrimary => "PRIMARY KEY",
                _ => return None,
            };
            if !c.indexname.is_empty() {
                return None; // USING INDEX
            }
            let object = tree::constraint_object(table, c);
            return Some(Violation {
                lock: None,
                rule: Rule::DisallowedUniqueConstraint,
                object,
                message: format!(
                    "ADD {kind} on existing table {table} builds its index under an ACCESS EXCLUSIVE lock (no reads, no writes): CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT … {kind} USING INDEX"
                ),
            }
            .holding(table, Work::Build));
        }
        if !tree::is(cmd, AlterTableType::AtAddColumn) {
            return None;
        }
        let def = tree::column_def(cmd)?;
        // A serial or identity primary key is adding-serial-primary-key-field's.
        let primary = column_constraint(def, ConstrType::ConstrPrimary).is_some();
        if primary && tree::is_auto_numbered(def) {
            return None;
        }
        let unique = column_constraint(def, ConstrType::ConstrUnique).is_some();
        if !primary && !unique {
            return None;
        }
        let column = def.colname.clone();
        let kind = if primary { "PRIMARY KEY" } else { "UNIQUE" };
        let message = format!(
            "ADD COLUMN {column} … {kind} on existing table {table} builds its index under an ACCESS EXCLUSIVE lock: add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … {kind} USING INDEX"
        );
        Some(Violation::on_column(Rule::DisallowedUniqueConstraint, table, &column, message).holding(table, Work::Build))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::DisallowedUniqueConstraint as R;

    #[test]
    fn flags_unique_and_primary_key_without_using_index() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD CONSTRAINT a_uniq UNIQUE (org_id, id);",
                "ALTER TABLE appointments ADD PRIMARY KEY (id);",
                "ALTER TABLE appointments ADD COLUMN code text UNIQUE;",
            ],
        );
    }

    #[test]
    fn passes_using_index_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD CONSTRAINT a_uniq UNIQUE USING INDEX a_uniq_idx;",
                "ALTER TABLE appointments ADD CONSTRAINT a_pk PRIMARY KEY USING INDEX a_pk_idx;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD CONSTRAINT t_x UNIQUE (x);",
                "ALTER TABLE appointments ADD COLUMN n bigserial PRIMARY KEY;",
            ],
        );
    }
}
