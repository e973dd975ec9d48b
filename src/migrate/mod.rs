//! Migrations: `dbkit migrate [status]` and `dbkit new`. Files and names in `source`,
//! the statement splitter in `split`, the pure verify/plan in `plan`, and everything
//! that touches the database (advisory lock, refinery's history table, no-transaction
//! files, lock_timeout retries) in `apply`.
//!
//! For other commands: `MigrationSet::resolve(&opts)` / `MigrationSet::load(dir)`, then
//! `apply::migrate_url(&url, &set, Some(v))` on a scratch database;
//! `split::split(sql)` for statements with their lines.

pub mod apply;
pub mod guard;
pub mod plan;
pub mod source;
pub mod split;

use anyhow::{Context, Result};

use crate::cli::{MigrateAction, MigrateArgs, NewArgs};
use crate::config::Database;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::{render_rows, Format};

pub use apply::{migrate, migrate_url, read_history, ApplyOptions, Report};
pub use plan::{HistoryRow, State, StatusRow};
pub use source::{MigrationFile, MigrationSet, Mode};
pub use split::{split, LineComment, Statement};

/// Print a line to stdout; a failed write is the command's error.
macro_rules! out {
    ($($arg:tt)*) => {
        crate::report::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// Print to stdout as is (tables end with their own newline).
macro_rules! out_raw {
    ($($arg:tt)*) => {
        crate::report::print(&format!($($arg)*))?
    };
}

pub async fn command(db: &Database, args: &MigrateArgs, format: Format) -> Result<Outcome> {
    let set = MigrationSet::resolve(&args.source)?;
    let target = match args.target {
        Some(t) => Some(i32::try_from(t).map_err(|_| {
            hinted(
                format!("--target {t} is too large"),
                "versions are 32-bit integers",
            )
        })?),
        None => None,
    };
    match args.action {
        Some(MigrateAction::Status) => status(db, &set, format).await,
        None if args.dry_run => dry_run(db, &set, target, format).await,
        None => run(db, &set, target, args.lock_timeout, args.lock_wait, format).await,
    }
}

async fn status(db: &Database, set: &MigrationSet, format: Format) -> Result<Outcome> {
    let client = db.connect().await?;
    let history = read_history(&client).await?;
    let rows = plan::status(set, &history);
    if format == Format::Json {
        out!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.version.to_string(),
                    r.name.clone(),
                    r.state.to_string(),
                    r.applied_on.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        out_raw!(
            "{}",
            render_rows(format, &["version", "name", "state", "applied_on"], &cells)
        );
    }
    // An applied migration that was edited or deleted is a finding: exit 1, so a CI
    // step running `migrate status` catches it before `migrate` refuses to run.
    let troubled: Vec<String> = rows
        .iter()
        .filter(|r| matches!(r.state, plan::State::Divergent | plan::State::Missing))
        .map(|r| format!("V{} {}", r.version, r.state))
        .collect();
    if troubled.is_empty() {
        Ok(Outcome::Clean)
    } else {
        eprintln!(
            "dbkit: {} — never edit or delete an applied migration; restore it and add a new one",
            troubled.join(", ")
        );
        Ok(Outcome::Failed)
    }
}

async fn dry_run(
    db: &Database,
    set: &MigrationSet,
    target: Option<i32>,
    format: Format,
) -> Result<Outcome> {
    let client = db.connect().await?;
    let history = read_history(&client).await?;
    let (current, versions) = match plan::plan(set, &history, target) {
        plan::Plan::Apply { current, versions } => (current, versions),
        plan::Plan::Refuse(refusal) => return Err(apply::refusal_error(set, &refusal)),
    };
    let files: Vec<&MigrationFile> = versions.iter().filter_map(|&v| set.get(v)).collect();
    if format == Format::Json {
        let list: Vec<serde_json::Value> = files
            .iter()
            .map(|m| {
                serde_json::json!({"version": m.version, "name": m.name, "mode": m.mode.to_string()})
            })
            .collect();
        let doc = serde_json::json!({"dry_run": true, "version": current, "would_apply": list});
        out!("{}", serde_json::to_string_pretty(&doc)?);
    } else if files.is_empty() {
        out!(
            "nothing to do: database is at {}{}",
            apply::version_label(current),
            past_target(current, target)
        );
    } else {
        let cells: Vec<Vec<String>> = files
            .iter()
            .map(|m| vec![m.version.to_string(), m.name.clone(), m.mode.to_string()])
            .collect();
        out!(
            "dry run: database is at {}; would apply:",
            apply::version_label(current)
        );
        out_raw!(
            "{}",
            render_rows(format, &["version", "name", "mode"], &cells)
        );
    }
    Ok(Outcome::Clean)
}

async fn run(
    db: &Database,
    set: &MigrationSet,
    target: Option<i32>,
    lock_timeout: std::time::Duration,
    lock_wait: std::time::Duration,
    format: Format,
) -> Result<Outcome> {
    let mut client = db.connect().await?;
    let opts = ApplyOptions {
        target,
        lock_timeout,
        lock_wait,
        provide_platform: db.is_local_cluster(),
    };
    match migrate(&mut client, set, &opts).await {
        Ok(report) => {
            print_report(&report, target, format)?;
            Ok(Outcome::Clean)
        }
        Err(partial) => {
            if !partial.report.applied.is_empty() {
                print_report(&partial.report, target, format)?;
            }
            Err(partial.error)
        }
    }
}

/// `--target 2` on a database at V3: say that dbkit does not migrate down.
fn past_target(current: Option<i32>, target: Option<i32>) -> String {
    match (current, target) {
        (Some(c), Some(t)) if t < c => {
            format!(", past --target {t} (dbkit only migrates up; undo with a new migration)")
        }
        _ => String::new(),
    }
}

fn print_report(report: &Report, target: Option<i32>, format: Format) -> Result<()> {
    if format == Format::Json {
        let doc = serde_json::json!({"applied": report.applied, "version": report.version()});
        out!("{}", serde_json::to_string_pretty(&doc)?);
    } else if report.applied.is_empty() {
        out!(
            "nothing to do: database is at {}{}",
            apply::version_label(report.version()),
            past_target(report.version(), target)
        );
    } else {
        let cells: Vec<Vec<String>> = report
            .applied
            .iter()
            .map(|m| {
                vec![
                    m.version.to_string(),
                    m.name.clone(),
                    m.mode.clone(),
                    m.ms.to_string(),
                ]
            })
            .collect();
        out_raw!(
            "{}",
            render_rows(format, &["version", "name", "mode", "ms"], &cells)
        );
    }
    Ok(())
}

/// `dbkit new NAME`: write `V{max+1}__NAME.sql` with a header and print its path.
pub fn new_migration(args: &NewArgs, format: Format) -> Result<Outcome> {
    if !source::valid_new_name(&args.name) {
        return Err(hinted(
            format!("`{}` is not a snake_case migration name", args.name),
            "use lowercase letters, digits and single underscores, e.g. add_reminders_table",
        ));
    }
    let dir = &args.source.migrations;
    if !dir.is_dir() {
        return Err(hinted(
            format!("migrations directory {} does not exist", dir.display()),
            "create it (mkdir) or pass --migrations DIR; the shipped migrations are embedded in dbkit, copy them from the dbkit repository to extend them",
        ));
    }
    let set = MigrationSet::load(dir)?;
    let version = set.latest().unwrap_or(0) + 1;
    let path = dir.join(format!("V{version}__{}.sql", args.name));
    let mut body = String::new();
    if args.no_transaction {
        body.push_str(source::NO_TRANSACTION);
        body.push('\n');
        body.push_str(&format!(
            "-- V{version}: {}\n-- Runs one statement at a time outside a transaction (CREATE INDEX CONCURRENTLY).\n-- A failure leaves earlier statements applied and the next `dbkit migrate` re-runs the\n-- whole file: keep every statement idempotent (IF NOT EXISTS).\n\n",
            args.name.replace('_', " ")
        ));
    } else {
        body.push_str(&format!(
            "-- V{version}: {}\n-- Runs in one transaction: a failure rolls all of it back. Never edit this file once\n-- it is applied anywhere; add a new migration instead.\n\n",
            args.name.replace('_', " ")
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, body.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if format == Format::Json {
        let created = serde_json::json!({
            "path": path.display().to_string(),
            "version": version,
            "name": args.name,
            "mode": if args.no_transaction { Mode::NoTransaction } else { Mode::Transactional }.to_string(),
        });
        out!("{}", serde_json::to_string_pretty(&created)?);
    } else {
        out!("{}", path.display());
    }
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_below_the_database_is_named() {
        assert!(past_target(Some(3), Some(2)).contains("past --target 2"));
        assert_eq!(past_target(Some(3), Some(3)), "");
        assert_eq!(past_target(None, Some(2)), "");
    }
}
