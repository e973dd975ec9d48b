//! Running migrations against a database: the advisory lock around the whole run,
//! refinery's history table, transactional and no-transaction files, `lock_timeout`
//! with a bounded retry, repair of INVALID indexes, and errors that name file and line.
//!
//! Why not `refinery::Runner::run_async` for transactional files: it sends each file
//! as one batch, so an error without a position in the query (lock_not_available, a
//! unique or check violation while building, anything raised at execution) cannot be
//! traced to a line of the file. dbkit runs each file's statements one by one inside a
//! single transaction (BEGIN; statements; history INSERT; COMMIT), which is what
//! refinery does in one round trip, and writes the history row exactly as refinery
//! does: same table DDL, same columns, refinery's checksum, RFC 3339 `applied_on`.
//! Refinery's own CLI and `Runner` read the result (tests/migrate.rs checks that).

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use regex::Regex;
use serde::Serialize;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::Client;

use super::plan::{plan, HistoryRow, Plan, Refusal};
use super::source::{MigrationFile, MigrationSet, Mode};
use super::split::Statement;
use crate::error::hinted;

/// refinery's default history table name.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// refinery's DDL for the history table (its `ASSERT_MIGRATIONS_TABLE_QUERY` with int4
/// versions, which is what the `tokio-postgres` feature uses).
const CREATE_HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS refinery_schema_history(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));";

/// Advisory-lock key of a migrate run: the bytes of "dbkitmig". Advisory locks are
/// per database, so runs on different databases of one server do not wait for each other.
pub const MIGRATE_LOCK_KEY: i64 = 0x6462_6b69_746d_6967;

/// How often a waiting run retries `pg_try_advisory_lock`. Polling rather than
/// blocking in `pg_advisory_lock` matters: a session blocked in a statement holds a
/// snapshot, and the holder's `CREATE INDEX CONCURRENTLY` waits for older snapshots,
/// so the two would deadlock.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Retries of a migration (or, outside a transaction, a statement) that failed on
/// `lock_timeout`, with a doubling pause starting here.
pub const LOCK_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Apply up to this version (all pending when `None`).
    pub target: Option<i32>,
    /// `lock_timeout` for every migration statement.
    pub lock_timeout: Duration,
    /// How long to wait for the advisory lock held by another migrate run.
    pub lock_wait: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            target: None,
            lock_timeout: Duration::from_secs(5),
            lock_wait: Duration::from_secs(600),
        }
    }
}

/// One migration applied by this run.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub version: i32,
    pub name: String,
    pub mode: String,
    pub ms: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Highest applied version before the run.
    pub before: Option<i32>,
    pub applied: Vec<AppliedMigration>,
}

impl Report {
    /// Highest applied version after the run.
    pub fn version(&self) -> Option<i32> {
        self.applied.last().map(|m| m.version).or(self.before)
    }
}

/// A run that stopped on an error, with what it applied before (as refinery's
/// `Error::report` does).
#[derive(Debug)]
pub struct Partial {
    pub report: Report,
    pub error: anyhow::Error,
}

/// `V6`, or a phrase for an empty history.
pub fn version_label(version: Option<i32>) -> String {
    match version {
        Some(v) => format!("V{v}"),
        None => "V0 (no migration applied)".to_string(),
    }
}

/// The history rows, oldest first; empty when the table does not exist yet.
pub async fn read_history(client: &Client) -> Result<Vec<HistoryRow>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .context("cannot look for refinery_schema_history")?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    // Read ourselves rather than through refinery's reader, which panics on a row whose
    // applied_on or checksum does not parse; here such a row just compares as divergent.
    let rows = client
        .query(
            "SELECT version, coalesce(name, ''), coalesce(applied_on, ''), coalesce(checksum, '') \
             FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .context("cannot read refinery_schema_history")?;
    Ok(rows
        .iter()
        .map(|r| HistoryRow {
            version: r.get(0),
            name: r.get(1),
            applied_on: r.get(2),
            checksum: r.get(3),
        })
        .collect())
}

/// Connect to `url` and migrate it (up to `target`): the entry point for scratch
/// databases (`explain --before`, `check`).
pub async fn migrate_url(
    url: &crate::db::DbUrl,
    set: &MigrationSet,
    target: Option<i32>,
) -> Result<Report> {
    let mut client = crate::db::connect(url).await?;
    let opts = ApplyOptions {
        target,
        ..ApplyOptions::default()
    };
    migrate(&mut client, set, &opts).await.map_err(|p| p.error)
}

/// Apply the pending migrations of `set` under the advisory lock.
pub async fn migrate(
    client: &mut Client,
    set: &MigrationSet,
    opts: &ApplyOptions,
) -> std::result::Result<Report, Partial> {
    let fail = |error: anyhow::Error| Partial {
        report: Report::default(),
        error,
    };
    session_settings(client, opts.lock_timeout)
        .await
        .context("cannot set lock_timeout for the migration session")
        .map_err(fail)?;
    acquire_lock(client, opts.lock_wait).await.map_err(fail)?;
    let result = migrate_locked(client, set, opts).await;
    // Released on disconnect anyway; an error here changes nothing for the caller.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK_KEY])
        .await;
    result
}

async fn migrate_locked(
    client: &mut Client,
    set: &MigrationSet,
    opts: &ApplyOptions,
) -> std::result::Result<Report, Partial> {
    let fail = |error: anyhow::Error| Partial {
        report: Report::default(),
        error,
    };
    client
        .batch_execute(CREATE_HISTORY_TABLE)
        .await
        .context("cannot create refinery_schema_history")
        .map_err(fail)?;
    let history_table: String = client
        .query_one(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass('refinery_schema_history')",
            &[],
        )
        .await
        .context("cannot locate refinery_schema_history")
        .map_err(fail)?
        .get(0);
    let history = read_history(client).await.map_err(fail)?;
    let (before, versions) = match plan(set, &history, opts.target) {
        Plan::Apply { current, versions } => (current, versions),
        Plan::Refuse(refusal) => return Err(fail(refusal_error(set, &refusal))),
    };
    let mut report = Report {
        before,
        applied: Vec::new(),
    };
    for version in versions {
        let file = set.get(version).expect("planned versions exist");
        let started = Instant::now();
        let result = match file.mode {
            Mode::Transactional => {
                run_transactional(client, file, &history_table, opts.lock_timeout).await
            }
            Mode::NoTransaction => {
                run_no_transaction(client, file, &history_table, opts.lock_timeout).await
            }
        };
        if let Err(error) = result {
            let at = report.version();
            let error = failure_error(file, error, at, opts.lock_timeout);
            return Err(Partial { report, error });
        }
        report.applied.push(AppliedMigration {
            version: file.version,
            name: file.name.clone(),
            mode: file.mode.to_string(),
            ms: started.elapsed().as_millis() as u64,
        });
    }
    warn_invalid_indexes(client).await;
    Ok(report)
}

/// Session settings for migration work. `RESET ALL` / `RESET ROLE` also undo a
/// non-local `SET` left behind by the previous file.
async fn session_settings(
    client: &Client,
    lock_timeout: Duration,
) -> std::result::Result<(), tokio_postgres::Error> {
    // synchronous_commit on: a migration reported applied survives a server crash, even
    // on a server (dbkit's local cluster) that defaults to asynchronous commits.
    let sql = format!(
        "RESET ALL; RESET ROLE; SET lock_timeout = '{}ms'; SET statement_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0; SET synchronous_commit = on;",
        lock_timeout.as_millis()
    );
    client.batch_execute(&sql).await
}

/// Take the advisory lock, polling (see `LOCK_POLL`) and saying once that we wait;
/// give up after `wait`.
async fn acquire_lock(client: &Client, wait: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    let mut announced = false;
    let mut holder = String::new();
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATE_LOCK_KEY])
            .await
            .context("cannot take the migration advisory lock")?
            .get(0);
        if got {
            return Ok(());
        }
        if started.elapsed() >= wait {
            return Err(hinted(
                format!(
                    "another dbkit migrate{holder} still holds the migration lock on this database after {}s of waiting",
                    wait.as_secs_f64()
                ),
                "let it finish (or stop it), then run `dbkit migrate` again; --lock-wait sets how long to wait",
            ));
        }
        if !announced {
            announced = true;
            holder = client
                .query_opt(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid \
                     AND objsubid = 1 LIMIT 1",
                    &[&MIGRATE_LOCK_KEY],
                )
                .await
                .ok()
                .flatten()
                .map(|r| format!(" (pid {})", r.get::<_, i32>(0)))
                .unwrap_or_default();
            eprintln!(
                "waiting for another dbkit migrate{holder} that holds the migration lock on this database..."
            );
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// Why a statement of a file failed.
#[derive(Debug)]
struct StatementError {
    /// Line of the file (None: at COMMIT or in the history INSERT).
    line: Option<usize>,
    error: tokio_postgres::Error,
    /// Statements before this line were committed (no-transaction files).
    partial: bool,
    retries: u32,
}

fn is_lock_timeout(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

fn line_of(stmt: &Statement, err: &tokio_postgres::Error) -> usize {
    match err.as_db_error().and_then(|db| db.position()) {
        Some(ErrorPosition::Original(pos)) => stmt.line_of_position(*pos),
        _ => stmt.line,
    }
}

async fn backoff(file: &MigrationFile, line: usize, retry: u32, lock_timeout: Duration) {
    let pause = FIRST_BACKOFF * 2u32.pow(retry - 1);
    eprintln!(
        "{}:{line}: could not get a lock within lock_timeout {}ms (SQLSTATE 55P03); retry {retry}/{LOCK_RETRIES} in {}ms",
        file.display,
        lock_timeout.as_millis(),
        pause.as_millis()
    );
    tokio::time::sleep(pause).await;
}

/// The whole file in one transaction, statement by statement, then the history row.
/// A lock timeout rolls everything back and retries the file.
async fn run_transactional(
    client: &mut Client,
    file: &MigrationFile,
    history_table: &str,
    lock_timeout: Duration,
) -> std::result::Result<(), StatementError> {
    let statements = file.statements();
    let mut retries = 0;
    loop {
        let err = |line, error| StatementError {
            line,
            error,
            partial: false,
            retries,
        };
        session_settings(client, lock_timeout)
            .await
            .map_err(|e| err(None, e))?;
        let tx = client.transaction().await.map_err(|e| err(None, e))?;
        let mut failed = None;
        for stmt in &statements {
            if let Err(e) = tx.batch_execute(&stmt.text).await {
                failed = Some((line_of(stmt, &e), e));
                break;
            }
        }
        if let Some((line, e)) = failed {
            let _ = tx.rollback().await;
            if is_lock_timeout(&e) && retries < LOCK_RETRIES {
                retries += 1;
                backoff(file, line, retries, lock_timeout).await;
                continue;
            }
            return Err(err(Some(line), e));
        }
        insert_history(&tx, history_table, file)
            .await
            .map_err(|e| err(None, e))?;
        return tx.commit().await.map_err(|e| err(None, e));
    }
}

/// One statement at a time, each committed on its own (what `CREATE INDEX
/// CONCURRENTLY` needs), repairing INVALID indexes first; then the history row.
async fn run_no_transaction(
    client: &mut Client,
    file: &MigrationFile,
    history_table: &str,
    lock_timeout: Duration,
) -> std::result::Result<(), StatementError> {
    session_settings(client, lock_timeout)
        .await
        .map_err(|e| StatementError {
            line: None,
            error: e,
            partial: false,
            retries: 0,
        })?;
    for (index, stmt) in file.statements().iter().enumerate() {
        let mut retries = 0;
        loop {
            let err = |line, error| StatementError {
                line: Some(line),
                error,
                partial: index > 0,
                retries,
            };
            let attempt = async {
                if let Some(target) = concurrent_index_target(&stmt.text) {
                    drop_invalid_index(client, file, stmt, &target).await?;
                }
                client.batch_execute(&stmt.text).await
            };
            match attempt.await {
                Ok(()) => break,
                Err(e) if is_lock_timeout(&e) && retries < LOCK_RETRIES => {
                    retries += 1;
                    backoff(file, line_of(stmt, &e), retries, lock_timeout).await;
                }
                Err(e) => return Err(err(line_of(stmt, &e), e)),
            }
        }
    }
    let tx = client.transaction().await;
    let result = match tx {
        Ok(tx) => match insert_history(&tx, history_table, file).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    result.map_err(|error| StatementError {
        line: None,
        error,
        partial: true,
        retries: 0,
    })
}

/// The history row, as refinery's `insert_migration_query` writes it.
async fn insert_history(
    tx: &tokio_postgres::Transaction<'_>,
    history_table: &str,
    file: &MigrationFile,
) -> std::result::Result<(), tokio_postgres::Error> {
    let applied_on = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let sql = format!(
        "INSERT INTO {history_table} (version, name, applied_on, checksum) VALUES ($1, $2, $3, $4)"
    );
    tx.execute(
        &sql,
        &[
            &file.version,
            &file.name,
            &applied_on,
            &file.checksum.to_string(),
        ],
    )
    .await
    .map(|_| ())
}

/// Index name and table of a `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name
/// ON [ONLY] table` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrentIndex {
    /// The index name as PostgreSQL stores it (unquoted, case-folded).
    pub name: String,
    /// The table as written (`public.appointments`), for `to_regclass`.
    pub table: Option<String>,
}

pub fn concurrent_index_target(sql: &str) -> Option<ConcurrentIndex> {
    static RE: OnceLock<Regex> = OnceLock::new();
    const IDENT: &str = r#""(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*"#;
    let re = RE.get_or_init(|| {
        Regex::new(&format!(
            r#"(?is)^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?({IDENT})(?:\s+ON\s+(?:ONLY\s+)?({IDENT})(?:\s*\.\s*({IDENT}))?)?"#
        ))
        .expect("valid regex")
    });
    let caps = re.captures(sql)?;
    let name = caps.get(1)?.as_str();
    if name.eq_ignore_ascii_case("on") {
        return None; // CREATE INDEX CONCURRENTLY ON t (...): no name, nothing to repair.
    }
    let table = caps.get(2).map(|first| match caps.get(3) {
        Some(second) => format!("{}.{}", first.as_str(), second.as_str()),
        None => first.as_str().to_string(),
    });
    Some(ConcurrentIndex {
        name: fold_ident(name),
        table,
    })
}

fn fold_ident(ident: &str) -> String {
    match ident.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => ident.to_lowercase(),
    }
}

/// An index of that name left INVALID by a failed concurrent build blocks `IF NOT
/// EXISTS` forever: drop it (concurrently) so the statement builds it again.
async fn drop_invalid_index(
    client: &Client,
    file: &MigrationFile,
    stmt: &Statement,
    target: &ConcurrentIndex,
) -> std::result::Result<(), tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT i.indisvalid AND c.relname = $1 \
               AND CASE WHEN $2::text IS NULL THEN n.nspname = ANY (current_schemas(false)) \
                        ELSE i.indrelid = to_regclass($2::text) END \
             LIMIT 1",
            &[&target.name, &target.table],
        )
        .await?;
    if let Some(row) = row {
        let qualified: String = row.get(0);
        eprintln!(
            "{}:{}: index {qualified} is INVALID (left by an earlier failed build); dropping it concurrently to build it again",
            file.display, stmt.line
        );
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}"))
            .await?;
    }
    Ok(())
}

/// After a run, say so if any index of the database is INVALID.
async fn warn_invalid_indexes(client: &Client) {
    let Ok(rows) = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT i.indisvalid ORDER BY 1",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        eprintln!("warning: index {name} is INVALID: drop it (DROP INDEX CONCURRENTLY) or rebuild it (REINDEX INDEX CONCURRENTLY)");
    }
}

/// A migration PostgreSQL rejected: which file, where, and what the database was left
/// at. Carried inside the `anyhow::Error` that `migrate`/`migrate_url` return, so callers
/// get it with `err.downcast_ref::<MigrationFailed>()`. Its Display is the one-line
/// message the CLI prints, e.g. `V7__broken.sql:3: syntax error at or near "SELEC"
/// (SQLSTATE 42601); database left at V6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFailed {
    /// The file name (`V7__broken.sql`).
    pub file: String,
    /// The file as named in messages (its path, or `<embedded>/V7__x.sql`).
    pub display: String,
    pub version: i32,
    /// Line of the file where the failing statement (or PostgreSQL's error position) is;
    /// None when the failure was at COMMIT or while recording the history row.
    pub line: Option<usize>,
    /// PostgreSQL's SQLSTATE, when the server reported the error.
    pub sqlstate: Option<String>,
    /// PostgreSQL's message (or the client error's text).
    pub message: String,
    /// The highest version applied before this file.
    pub applied_before: Option<i32>,
    /// Statements of this file that were committed before the failure
    /// (no-transaction files only).
    pub partially_applied: bool,
    /// Lock-timeout retries made before giving up.
    pub retries: u32,
    pub lock_timeout: Duration,
}

impl MigrationFailed {
    /// `file:line`, or the file and the history step.
    pub fn place(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.display),
            None => format!("{} (recording it in {HISTORY_TABLE})", self.display),
        }
    }

    /// The message without the place: `syntax error ... (SQLSTATE 42601); database left at V6`.
    pub fn reason(&self) -> String {
        let sqlstate = self
            .sqlstate
            .as_ref()
            .map(|c| format!(" (SQLSTATE {c})"))
            .unwrap_or_default();
        let retried = if self.retries > 0 {
            format!(
                ", still after {} retries with lock_timeout {}ms",
                self.retries,
                self.lock_timeout.as_millis()
            )
        } else {
            String::new()
        };
        let left = if self.partially_applied {
            format!(
                "database left at {} (V{} runs outside a transaction: its statements before this one stay applied)",
                version_label(self.applied_before),
                self.version
            )
        } else {
            format!("database left at {}", version_label(self.applied_before))
        };
        format!("{}{sqlstate}{retried}; {left}", self.message)
    }
}

impl fmt::Display for MigrationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.reason())
    }
}

impl std::error::Error for MigrationFailed {}

impl MigrationFailed {
    /// The error `migrate` returns: the hint travels as the inner `error::Hinted` (which
    /// `exit::report` finds in the chain) and this failure as its context, so
    /// `downcast_ref::<MigrationFailed>()` sees it. Both display the same line, which
    /// `error::one_line` prints once.
    pub fn into_error(self, hint: String) -> anyhow::Error {
        hinted(self.to_string(), hint).context(self)
    }
}

/// The `MigrationFailed` for a statement error, with a hint for the user.
fn failure_error(
    file: &MigrationFile,
    failure: StatementError,
    at: Option<i32>,
    lock_timeout: Duration,
) -> anyhow::Error {
    let (message, code, pg_hint) = match failure.error.as_db_error() {
        Some(db) => {
            let mut extra = Vec::new();
            if let Some(detail) = db.detail() {
                extra.push(detail.to_string());
            }
            if let Some(hint) = db.hint() {
                extra.push(hint.to_string());
            }
            (
                db.message().to_string(),
                Some(db.code().clone()),
                extra.join(" "),
            )
        }
        None => (failure.error.to_string(), None, String::new()),
    };
    let failed = MigrationFailed {
        file: file.file_name.clone(),
        display: file.display.clone(),
        version: file.version,
        line: failure.line,
        sqlstate: code.as_ref().map(|c| c.code().to_string()),
        message,
        applied_before: at,
        partially_applied: file.mode == Mode::NoTransaction && failure.partial,
        retries: failure.retries,
        lock_timeout,
    };
    let mut hint = match code {
        Some(SqlState::LOCK_NOT_AVAILABLE) => format!(
            "another session holds a lock the migration needs (see pg_locks and pg_stat_activity); run again when it is released, or raise --lock-timeout (now {}ms)",
            lock_timeout.as_millis()
        ),
        Some(SqlState::ACTIVE_SQL_TRANSACTION) => format!(
            "this statement cannot run inside a transaction: put `-- dbkit:no-transaction` on the first line of {} (if it is not applied anywhere yet)",
            file.file_name
        ),
        _ if file.mode == Mode::NoTransaction => format!(
            "fix {} and run `dbkit migrate` again; it re-runs the whole file, so keep its statements idempotent (IF NOT EXISTS)",
            file.file_name
        ),
        _ => format!(
            "nothing of {} was kept (rolled back); fix it and run `dbkit migrate` again",
            file.file_name
        ),
    };
    if !pg_hint.is_empty() {
        hint = format!("PostgreSQL says: {pg_hint} — {hint}");
    }
    failed.into_error(hint)
}

/// Divergent, missing, out-of-order or unknown target: refuse before running anything.
pub fn refusal_error(set: &MigrationSet, refusal: &Refusal) -> anyhow::Error {
    let file_of = |version: i32, name: &str| -> String {
        set.get(version)
            .map(|m| m.display.clone())
            .unwrap_or_else(|| format!("V{version}__{name}.sql"))
    };
    match refusal {
        Refusal::Divergent(list) => hinted(
            format!(
                "applied migration{} changed since {} applied (divergent): {}; nothing was run",
                if list.len() == 1 { "" } else { "s" },
                if list.len() == 1 { "it was" } else { "they were" },
                list.iter()
                    .map(|(v, n)| file_of(*v, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "never edit an applied migration: restore the file as it was and add a new migration with the change (`dbkit new NAME`)",
        ),
        Refusal::Missing(list) => hinted(
            format!(
                "applied migration{} missing from {}: {}; nothing was run",
                if list.len() == 1 { " is" } else { "s are" },
                set.describe(),
                list.iter()
                    .map(|(v, n)| format!("V{v}__{n}.sql"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "restore the file(s): never delete an applied migration; undo its effect with a new migration instead",
        ),
        Refusal::OutOfOrder { versions, current } => hinted(
            format!(
                "{} not applied but the database is already at V{current}; nothing was run",
                versions
                    .iter()
                    .map(|&v| file_of(v, "?"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("migrations apply in order: renumber the file(s) after V{current}"),
        ),
        Refusal::UnknownTarget { target, latest } => hinted(
            format!("--target {target}: there is no V{target} in {}", set.describe()),
            match latest {
                Some(v) => format!("the latest migration is V{v}"),
                None => "there are no migrations".to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_concurrent_index_statements() {
        assert_eq!(
            concurrent_index_target(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_org_time_idx\n    ON appointments (org_id, scheduled_at)"
            ),
            Some(ConcurrentIndex {
                name: "appointments_org_time_idx".into(),
                table: Some("appointments".into())
            })
        );
        assert_eq!(
            concurrent_index_target(
                "create unique index concurrently \"Odd\"\"Name\" on only public . \"T\" (a)"
            ),
            Some(ConcurrentIndex {
                name: "Odd\"Name".into(),
                table: Some("public.\"T\"".into())
            })
        );
        assert_eq!(
            concurrent_index_target("CREATE INDEX CONCURRENTLY Mixed ON t (a)")
                .unwrap()
                .name,
            "mixed"
        );
        assert_eq!(
            concurrent_index_target("CREATE INDEX CONCURRENTLY ON t (a)"),
            None
        );
        assert_eq!(concurrent_index_target("CREATE INDEX i ON t (a)"), None);
    }

    #[test]
    fn migration_failed_is_typed_and_prints_one_line_with_its_hint() {
        let failed = MigrationFailed {
            file: "V2__idx.sql".into(),
            display: "m/V2__idx.sql".into(),
            version: 2,
            line: Some(3),
            sqlstate: Some("23505".into()),
            message: "could not create unique index \"t_a_key\"".into(),
            applied_before: Some(1),
            partially_applied: true,
            retries: 0,
            lock_timeout: Duration::from_millis(200),
        };
        let err = failed.clone().into_error("fix it".into());
        assert_eq!(err.downcast_ref::<MigrationFailed>(), Some(&failed));
        assert_eq!(
            crate::error::one_line(&err),
            "m/V2__idx.sql:3: could not create unique index \"t_a_key\" (SQLSTATE 23505); database left at V1 (V2 runs outside a transaction: its statements before this one stay applied)"
        );
        let hint = err
            .chain()
            .find_map(|c| c.downcast_ref::<crate::error::Hinted>())
            .map(|h| h.hint.as_str());
        assert_eq!(hint, Some("fix it"));
        let retried = MigrationFailed {
            retries: 3,
            partially_applied: false,
            ..failed
        };
        assert!(retried.to_string().ends_with(
            "(SQLSTATE 23505), still after 3 retries with lock_timeout 200ms; database left at V1"
        ));
    }

    #[test]
    fn version_labels() {
        assert_eq!(version_label(Some(6)), "V6");
        assert_eq!(version_label(None), "V0 (no migration applied)");
    }
}
