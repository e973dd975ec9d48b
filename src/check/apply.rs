//! The apply phase's seam to the rest of dbkit: the migrations as the `migrate` engine
//! sees them, and "migrate this lab database, tell me the first failure with file and
//! line" (`Lab::migrate_to`: the same engine as `dbkit migrate`: refinery history,
//! advisory lock, no-transaction files). Scratch databases are `crate::lab`'s.

use anyhow::Result;

use super::files::ParsedFile;
use crate::lab::Lab;
use crate::migrate::source::{MigrationSet, Origin};
use crate::migrate::MigrationFailed;
use crate::migrate::{Layout, Platform, Version};

/// Where and why PostgreSQL rejected a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// The extensions the server lacks (`vector (install postgresql-15-pgvector)`), when
    /// that is why nothing could run.
    pub missing_extensions: Vec<String>,
}

/// The migrate engine's view of the files that passed the file checks, assuming
/// `platform` (`--platform`) when named. None when they cannot form a set (duplicate
/// versions): the file checks already say why.
pub fn migration_set(files: &[ParsedFile], platform: Option<Platform>) -> Option<MigrationSet> {
    let migrations = files.iter().map(|f| f.migration.clone()).collect();
    let layout = files.first().map_or(Layout::Dbkit, |f| f.layout);
    MigrationSet::checked(Origin::Dir(".".into()), layout, migrations)
        .ok()
        .map(|set| set.with_platform(platform))
}

/// Migrate the lab's database up to `upto` (all when None). A migration PostgreSQL
/// rejects is an `ApplyFailure`; connection trouble is an error.
pub async fn migrate(lab: &mut Lab, upto: Option<i64>) -> Result<Option<ApplyFailure>> {
    match lab.migrate_to(upto.map(Version::from)).await {
        Ok(_) => Ok(None),
        Err(err) => match err.downcast_ref::<MigrationFailed>() {
            Some(failed) => Ok(Some(ApplyFailure::from(failed))),
            None => Err(err),
        },
    }
}

impl From<&MigrationFailed> for ApplyFailure {
    /// A failure at COMMIT or in the history row has no line: it goes on the file's
    /// first, with migrate's whole message (which says where it happened).
    fn from(failed: &MigrationFailed) -> ApplyFailure {
        let mut message = match failed.line {
            Some(_) => failed.reason(),
            None => failed.to_string(),
        };
        // The check did not provide the platform the migrations assume: say how.
        if let Some(object) = crate::platform::missing_object(&failed.message) {
            message.push_str(&format!(
                " — {object} is Supabase's: `dbkit check --platform supabase` provides Supabase's platform on the scratch databases"
            ));
        }
        ApplyFailure {
            file: failed.display.clone(),
            line: failed.line.unwrap_or(1),
            message,
            missing_extensions: failed.missing_extensions.clone(),
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
            version: Version::new(7),
            layout: Layout::Dbkit,
            line,
            sqlstate: Some("42601".into()),
            message: "syntax error at or near \"SELEC\"".into(),
            applied_before: Some(Version::new(6)),
            partially_applied: false,
            blocks_committed: 0,
            retries: 0,
            lock_timeout: Duration::from_secs(5),
            missing_extensions: Vec::new(),
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
                missing_extensions: vec![],
            }
        );
        let auth = MigrationFailed {
            message: "schema \"auth\" does not exist".into(),
            sqlstate: Some("3F000".into()),
            ..failed(Some(2))
        };
        assert!(ApplyFailure::from(&auth).message.ends_with(
            "database left at V6 — schema auth is Supabase's: `dbkit check --platform supabase` provides Supabase's platform on the scratch databases"
        ));
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
