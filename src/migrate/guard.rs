//! Pre-flight checks on a migration's statements, made before anything runs, for what
//! PostgreSQL would accept but that would break dbkit's promises:
//! - a transactional file's own transaction control (`transactions`): a whole-file
//!   `BEGIN; … COMMIT;` is one transaction, as the Supabase CLI runs it; a file of
//!   several `BEGIN … COMMIT` blocks runs block by block, as PostgreSQL runs such a
//!   file sent whole (the Supabase CLI's way): a statement before a BEGIN joins that
//!   block's transaction, the statements after the last COMMIT make one more; any
//!   other `COMMIT`, `ROLLBACK`, `BEGIN`, … is refused: a `COMMIT` halfway would keep
//!   the first half when the second fails, while the history says nothing was applied;
//! - `COPY … FROM STDIN` / `TO STDOUT`: only psql can feed or drain it;
//! - the extensions the statements create (checked against the server by
//!   `platform::extensions`).
//!
//! Also the text dbkit executes: the file without its UTF-8 byte-order mark.
//! Everything here but `before_first` is pure; `check`'s `transaction-nesting` lint
//! uses the same verdict.

use std::sync::OnceLock;

use regex::Regex;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use tokio_postgres::Client;

use super::failure::MigrationFailed;
use super::source::{MigrationFile, MigrationSet, Mode};
use super::split::{split, Statement};
use super::version::Version;
use crate::platform::{self, extensions::ExtensionUse, stubs::Stub};

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
    /// BEGIN inside a block that is still open.
    NestedBegin,
    /// BEGIN whose block no COMMIT ends.
    Unclosed,
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
            Why::NestedBegin => format!(
                "{command} inside a BEGIN … COMMIT block that is still open: PostgreSQL ignores it (a transaction is in progress), so the file's blocks are not what they look like"
            ),
            Why::Unclosed => format!(
                "{command} opens a transaction block that no COMMIT ends"
            ),
        }
    }

    pub fn hint(&self) -> &'static str {
        match self.why {
            Why::LeavesTransaction | Why::ForeignSavepoint => {
                "remove it: dbkit runs each file in one transaction; a file may also be wrapped whole in BEGIN … COMMIT, or be made of several such blocks (nothing outside them); a file whose statements must commit one by one starts with `-- dbkit:no-transaction`"
            }
            Why::NestedBegin | Why::Unclosed => {
                "end each BEGIN … COMMIT block with COMMIT before the next BEGIN"
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

/// One `BEGIN … COMMIT` block of a file: the indexes of its BEGIN and its COMMIT among
/// the file's statements, and the BEGIN's transaction modes (`ISOLATION LEVEL
/// SERIALIZABLE`), which dbkit sets with `SET TRANSACTION` in the transaction it opens
/// for the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub begin: usize,
    pub commit: usize,
    pub modes: Option<String>,
    /// Statements outside any block, after the previous COMMIT, that run in this
    /// block's transaction: PostgreSQL, given the file whole (as the Supabase CLI sends
    /// it), runs them in an implicit transaction that the BEGIN makes explicit.
    pub before: std::ops::Range<usize>,
}

impl Block {
    /// The indexes of the statements inside the block.
    pub fn inner(&self) -> std::ops::Range<usize> {
        self.begin + 1..self.commit
    }

    /// What runs in the block's transaction: the statements before it, then inside.
    pub fn runs(&self) -> Vec<usize> {
        self.before.clone().chain(self.inner()).collect()
    }
}

/// How a transactional file's statements group into transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transactions {
    /// No transaction control: the whole file in one transaction, dbkit's.
    One,
    /// `BEGIN; … COMMIT;` around the whole file (as the Supabase CLI accepts it): still
    /// one transaction; dbkit runs what is inside, with the BEGIN's modes.
    Wrapped(Block),
    /// Several `BEGIN … COMMIT` blocks (e.g. `ALTER TYPE … ADD VALUE` committed before
    /// a second block uses the value), or one followed by statements: one transaction
    /// each, in order, as PostgreSQL runs such a file; `after`, the statements after the
    /// last COMMIT, one more. A failure in a later one leaves the earlier ones committed.
    Blocks {
        blocks: Vec<Block>,
        after: std::ops::Range<usize>,
    },
}

impl Transactions {
    /// What dbkit runs, one transaction after the other: the statement indexes of each
    /// (of `count` statements) and the modes to set first.
    pub fn groups(&self, count: usize) -> Vec<(Vec<usize>, Option<&str>)> {
        match self {
            Transactions::One => vec![((0..count).collect(), None)],
            Transactions::Wrapped(block) => vec![(block.runs(), block.modes.as_deref())],
            Transactions::Blocks { blocks, after } => {
                let mut groups: Vec<(Vec<usize>, Option<&str>)> = blocks
                    .iter()
                    .map(|b| (b.runs(), b.modes.as_deref()))
                    .collect();
                if !after.is_empty() {
                    groups.push((after.clone().collect(), None));
                }
                groups
            }
        }
    }

    /// How many transactions the file runs as.
    pub fn count(&self) -> usize {
        match self {
            Transactions::One | Transactions::Wrapped(_) => 1,
            Transactions::Blocks { blocks, after } => blocks.len() + usize::from(!after.is_empty()),
        }
    }

    /// `transactional`, or `3 transactions` for a file of blocks.
    pub fn mode(&self) -> String {
        match self.count() {
            1 => Mode::Transactional.to_string(),
            n => format!("{n} transactions"),
        }
    }
}

/// The modes after `BEGIN [WORK | TRANSACTION]` or `START TRANSACTION`, as PostgreSQL
/// reads them (comments dropped), for `SET TRANSACTION`.
fn transaction_modes(text: &str) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect::<Vec<_>>();
    let keyword = |i: usize, k: &str| matches!(tokens.get(i), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k));
    // START TRANSACTION, BEGIN WORK, BEGIN TRANSACTION: two words; BEGIN: one.
    let skip = if keyword(0, "start") || keyword(1, "work") || keyword(1, "transaction") {
        2
    } else {
        1
    };
    let modes = tokens
        .iter()
        .skip(skip)
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",");
    (!modes.is_empty()).then_some(modes)
}

/// The transaction control of a transactional file: how its statements group into
/// transactions, or what dbkit refuses — anything else that ends or starts a
/// transaction (ROLLBACK, a COMMIT without a BEGIN, BEGIN inside an open block, a
/// block without COMMIT, PREPARE TRANSACTION, …) and savepoint commands naming a
/// savepoint the file did not create. SAVEPOINT / RELEASE / ROLLBACK TO of the file's
/// own savepoints pass. Statements outside the blocks of a file made of blocks join
/// the next block's transaction, or after the last COMMIT make one more, as PostgreSQL
/// runs the file sent whole.
pub fn transactions(statements: &[Statement]) -> Result<Transactions, Vec<Blocked>> {
    let mut savepoints: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    // The BEGIN of the block being read (index, modes, command).
    let mut open: Option<(usize, Option<String>, String)> = None;
    // Where the statements outside any block since the last COMMIT start.
    let mut since_commit = 0;
    for (index, stmt) in statements.iter().enumerate() {
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
        let begins = |n: usize| {
            if open.is_some() {
                Err(block(n, Why::NestedBegin))
            } else {
                Ok((index, transaction_modes(&stmt.text), upper(n)))
            }
        };
        let first = w(0).filter(|w| !w.quoted).map(|w| w.value.as_str());
        match first {
            Some("begin") | Some("start") if first == Some("begin") || is(w(1), "transaction") => {
                let n = if first == Some("start") { 2 } else { 1 };
                match begins(n) {
                    Ok(begin) => {
                        open = Some(begin);
                        savepoints.clear();
                    }
                    Err(blocked) => out.push(blocked),
                }
            }
            Some("commit" | "end") => {
                let chained = words
                    .iter()
                    .skip(1)
                    .any(|w| !w.quoted && w.value == "chain")
                    && !words.iter().skip(1).any(|w| !w.quoted && w.value == "no");
                if is(w(1), "prepared") {
                    out.push(block(2, Why::LeavesTransaction));
                } else if chained {
                    out.push(block(1, Why::LeavesTransaction));
                } else if let Some((begin, modes, _)) = open.take() {
                    blocks.push(Block {
                        begin,
                        commit: index,
                        modes,
                        before: since_commit..begin,
                    });
                    since_commit = index + 1;
                    savepoints.clear();
                } else {
                    out.push(block(1, Why::LeavesTransaction));
                }
            }
            Some("abort") => {
                out.push(block(1, Why::LeavesTransaction));
                // It ends the block it is in (refused once, not again as unclosed).
                open = None;
            }
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
                        if n == 1 {
                            open = None;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some((begin, _, command)) = open {
        out.push(Blocked {
            line: statements[begin].line,
            command,
            why: Why::Unclosed,
        });
    }
    if !out.is_empty() {
        out.sort_by_key(|b| b.line);
        return Err(out);
    }
    let after = since_commit..statements.len();
    Ok(match blocks.len() {
        0 => Transactions::One,
        1 if after.is_empty() => Transactions::Wrapped(blocks.remove(0)),
        _ => Transactions::Blocks { blocks, after },
    })
}

/// How `file` runs, as `migrate` reports it: `no-transaction`, `transactional`, or
/// `2 transactions` for a file of BEGIN … COMMIT blocks.
pub fn mode_of(file: &MigrationFile) -> String {
    match file.mode {
        Mode::NoTransaction => file.mode.to_string(),
        Mode::Transactional => transactions(&statements(&file.sql))
            .map(|t| t.mode())
            .unwrap_or_else(|_| file.mode.to_string()),
    }
}

/// For a file of several BEGIN … COMMIT blocks: that a failure in a later block leaves
/// the earlier ones committed, and to split it.
pub fn blocks_warning(file: &MigrationFile) -> Option<String> {
    if file.mode != Mode::Transactional {
        return None;
    }
    match transactions(&statements(&file.sql)) {
        Ok(t @ Transactions::Blocks { .. }) => Some(format!(
            "{} ran as {} transactions, one per BEGIN … COMMIT block: had a later one failed, the earlier ones would have stayed committed with the file not recorded as applied; split it into one migration per transaction",
            file.display,
            t.count()
        )),
        _ => None,
    }
}

/// What `transactions` refuses in a transactional file (none: it can run).
pub fn transaction_nesting(statements: &[Statement]) -> Vec<Blocked> {
    transactions(statements).err().unwrap_or_default()
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
        blocks_committed: 0,
        retries: 0,
        lock_timeout: std::time::Duration::ZERO,
        missing_extensions: Vec::new(),
    }
}

/// Extensions the server lacks: one `MigrationFailed` at the first CREATE EXTENSION
/// of one, naming every missing extension and its package.
fn missing_extensions(
    set: &MigrationSet,
    missing: &[platform::extensions::Missing],
    at: Option<Version>,
    suggest_platform: bool,
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
    let file = set
        .get(first.usage.version)
        .expect("extension uses come from the set's files");
    let message = format!(
        "the server lacks the extension{} {listed}; refused before running anything",
        if missing.len() == 1 { "" } else { "s" }
    );
    // Packages to install; Supabase's own extensions dbkit stubs need the flag instead.
    let (stubbable, installable): (Vec<_>, Vec<_>) = missing
        .iter()
        .partition(|m| Stub::of_extension(&m.usage.name).is_some());
    let mut hints = Vec::new();
    if !installable.is_empty() {
        hints.push(format!(
            "{} (apt-get install on the PostgreSQL server), or drop the extension from the migrations",
            installable
                .iter()
                .map(|m| format!("{}: {}", m.usage.name, m.install))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !stubbable.is_empty() {
        let names = stubbable
            .iter()
            .map(|m| m.usage.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        hints.push(if suggest_platform {
            format!("{names}: Supabase's own extensions; on a plain PostgreSQL, `--platform supabase` stubs them (same names and signatures)")
        } else {
            format!("{names}: Supabase's own extensions, which this server can neither install nor be given stubs of")
        });
    }
    let mut failed = refusal(file, first.usage.line, message, at);
    failed.missing_extensions = missing
        .iter()
        .map(|m| format!("{} ({})", m.usage.name, m.install))
        .collect();
    Err(failed.into_error(format!("{}; then run again", hints.join("; "))))
}

/// Before the first pending file (`versions` of `set`; the database is at `at`) runs:
/// refuse statements dbkit cannot run safely and extensions the server lacks, then —
/// when the files assume the Supabase platform and `provide_platform` (dbkit's own
/// servers, or `--platform supabase`) — provide it, with stubs of Supabase's own
/// extensions the server lacks, unless the database is a Supabase project's own. The
/// stubs in use are returned: their CREATE EXTENSION statements run the stub instead
/// (`stub_action`). The one part of this module that talks to the server.
pub async fn before_first(
    client: &Client,
    set: &MigrationSet,
    versions: &[Version],
    at: Option<Version>,
    provide_platform: bool,
) -> anyhow::Result<Vec<&'static Stub>> {
    let pending: Vec<&MigrationFile> = versions.iter().filter_map(|v| set.get(*v)).collect();
    preflight(pending.iter().copied(), at)?;
    let providing = provide_platform && !pending.is_empty() && platform::wanted(set);
    let supabase = providing && platform::is_supabase(client).await?;
    if supabase {
        eprintln!(
            "dbkit: this database is a Supabase project's (Supabase Auth's or Storage's own tables are here): the platform is Supabase's, dbkit provides nothing"
        );
    }
    let stubbed = if providing && !supabase {
        platform::stubs::lacking(client, &stubs_wanted(pending.iter().copied())).await?
    } else {
        Vec::new()
    };
    let uses: Vec<ExtensionUse> = extensions(pending.iter().copied())
        .into_iter()
        .filter(|u| !stubbed.iter().any(|s| s.extension && s.name == u.name))
        .collect();
    missing_extensions(
        set,
        &platform::extensions::missing(client, &uses).await?,
        at,
        !providing,
    )?;
    if providing && !supabase {
        let created = schemas_created(pending.iter().copied());
        // Fixed-schema stubs go in first (a function body may call them before any
        // CREATE EXTENSION), unless the migrations make that schema themselves.
        let up_front: Vec<&'static Stub> = stubbed
            .iter()
            .copied()
            .filter(|s| {
                !s.relocatable() && !s.schemas.iter().any(|x| created.contains(&x.to_string()))
            })
            .collect();
        let provided = platform::provide_with(client, &up_front).await?;
        // Not progress: dbkit changed the database, so it says so, like starting
        // the local cluster.
        if !provided.is_empty() {
            eprintln!("dbkit: {}", provided.summary());
        }
        if !stubbed.is_empty() {
            eprintln!("dbkit: {}", platform::stubs::summary(&stubbed));
        }
    }
    Ok(stubbed)
}

/// The schemas `CREATE SCHEMA` statements of `files` make.
fn schemas_created<'a>(files: impl IntoIterator<Item = &'a MigrationFile>) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        for stmt in statements(&file.sql) {
            let words = leading_words(&stmt.text);
            if !(is(words.first(), "create") && is(words.get(1), "schema")) {
                continue;
            }
            let at = if is(words.get(2), "if") { 5 } else { 2 };
            if let Some(name) = words.get(at) {
                out.push(name.value.clone());
            }
        }
    }
    out
}

/// Schema names of the stubs, as a regex alternation.
fn stub_schemas() -> String {
    platform::stubs::STUBS
        .iter()
        .flat_map(|s| s.schemas.iter().copied())
        .collect::<Vec<_>>()
        .join("|")
}

/// The stubs `files` need: the extensions dbkit can stub that their CREATE, COMMENT
/// ON, ALTER or DROP EXTENSION statements name, and the platform pieces whose schemas
/// their statements name (`net.http_post(…)` in a function body, `GRANT USAGE ON
/// SCHEMA vault …`).
pub fn stubs_wanted<'a>(files: impl IntoIterator<Item = &'a MigrationFile>) -> Vec<&'static Stub> {
    static QUALIFIED: OnceLock<Regex> = OnceLock::new();
    static SCHEMA: OnceLock<Regex> = OnceLock::new();
    let qualified = QUALIFIED.get_or_init(|| {
        Regex::new(&format!(
            r#"(?i)(?:^|[^\w$."])"?({})"?\s*\.\s*"?[a-z_]"#,
            stub_schemas()
        ))
        .expect("valid regex")
    });
    let schema = SCHEMA.get_or_init(|| {
        Regex::new(&format!(
            r#"(?i)\bschema\s+(?:if\s+not\s+exists\s+)?"?({})"?(?:[^\w$]|$)"#,
            stub_schemas()
        ))
        .expect("valid regex")
    });
    let files: Vec<&MigrationFile> = files.into_iter().collect();
    let mut out: Vec<&'static Stub> = Vec::new();
    let mut add = |stub: &'static Stub| {
        if !out.contains(&stub) {
            out.push(stub);
        }
    };
    let every: Vec<&'static Stub> = platform::stubs::STUBS.iter().collect();
    for file in &files {
        for stmt in statements(&file.sql) {
            // CREATE, COMMENT ON, ALTER or DROP EXTENSION of one.
            match stub_action(&stmt.text, &every) {
                Some(StubAction::Create { stub, .. }) => add(stub),
                Some(StubAction::Skip) => {
                    if let Some(stub) = every
                        .iter()
                        .copied()
                        .find(|s| stub_action(&stmt.text, &[*s]).is_some())
                    {
                        add(stub);
                    }
                }
                None => {}
            }
            for caps in qualified
                .captures_iter(&stmt.text)
                .chain(schema.captures_iter(&stmt.text))
            {
                if let Some(stub) = Stub::owning(&caps[1].to_lowercase()) {
                    add(stub);
                }
            }
        }
    }
    out
}

/// What dbkit runs instead of a statement about a stubbed extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubAction {
    /// `CREATE EXTENSION name [WITH SCHEMA s]`: the stub (a relocatable one's objects
    /// in `s`, else in the current schema, as PostgreSQL would place them).
    Create {
        stub: &'static Stub,
        schema: Option<String>,
    },
    /// `COMMENT ON`, `ALTER` or `DROP EXTENSION` of it: nothing (no extension exists
    /// to change; a stub's objects stay).
    Skip,
}

/// The action for `text` when it names one of the `stubbed` extensions.
pub fn stub_action(text: &str, stubbed: &[&'static Stub]) -> Option<StubAction> {
    if stubbed.is_empty() {
        return None;
    }
    let words = leading_words(text);
    let w = |i: usize| words.get(i);
    let named = |at: usize| {
        w(at).and_then(|name| {
            stubbed
                .iter()
                .copied()
                .find(|s| s.extension && s.name == name.value)
        })
    };
    if is(w(0), "create") && is(w(1), "extension") {
        let at = if is(w(2), "if") { 5 } else { 2 };
        let stub = named(at)?;
        let schema = words
            .iter()
            .skip(at + 1)
            .position(|w| !w.quoted && w.value == "schema")
            .and_then(|i| words.get(at + 2 + i))
            .map(|w| w.value.clone());
        return Some(StubAction::Create { stub, schema });
    }
    let at = if is(w(0), "comment") && is(w(1), "on") && is(w(2), "extension") {
        3
    } else if is(w(0), "alter") && is(w(1), "extension") {
        2
    } else if is(w(0), "drop") && is(w(1), "extension") {
        if is(w(2), "if") {
            4
        } else {
            2
        }
    } else {
        return None;
    };
    named(at).map(|_| StubAction::Skip)
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
        // A block that no COMMIT ends.
        for (sql, command) in [
            ("BEGIN", "BEGIN"),
            ("begin transaction isolation level serializable", "BEGIN"),
            ("START TRANSACTION;\nSELECT 1", "START TRANSACTION"),
        ] {
            assert_eq!(
                nesting(sql),
                vec![(1, command.into(), Why::Unclosed)],
                "{sql}"
            );
        }
        // Comments before the command: its line is the command's own.
        assert_eq!(
            nesting("/* c */ -- d\n  Commit"),
            vec![(2, "COMMIT".into(), L)]
        );
        // ROLLBACK inside a block: refused once, the block is not also unclosed.
        assert_eq!(
            nesting("BEGIN;\nSELECT 1;\nROLLBACK;"),
            vec![(3, "ROLLBACK".into(), L)]
        );
        assert_eq!(
            nesting("BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;"),
            vec![(2, "BEGIN".into(), Why::NestedBegin)]
        );
    }

    fn shape(sql: &str) -> Transactions {
        transactions(&split(sql)).unwrap_or_else(|b| panic!("{sql}: {b:?}"))
    }

    #[test]
    fn a_whole_file_wrapper_is_one_transaction() {
        assert_eq!(shape("CREATE TABLE a ();\nSELECT 1;"), Transactions::One);
        let wrapped =
            shape("-- header\nBEGIN;\n\nCREATE TABLE a ();\nSELECT 1;\n\nCOMMIT;\n-- end\n");
        assert_eq!(
            wrapped,
            Transactions::Wrapped(Block {
                begin: 0,
                commit: 3,
                modes: None,
                before: 0..0,
            })
        );
        assert_eq!(wrapped.groups(4), vec![(vec![1, 2], None)]);
        assert_eq!(wrapped.mode(), "transactional");
        // Every spelling of BEGIN and COMMIT, savepoints of the file inside.
        for sql in [
            "begin work; select 1; end;",
            "START TRANSACTION; SAVEPOINT s; SELECT 1; ROLLBACK TO s; COMMIT WORK;",
            "BEGIN TRANSACTION; SELECT 1; COMMIT AND NO CHAIN;",
        ] {
            assert!(matches!(shape(sql), Transactions::Wrapped(_)), "{sql}");
        }
        // The BEGIN's modes are kept for SET TRANSACTION; comments are not.
        let Transactions::Wrapped(block) = shape(
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE -- strict\n;\nSELECT 1;\nCOMMIT;",
        ) else {
            panic!("not wrapped")
        };
        assert_eq!(
            block.modes.as_deref(),
            Some("ISOLATION LEVEL SERIALIZABLE, READ WRITE")
        );
        let Transactions::Wrapped(block) = shape("start transaction read only; select 1; commit;")
        else {
            panic!("not wrapped")
        };
        assert_eq!(block.modes.as_deref(), Some("read only"));
    }

    #[test]
    fn blocks_run_one_after_the_other() {
        let sql = "BEGIN;\nALTER TYPE role ADD VALUE 'error';\nCOMMIT;\n\n-- use it\nBEGIN;\nUPDATE m SET r = 'error';\nSELECT 1;\nCOMMIT;\nbegin; commit;";
        let blocks = shape(sql);
        assert_eq!(blocks.mode(), "3 transactions");
        assert_eq!(
            blocks.groups(split(sql).len()),
            vec![(vec![1], None), (vec![4, 5], None), (vec![], None)]
        );
    }

    #[test]
    fn statements_outside_the_blocks_run_as_postgresql_runs_the_file() {
        // Before a BEGIN: in that block's transaction; after the last COMMIT: one more.
        let sql = "CREATE TABLE a ();\nBEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\nSELECT 3;";
        assert_eq!(nesting(sql), vec![]);
        let t = shape(sql);
        assert_eq!(t.mode(), "2 transactions");
        assert_eq!(t.groups(6), vec![(vec![0, 2], None), (vec![4, 5], None)]);
        // Statements only before the one block: still one transaction.
        let one = shape("CREATE TYPE r AS ENUM ('a');\nBEGIN;\nCREATE TABLE b (r r);\nCOMMIT;");
        assert!(matches!(one, Transactions::Wrapped(_)), "{one:?}");
        assert_eq!(one.groups(4), vec![(vec![0, 2], None)]);
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
        missing_extensions(&set, &[], None, true).unwrap();
        let err = missing_extensions(
            &set,
            &[
                missing("pg_net", 1, 4, "Supabase's own"),
                missing("vector", 2, 1, "install postgresql-15-pgvector"),
            ],
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(
            crate::error::one_line(&err),
            "m/V1__a.sql:4: the server lacks the extensions pg_net (Supabase's own), vector at m/V2__b.sql:1 (install postgresql-15-pgvector); refused before running anything; database left at V0 (no migration applied)"
        );
        assert_eq!(
            crate::error::hint(&err),
            "vector: install postgresql-15-pgvector (apt-get install on the PostgreSQL server), or drop the extension from the migrations; pg_net: Supabase's own extensions, which this server can neither install nor be given stubs of; then run again"
        );
        let err = missing_extensions(
            &set,
            &[missing("pg_net", 1, 4, "Supabase's own")],
            None,
            true,
        )
        .unwrap_err();
        assert_eq!(
            crate::error::hint(&err),
            "pg_net: Supabase's own extensions; on a plain PostgreSQL, `--platform supabase` stubs them (same names and signatures); then run again"
        );
        let failed = err.downcast_ref::<MigrationFailed>().unwrap();
        assert_eq!(
            failed.missing_extensions,
            vec!["pg_net (Supabase's own)".to_string()]
        );
    }

    #[test]
    fn stubs_wanted_by_extension_statements_and_schema_references() {
        let names = |sql: &str| -> Vec<&str> {
            stubs_wanted([&file("V1__s.sql", sql)])
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(
            names("CREATE EXTENSION IF NOT EXISTS \"pg_net\" WITH SCHEMA \"extensions\";\ncreate extension vector;"),
            vec!["pg_net"]
        );
        // Referenced in a function body, granted on, dropped: each needs its stub.
        assert_eq!(
            names("create function f() returns void language plpgsql as $$ begin perform net.http_post('x'); end $$;\n\
                   GRANT USAGE ON SCHEMA \"vault\" TO service_role;\n\
                   select graphql_public.graphql(query := '{}');\n\
                   drop extension if exists pgjwt;\n\
                   create trigger t after insert on x for each row execute function supabase_functions.http_request();"),
            vec!["pg_net", "supabase_vault", "pg_graphql", "pgjwt", "supabase_functions"]
        );
        // Not references: another schema's column, a comment between statements. (A
        // string is one: dynamic SQL names its objects in strings.)
        assert_eq!(
            names("select public.net_total, my.vault_x from t;\n-- uses net.http_post\nselect 1;"),
            Vec::<&str>::new()
        );
        assert_eq!(
            names("execute 'select * from vault.secrets';"),
            vec!["supabase_vault"]
        );
    }

    #[test]
    fn statements_about_stubbed_extensions_run_the_stub_or_nothing() {
        let net = Stub::of_extension("pg_net").unwrap();
        let jwt = Stub::of_extension("pgjwt").unwrap();
        let stubbed = [net, jwt];
        assert_eq!(
            stub_action(
                "CREATE EXTENSION IF NOT EXISTS \"pgjwt\" WITH SCHEMA \"extensions\"",
                &stubbed
            ),
            Some(StubAction::Create {
                stub: jwt,
                schema: Some("extensions".into())
            })
        );
        assert_eq!(
            stub_action("create extension pg_net", &stubbed),
            Some(StubAction::Create {
                stub: net,
                schema: None
            })
        );
        for sql in [
            "COMMENT ON EXTENSION pg_net IS 'async http'",
            "alter extension pg_net update",
            "DROP EXTENSION IF EXISTS pgjwt CASCADE",
        ] {
            assert_eq!(stub_action(sql, &stubbed), Some(StubAction::Skip), "{sql}");
        }
        assert_eq!(stub_action("create extension vector", &stubbed), None);
        assert_eq!(stub_action("create extension pg_net", &[]), None);
        assert_eq!(stub_action("select net.http_get('x')", &stubbed), None);
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
