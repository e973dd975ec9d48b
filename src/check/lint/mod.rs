//! Migration lint rules (squawk-style), one file per rule. Each rule is a pure function
//! from one statement's parse tree — PostgreSQL's own grammar, `tree` — plus what the
//! migrations around it did (`Ctx`) to violations; this module walks the files in
//! version order, keeps that context, and reports the files newer than `--base` with
//! file and line.

use std::collections::HashSet;

use pg_query::protobuf::{AlterTableCmd, AlterTableType, ConstrType, RangeVar};
use pg_query::NodeEnum;

use super::files::ParsedFile;
use super::rule::{Finding, Rule};
use crate::schema::stats::TableSizes;
pub use grade::{Lock, Work};

mod adding_field_with_default;
mod adding_not_nullable_field;
mod adding_serial_primary_key_field;
mod ban_concurrent_index_in_transaction;
mod ban_drop_column;
mod ban_drop_table;
mod changing_column_type;
mod constraint_missing_not_valid;
mod disallowed_unique_constraint;
pub mod grade;
mod identifier_too_long;
mod prefer_repack;
mod renaming_column;
mod renaming_table;
mod require_concurrent_index_creation;
mod require_concurrent_index_deletion;
mod require_concurrent_partition_detach;
mod require_concurrent_reindex;
mod transaction_blocks;
mod transaction_nesting;
pub mod tree;
mod validate_in_same_transaction;

/// What a rule sees besides the statement.
pub struct Ctx<'a> {
    pub file: &'a ParsedFile,
    /// Tables created by this migration file: changing them locks nobody out.
    pub new_tables: HashSet<String>,
    /// Indexes created by this migration file.
    pub new_indexes: HashSet<String>,
    /// (table, constraint) added NOT VALID earlier in this file.
    pub not_valid_here: HashSet<(String, String)>,
    /// (table, column) a valid `CHECK (column IS NOT NULL)` proves, from the
    /// statements before this one (this file's and earlier migrations').
    pub proven_not_null: HashSet<(String, String)>,
    /// (table, constraint) validated before this statement although no migration
    /// added it (it was made outside them).
    pub validated_unknown: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// Is `column` of `table` proven NOT NULL by a validated CHECK? Known from the
    /// migrations, or — for a constraint no migration added — from its name, when the
    /// name carries the column and says not-null (`foo_bar_not_null`), as squawk judges.
    pub fn proves_not_null(&self, table: &str, column: &str) -> bool {
        self.proven_not_null
            .contains(&(table.to_string(), column.to_string()))
            || self.validated_unknown.iter().any(|(t, name)| {
                let name = name.to_lowercase();
                t == table
                    && name.contains(column)
                    && ["not_null", "notnull", "_nn"]
                        .iter()
                        .any(|m| name.contains(m))
            })
    }

    /// Did `table` exist before this migration (i.e. was not created by it)?
    pub fn existed_before(&self, table: &RangeVar) -> bool {
        !self.new_tables.contains(&tree::relation_key(table))
    }

    /// Does the file run in one transaction (no `-- dbkit:no-transaction`)?
    pub fn in_transaction(&self) -> bool {
        !self.file.no_transaction()
    }

    /// Judge each command of an ALTER TABLE of a table that existed before this
    /// migration (`judge` gets the table's key too): how every column-changing lint
    /// walks a statement. Nothing for any other statement.
    pub fn judge_alter<V: IntoIterator<Item = Violation>>(
        &self,
        stmt: &NodeEnum,
        judge: impl Fn(&str, &AlterTableCmd) -> V,
    ) -> Vec<Violation> {
        let Some((relation, cmds)) = tree::alter_table(stmt) else {
            return vec![];
        };
        if !self.existed_before(relation) {
            return vec![];
        }
        let table = tree::relation_key(relation);
        cmds.into_iter()
            .flat_map(|cmd| judge(&table, cmd))
            .collect()
    }
}

/// A rule's verdict on one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub object: String,
    pub message: String,
    /// The lock it holds while PostgreSQL works through a table, for `--stats-from`
    /// to grade; None when the lock's duration does not grow with the table.
    pub lock: Option<Lock>,
}

impl Violation {
    /// A violation about `column` of `table` (the object `table.column`).
    pub fn on_column(rule: Rule, table: &str, column: &str, message: String) -> Self {
        Violation {
            rule,
            object: format!("{table}.{column}"),
            message,
            lock: None,
        }
    }

    /// It holds its lock while doing `work` on every row of `table`.
    pub fn holding(mut self, table: &str, work: Work) -> Self {
        self.lock = Some(Lock {
            table: table.to_string(),
            work,
        });
        self
    }
}

type RuleFn = fn(&Ctx, &NodeEnum) -> Vec<Violation>;

/// Text rules for every statement, parsed or not.
type TextRuleFn = fn(&Ctx, &str) -> Vec<Violation>;

const ALL_TEXT_RULES: &[TextRuleFn] = &[identifier_too_long::check_text];

/// A rule over the whole file (it needs what came before a statement), with lines.
type FileRuleFn = fn(&Ctx) -> Vec<(usize, Violation)>;

const FILE_RULES: &[FileRuleFn] = &[
    transaction_nesting::check_file,
    transaction_blocks::check_file,
];

const RULES: &[RuleFn] = &[
    require_concurrent_index_creation::check,
    ban_concurrent_index_in_transaction::check,
    constraint_missing_not_valid::check,
    adding_not_nullable_field::check,
    changing_column_type::check,
    ban_drop_column::check,
    ban_drop_table::check,
    renaming_column::check,
    validate_in_same_transaction::check,
    renaming_table::check,
    disallowed_unique_constraint::check,
    adding_field_with_default::check,
    adding_serial_primary_key_field::check,
    require_concurrent_index_deletion::check,
    require_concurrent_reindex::check,
    require_concurrent_partition_detach::check,
    prefer_repack::check,
];

/// What the migrations before a statement established, across files.
#[derive(Debug, Default)]
struct History {
    proven_not_null: HashSet<(String, String)>,
    /// (table, constraint) -> column of a `CHECK (column IS NOT NULL) NOT VALID`.
    pending_not_null: Vec<((String, String), String)>,
    /// Every (table, constraint) the migrations added.
    added: HashSet<(String, String)>,
    validated_unknown: Vec<(String, String)>,
}

impl History {
    /// Learn what `stmt` proves: a valid NOT NULL check, added or validated.
    fn learn(&mut self, stmt: &NodeEnum) {
        let Some((relation, cmds)) = tree::alter_table(stmt) else {
            return;
        };
        let table = tree::relation_key(relation);
        for cmd in cmds {
            if tree::is(cmd, AlterTableType::AtAddConstraint) {
                let Some(c) = tree::constraint(cmd) else {
                    continue;
                };
                let Some(column) = tree::not_null_check_column(c) else {
                    continue;
                };
                if c.skip_validation {
                    self.pending_not_null
                        .push(((table.clone(), c.conname.clone()), column));
                } else {
                    self.proven_not_null.insert((table.clone(), column));
                }
            } else if tree::is(cmd, AlterTableType::AtValidateConstraint) {
                let key = (table.clone(), cmd.name.clone());
                if let Some((_, column)) = self.pending_not_null.iter().find(|(k, _)| *k == key) {
                    self.proven_not_null.insert((table.clone(), column.clone()));
                } else if !self.added.contains(&key) {
                    self.validated_unknown.push(key);
                }
            }
        }
    }
}

/// Lint every migration with a version above `base` (all of them when None); the
/// earlier ones only teach the context (e.g. a NOT NULL check validated at the base).
/// With `sizes` (`--stats-from`), findings whose lock lasts as long as the work on a
/// table are graded by that table's size (`grade`).
pub fn lint(files: &[ParsedFile], base: Option<i64>, sizes: Option<&TableSizes>) -> Vec<Finding> {
    let mut history = History::default();
    let mut out = Vec::new();
    for file in files {
        let found = lint_in(file, &mut history, sizes);
        if base.is_none_or(|b| file.version > b) {
            out.extend(found);
        }
    }
    out
}

/// Lint one file on its own (no earlier migrations).
pub fn lint_file(file: &ParsedFile) -> Vec<Finding> {
    lint_in(file, &mut History::default(), None)
}

fn lint_in(file: &ParsedFile, history: &mut History, sizes: Option<&TableSizes>) -> Vec<Finding> {
    let trees = || file.statements.iter().flat_map(|s| s.trees());
    let new_tables = trees()
        .filter_map(|t| match t {
            NodeEnum::CreateStmt(c) => c.relation.as_ref().map(tree::relation_key),
            NodeEnum::CreateTableAsStmt(c) => c
                .into
                .as_ref()
                .and_then(|i| i.rel.as_ref())
                .map(tree::relation_key),
            _ => None,
        })
        .collect();
    let new_indexes = trees()
        .filter_map(|t| match t {
            NodeEnum::IndexStmt(i) if !i.idxname.is_empty() => Some(i.idxname.clone()),
            _ => None,
        })
        .collect();
    let mut ctx = Ctx {
        file,
        new_tables,
        new_indexes,
        not_valid_here: HashSet::new(),
        proven_not_null: HashSet::new(),
        validated_unknown: Vec::new(),
    };
    let mut found: Vec<(usize, Violation)> = Vec::new();
    for s in &file.statements {
        for stmt in s.trees() {
            ctx.proven_not_null.clone_from(&history.proven_not_null);
            ctx.validated_unknown.clone_from(&history.validated_unknown);
            found.extend(
                RULES
                    .iter()
                    .flat_map(|rule| rule(&ctx, stmt))
                    .map(|v| (s.stmt.line, v)),
            );
            history.learn(stmt);
            remember_not_valid(&mut ctx.not_valid_here, stmt);
        }
        found.extend(
            ALL_TEXT_RULES
                .iter()
                .flat_map(|rule| rule(&ctx, &s.stmt.text))
                .map(|v| (s.stmt.line, v)),
        );
    }
    found.extend(FILE_RULES.iter().flat_map(|rule| rule(&ctx)));
    found.sort_by_key(|(line, _)| *line);
    found
        .into_iter()
        .map(|(line, v)| {
            let graded = match (sizes, &v.lock) {
                (Some(sizes), Some(lock)) => grade::grade(lock, sizes),
                _ => None,
            };
            let mut finding = match graded {
                Some((severity, note)) => Finding {
                    severity,
                    ..Finding::new(v.rule, format!("{}; {note}", v.message))
                },
                None => Finding::new(v.rule, v.message),
            };
            finding = finding.at(file.display.clone(), line);
            finding.object(v.object)
        })
        .collect()
}

/// Constraints `stmt` adds NOT VALID (FOREIGN KEY, CHECK), as (table, name).
fn remember_not_valid(not_valid: &mut HashSet<(String, String)>, stmt: &NodeEnum) {
    let Some((relation, cmds)) = tree::alter_table(stmt) else {
        return;
    };
    for cmd in cmds {
        if let Some(c) = tree::constraint(cmd) {
            let kind = c.contype();
            if c.skip_validation
                && matches!(kind, ConstrType::ConstrForeign | ConstrType::ConstrCheck)
            {
                not_valid.insert((tree::relation_key(relation), c.conname.clone()));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::check::files::parse_file;

    /// Lint `sql` as migration V`version`; returns the rules hit with their lines.
    pub fn lint_sql(sql: &str) -> Vec<(Rule, usize)> {
        let file = parse_file(
            "V9__t.sql".into(),
            "migrations/V9__t.sql".into(),
            9,
            "t".into(),
            sql.into(),
        );
        assert!(
            file.statements.iter().all(|s| s.tree.is_ok()),
            "test SQL must parse: {sql}"
        );
        lint_file(&file)
            .into_iter()
            .map(|f| (f.rule, f.line.unwrap()))
            .collect()
    }

    pub fn hits(sql: &str, rule: Rule) -> usize {
        lint_sql(sql)
            .into_iter()
            .filter(|(r, _)| *r == rule)
            .count()
    }

    /// Asserts that `rule` fires exactly once on each of `sqls`.
    pub fn assert_flags(rule: Rule, sqls: &[&str]) {
        for sql in sqls {
            assert_eq!(hits(sql, rule), 1, "{rule:?} once on: {sql}");
        }
    }

    /// Asserts that `rule` does not fire on any of `sqls`.
    pub fn assert_passes(rule: Rule, sqls: &[&str]) {
        for sql in sqls {
            assert_eq!(hits(sql, rule), 0, "{rule:?} never on: {sql}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_migrations_lint_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (files, _) = crate::check::files::load(&dir).unwrap();
        assert_eq!(lint(&files, None, None), vec![]);
    }

    #[test]
    fn base_limits_the_files_linted() {
        let a = crate::check::files::parse_file(
            "a".into(),
            "V1__a.sql".into(),
            1,
            "a".into(),
            "DROP TABLE x;".into(),
        );
        let b = crate::check::files::parse_file(
            "b".into(),
            "V2__b.sql".into(),
            2,
            "b".into(),
            "DROP TABLE y;".into(),
        );
        let files = vec![a, b];
        assert_eq!(lint(&files, None, None).len(), 2);
        let after_1 = lint(&files, Some(1), None);
        assert_eq!(after_1.len(), 1);
        assert_eq!(after_1[0].file.as_deref(), Some("V2__b.sql"));
    }
}
