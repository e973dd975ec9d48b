//! File checks on the migrate engine's model (`migrate::source::Scan`, the same files
//! and checksums `migrate` uses): names that are not migrations (refinery silently
//! skips them; dbkit reports them), duplicate and missing versions, applied files
//! edited since (against the history `migrate` writes), and statements PostgreSQL's
//! grammar rejects, with file:line. Every statement is parsed by PostgreSQL's grammar
//! (libpg_query) for the lint rules, and by sqlparser for the locator of catalog
//! findings. Everything here but `applied_history` is pure.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;

use anyhow::Result;
use sqlparser::ast::Statement as Ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::Client;

use super::lint::tree;
use super::rule::{Finding, Rule};
use crate::migrate::failure::file_name_of;
use crate::migrate::history;
use crate::migrate::layout::{Layout, SourceOptions};
use crate::migrate::source::{MigrationFile, Scan};
use crate::migrate::split::Statement;
use crate::migrate::{HistoryRow, Version};

/// A migration file with its statements parsed (it reads as the `MigrationFile` it
/// wraps: `file.version`, `file.display`, `file.sql`).
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub migration: MigrationFile,
    pub statements: Vec<ParsedStatement>,
}

impl Deref for ParsedFile {
    type Target = MigrationFile;

    fn deref(&self) -> &MigrationFile {
        &self.migration
    }
}

#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub stmt: Statement,
    /// PostgreSQL's parse tree (one per statement in the text), or its syntax error.
    pub tree: Result<Vec<pg_query::NodeEnum>, String>,
    /// sqlparser's reading, where it has one (the locator of catalog findings uses
    /// it); None when sqlparser cannot parse the statement.
    pub ast: Option<Ast>,
}

impl ParsedStatement {
    /// The parse trees, none when PostgreSQL's grammar rejects the statement.
    pub fn trees(&self) -> impl Iterator<Item = &pg_query::NodeEnum> {
        self.tree.iter().flatten()
    }
}

/// Read the migrations `opts` names (as every command resolves them): the valid
/// migrations (sorted by version) and the findings about names and versions.
pub fn load(source: impl Into<SourceOptions>) -> Result<(Vec<ParsedFile>, Vec<Finding>)> {
    let scan = Scan::resolve(&source.into())?;
    let mut findings: Vec<Finding> = scan
        .problems
        .iter()
        .map(|problem| {
            Finding::new(
                Rule::InvalidMigrationName,
                format!("{}; {}", problem.message, scan.layout.naming()),
            )
            .at(problem.display.clone(), 1)
        })
        .collect();
    let mut files: Vec<ParsedFile> = scan.files.into_iter().map(parse).collect();
    files.sort_by(|a, b| a.version.cmp(&b.version).then(a.display.cmp(&b.display)));
    findings.extend(version_findings(&files));
    Ok((files, findings))
}

/// Split and parse one file.
pub fn parse(migration: MigrationFile) -> ParsedFile {
    let statements = migration
        .statements()
        .into_iter()
        .map(|stmt| {
            let ast = sqlparser_ast(&stmt.text);
            let tree = tree::parse(&stmt.text);
            ParsedStatement { stmt, tree, ast }
        })
        .collect();
    ParsedFile {
        migration,
        statements,
    }
}

/// A dbkit-layout file `V{version}__{name}.sql` from its parts (tests of the rules).
pub fn parse_file(
    path: PathBuf,
    display: String,
    version: i64,
    name: String,
    text: String,
) -> ParsedFile {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .unwrap_or_else(|| format!("V{version}__{name}.sql"));
    let migration = MigrationFile::new(Layout::Dbkit, &file_name, display, text)
        .expect("a valid dbkit migration name");
    debug_assert_eq!(migration.version, Version::new(version));
    parse(migration)
}

/// sqlparser's reading of one statement, when it has exactly one (`DO` blocks never do).
fn sqlparser_ast(sql: &str) -> Option<Ast> {
    let first_word = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if first_word.eq_ignore_ascii_case("do") {
        return None;
    }
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(mut stmts) if stmts.len() == 1 => stmts.pop(),
        _ => None,
    }
}

/// Statements PostgreSQL's grammar rejects, with PostgreSQL's message, at the line
/// where the statement starts.
pub fn parse_findings(files: &[ParsedFile]) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in files {
        for s in &file.statements {
            if let Err(message) = &s.tree {
                out.push(
                    Finding::new(
                        Rule::ParseError,
                        format!("PostgreSQL's grammar rejects this statement: {message}"),
                    )
                    .at(file.display.clone(), s.stmt.line),
                );
            }
        }
    }
    out
}

/// Duplicate versions and gaps in the sequence.
pub fn version_findings(files: &[ParsedFile]) -> Vec<Finding> {
    let mut by_version: BTreeMap<Version, Vec<&ParsedFile>> = BTreeMap::new();
    for f in files {
        by_version.entry(f.version).or_default().push(f);
    }
    let mut out = Vec::new();
    for group in by_version.values() {
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|f| f.display.as_str()).collect();
            for f in &group[1..] {
                out.push(
                    Finding::new(
                        Rule::DuplicateVersion,
                        format!("version {} is used by {}", f.label(), names.join(" and ")),
                    )
                    .at(f.display.clone(), 1),
                );
            }
        }
    }
    // Supabase versions are timestamps: gaps between them are the rule.
    if files.first().is_some_and(|f| f.layout == Layout::Supabase) {
        return out;
    }
    let versions: Vec<i64> = by_version.keys().map(|v| v.get()).collect();
    for pair in versions.windows(2) {
        if pair[1] > pair[0] + 1 {
            let missing = if pair[1] == pair[0] + 2 {
                format!("V{}", pair[0] + 1)
            } else {
                format!("V{}..V{}", pair[0] + 1, pair[1] - 1)
            };
            let f = by_version[&Version::new(pair[1])][0];
            out.push(
                Finding::new(
                    Rule::MissingVersion,
                    format!("{missing} missing between V{} and V{}", pair[0], pair[1]),
                )
                .at(f.display.clone(), 1),
            );
        }
    }
    out
}

/// The target database's histories (refinery's, Supabase's).
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub refinery: Vec<HistoryRow>,
    pub supabase: Vec<HistoryRow>,
}

/// The history of the target database, or None when it has never been migrated.
pub async fn applied_history(client: &Client) -> Result<Option<Applied>> {
    let applied = Applied {
        refinery: history::read_refinery(client).await?,
        supabase: history::read_supabase(client).await?,
    };
    Ok((!applied.refinery.is_empty() || !applied.supabase.is_empty()).then_some(applied))
}

/// Applied migrations whose file changed or disappeared, against the history of the
/// files' layout.
pub fn applied_findings(files: &[ParsedFile], applied: &Applied) -> Result<Vec<Finding>> {
    let layout = files.first().map_or(Layout::Dbkit, |f| f.layout);
    // Which history describes the target is unprovable: a tool error, as for migrate.
    if let Some(refusal) = history::disagreement(&applied.refinery, &applied.supabase, layout) {
        return Err(refusal);
    }
    let rows = match layout {
        Layout::Supabase => &applied.supabase,
        Layout::Dbkit | Layout::Embedded => &applied.refinery,
    };
    let mut out = Vec::new();
    for row in rows {
        let Some(file) = files.iter().find(|f| f.version == row.version) else {
            out.push(
                Finding::new(
                    Rule::AppliedMigrationMissing,
                    format!(
                        "{} is applied on the database but its file is gone",
                        file_name_of(layout, row.version, &row.name).trim_end_matches(".sql")
                    ),
                )
                .object(layout.label(row.version)),
            );
            continue;
        };
        let same_checksum = row.checksum.as_ref().is_none_or(|c| *c == file.checksum);
        if !same_checksum || file.name != row.name {
            let what = if file.name != row.name {
                format!(
                    "was applied as {}",
                    file_name_of(layout, row.version, &row.name).trim_end_matches(".sql")
                )
            } else {
                "changed since it was applied (checksum differs)".to_string()
            };
            out.push(
                Finding::new(
                    Rule::AppliedMigrationEdited,
                    format!(
                        "{} {what}: add a new migration instead of editing an applied one",
                        file.display
                    ),
                )
                .at(file.display.clone(), 1),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn rules(findings: &[Finding]) -> Vec<Rule> {
        findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn names_refinery_would_skip_are_reported() {
        let dir = dir_with(&[
            ("V1__ok.sql", "SELECT 1;"),
            ("V2__add-index.sql", "SELECT 1;"),
            ("v3__lower.sql", "SELECT 1;"),
            ("V4_one_underscore.sql", "SELECT 1;"),
            ("README.md", "notes"),
        ]);
        let (files, findings) = load(dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(rules(&findings), vec![Rule::InvalidMigrationName; 3]);
        assert!(
            findings[0].message.contains("V2__add-index.sql"),
            "{findings:?}"
        );
    }

    #[test]
    fn duplicates_and_gaps() {
        let dir = dir_with(&[
            ("V1__a.sql", ""),
            ("V2__b.sql", ""),
            ("V2__c.sql", ""),
            ("V5__d.sql", ""),
        ]);
        let (_, findings) = load(dir.path()).unwrap();
        assert_eq!(
            rules(&findings),
            vec![Rule::DuplicateVersion, Rule::MissingVersion]
        );
        assert!(
            findings[1].message.starts_with("V3..V4 missing"),
            "{}",
            findings[1].message
        );
        let clean = dir_with(&[("V1__a.sql", ""), ("V2__b.sql", "")]);
        assert!(load(clean.path()).unwrap().1.is_empty());
    }

    #[test]
    fn parse_errors_carry_the_file_line() {
        let dir = dir_with(&[(
            "V1__a.sql",
            "CREATE TABLE a (x int);\n\nDO $$ BEGIN NULL; END $$;\nCREATE TABLE b (\n  y int,\n  z intt ))\n);\n",
        )]);
        let (files, _) = load(dir.path()).unwrap();
        let findings = parse_findings(&files);
        assert_eq!(rules(&findings), vec![Rule::ParseError], "{findings:?}");
        assert_eq!(findings[0].line, Some(4));
        assert!(findings[0].message.contains("syntax error"), "{findings:?}");
    }

    /// Every form issue 22 lists as unread by sqlparser (on real projects: COMMENT ON
    /// POLICY, ALTER TYPE … OWNER TO, ALTER INDEX IF EXISTS … RENAME, ALTER
    /// PUBLICATION, a trigger with a string argument; in squawk's tests: REINDEX, ALTER
    /// DOMAIN, CLUSTER, VACUUM with options, CREATE DOMAIN … NOT NULL) parses with
    /// PostgreSQL's grammar, DO blocks too.
    #[test]
    fn postgres_grammar_reads_what_sqlparser_could_not() {
        let forms = [
            "DROP INDEX CONCURRENTLY IF EXISTS a_idx",
            "COMMENT ON POLICY p ON t IS 'x'",
            "ALTER TYPE mood OWNER TO postgres",
            "ALTER INDEX IF EXISTS a RENAME TO b",
            "ALTER PUBLICATION supabase_realtime ADD TABLE t",
            "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f('arg')",
            "REINDEX INDEX CONCURRENTLY a",
            "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)",
            "CLUSTER t USING a",
            "VACUUM (FULL, ANALYZE) t",
            "CREATE DOMAIN d2 AS text NOT NULL",
            "DO $$ BEGIN NULL; END $$",
        ];
        for sql in forms {
            let trees = tree::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(trees.len(), 1, "{sql}");
        }
        let text: String = forms.iter().map(|f| format!("{f};\n")).collect();
        let dir = dir_with(&[("V1__a.sql", &text)]);
        let (files, _) = load(dir.path()).unwrap();
        assert_eq!(files[0].statements.len(), forms.len());
        assert!(parse_findings(&files).is_empty());
    }

    #[test]
    fn edited_applied_file_is_reported() {
        let dir = dir_with(&[("V1__a.sql", "SELECT 1;"), ("V2__b.sql", "SELECT 2;")]);
        let (files, _) = load(dir.path()).unwrap();
        let row = |v: i64, name: &str, checksum: &str| HistoryRow {
            version: Version::new(v),
            name: name.into(),
            applied_on: None,
            checksum: Some(checksum.into()),
        };
        let applied = Applied {
            refinery: vec![
                row(1, "a", &files[0].checksum),
                row(2, "b", "123"),
                row(3, "c", "1"),
            ],
            supabase: Vec::new(),
        };
        let findings = applied_findings(&files, &applied).unwrap();
        assert_eq!(
            rules(&findings),
            vec![Rule::AppliedMigrationEdited, Rule::AppliedMigrationMissing]
        );
        assert!(findings[0].file.as_deref().unwrap().ends_with("V2__b.sql"));
    }

    #[test]
    fn repo_migrations_are_clean() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (files, findings) = load(&dir).unwrap();
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(files.len(), 6);
        assert!(files[3].no_transaction() && !files[2].no_transaction());
        assert!(
            parse_findings(&files).is_empty(),
            "{:?}",
            parse_findings(&files)
        );
    }
}
