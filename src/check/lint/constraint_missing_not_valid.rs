//! `constraint-missing-not-valid`: adding a FOREIGN KEY or CHECK constraint validates
//! every existing row while holding a lock. Add it NOT VALID, then VALIDATE CONSTRAINT
//! in a later migration (that takes a weaker lock). Exclusion, unique and primary-key
//! constraints cannot be NOT VALID, so they are not this rule's business.
//! `ADD COLUMN … REFERENCES` adds a foreign key too, and has no NOT VALID form: it
//! locks the referenced table (SHARE ROW EXCLUSIVE) while the existing rows are checked.

use sqlparser::ast::{AlterTableOperation, ColumnOption, Statement as Ast, TableConstraint};

use super::{ident_key, table_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    ctx.judge_alter(ast, |table, op| match op {
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid: false,
        } => {
            let (kind, name) = match constraint {
                TableConstraint::ForeignKey(fk) => ("FOREIGN KEY", fk.name.as_ref()),
                TableConstraint::Check(c) => ("CHECK", c.name.as_ref()),
                _ => return None,
            };
            let object = name.map_or(table.to_string(), |n| format!("{table}.{}", n.value));
            Some(Violation {
                rule: Rule::ConstraintMissingNotValid,
                object,
                message: format!(
                    "{kind} added to existing table {table} validates every row under a lock: add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"
                ),
            })
        }
        AlterTableOperation::AddColumn { column_def, .. } => {
            let fk = column_def.options.iter().find_map(|o| match &o.option {
                ColumnOption::ForeignKey(fk) => Some(fk),
                _ => None,
            })?;
            let column = ident_key(&column_def.name);
            let referenced = table_key(&fk.foreign_table);
            let message = format!(
                "ADD COLUMN {column} … REFERENCES {referenced} on existing table {table} checks the foreign key under a lock on both tables and cannot be NOT VALID: add the column, then ADD CONSTRAINT … FOREIGN KEY ({column}) REFERENCES {referenced} NOT VALID, and VALIDATE CONSTRAINT in a later migration"
            );
            Some(Violation::on_column(Rule::ConstraintMissingNotValid, table, &column, message))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::ConstraintMissingNotValid as R;

    #[test]
    fn flags_fk_and_check_without_not_valid() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD CONSTRAINT fk FOREIGN KEY (contact_id) REFERENCES contacts (id);",
                "ALTER TABLE appointments ADD CONSTRAINT c CHECK (ends_at > scheduled_at);",
            ],
        );
    }

    #[test]
    fn flags_add_column_references() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room_id uuid REFERENCES rooms (id);",
                "ALTER TABLE appointments ADD COLUMN IF NOT EXISTS owner uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT fk_owner REFERENCES auth.users ON DELETE CASCADE;",
            ],
        );
    }

    #[test]
    fn passes_add_column_without_references_and_on_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN note text;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN o uuid REFERENCES orgs (id);",
            ],
        );
    }

    #[test]
    fn passes_not_valid_exclusion_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD CONSTRAINT fk FOREIGN KEY (contact_id) REFERENCES contacts (id) NOT VALID;",
                "ALTER TABLE appointments ADD CONSTRAINT c CHECK (ends_at > scheduled_at) NOT VALID;",
                "ALTER TABLE appointments ADD CONSTRAINT x EXCLUDE USING gist (org_id WITH =, tstzrange(scheduled_at, ends_at) WITH &&);",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD CONSTRAINT c CHECK (x > 0);",
            ],
        );
    }
}
