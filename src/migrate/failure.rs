//! Why a migrate run stopped, as typed errors that carry their hint: a migration
//! PostgreSQL rejected (`MigrationFailed`, with file, line and the version the database
//! was left at) and a run refused before anything ran (`refusal_error`: divergent,
//! missing, out of order, unknown target).

use std::fmt;
use std::time::Duration;

use tokio_postgres::error::SqlState;

use super::history::table_of;
use super::layout::Layout;
use super::plan::Refusal;
use super::source::{MigrationFile, MigrationSet, Mode};
use super::version::Version;
use crate::error::hinted;

/// `V6`, or a phrase for an empty history.
pub fn version_label(layout: Layout, version: Option<Version>) -> String {
    match version {
        Some(v) => layout.label(v),
        None if layout == Layout::Supabase => "no migration applied".to_string(),
        None => "V0 (no migration applied)".to_string(),
    }
}

/// Why a statement of a file failed.
#[derive(Debug)]
pub struct StatementError {
    /// Line of the file (None: at COMMIT or in the history INSERT).
    pub line: Option<usize>,
    pub error: tokio_postgres::Error,
    /// Statements before this line were committed (no-transaction files).
    pub partial: bool,
    pub retries: u32,
    /// An index this statement left INVALID (a failed `CREATE INDEX CONCURRENTLY`).
    pub left_invalid: Option<String>,
    /// The file's own BEGIN … COMMIT blocks committed before this one failed.
    pub blocks_committed: usize,
}

impl StatementError {
    /// `error` at `line`, on the first attempt, leaving nothing committed or INVALID.
    pub fn new(line: Option<usize>, error: tokio_postgres::Error) -> Self {
        StatementError {
            line,
            error,
            partial: false,
            retries: 0,
            left_invalid: None,
            blocks_committed: 0,
        }
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
    pub version: Version,
    /// How versions are named in the message (`V6`, `20240101120000`).
    pub layout: Layout,
    /// Line of the file where the failing statement (or PostgreSQL's error position) is;
    /// None when the failure was at COMMIT or while recording the history row.
    pub line: Option<usize>,
    /// PostgreSQL's SQLSTATE, when the server reported the error.
    pub sqlstate: Option<String>,
    /// PostgreSQL's message (or the client error's text).
    pub message: String,
    /// The highest version applied before this file.
    pub applied_before: Option<Version>,
    /// Statements of this file that were committed before the failure
    /// (no-transaction files only).
    pub partially_applied: bool,
    /// The file's own BEGIN … COMMIT blocks committed before the failing one (files of
    /// several blocks only).
    pub blocks_committed: usize,
    /// Lock-timeout retries made before giving up.
    pub retries: u32,
    pub lock_timeout: Duration,
    /// The extensions the server lacks, with what to install (`vector (install
    /// postgresql-15-pgvector)`), when that is why the run was refused.
    pub missing_extensions: Vec<String>,
}

impl MigrationFailed {
    /// `file:line`, or the file and the history step.
    pub fn place(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.display),
            None => format!(
                "{} (recording it in {})",
                self.display,
                table_of(self.layout)
            ),
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
        let left = if self.blocks_committed > 0 {
            let n = self.blocks_committed;
            format!(
                "database left at {} plus the first {} of {}, committed before this one failed ({} is not recorded as applied)",
                version_label(self.layout, self.applied_before),
                if n == 1 {
                    "transaction block".to_string()
                } else {
                    format!("{n} transaction blocks")
                },
                self.layout.label(self.version),
                self.layout.label(self.version),
            )
        } else if self.partially_applied {
            format!(
                "database left at {} ({} runs outside a transaction: its statements before this one stay applied)",
                version_label(self.layout, self.applied_before),
                self.layout.label(self.version)
            )
        } else {
            format!(
                "database left at {}",
                version_label(self.layout, self.applied_before)
            )
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

/// The `MigrationFailed` for a statement error, with a hint for the user
/// (`platform_provided`: whether this run provided the Supabase platform; when it did
/// not, a missing `auth` schema or `anon` role points at `--platform supabase`).
pub fn failure_error(
    file: &MigrationFile,
    failure: StatementError,
    at: Option<Version>,
    lock_timeout: Duration,
    platform_provided: bool,
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
        layout: file.layout,
        line: failure.line,
        sqlstate: code.as_ref().map(|c| c.code().to_string()),
        message,
        applied_before: at,
        partially_applied: file.mode == Mode::NoTransaction && failure.partial,
        blocks_committed: failure.blocks_committed,
        retries: failure.retries,
        lock_timeout,
        missing_extensions: Vec::new(),
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
        _ if failure.blocks_committed > 0 => format!(
            "the transaction blocks of {} before this one stay committed and run again next time: make them safe to repeat (IF NOT EXISTS, ADD VALUE IF NOT EXISTS) or split the file into one migration per block; fix it and run `dbkit migrate` again",
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
    // Not the migration's fault: the platform it assumes is missing. That is the hint.
    if let Some(object) = crate::platform::missing_object(&failed.message) {
        if !platform_provided {
            hint = format!(
                "the migrations assume Supabase's platform ({object} is Supabase's): on a plain PostgreSQL (a CI service container, a local server), `dbkit migrate --platform supabase` provides it — roles, auth, storage, stubs of Supabase's own extensions; nothing of {} was kept",
                file.file_name
            );
        }
    }
    // A failed concurrent build leaves its index behind, INVALID: say so, and what
    // the next run does about it (`apply::drop_invalid_index`).
    if let Some(index) = &failure.left_invalid {
        hint = format!(
            "the failed build left index {index} INVALID; the next `dbkit migrate` drops it (DROP INDEX CONCURRENTLY) and builds it again. {hint}"
        );
    }
    failed.into_error(hint)
}

/// The file a history row names, when no file has its version any more.
pub fn file_name_of(layout: Layout, version: Version, name: &str) -> String {
    match layout {
        Layout::Supabase => format!(
            "{}_{name}.sql",
            super::history::supabase_version_text(version)
        ),
        Layout::Dbkit | Layout::Embedded => format!("V{version}__{name}.sql"),
    }
}

/// Divergent, missing, out-of-order or unknown target: refuse before running anything.
pub fn refusal_error(set: &MigrationSet, refusal: &Refusal) -> anyhow::Error {
    let file_of = |version: Version, name: &str| -> String {
        set.get(version)
            .map(|m| m.display.clone())
            .unwrap_or_else(|| file_name_of(set.layout(), version, name))
    };
    let label = |version: Version| set.label(version);
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
                    .map(|(v, n)| file_name_of(set.layout(), *v, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "restore the file(s): never delete an applied migration; undo its effect with a new migration instead",
        ),
        Refusal::OutOfOrder { versions, current } => hinted(
            format!(
                "{} not applied but the database is already at {}; nothing was run",
                versions
                    .iter()
                    .map(|&v| file_of(v, "?"))
                    .collect::<Vec<_>>()
                    .join(", "),
                label(*current)
            ),
            format!(
                "migrations apply in order: renumber the file(s) after {}",
                label(*current)
            ),
        ),
        Refusal::UnknownTarget { target, latest } => hinted(
            format!(
                "--target {target}: there is no {} in {}",
                label(*target),
                set.describe()
            ),
            match latest {
                Some(v) => format!("the latest migration is {}", label(*v)),
                None => "there are no migrations".to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_failed_is_typed_and_prints_one_line_with_its_hint() {
        let failed = MigrationFailed {
            file: "V2__idx.sql".into(),
            display: "m/V2__idx.sql".into(),
            version: Version::new(2),
            layout: Layout::Dbkit,
            line: Some(3),
            sqlstate: Some("23505".into()),
            message: "could not create unique index \"t_a_key\"".into(),
            applied_before: Some(Version::new(1)),
            partially_applied: true,
            blocks_committed: 0,
            retries: 0,
            lock_timeout: Duration::from_millis(200),
            missing_extensions: Vec::new(),
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
        assert_eq!(version_label(Layout::Dbkit, Some(Version::new(6))), "V6");
        assert_eq!(
            version_label(Layout::Embedded, None),
            "V0 (no migration applied)"
        );
        assert_eq!(
            version_label(Layout::Supabase, Some(Version::new(20_240_101_120_000))),
            "20240101120000"
        );
    }
}
