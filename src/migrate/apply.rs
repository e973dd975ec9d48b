//! Running migrations against a database: the advisory lock around the whole run,
//! the history (`history`: refinery's table, or Supabase's), transactional and
//! no-transaction files, `lock_timeout` with a bounded retry, repair of INVALID
//! indexes, and errors that name file and line (`failure`).
//!
//! Why not `refinery::Runner::run_async` for transactional files: it sends each file
//! as one batch, so an error without a position in the query (lock_not_available, a
//! unique or check violation while building, anything raised at execution) cannot be
//! traced to a line of the file. dbkit runs each file's statements one by one inside a
//! single transaction (BEGIN; statements; history INSERT; COMMIT), which is what
//! refinery does in one round trip, and writes the history row exactly as refinery
//! does: same table DDL, same columns, refinery's checksum, RFC 3339 `applied_on`.
//! Refinery's own CLI and `Runner` read the result (tests/migrate.rs checks that).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::BoxFuture;
use regex::Regex;
use serde::Serialize;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, GenericClient};

use super::failure::{failure_error, refusal_error, StatementError};
use super::guard::{self, StubAction};
use super::history;
use super::layout::Layout;
use super::plan::{plan, Plan};
use super::source::{MigrationFile, MigrationSet, Mode};
use super::split::Statement;
use super::version::Version;
use crate::error::hinted;
use crate::platform::stubs::Stub;

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
    pub target: Option<Version>,
    /// `lock_timeout` for every migration statement.
    pub lock_timeout: Duration,
    /// How long to wait for the advisory lock held by another migrate run.
    pub lock_wait: Duration,
    /// Provide the Supabase platform (`crate::platform`) first when the migrations
    /// assume it: on dbkit's own servers (local cluster, scratch databases), and on a
    /// server `--platform supabase` names it for (never a Supabase project's database).
    pub provide_platform: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            target: None,
            lock_timeout: Duration::from_secs(5),
            lock_wait: Duration::from_secs(600),
            provide_platform: false,
        }
    }
}

/// One migration applied by this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    pub version: Version,
    pub name: String,
    pub mode: String,
    pub ms: u64,
    /// What the run could not make safe, e.g. a file of several transactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// What a run did: the result of `dbkit migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub layout: Layout,
    /// Highest applied version before the run.
    pub before: Option<Version>,
    pub applied: Vec<AppliedMigration>,
    /// `--target`, to say when the database is already past it.
    pub target: Option<Version>,
}

impl Applied {
    fn nothing(layout: Layout, target: Option<Version>) -> Applied {
        Applied {
            layout,
            before: None,
            applied: Vec::new(),
            target,
        }
    }

    /// Highest applied version after the run.
    pub fn version(&self) -> Option<Version> {
        self.applied.last().map(|m| m.version).or(self.before)
    }
}

/// A run that stopped on an error, with what it applied before (as refinery's
/// `Error::report` does).
#[derive(Debug)]
pub struct Partial {
    pub report: Applied,
    pub error: anyhow::Error,
}

/// Connect to `url` and migrate it (up to `target`): the entry point for scratch
/// databases (the lab).
pub async fn migrate_url(
    url: &crate::db::DbUrl,
    set: &MigrationSet,
    target: Option<Version>,
) -> Result<Applied> {
    let mut client = crate::db::connect(url).await?;
    let opts = ApplyOptions {
        target,
        // Scratch databases are dbkit's own.
        provide_platform: true,
        ..ApplyOptions::default()
    };
    migrate(&mut client, set, &opts).await.map_err(|p| p.error)
}

/// One step of a file as it is applied, shown to an `Observer`.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A statement; `retry` counts the lock_timeout retries before this attempt.
    Statement { stmt: &'a Statement, retry: u32 },
    /// A transactional file's history INSERT and COMMIT (its locks are released here).
    Commit,
}

/// Watches each step of a run, before it starts and after it ends (with its error):
/// `dbkit rehearse` measures locks and traffic per statement through it. `migrate`
/// runs without one.
pub trait Observer: Send + Sync {
    fn before<'a>(&'a self, file: &'a MigrationFile, step: Step<'a>) -> BoxFuture<'a, ()>;
    fn after<'a>(
        &'a self,
        file: &'a MigrationFile,
        step: Step<'a>,
        error: Option<&'a tokio_postgres::Error>,
    ) -> BoxFuture<'a, ()>;
}

/// Apply the pending migrations of `set` under the advisory lock.
pub async fn migrate(
    client: &mut Client,
    set: &MigrationSet,
    opts: &ApplyOptions,
) -> std::result::Result<Applied, Partial> {
    let run = Run {
        set,
        opts,
        observer: None,
    };
    run.apply(client).await
}

/// `migrate`, showing each step to `observer`.
pub async fn migrate_observed(
    client: &mut Client,
    set: &MigrationSet,
    opts: &ApplyOptions,
    observer: &dyn Observer,
) -> std::result::Result<Applied, Partial> {
    let run = Run {
        set,
        opts,
        observer: Some(observer),
    };
    run.apply(client).await
}

/// One run: what it applies, how, and who watches.
#[derive(Clone, Copy)]
struct Run<'a> {
    set: &'a MigrationSet,
    opts: &'a ApplyOptions,
    observer: Option<&'a dyn Observer>,
}

impl Run<'_> {
    /// The run: session settings, the advisory lock, the pending files, the unlock.
    async fn apply(&self, client: &mut Client) -> std::result::Result<Applied, Partial> {
        let fail = |error| self.fail(error);
        session_settings(client, self.opts.lock_timeout)
            .await
            .context("cannot set lock_timeout for the migration session")
            .map_err(fail)?;
        acquire_lock(client, self.opts.lock_wait)
            .await
            .map_err(fail)?;
        let result = self.locked(client).await;
        // Released on disconnect anyway; an error here changes nothing for the caller.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK_KEY])
            .await;
        result
    }

    /// How the run fails before it applied anything.
    fn fail(&self, error: anyhow::Error) -> Partial {
        Partial {
            report: Applied::nothing(self.set.layout(), self.opts.target),
            error,
        }
    }

    /// The run, once the advisory lock is held.
    async fn locked(&self, client: &mut Client) -> std::result::Result<Applied, Partial> {
        let Run {
            set,
            opts,
            observer,
        } = *self;
        let fail = |error| self.fail(error);
        // Read (refusing two histories that disagree) before creating any table.
        let history = history::read(&*client, set.layout()).await.map_err(fail)?;
        let (before, versions) = match plan(set, &history, opts.target) {
            Plan::Apply { current, versions } => (current, versions),
            Plan::Refuse(refusal) => return Err(fail(refusal_error(set, &refusal))),
        };
        // platform: refuse what cannot run, then provide what the files assume.
        let stubbed = guard::before_first(client, set, &versions, before, opts.provide_platform)
            .await
            .map_err(fail)?;
        let history_table = history::ensure(client, set.layout()).await.map_err(fail)?;
        let mut report = Applied {
            before,
            ..Applied::nothing(set.layout(), opts.target)
        };
        for version in versions {
            let file = set.get(version).expect("planned versions exist");
            let started = Instant::now();
            let run = FileRun {
                file,
                history_table: &history_table,
                lock_timeout: opts.lock_timeout,
                observer,
                stubbed: &stubbed,
            };
            let result = match file.mode {
                Mode::Transactional => run.transactional(client).await,
                Mode::NoTransaction => run.no_transaction(client).await,
            };
            if let Err(error) = result {
                let at = report.version();
                let provided = opts.provide_platform && crate::platform::wanted(set);
                let error = failure_error(file, error, at, opts.lock_timeout, provided);
                return Err(Partial { report, error });
            }
            report.applied.push(AppliedMigration {
                version: file.version,
                name: file.name.clone(),
                mode: guard::mode_of(file),
                ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                warning: guard::blocks_warning(file),
            });
        }
        warn_invalid_indexes(client).await;
        Ok(report)
    }
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
         SET idle_in_transaction_session_timeout = 0; SET synchronous_commit = on; {}",
        lock_timeout.as_millis(),
        crate::platform::RESTORE_SEARCH_PATH
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

/// One migration file being applied: where its history row goes, its
/// `lock_timeout`, and who watches its steps.
struct FileRun<'a> {
    file: &'a MigrationFile,
    history_table: &'a str,
    lock_timeout: Duration,
    observer: Option<&'a dyn Observer>,
    /// Supabase's own extensions stubbed in this run: their CREATE EXTENSION runs the
    /// stub (`guard::stub_action`).
    stubbed: &'a [&'static Stub],
}

impl FileRun<'_> {
    /// Show the observer, if any, `step` about to run.
    async fn before(&self, step: Step<'_>) {
        if let Some(observer) = self.observer {
            observer.before(self.file, step).await;
        }
    }

    /// Show the observer, if any, `step` ended (with its error).
    async fn after(&self, step: Step<'_>, error: Option<&tokio_postgres::Error>) {
        if let Some(observer) = self.observer {
            observer.after(self.file, step, error).await;
        }
    }

    /// Run one statement (attempt `retry + 1`), shown to the observer before and after.
    async fn execute(
        &self,
        client: &impl GenericClient,
        stmt: &Statement,
        retry: u32,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let step = Step::Statement { stmt, retry };
        self.before(step).await;
        let result = match guard::stub_action(&stmt.text, self.stubbed) {
            None => client.batch_execute(&stmt.text).await,
            Some(StubAction::Skip) => Ok(()),
            Some(StubAction::Create { stub, schema }) => {
                let schema = match schema {
                    Some(schema) => Ok(schema),
                    // Where PostgreSQL would put the extension's objects.
                    None => client
                        .query_one("SELECT coalesce(current_schema(), 'extensions')", &[])
                        .await
                        .map(|row| row.get(0)),
                };
                match schema {
                    Ok(schema) => client.batch_execute(&stub.sql(&schema)).await,
                    Err(e) => Err(e),
                }
            }
        };
        self.after(step, result.as_ref().err()).await;
        result
    }

    /// The file's transactions (`guard::transactions`: the whole file in one, or each
    /// of its own BEGIN … COMMIT blocks in turn), statement by statement; the history
    /// row goes in the last, so the file is recorded exactly when all of it committed.
    async fn transactional(&self, client: &mut Client) -> std::result::Result<(), StatementError> {
        let statements = guard::statements(&self.file.sql);
        // The preflight refused every other shape before anything ran.
        let shape = guard::transactions(&statements).unwrap_or(guard::Transactions::One);
        let groups = shape.groups(statements.len());
        let last = groups.len() - 1;
        for (index, (indexes, modes)) in groups.into_iter().enumerate() {
            let group: Vec<_> = indexes.iter().map(|&i| statements[i].clone()).collect();
            self.transaction(client, &group, modes, index == last)
                .await
                .map_err(|error| StatementError {
                    blocks_committed: index,
                    ..error
                })?;
        }
        Ok(())
    }

    /// One transaction: `statements` after `SET TRANSACTION modes`, then (`record`) the
    /// history row, then COMMIT. A lock timeout rolls it back and retries it.
    async fn transaction(
        &self,
        client: &mut Client,
        statements: &[Statement],
        modes: Option<&str>,
        record: bool,
    ) -> std::result::Result<(), StatementError> {
        let mut retries = 0;
        loop {
            let err = |line, error| StatementError {
                retries,
                ..StatementError::new(line, error)
            };
            session_settings(client, self.lock_timeout)
                .await
                .map_err(|e| err(None, e))?;
            let tx = client.transaction().await.map_err(|e| err(None, e))?;
            if let Some(modes) = modes {
                let first = statements.first().map(|s| s.line);
                tx.batch_execute(&format!("SET TRANSACTION {modes}"))
                    .await
                    .map_err(|e| err(first, e))?;
            }
            let mut failed = None;
            for stmt in statements {
                if let Err(e) = self.execute(&tx, stmt, retries).await {
                    failed = Some((line_of(stmt, &e), e));
                    break;
                }
            }
            if let Some((line, e)) = failed {
                let _ = tx.rollback().await;
                if is_lock_timeout(&e) && retries < LOCK_RETRIES {
                    retries += 1;
                    backoff(self.file, line, retries, self.lock_timeout).await;
                    continue;
                }
                return Err(err(Some(line), e));
            }
            if !record {
                // A block of the file's own: its COMMIT, not shown to the observer (whose
                // COMMIT step is the file's last, with the history row).
                return tx.commit().await.map_err(|e| err(None, e));
            }
            self.before(Step::Commit).await;
            let committed = match history::record(&tx, self.history_table, self.file).await {
                Ok(()) => tx.commit().await,
                Err(e) => Err(e),
            };
            self.after(Step::Commit, committed.as_ref().err()).await;
            return committed.map_err(|e| err(None, e));
        }
    }

    /// One statement at a time, each committed on its own (what `CREATE INDEX
    /// CONCURRENTLY` needs), repairing INVALID indexes first; then the history row.
    async fn no_transaction(&self, client: &mut Client) -> std::result::Result<(), StatementError> {
        session_settings(client, self.lock_timeout)
            .await
            .map_err(|e| StatementError::new(None, e))?;
        for (index, stmt) in guard::statements(&self.file.sql).iter().enumerate() {
            let mut retries = 0;
            loop {
                let err = |line, error| StatementError {
                    partial: index > 0,
                    retries,
                    ..StatementError::new(Some(line), error)
                };
                let attempt = async {
                    if let Some(target) = concurrent_index_target(&stmt.text) {
                        drop_invalid_index(client, self.file, stmt, &target).await?;
                    }
                    self.execute(&*client, stmt, retries).await
                };
                match attempt.await {
                    Ok(()) => break,
                    Err(e) if is_lock_timeout(&e) && retries < LOCK_RETRIES => {
                        retries += 1;
                        backoff(self.file, line_of(stmt, &e), retries, self.lock_timeout).await;
                    }
                    Err(e) => {
                        let left_invalid = invalid_index_left(client, &stmt.text).await;
                        return Err(StatementError {
                            left_invalid,
                            ..err(line_of(stmt, &e), e)
                        });
                    }
                }
            }
        }
        let tx = client.transaction().await;
        let result = match tx {
            Ok(tx) => match history::record(&tx, self.history_table, self.file).await {
                Ok(()) => tx.commit().await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        result.map_err(|error| StatementError {
            partial: true,
            ..StatementError::new(None, error)
        })
    }
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

/// The INVALID index named $1 (on table $2, else in the search path), qualified.
const INVALID_INDEX_NAMED: &str = "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND c.relname = $1 \
       AND CASE WHEN $2::text IS NULL THEN n.nspname = ANY (current_schemas(false)) \
                ELSE i.indrelid = to_regclass($2::text) END \
     LIMIT 1";

/// An index of that name left INVALID by a failed concurrent build blocks `IF NOT
/// EXISTS` forever: drop it (concurrently) so the statement builds it again.
async fn drop_invalid_index(
    client: &Client,
    file: &MigrationFile,
    stmt: &Statement,
    target: &ConcurrentIndex,
) -> std::result::Result<(), tokio_postgres::Error> {
    let row = client
        .query_opt(INVALID_INDEX_NAMED, &[&target.name, &target.table])
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

/// The index a failed `CREATE INDEX CONCURRENTLY` statement left INVALID, if it did.
async fn invalid_index_left(client: &Client, sql: &str) -> Option<String> {
    let target = concurrent_index_target(sql)?;
    client
        .query_opt(INVALID_INDEX_NAMED, &[&target.name, &target.table])
        .await
        .ok()
        .flatten()
        .map(|row| row.get(0))
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
}
