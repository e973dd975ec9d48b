//! `adding-serial-primary-key-field`: ADD COLUMN id serial PRIMARY KEY (or an identity
//! primary key) on an existing table fills every row from the sequence — a rewrite —
//! and builds the primary key's index, all under an ACCESS EXCLUSIVE lock. Add the
//! column nullable, backfill in batches, build a unique index CONCURRENTLY, then
//! ADD PRIMARY KEY USING INDEX.

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::tree::{self, column_constraint};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if !tree::is(cmd, AlterTableType::AtAddColumn) {
            return None;
        }
        let def = tree::column_def(cmd)?;
        if column_constraint(def, ConstrType::ConstrPrimary).is_none() || !tree::is_auto_numbered(def) {
            return None;
        }
        let column = def.colname.clone();
        let message = format!(
            "ADD COLUMN {column} as a serial/identity PRIMARY KEY rewrites {table} to number every row and builds the key's index, all under an ACCESS EXCLUSIVE lock: add the column, backfill in batches, CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX"
        );
        Some(Violation::on_column(Rule::AddingSerialPrimaryKeyField, table, &column, message).holding(table, Work::Rewrite))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes, lint_sql};
    use crate::check::rule::Rule::{self, AddingSerialPrimaryKeyField as R};

    #[test]
    fn flags_serial_and_identity_primary_keys() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN n serial PRIMARY KEY;",
                "ALTER TABLE appointments ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;",
            ],
        );
    }

    /// Named for what it is, not as a NOT NULL column without a default (issue 22).
    #[test]
    fn is_the_only_finding_on_a_serial_primary_key() {
        let rules: Vec<Rule> =
            lint_sql("ALTER TABLE appointments ADD COLUMN n bigserial PRIMARY KEY;")
                .into_iter()
                .map(|(r, _)| r)
                .collect();
        assert_eq!(rules, vec![R]);
    }

    #[test]
    fn passes_plain_serial_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN n int PRIMARY KEY;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN id serial PRIMARY KEY;",
            ],
        );
    }
}
