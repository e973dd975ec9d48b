//! Migrations: `dbkit migrate [status]` and `dbkit new`. The one migration model and
//! its layouts (`layout`, `source`, `version`), the statement splitter (`split`), the
//! pure verify/plan (`plan`), the history tables (`history`), everything that runs
//! migrations on a database (`apply`), why a run stopped (`failure`) and the next
//! file (`new`). The engine returns typed results and writes nothing to stdout; the
//! reporter (`crate::report::migrate`) renders them.
//!
//! For other commands: `MigrationSet::resolve(&SourceOptions)`, then
//! `apply::migrate_url(&url, &set, Some(v))` on a scratch database (the lab);
//! `split::split(sql)` for statements with their lines.

pub mod apply;
pub mod failure;
pub mod guard;
pub mod history;
pub mod layout;
pub mod new;
pub mod plan;
pub mod source;
pub mod split;
pub mod version;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

pub use apply::{migrate, migrate_url, Applied, AppliedMigration, ApplyOptions, Partial};
pub use failure::{refusal_error, version_label, MigrationFailed};
pub use layout::{Layout, Platform, SourceOptions};
pub use new::{Created, NewOptions};
pub use plan::{HistoryRow, State, StatusRow};
pub use source::{MigrationFile, MigrationSet, Mode};
pub use split::{split, LineComment, Statement};
pub use version::Version;

/// `dbkit migrate status`: every version with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub layout: Layout,
    /// The history table the states were read from.
    pub history: &'static str,
    pub rows: Vec<StatusRow>,
}

impl MigrationStatus {
    /// Applied files that were edited or deleted since (`V2 divergent`).
    pub fn troubled(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| matches!(r.state, State::Divergent | State::Missing))
            .map(|r| format!("{} {}", self.layout.label(r.version), r.state))
            .collect()
    }
}

/// One migration `migrate --dry-run` would apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub version: Version,
    pub name: String,
    pub mode: String,
}

/// `dbkit migrate --dry-run`: where the database is and what would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub layout: Layout,
    pub current: Option<Version>,
    pub target: Option<Version>,
    pub would_apply: Vec<Planned>,
}

/// Read the history and compare it with the files.
pub async fn status(client: &Client, set: &MigrationSet) -> Result<MigrationStatus> {
    let history = history::read(client, set.layout()).await?;
    Ok(MigrationStatus {
        layout: set.layout(),
        history: history::table_of(set.layout()),
        rows: plan::status(set, &history),
    })
}

/// What `migrate` would do, changing nothing; refused as `migrate` would refuse.
pub async fn dry_run(
    client: &Client,
    set: &MigrationSet,
    target: Option<Version>,
) -> Result<DryRun> {
    let history = history::read(client, set.layout()).await?;
    let (current, versions) = match plan::plan(set, &history, target) {
        plan::Plan::Apply { current, versions } => (current, versions),
        plan::Plan::Refuse(refusal) => return Err(refusal_error(set, &refusal)),
    };
    let would_apply = versions
        .iter()
        .filter_map(|&v| set.get(v))
        .map(|m| Planned {
            version: m.version,
            name: m.name.clone(),
            mode: guard::mode_of(m),
        })
        .collect();
    Ok(DryRun {
        layout: set.layout(),
        current,
        target,
        would_apply,
    })
}

/// `--target 2` on a database at V3: say that dbkit does not migrate down.
pub fn past_target(current: Option<Version>, target: Option<Version>) -> String {
    match (current, target) {
        (Some(c), Some(t)) if t < c => {
            format!(", past --target {t} (dbkit only migrates up; undo with a new migration)")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_below_the_database_is_named() {
        let v = Version::new;
        assert!(past_target(Some(v(3)), Some(v(2))).contains("past --target 2"));
        assert_eq!(past_target(Some(v(3)), Some(v(3))), "");
        assert_eq!(past_target(None, Some(v(2))), "");
    }
}
