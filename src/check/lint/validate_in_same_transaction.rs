//! `validate-in-same-transaction`: ADD CONSTRAINT … NOT VALID then VALIDATE CONSTRAINT
//! in one transactional migration. The ADD's lock (ACCESS EXCLUSIVE for a CHECK, SHARE
//! ROW EXCLUSIVE for a foreign key) is held until COMMIT, so the validating scan runs
//! under it: NOT VALID bought nothing. Validate in a later migration.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::tree;
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    if !ctx.in_transaction() {
        return vec![];
    }
    let Some((relation, cmds)) = tree::alter_table(stmt) else {
        return vec![];
    };
    // A table this file created is empty: nobody waits for its scan.
    if !ctx.existed_before(relation) {
        return vec![];
    }
    let table = tree::relation_key(relation);
    cmds.into_iter()
        .filter(|cmd| tree::is(cmd, AlterTableType::AtValidateConstraint))
        .filter(|cmd| ctx.not_valid_here.contains(&(table.clone(), cmd.name.clone())))
        .map(|cmd| Violation {
            lock: None,
            rule: Rule::ValidateInSameTransaction,
            object: format!("{table}.{}", cmd.name),
            message: format!(
                "VALIDATE CONSTRAINT {} runs in the transaction that added it NOT VALID, so the scan of {table} holds the ADD's lock until COMMIT: validate it in a later migration",
                cmd.name
            ),
        }
        .holding(&table, Work::Scan))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::ValidateInSameTransaction as R;

    #[test]
    fn flags_validate_after_not_valid_in_one_transaction() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD CONSTRAINT fk FOREIGN KEY (contact_id) REFERENCES contacts (id) NOT VALID;\nALTER TABLE appointments VALIDATE CONSTRAINT fk;",
                "ALTER TABLE appointments ADD CONSTRAINT c CHECK (notes IS NOT NULL) NOT VALID;\nALTER TABLE appointments VALIDATE CONSTRAINT c;",
            ],
        );
    }

    #[test]
    fn passes_validate_alone_or_outside_a_transaction() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments VALIDATE CONSTRAINT fk;",
                "-- dbkit:no-transaction\nALTER TABLE appointments ADD CONSTRAINT fk FOREIGN KEY (contact_id) REFERENCES contacts (id) NOT VALID;\nALTER TABLE appointments VALIDATE CONSTRAINT fk;",
                "ALTER TABLE appointments ADD CONSTRAINT fk FOREIGN KEY (contact_id) REFERENCES contacts (id) NOT VALID;\nALTER TABLE contacts VALIDATE CONSTRAINT fk;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;",
            ],
        );
    }
}
