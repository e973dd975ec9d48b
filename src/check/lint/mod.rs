//! Migration lint rules (squawk-style), one file per rule. Each rule is a pure function
//! from one parsed statement (plus what the file around it created) to violations;
//! this module walks the files newer than `--base` and attaches file and line.

use std::collections::HashSet;

use sqlparser::ast::{AlterTableOperation, Ident, ObjectName, ObjectNamePart, Statement as Ast};

use super::files::ParsedFile;
use super::rule::{Finding, Rule};

mod adding_not_nullable_field;
mod ban_concurrent_index_in_transaction;
mod ban_drop_column;
mod ban_drop_table;
mod changing_column_type;
mod constraint_missing_not_valid;
mod identifier_too_long;
mod renaming_column;
mod require_concurrent_index_creation;
mod transaction_blocks;
mod transaction_nesting;

/// What a rule sees besides the statement.
pub struct Ctx<'a> {
    pub file: &'a ParsedFile,
    /// Tables created by this migration file: changing them locks nobody out.
    pub new_tables: HashSet<String>,
}

impl Ctx<'_> {
    /// Did `table` exist before this migration (i.e. was not created by it)?
    pub fn existed_before(&self, table: &ObjectName) -> bool {
        !self.new_tables.contains(&table_key(table))
    }

    /// Judge each operation of an ALTER TABLE of a table that existed before this
    /// migration (`judge` gets the table's key too): how every column-changing lint
    /// walks a statement. Nothing for any other statement.
    pub fn judge_alter<V: IntoIterator<Item = Violation>>(
        &self,
        ast: &Ast,
        judge: impl Fn(&str, &AlterTableOperation) -> V,
    ) -> Vec<Violation> {
        let Ast::AlterTable(alter) = ast else {
            return vec![];
        };
        if !self.existed_before(&alter.name) {
            return vec![];
        }
        let table = table_key(&alter.name);
        alter
            .operations
            .iter()
            .flat_map(|op| judge(&table, op))
            .collect()
    }
}

/// A rule's verdict on one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub object: String,
    pub message: String,
}

impl Violation {
    /// A violation about `column` of `table` (the object `table.column`).
    pub fn on_column(rule: Rule, table: &str, column: &str, message: String) -> Self {
        Violation {
            rule,
            object: format!("{table}.{column}"),
            message,
        }
    }
}

type RuleFn = fn(&Ctx, &Ast) -> Vec<Violation>;

/// A rule for statements sqlparser cannot parse, judged from their text.
type TextRuleFn = fn(&Ctx, &str) -> Vec<Violation>;

const TEXT_RULES: &[TextRuleFn] = &[ban_concurrent_index_in_transaction::check_text];

/// Text rules for every statement, parsed or not.
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
];

/// Lint every migration with a version above `base` (all of them when None).
pub fn lint(files: &[ParsedFile], base: Option<i64>) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| base.is_none_or(|b| f.version > b)) {
        out.extend(lint_file(file));
    }
    out
}

pub fn lint_file(file: &ParsedFile) -> Vec<Finding> {
    let new_tables = file
        .statements
        .iter()
        .filter_map(|s| match &s.ast {
            Some(Ast::CreateTable(t)) => Some(table_key(&t.name)),
            _ => None,
        })
        .collect();
    let ctx = Ctx { file, new_tables };
    let mut found: Vec<(usize, Violation)> = Vec::new();
    for s in &file.statements {
        let violations: Vec<Violation> = match &s.ast {
            Some(ast) => RULES.iter().flat_map(|rule| rule(&ctx, ast)).collect(),
            None => TEXT_RULES
                .iter()
                .flat_map(|rule| rule(&ctx, &s.stmt.text))
                .collect(),
        };
        let all_text = ALL_TEXT_RULES
            .iter()
            .flat_map(|rule| rule(&ctx, &s.stmt.text));
        found.extend(
            violations
                .into_iter()
                .chain(all_text)
                .map(|v| (s.stmt.line, v)),
        );
    }
    found.extend(FILE_RULES.iter().flat_map(|rule| rule(&ctx)));
    found.sort_by_key(|(line, _)| *line);
    found
        .into_iter()
        .map(|(line, v)| {
            Finding::new(v.rule, v.message)
                .at(file.display.clone(), line)
                .object(v.object)
        })
        .collect()
}

/// The index of a `DROP INDEX CONCURRENTLY [IF EXISTS] name [, ...]` statement (the
/// first one, folded, schema dropped). sqlparser cannot parse this statement, so it is
/// recognised from its tokens (comments skipped).
pub fn drop_index_concurrently(sql: &str) -> Option<String> {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut tokens = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .peekable();
    let is_keyword = |t: Option<&Token>, kw: &str| matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    for kw in ["drop", "index", "concurrently"] {
        if !is_keyword(tokens.next().as_ref(), kw) {
            return None;
        }
    }
    if is_keyword(tokens.peek(), "if") {
        tokens.next();
        tokens.next(); // EXISTS
    }
    // `schema.name`: the last word before anything but a word or a period.
    let mut name = None;
    for token in tokens {
        match token {
            Token::Word(w) if w.quote_style.is_some() => name = Some(w.value),
            Token::Word(w) => name = Some(w.value.to_lowercase()),
            Token::Period => {}
            _ => break,
        }
    }
    name
}

/// An identifier as PostgreSQL folds it: unquoted names are lower-cased.
pub fn ident_key(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The table's own name (schema dropped), folded.
pub fn table_key(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident_key(ident),
        _ => name.to_string(),
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
            file.statements
                .iter()
                .all(|s| s.ast.is_some() || drop_index_concurrently(&s.stmt.text).is_some()),
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
    fn drop_index_concurrently_names_the_index() {
        let name = |sql| drop_index_concurrently(sql);
        assert_eq!(name("DROP INDEX CONCURRENTLY a_idx"), Some("a_idx".into()));
        assert_eq!(
            name("drop index -- x\n concurrently if exists Public.\"A_Idx\", b CASCADE"),
            Some("A_Idx".into())
        );
        assert_eq!(
            name("DROP INDEX CONCURRENTLY IF EXISTS S.Idx"),
            Some("idx".into())
        );
        assert_eq!(name("DROP INDEX a_idx"), None);
        assert_eq!(name("CREATE INDEX CONCURRENTLY a ON t (x)"), None);
    }

    #[test]
    fn project_migrations_lint_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (files, _) = crate::check::files::load(&dir).unwrap();
        assert_eq!(lint(&files, None), vec![]);
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
        assert_eq!(lint(&files, None).len(), 2);
        let after_1 = lint(&files, Some(1));
        assert_eq!(after_1.len(), 1);
        assert_eq!(after_1[0].file.as_deref(), Some("V2__b.sql"));
    }
}
