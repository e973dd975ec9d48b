//! `adding-not-nullable-field`: a NOT NULL column without a default fails on a table
//! that has rows; SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock —
//! unless a valid `CHECK (col IS NOT NULL)` proves it, which PostgreSQL 12+ uses to
//! skip the scan (so the safe sequence, CHECK … NOT VALID, VALIDATE, SET NOT NULL, is
//! not flagged). Serial and identity columns have a default (the sequence): a serial
//! primary key is `adding-serial-primary-key-field`'s.

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::tree::{self, column_constraint};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if tree::is(cmd, AlterTableType::AtSetNotNull) {
            let column = cmd.name.clone();
            if ctx.proves_not_null(table, &column) {
                return None;
            }
            let message = format!(
                "SET NOT NULL on {table}.{column} scans the table under an ACCESS EXCLUSIVE lock: add CHECK ({column} IS NOT NULL) NOT VALID and validate it first"
            );
            return Some(
                Violation::on_column(Rule::AddingNotNullableField, table, &column, message)
                    .holding(table, Work::Scan),
            );
        }
        if !tree::is(cmd, AlterTableType::AtAddColumn) {
            return None;
        }
        let def = tree::column_def(cmd)?;
        let has = |kind| column_constraint(def, kind).is_some();
        let not_null = has(ConstrType::ConstrNotnull) || has(ConstrType::ConstrPrimary);
        let filled = has(ConstrType::ConstrDefault)
            || has(ConstrType::ConstrGenerated)
            || tree::is_auto_numbered(def);
        if !not_null || filled {
            return None;
        }
        let column = def.colname.clone();
        let message = format!(
            "NOT NULL column {column} without a DEFAULT fails on existing rows of {table}: add a default, or add it nullable and backfill"
        );
        Some(Violation::on_column(Rule::AddingNotNullableField, table, &column, message))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes, hits};
    use crate::check::rule::Rule::AddingNotNullableField as R;

    #[test]
    fn flags_not_null_without_default_and_set_not_null() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text NOT NULL;",
                "ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;",
                // Inside a DO block, as Supabase projects guard their changes.
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1) THEN ALTER TABLE appointments ADD COLUMN room text NOT NULL; END IF; END $$;",
                // A CHECK not validated proves nothing.
                "ALTER TABLE appointments ADD CONSTRAINT n CHECK (notes IS NOT NULL) NOT VALID;\nALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;",
                // Nor one on another column.
                "ALTER TABLE appointments ADD CONSTRAINT n CHECK (room IS NOT NULL) NOT VALID;\nALTER TABLE appointments VALIDATE CONSTRAINT n;\nALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;",
            ],
        );
    }

    #[test]
    fn passes_default_nullable_new_tables_and_serials() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text NOT NULL DEFAULT 'main';",
                "ALTER TABLE appointments ADD COLUMN room text;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN y int NOT NULL;",
                "ALTER TABLE appointments ADD COLUMN n bigserial NOT NULL;",
                "ALTER TABLE appointments ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;",
            ],
        );
    }

    /// The sequence dbkit's own message recommends is not flagged (issue 22).
    #[test]
    fn passes_the_safe_not_null_sequence() {
        let sql =
            "ALTER TABLE appointments ADD CONSTRAINT notes_nn CHECK (notes IS NOT NULL) NOT VALID;
ALTER TABLE appointments VALIDATE CONSTRAINT notes_nn;
ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;
ALTER TABLE appointments DROP CONSTRAINT notes_nn;";
        assert_eq!(hits(sql, R), 0);
        let valid = "ALTER TABLE appointments ADD CONSTRAINT notes_nn CHECK (notes IS NOT NULL);
ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;";
        assert_eq!(hits(valid, R), 0);
        // Added outside the migrations: its name says what it proves.
        let named = "ALTER TABLE appointments VALIDATE CONSTRAINT appointments_notes_not_null;
ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;";
        assert_eq!(hits(named, R), 0);
        let other = "ALTER TABLE appointments VALIDATE CONSTRAINT appointments_room_not_null;
ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;";
        assert_eq!(hits(other, R), 1);
    }
}
