//! Pre-flight checks on a migration's statements, made before anything runs, for what
//! PostgreSQL would accept but that would break dbkit's promises:
//! - transaction control inside a transactional file (`COMMIT`, `ROLLBACK`, `BEGIN`,
//!   …): dbkit runs the file in one transaction, and a `COMMIT` halfway would keep the
//!   first half when the second fails, while the history says nothing was applied;
//! - `COPY … FROM STDIN` / `TO STDOUT`: only psql can feed or drain it;
//! - the extensions the statements create (checked against the server by
//!   `platform::extensions`).
//!
//! Also the text dbkit executes: the file without its UTF-8 byte-order mark.
//! Everything here but `before_first` is pure; `check`'s `transaction-nesting` lint
//! uses the same verdict.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use tokio_postgres::Client;

use super::failure::MigrationFailed;
use super::source::{MigrationFile, MigrationSet, Mode};
use super::split::{split, Statement};
use super::version::Version;
use crate::platform::{self, extensions::ExtensionUse};

const BOM: char = '\u{feff}';

/// The statements dbkit executes: `split` of the file with a leading UTF-8 BOM
/// removed (an editor's, invisible, and a syntax error to PostgreSQL). Offsets still
/// count from the start of the file.
pub fn statements(sql: &str) -> Vec<Statement> {
    match sql.strip_prefix(BOM) {
        Some(rest) => split(rest)
            .into_iter()
            .map(|mut s| {
                s.offset += BOM.len_utf8();
                s
            })
            .collect(),
        None => split(sql),
    }
}

/// A statement dbkit refuses to run, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub line: usize,
    /// The command as written, upper-cased (`COMMIT`, `RELEASE SAVEPOINT s`, `COPY`).
    pub command: String,
    pub why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Ends (or starts) a transaction inside the file's own.
    LeavesTransaction,
    /// RELEASE / ROLLBACK TO a savepoint the file did not create (one of the
    /// transaction around it).
    ForeignSavepoint,
    /// COPY from the client or to it.
    CopyStdio,
}

impl Blocked {
    /// What is wrong, for `file:line: <this>`.
    pub fn message(&self) -> String {
        let command = &self.command;
        match self.why {
            Why::LeavesTransaction => format!(
                "{command} inside a transactional migration: dbkit runs the whole file in one transaction, and {command} would end it early, so a later failure could not undo what came before"
            ),
            Why::ForeignSavepoint => format!(
                "{command} names a savepoint this file did not create: it would reach outside the migration's own statements"
            ),
            Why::CopyStdio => format!(
                "{command} streams data through the client (FROM STDIN / TO STDOUT), which only psql can do"
            ),
        }
    }

    pub fn hint(&self) -> &'static str {
        match self.why {
            Why::LeavesTransaction | Why::ForeignSavepoint => {
                "remove it: dbkit wraps each file in BEGIN … COMMIT itself; a file whose statements must commit one by one starts with `-- dbkit:no-transaction`"
            }
            Why::CopyStdio => {
                "write the rows as INSERT … VALUES in the migration, or load data outside migrations (psql's \\copy, `dbkit seed`)"
            }
        }
    }
}

/// A word of a statement: unquoted ones lower-cased as PostgreSQL folds them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    value: String,
    quoted: bool,
}

/// The statement's tokens that matter here: words, and `(`/`)` as depth changes.
enum Tok {
    Word(Word),
    Open,
    Close,
    Other,
}

fn tokens(text: &str) -> Vec<Tok> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize() else {
        return Vec::new();
    };
    tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(w) => Tok::Word(Word {
                quoted: w.quote_style.is_some(),
                value: if w.quote_style.is_some() {
                    w.value
                } else {
                    w.value.to_lowercase()
                },
            }),
            Token::LParen => Tok::Open,
            Token::RParen => Tok::Close,
            _ => Tok::Other,
        })
        .collect()
}

/// The leading words of a statement (up to the first token that is not a word).
fn leading_words(text: &str) -> Vec<Word> {
    tokens(text)
        .into_iter()
        .map_while(|t| match t {
            Tok::Word(w) => Some(w),
            _ => None,
        })
        .collect()
}

fn is(word: Option<&Word>, keyword: &str) -> bool {
    word.is_some_and(|w| !w.quoted && w.value == keyword)
}

/// The transaction control of a transactional file that dbkit refuses: anything that
/// ends or starts a transaction, and savepoint commands that name a savepoint the
/// file did not create. SAVEPOINT / RELEASE / ROLLBACK TO of the file's own
/// savepoints stay inside its transaction and pass.
pub fn transaction_nesting(statements: &[Statement]) -> Vec<Blocked> {
    let mut savepoints: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for stmt in statements {
        let words = leading_words(&stmt.text);
        let w = |i: usize| words.get(i);
        let upper = |n: usize| {
            words
                .iter()
                .take(n)
                .map(|w| {
                    if w.quoted {
                        format!("\"{}\"", w.value)
                    } else {
                        w.value.to_uppercase()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let block = |n: usize, why| Blocked {
            line: stmt.line,
            command: upper(n),
            why,
        };
        // ROLLBACK TO [SAVEPOINT] name, RELEASE [SAVEPOINT] name: the name's index.
        let named_at = |from: usize| {
            if is(w(from), "savepoint") {
                from + 1
            } else {
                from
            }
        };
        let first = w(0).filter(|w| !w.quoted).map(|w| w.value.as_str());
        match first {
            Some("begin" | "commit" | "end" | "abort") => {
                let n = if is(w(1), "prepared") { 2 } else { 1 };
                out.push(block(n, Why::LeavesTransaction));
            }
            Some("start") if is(w(1), "transaction") => out.push(block(2, Why::LeavesTransaction)),
            Some("prepare") if is(w(1), "transaction") => {
                out.push(block(2, Why::LeavesTransaction))
            }
            Some("savepoint") => {
                if let Some(name) = w(1) {
                    savepoints.push(name.value.clone());
                }
            }
            Some("release") => {
                let at = named_at(1);
                match w(at).and_then(|n| savepoints.iter().rposition(|s| *s == n.value)) {
                    // Releasing it releases the savepoints made after it too.
                    Some(pos) => savepoints.truncate(pos),
                    None => out.push(block(at + 1, Why::ForeignSavepoint)),
                }
            }
            Some("rollback") => {
                let to = if is(w(1), "to") {
                    Some(2)
                } else if (is(w(1), "work") || is(w(1), "transaction")) && is(w(2), "to") {
                    Some(3)
                } else {
                    None
                };
                match to {
                    Some(from) => {
                        let at = named_at(from);
                        match w(at).and_then(|n| savepoints.iter().rposition(|s| *s == n.value)) {
                            // ROLLBACK TO keeps the savepoint itself, drops later ones.
                            Some(pos) => savepoints.truncate(pos + 1),
                            None => out.push(block(at + 1, Why::ForeignSavepoint)),
                        }
                    }
                    None => {
                        let n = if is(w(1), "prepared") { 2 } else { 1 };
                        out.push(block(n, Why::LeavesTransaction));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `COPY … FROM STDIN` and `COPY … TO STDOUT` (any file).
pub fn copy_stdio(statements: &[Statement]) -> Vec<Blocked> {
    statements
        .iter()
        .filter(|stmt| {
            let toks = tokens(&stmt.text);
            if !matches!(toks.first(), Some(Tok::Word(w)) if !w.quoted && w.value == "copy") {
                return false;
            }
            let mut depth = 0i32;
            let mut previous: Option<&Word> = None;
            for tok in &toks {
                match tok {
                    Tok::Open => depth += 1,
                    Tok::Close => depth -= 1,
                    Tok::Word(w) if depth == 0 => {
                        let stdio = (is(previous, "from") && is(Some(w), "stdin"))
                            || (is(previous, "to") && is(Some(w), "stdout"));
                        if stdio {
                            return true;
                        }
                        previous = Some(w);
                        continue;
                    }
                    _ => {}
                }
                previous = None;
            }
            false
        })
        .map(|stmt| Blocked {
            line: stmt.line,
            command: "COPY".into(),
            why: Why::CopyStdio,
        })
        .collect()
}

/// Everything dbkit refuses in `file`, in line order.
pub fn blocked(file: &MigrationFile) -> Vec<Blocked> {
    let statements = statements(&file.sql);
    let mut out = copy_stdio(&statements);
    if file.mode == Mode::Transactional {
        out.extend(transaction_nesting(&statements));
    }
    out.sort_by_key(|b| b.line);
    out
}

/// Refuse `files` (about to be applied, in order; the database is at `at`) when one
/// of them has a statement dbkit refuses: one `MigrationFailed` naming the first, at
/// file:line, so `check` reports it as it reports any apply failure.
pub fn preflight<'a>(
    files: impl IntoIterator<Item = &'a MigrationFile>,
    at: Option<Version>,
) -> anyhow::Result<()> {
    for file in files {
        let found = blocked(file);
        if let Some(first) = found.first() {
            let more = match found.len() - 1 {
                0 => String::new(),
                n => format!(
                    " ({n} more such statement{} in the file)",
                    if n == 1 { "" } else { "s" }
                ),
            };
            let message = format!("{}{more}; refused before running anything", first.message());
            return Err(refusal(file, first.line, message, at).into_error(first.hint().into()));
        }
    }
    Ok(())
}

/// A refusal before running, in the shape of any failed migration.
fn refusal(
    file: &MigrationFile,
    line: usize,
    message: String,
    at: Option<Version>,
) -> MigrationFailed {
    MigrationFailed {
        file: file.file_name.clone(),
        display: file.display.clone(),
        version: file.version,
        layout: file.layout,
        line: Some(line),
        sqlstate: None,
        message,
        applied_before: at,
        partially_applied: false,
        retries: 0,
        lock_timeout: std::time::Duration::ZERO,
    }
}

/// Extensions the server lacks: one `MigrationFailed` at the first CREATE EXTENSION
/// of one, naming every missing extension and its package.
fn missing_extensions(
    set: &MigrationSet,
    missing: &[platform::extensions::Missing],
    at: Option<Version>,
) -> anyhow::Result<()> {
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let place = |m: &platform::extensions::Missing| {
        set.get(m.usage.version)
            .map(|f| format!("{}:{}", f.display, m.usage.line))
            .unwrap_or_default()
    };
    // `vector (install postgresql-15-pgvector)`, later ones with their place.
    let listed = missing
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = if i == 0 {
                String::new()
            } else {
                format!(" at {}", place(m))
            };
            format!("{}{at} ({})", m.usage.name, m.install)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let advice = missing
        .iter()
        .map(|m| format!("{}: {}", m.usage.name, m.install))
        .collect::<Vec<_>>()
        .join("; ");
    let file = set
        .get(first.usage.version)
        .expect("extension uses come from the set's files");
    let message = format!(
        "the server lacks the extension{} {listed}; refused before running anything",
        if missing.len() == 1 { "" } else { "s" }
    );
    Err(refusal(file, first.usage.line, message, at).into_error(format!(
        "{advice} (apt-get install on the PostgreSQL server), or drop the extension from the migrations; then run again"
    )))
}

/// Before the first pending file (`versions` of `set`; the database is at `at`) runs:
/// refuse statements dbkit cannot run safely and extensions the server lacks, then
/// provide the Supabase platform when the files assume it and `provide_platform`
/// (dbkit's own servers). The one part of this module that talks to the server.
pub async fn before_first(
    client: &Client,
    set: &MigrationSet,
    versions: &[Version],
    at: Option<Version>,
    provide_platform: bool,
) -> anyhow::Result<()> {
    let pending: Vec<&MigrationFile> = versions.iter().filter_map(|v| set.get(*v)).collect();
    preflight(pending.iter().copied(), at)?;
    let uses = extensions(pending.iter().copied());
    missing_extensions(
        set,
        &platform::extensions::missing(client, &uses).await?,
        at,
    )?;
    if provide_platform && !pending.is_empty() && platform::wanted(set) {
        let provided = platform::provide(client).await?;
        // Not progress: dbkit changed the database, so it says so, like starting
        // the local cluster.
        if !provided.is_empty() {
            eprintln!("dbkit: {}", provided.summary());
        }
    }
    Ok(())
}

/// The `CREATE EXTENSION [IF NOT EXISTS] name` statements of `files`.
pub fn extensions<'a>(files: impl IntoIterator<Item = &'a MigrationFile>) -> Vec<ExtensionUse> {
    let mut out = Vec::new();
    for file in files {
        for stmt in statements(&file.sql) {
            let words = leading_words(&stmt.text);
            if !(is(words.first(), "create") && is(words.get(1), "extension")) {
                continue;
            }
            let at = if is(words.get(2), "if") { 5 } else { 2 };
            if let Some(name) = words.get(at) {
                out.push(ExtensionUse {
                    name: name.value.clone(),
                    version: file.version,
                    line: stmt.line,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::Layout;

    fn nesting(sql: &str) -> Vec<(usize, String, Why)> {
        transaction_nesting(&split(sql))
            .into_iter()
            .map(|b| (b.line, b.command, b.why))
            .collect()
    }

    #[test]
    fn refuses_what_ends_or_starts_a_transaction() {
        use Why::LeavesTransaction as L;
        assert_eq!(
            nesting("CREATE TABLE a ();\nCOMMIT;\nCREATE TABLE b ();\nSELEC broken;"),
            vec![(2, "COMMIT".into(), L)]
        );
        assert_eq!(
            nesting("rollback;\nDROP TABLE appointments CASCADE;"),
            vec![(1, "ROLLBACK".into(), L)]
        );
        for (sql, command) in [
            ("BEGIN", "BEGIN"),
            ("begin transaction isolation level serializable", "BEGIN"),
            ("START TRANSACTION", "START TRANSACTION"),
            ("END", "END"),
            ("ABORT", "ABORT"),
            ("COMMIT AND CHAIN", "COMMIT"),
            ("ROLLBACK WORK", "ROLLBACK"),
            ("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"),
            ("COMMIT PREPARED 'x'", "COMMIT PREPARED"),
            ("ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED"),
        ] {
            assert_eq!(nesting(sql), vec![(1, command.into(), L)], "{sql}");
        }
        // Comments before the command: its line is the command's own.
        assert_eq!(
            nesting("/* c */ -- d\n  Commit"),
            vec![(2, "COMMIT".into(), L)]
        );
    }

    #[test]
    fn savepoints_of_the_file_pass_and_foreign_ones_do_not() {
        assert_eq!(
            nesting(
                "SAVEPOINT s;\nINSERT INTO t VALUES (1);\nROLLBACK TO SAVEPOINT s;\nRELEASE s;"
            ),
            vec![]
        );
        assert_eq!(
            nesting("SAVEPOINT a;\nSAVEPOINT b;\nRELEASE a;\nROLLBACK TO b;"),
            vec![(4, "ROLLBACK TO B".into(), Why::ForeignSavepoint)]
        );
        assert_eq!(
            nesting("RELEASE SAVEPOINT outer_sp;"),
            vec![(
                1,
                "RELEASE SAVEPOINT OUTER_SP".into(),
                Why::ForeignSavepoint
            )]
        );
        assert_eq!(
            nesting("ROLLBACK TRANSACTION TO x;"),
            vec![(1, "ROLLBACK TRANSACTION TO X".into(), Why::ForeignSavepoint)]
        );
    }

    #[test]
    fn passes_bodies_and_lookalikes() {
        assert_eq!(
            nesting(
                "DO $$ BEGIN PERFORM 1; COMMIT; END $$;\n\
                 CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
                 CREATE TABLE \"begin\" (\"commit\" int);\n\
                 SELECT 'COMMIT';\n\
                 UPDATE t SET a = 1 -- COMMIT\n;"
            ),
            vec![]
        );
    }

    #[test]
    fn finds_copy_through_the_client() {
        let lines = |sql: &str| -> Vec<usize> {
            copy_stdio(&split(sql))
                .into_iter()
                .map(|b| b.line)
                .collect()
        };
        assert_eq!(
            lines("SELECT 1;\nCOPY t (a, b) FROM stdin WITH (FORMAT csv);"),
            vec![2]
        );
        assert_eq!(lines("copy (select 1) to STDOUT"), vec![1]);
        assert_eq!(
            lines("COPY t FROM '/tmp/t.csv';\nCOPY t TO '/tmp/x';"),
            Vec::<usize>::new()
        );
        assert_eq!(lines("SELECT 'COPY t FROM stdin';"), Vec::<usize>::new());
    }

    #[test]
    fn the_bom_is_not_executed() {
        let stmts = statements("\u{feff}CREATE TABLE t ();\nSELECT 1;");
        assert_eq!(stmts[0].text, "CREATE TABLE t ()");
        assert_eq!(stmts[0].offset, 3);
        assert_eq!(stmts[1].line, 2);
        assert_eq!(statements("SELECT 1;")[0].offset, 0);
    }

    fn file(name: &str, sql: &str) -> MigrationFile {
        MigrationFile::new(Layout::Dbkit, name, format!("m/{name}"), sql.into()).unwrap()
    }

    #[test]
    fn preflight_names_file_and_line() {
        let ok = file("V1__ok.sql", "SAVEPOINT s;\nRELEASE s;");
        let bad = file("V2__bad.sql", "CREATE TABLE a ();\n\nCOMMIT;\nCOMMIT;");
        preflight([&ok], None).unwrap();
        let err = preflight([&ok, &bad], Some(Version::from(1))).unwrap_err();
        let text = crate::error::one_line(&err);
        assert!(
            text.starts_with("m/V2__bad.sql:3: COMMIT inside a transactional migration"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "(1 more such statement in the file); refused before running anything; database left at V1"
            ),
            "{text}"
        );
        let failed = err.downcast_ref::<MigrationFailed>().unwrap();
        assert_eq!((failed.version, failed.line), (Version::from(2), Some(3)));
        // Outside a transaction, transaction control is the file's own business; COPY is not.
        let no_tx = file(
            "V3__no_tx.sql",
            "-- dbkit:no-transaction\nCOMMIT;\nCOPY t FROM STDIN;",
        );
        let blocked = blocked(&no_tx);
        assert_eq!(blocked.len(), 1);
        assert_eq!((blocked[0].line, blocked[0].why), (3, Why::CopyStdio));
    }

    #[test]
    fn missing_extensions_are_one_error_at_the_first() {
        use crate::platform::extensions::{ExtensionUse, Missing};
        let set = MigrationSet::checked(
            crate::migrate::source::Origin::Dir("m".into()),
            Layout::Dbkit,
            vec![
                file("V1__a.sql", "SELECT 1;"),
                file("V2__b.sql", "SELECT 1;"),
            ],
        )
        .unwrap();
        let missing = |name: &str, version: i32, line, install: &str| Missing {
            usage: ExtensionUse {
                name: name.into(),
                version: Version::from(version),
                line,
            },
            install: install.into(),
        };
        missing_extensions(&set, &[], None).unwrap();
        let err = missing_extensions(
            &set,
            &[
                missing("pg_net", 1, 4, "Supabase's own"),
                missing("vector", 2, 1, "install postgresql-15-pgvector"),
            ],
            None,
        )
        .unwrap_err();
        assert_eq!(
            crate::error::one_line(&err),
            "m/V1__a.sql:4: the server lacks the extensions pg_net (Supabase's own), vector at m/V2__b.sql:1 (install postgresql-15-pgvector); refused before running anything; database left at V0 (no migration applied)"
        );
        assert_eq!(
            crate::error::hint(&err),
            "pg_net: Supabase's own; vector: install postgresql-15-pgvector (apt-get install on the PostgreSQL server), or drop the extension from the migrations; then run again"
        );
    }

    #[test]
    fn extensions_created_by_the_files() {
        let f = file(
            "V1__ext.sql",
            "create extension if not exists vector with schema extensions;\n\
             CREATE EXTENSION \"uuid-ossp\";\nCREATE EXTENSION Http;\nSELECT 'create extension x';",
        );
        let found: Vec<(String, usize)> = extensions([&f])
            .into_iter()
            .map(|u| (u.name, u.line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("vector".into(), 1),
                ("uuid-ossp".into(), 2),
                ("http".into(), 3),
            ]
        );
    }
}
