//! The apply phase's seam to the rest of dbkit: the migrations as the `migrate` engine
//! sees them, and "migrate this lab database, tell me the first failure with file and
//! line" (`Lab::migrate_to`: the same engine as `dbkit migrate`: refinery history,
//! advisory lock, no-transaction files). Scratch databases are `crate::lab`'s.

use anyhow::Result;

use super::files::MigrationFile;
use crate::lab::Lab;
use crate::migrate::apply::MigrationFailed;
use crate::migrate::source::{MigrationFile as SourceFile, MigrationSet, Origin};

/// Where and why PostgreSQL rejected a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The migrate engine's view of the files that passed the file checks. None when they
/// cannot form a set (duplicate versions): the file checks already say why.
pub fn migration_set(files: &[MigrationFile]) -> Option<MigrationSet> {
    let migrations = files
        .iter()
        .map(|f| {
            let file_name = format!("V{}__{}.sql", f.version, f.name);
            SourceFile::new(&file_name, f.display.clone(), f.text.clone())
        })
        .collect::<Result<Vec<_>>>()
        .ok()?;
    MigrationSet::checked(Origin::Dir(".".into()), migrations).ok()
}

/// Migrate the lab's database up to `upto` (all when None). A migration PostgreSQL
/// rejects is an `ApplyFailure`; connection trouble is an error.
pub async fn migrate(lab: &mut Lab, upto: Option<i64>) -> Result<Option<ApplyFailure>> {
    let target = upto.map(version_for_migrate).transpose()?;
    match lab.migrate_to(target).await {
        Ok(_) => Ok(None),
        Err(err) => match err.downcast_ref::<MigrationFailed>() {
            Some(failed) => Ok(Some(ApplyFailure::from(failed))),
            None => Err(err),
        },
    }
}

/// The migrate engine's version type, refusing what does not fit rather than truncating.
pub fn version_for_migrate(version: i64) -> Result<i32> {
    i32::try_from(version).map_err(|_| {
        crate::error::hinted(
            format!("version {version} is out of range for the migrate engine"),
            "versions are V1, V2, …: pass one of the migrations' versions",
        )
    })
}

impl From<&MigrationFailed> for ApplyFailure {
    /// A failure at COMMIT or in the history row has no line: it goes on the file's
    /// first, with migrate's whole message (which says where it happened).
    fn from(failed: &MigrationFailed) -> ApplyFailure {
        let message = match failed.line {
            Some(_) => failed.reason(),
            None => failed.to_string(),
        };
        ApplyFailure {
            file: failed.display.clone(),
            line: failed.line.unwrap_or(1),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn failed(line: Option<usize>) -> MigrationFailed {
        MigrationFailed {
            file: "V7__x.sql".into(),
            display: "migrations/V7__x.sql".into(),
            version: 7,
            line,
            sqlstate: Some("42601".into()),
            message: "syntax error at or near \"SELEC\"".into(),
            applied_before: Some(6),
            partially_applied: false,
            retries: 0,
            lock_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn failure_keeps_file_line_and_reason() {
        let f = ApplyFailure::from(&failed(Some(3)));
        assert_eq!(
            f,
            ApplyFailure {
                file: "migrations/V7__x.sql".into(),
                line: 3,
                message: "syntax error at or near \"SELEC\" (SQLSTATE 42601); database left at V6"
                    .into(),
            }
        );
        let f = ApplyFailure::from(&failed(None));
        assert_eq!(f.line, 1);
        assert!(
            f.message
                .starts_with("migrations/V7__x.sql (recording it in refinery_schema_history): "),
            "{}",
            f.message
        );
    }
}
