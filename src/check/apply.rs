//! The apply phase's seam to the rest of dbkit: a scratch database on the server
//! (`db::scratch::ScratchDb`), and "apply these migrations to that URL, tell me the
//! first failure with file and line" (`migrate::apply::migrate_url`, the same engine as
//! `dbkit migrate`: refinery history, advisory lock, no-transaction files).

use anyhow::Result;

use super::files::MigrationFile;
use crate::db::scratch::ScratchDb;
use crate::db::DbUrl;
use crate::migrate::apply::migrate_url;
use crate::migrate::source::{MigrationFile as SourceFile, MigrationSet, Origin};

/// A throw-away database on the server, dropped by `finish` unless kept.
pub struct Scratch {
    db: ScratchDb,
    keep: bool,
}

impl Scratch {
    pub async fn create(server: &DbUrl, prefix: &str, keep: bool) -> Result<Scratch> {
        Ok(Scratch {
            db: ScratchDb::create(server, prefix, None).await?,
            keep,
        })
    }

    pub fn url(&self) -> &DbUrl {
        self.db.url()
    }

    pub async fn finish(self) -> Result<()> {
        if self.keep {
            let name = self.db.name().to_string();
            let url = self.db.keep();
            eprintln!("kept scratch database {name}: {url}");
            return Ok(());
        }
        self.db.drop_now().await
    }
}

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

/// Migrate `url` (already at `from`, or empty) up to `upto` (all when None). A migration
/// PostgreSQL rejects is an `ApplyFailure`; connection trouble is an error.
pub async fn apply_to(
    url: &DbUrl,
    set: &MigrationSet,
    upto: Option<i64>,
) -> Result<Option<ApplyFailure>> {
    let target = upto.map(|v| v as i32);
    match migrate_url(url, set, target).await {
        Ok(_) => Ok(None),
        Err(err) => {
            let text = crate::exit::one_line(&err);
            match failure_from(set, &text) {
                Some(failure) => Ok(Some(failure)),
                None => Err(err),
            }
        }
    }
}

/// migrate's errors start with `{display}:{line}: ` (or `{display} (recording it...`).
fn failure_from(set: &MigrationSet, text: &str) -> Option<ApplyFailure> {
    set.migrations.iter().find_map(|m| {
        let rest = text.strip_prefix(m.display.as_str())?;
        let (line, message) = match rest.strip_prefix(':') {
            Some(after) => {
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                let message = after[digits.len()..].trim_start_matches(':').trim();
                (digits.parse().ok()?, message.to_string())
            }
            None => (1, rest.trim().to_string()),
        };
        Some(ApplyFailure {
            file: m.display.clone(),
            line,
            message,
        })
    })
}
