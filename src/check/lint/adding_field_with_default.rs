//! `adding-field-with-default`: since PostgreSQL 11, ADD COLUMN … DEFAULT with a
//! constant or a STABLE expression (now()) stores the value in the catalog and
//! touches no row. A volatile default (random(), gen_random_uuid(), clock_timestamp(),
//! an unknown function), a serial column (nextval) or a STORED generated column must
//! be computed for every row: the table is rewritten under an ACCESS EXCLUSIVE lock.

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
        let column = def.colname.clone();
        let why = if column_constraint(def, ConstrType::ConstrGenerated).is_some() {
            "a STORED generated column is computed for every existing row".to_string()
        } else if let Some(default) = column_constraint(def, ConstrType::ConstrDefault) {
            if !default.raw_expr.as_deref().is_some_and(tree::is_volatile) {
                return None;
            }
            "its DEFAULT is volatile, so it is evaluated for every existing row".to_string()
        } else if tree::is_serial(def)
            && column_constraint(def, ConstrType::ConstrPrimary).is_none()
        {
            "a serial column's DEFAULT nextval(…) is evaluated for every existing row".to_string()
        } else {
            return None;
        };
        let message = format!(
            "ADD COLUMN {column} rewrites {table} under an ACCESS EXCLUSIVE lock (no reads, no writes): {why}; add the column without it (or with a constant default), then backfill in batches"
        );
        Some(Violation::on_column(Rule::AddingFieldWithDefault, table, &column, message).holding(table, Work::Rewrite))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::AddingFieldWithDefault as R;

    #[test]
    fn flags_volatile_defaults_and_stored_generated_columns() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN token uuid DEFAULT gen_random_uuid();",
                "ALTER TABLE appointments ADD COLUMN r float NOT NULL DEFAULT random();",
                "ALTER TABLE appointments ADD COLUMN t timestamptz DEFAULT clock_timestamp();",
                "ALTER TABLE appointments ADD COLUMN d interval GENERATED ALWAYS AS (ends_at - scheduled_at) STORED;",
                "ALTER TABLE appointments ADD COLUMN n serial;",
            ],
        );
    }

    #[test]
    fn passes_constant_and_stable_defaults_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text DEFAULT 'main';",
                "ALTER TABLE appointments ADD COLUMN n int NOT NULL DEFAULT 0;",
                "ALTER TABLE appointments ADD COLUMN at timestamptz DEFAULT now();",
                "ALTER TABLE appointments ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP;",
                "ALTER TABLE appointments ADD COLUMN meta jsonb DEFAULT '{}'::jsonb;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
            ],
        );
    }
}
