//! `dbkit migrate [status] [--dry-run]`: the migrations `--migrations` names (one
//! resolution for every command), the engine's typed result, the reporter.

use anyhow::Result;

use crate::cli::{ConnectOpts, MigrateAction, MigrateArgs};
use crate::config::Database;
use crate::exit::Outcome;
use crate::migrate::{self, ApplyOptions, MigrationSet};
use crate::report::{emit, Format};

pub async fn run(connect: &ConnectOpts, args: &MigrateArgs, format: Format) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    let set = MigrationSet::resolve(&args.source.options())?;
    let mut client = database.connect().await?;
    match args.action {
        Some(MigrateAction::Status) => {
            let status = migrate::status(&client, &set).await?;
            emit(&status, format)?;
            // An applied migration that was edited or deleted is a finding: exit 1, so a
            // CI step running `migrate status` catches it before `migrate` refuses to run.
            let troubled = status.troubled();
            if troubled.is_empty() {
                return Ok(Outcome::Clean);
            }
            eprintln!(
                "dbkit: {} — never edit or delete an applied migration; restore it and add a new one",
                troubled.join(", ")
            );
            Ok(Outcome::Failed)
        }
        None if args.dry_run => {
            emit(&migrate::dry_run(&client, &set, args.target).await?, format)?;
            Ok(Outcome::Clean)
        }
        None => {
            let opts = ApplyOptions {
                target: args.target,
                lock_timeout: args.lock_timeout,
                lock_wait: args.lock_wait,
                // dbkit's own cluster, or a server `--platform` names the platform for
                // (never a Supabase project's database: `platform::is_supabase`).
                provide_platform: matches!(database, crate::config::Database::Local(_))
                    || set.platform_named(),
            };
            match migrate::migrate(&mut client, &set, &opts).await {
                Ok(applied) => {
                    emit(&applied, format)?;
                    Ok(Outcome::Clean)
                }
                Err(partial) => {
                    // What was applied before the failure is still reported; the error
                    // line comes after it. A failed write must not hide the error.
                    if !partial.report.applied.is_empty() {
                        let _ = emit(&partial.report, format);
                    }
                    Err(partial.error)
                }
            }
        }
    }
}
