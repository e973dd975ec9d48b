//! `constraint-missing-not-valid`: adding a FOREIGN KEY or CHECK constraint validates
//! every existing row while holding a lock. Add it NOT VALID, then VALIDATE CONSTRAINT
//! in a later migration (that takes a weaker lock). Exclusion, unique and primary-key
//! constraints cannot be NOT VALID, so they are not this rule's business.
//! `ADD COLUMN … REFERENCES` adds a foreign key too, and has no NOT VALID form: it
//! locks the referenced table (SHARE ROW EXCLUSIVE) while the existing rows are checked.

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::tree::{self, column_constraint, relation_key};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if tree::is(cmd, AlterTableType::AtAddConstraint) {
            let c = tree::constraint(cmd)?;
            let (kind, lock) = match c.contype() {
                ConstrType::ConstrForeign => ("FOREIGN KEY", "a SHARE ROW EXCLUSIVE lock on both tables"),
                ConstrType::ConstrCheck => ("CHECK", "an ACCESS EXCLUSIVE lock"),
                _ => return None,
            };
            if c.skip_validation {
                return None;
            }
            let object = tree::constraint_object(table, c);
            return Some(Violation {
                lock: None,
                rule: Rule::ConstraintMissingNotValid,
                object,
                message: format!(
                    "{kind} added to existing table {table} validates every row under {lock}: add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"
                ),
            }
            .holding(table, Work::Scan));
        }
        if !tree::is(cmd, AlterTableType::AtAddColumn) {
            return None;
        }
        let def = tree::column_def(cmd)?;
        let fk = column_constraint(def, ConstrType::ConstrForeign)?;
        let column = def.colname.clone();
        let referenced = fk.pktable.as_ref().map(relation_key).unwrap_or_default();
        let message = format!(
            "ADD COLUMN {column} … REFERENCES {referenced} on existing table {table} checks the foreign key under a lock on both tables and cannot be NOT VALID: add the column, then ADD CONSTRAINT … FOREIGN KEY ({column}) REFERENCES {referenced} NOT VALID, and VALIDATE CONSTRAINT in a later migration"
        );
        Some(Violation::on_column(Rule::ConstraintMissingNotValid, table, &column, message).holding(table, Work::Scan))
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
                "ALTER TABLE ONLY public.appointments ADD CONSTRAINT c CHECK (ends_at > scheduled_at);",
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
