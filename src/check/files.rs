//! File checks: which files are migrations (refinery silently skips a name it cannot
//! parse; dbkit reports it), duplicate and missing versions, applied files edited since
//! (refinery checksums against `refinery_schema_history`), and sqlparser parse errors
//! with file:line. Everything here but `applied_history` is pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sqlparser::ast::Statement as Ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::Client;

use super::lint::drop_index_concurrently;
use super::rule::{Finding, Rule};
use crate::migrate::source::{has_no_transaction_directive, parse_file_name};
use crate::migrate::split::{split, Statement};

/// A migration file, read, split and parsed.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub path: PathBuf,
    /// The path as reported (the migrations directory as given, joined with the name).
    pub display: String,
    pub version: i64,
    /// The part after `V{n}__`, as refinery names it.
    pub name: String,
    pub text: String,
    pub no_transaction: bool,
    pub statements: Vec<ParsedStatement>,
}

#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub stmt: Statement,
    /// None when sqlparser cannot parse it (or it is a `DO` block, which it never can).
    pub ast: Option<Ast>,
}

impl MigrationFile {
    /// refinery's checksum of this file, as recorded in `refinery_schema_history`.
    pub fn checksum(&self) -> Result<u64> {
        let stem = format!("V{}__{}", self.version, self.name);
        Ok(refinery::Migration::unapplied(&stem, &self.text)
            .with_context(|| format!("refinery cannot read {}", self.display))?
            .checksum())
    }
}

/// Does this file look like it was meant to be a migration?
fn looks_like_migration(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".sql")
        || (name.len() > 1
            && matches!(name.as_bytes()[0], b'V' | b'v' | b'U' | b'u')
            && name.as_bytes()[1].is_ascii_digit())
}

/// Read the migrations directory: the valid migrations (sorted by version) and the
/// findings about names and versions.
pub fn load(dir: &Path) -> Result<(Vec<MigrationFile>, Vec<Finding>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        crate::error::hinted(
            format!(
                "cannot read the migrations directory {}: {e}",
                dir.display()
            ),
            "run from the project root or pass --migrations DIR",
        )
    })?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let display = path.display().to_string();
        // migrate's name rule, stricter than refinery (which skips a bad name silently).
        let (version, stem) = match parse_file_name(&name) {
            Ok(parsed) => parsed,
            Err(err) => {
                if looks_like_migration(&name) {
                    findings.push(
                        Finding::new(
                            Rule::InvalidMigrationName,
                            format!(
                                "{err}; expected V{{n}}__{{name}}.sql (letters, digits, _): refinery would skip it without a word"
                            ),
                        )
                        .at(display, 1),
                    );
                }
                continue;
            }
        };
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {display}"))?;
        files.push(parse_file(path, display, i64::from(version), stem, text));
    }
    files.sort_by(|a, b| a.version.cmp(&b.version).then(a.display.cmp(&b.display)));
    findings.extend(version_findings(&files));
    Ok((files, findings))
}

/// Split and parse one file.
pub fn parse_file(
    path: PathBuf,
    display: String,
    version: i64,
    name: String,
    text: String,
) -> MigrationFile {
    let no_transaction = has_no_transaction_directive(&text);
    let statements = split(&text)
        .into_iter()
        .map(|stmt| {
            let ast = parse_statement(&stmt.text).ok().flatten();
            ParsedStatement { stmt, ast }
        })
        .collect();
    MigrationFile {
        path,
        display,
        version,
        name,
        text,
        no_transaction,
        statements,
    }
}

/// Ok(None) for statements sqlparser is known not to handle (`DO` blocks, `DROP INDEX
/// CONCURRENTLY`): opaque, no finding. Err(message, line offset within the statement)
/// for a parse error.
fn parse_statement(sql: &str) -> Result<Option<Ast>, (String, usize)> {
    let first_word = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    // Lint rules that need them read these from their text (`lint::TEXT_RULES`).
    if first_word.eq_ignore_ascii_case("do") || drop_index_concurrently(sql).is_some() {
        return Ok(None);
    }
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(mut stmts) if stmts.len() == 1 => Ok(stmts.pop()),
        Ok(_) => Ok(None),
        Err(e) => {
            let message = e.to_string();
            let line = line_in_message(&message).unwrap_or(1);
            Err((message, line))
        }
    }
}

/// sqlparser says "... at Line: 3, Column: 7".
fn line_in_message(message: &str) -> Option<usize> {
    let at = message.find("Line: ")?;
    message[at + 6..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Parse errors of the files, with the absolute line.
pub fn parse_findings(files: &[MigrationFile]) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in files {
        for s in &file.statements {
            if s.ast.is_some() {
                continue;
            }
            if let Err((message, offset)) = parse_statement(&s.stmt.text) {
                let message = message
                    .strip_prefix("sql parser error: ")
                    .unwrap_or(&message);
                out.push(
                    Finding::new(
                        Rule::ParseError,
                        format!("sqlparser: {message}; lint rules skip this statement"),
                    )
                    .at(file.display.clone(), s.stmt.line + offset - 1),
                );
            }
        }
    }
    out
}

/// Duplicate versions and gaps in the sequence.
pub fn version_findings(files: &[MigrationFile]) -> Vec<Finding> {
    let mut by_version: BTreeMap<i64, Vec<&MigrationFile>> = BTreeMap::new();
    for f in files {
        by_version.entry(f.version).or_default().push(f);
    }
    let mut out = Vec::new();
    for (version, group) in &by_version {
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|f| f.display.as_str()).collect();
            for f in &group[1..] {
                out.push(
                    Finding::new(
                        Rule::DuplicateVersion,
                        format!("version {version} is used by {}", names.join(" and ")),
                    )
                    .at(f.display.clone(), 1),
                );
            }
        }
    }
    let versions: Vec<i64> = by_version.keys().copied().collect();
    for pair in versions.windows(2) {
        if pair[1] > pair[0] + 1 {
            let missing = if pair[1] == pair[0] + 2 {
                format!("V{}", pair[0] + 1)
            } else {
                format!("V{}..V{}", pair[0] + 1, pair[1] - 1)
            };
            let f = by_version[&pair[1]][0];
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

/// One row of `refinery_schema_history`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
}

/// The history of the target database, or None when it has never been migrated.
pub async fn applied_history(client: &Client) -> Result<Option<Vec<Applied>>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT version::int8, name, checksum FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .context("cannot read refinery_schema_history")?;
    Ok(Some(
        rows.iter()
            .map(|r| Applied {
                version: r.get(0),
                name: r.get(1),
                checksum: r.get(2),
            })
            .collect(),
    ))
}

/// Applied migrations whose file changed or disappeared.
pub fn applied_findings(files: &[MigrationFile], applied: &[Applied]) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for row in applied {
        let Some(file) = files.iter().find(|f| f.version == row.version) else {
            out.push(
                Finding::new(
                    Rule::AppliedMigrationMissing,
                    format!(
                        "V{}__{} is applied on the database but its file is gone",
                        row.version, row.name
                    ),
                )
                .object(format!("V{}", row.version)),
            );
            continue;
        };
        let checksum = file.checksum()?.to_string();
        if checksum != row.checksum || file.name != row.name {
            let what = if file.name != row.name {
                format!("was applied as V{}__{}", row.version, row.name)
            } else {
                "changed since it was applied (refinery checksum differs)".to_string()
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
        // sqlparser cannot parse DROP INDEX CONCURRENTLY; the lint reads it from its text.
        let dir = dir_with(&[("V1__a.sql", "DROP INDEX CONCURRENTLY IF EXISTS a_idx;\n")]);
        assert!(parse_findings(&load(dir.path()).unwrap().0).is_empty());
        assert_eq!(findings[0].line, Some(6));
    }

    #[test]
    fn edited_applied_file_is_reported() {
        let dir = dir_with(&[("V1__a.sql", "SELECT 1;"), ("V2__b.sql", "SELECT 2;")]);
        let (files, _) = load(dir.path()).unwrap();
        let good = files[0].checksum().unwrap().to_string();
        let applied = vec![
            Applied {
                version: 1,
                name: "a".into(),
                checksum: good,
            },
            Applied {
                version: 2,
                name: "b".into(),
                checksum: "123".into(),
            },
            Applied {
                version: 3,
                name: "c".into(),
                checksum: "1".into(),
            },
        ];
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
        assert!(files[3].no_transaction && !files[2].no_transaction);
        assert!(
            parse_findings(&files).is_empty(),
            "{:?}",
            parse_findings(&files)
        );
    }
}
