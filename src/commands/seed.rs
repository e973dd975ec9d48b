//! `dbkit seed`: flags → `SeedOptions`, the `--reset` confirmation (the engine is only
//! told that it was confirmed), the engine, the summary through the reporter.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::cli::seed::SeedArgs;
use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::db::DbUrl;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::{self, Format};
use crate::seed::{self, Profile, SeedOptions};

pub async fn run(connect: &ConnectOpts, args: &SeedArgs, format: Format) -> Result<Outcome> {
    let profile = match &args.profile {
        Some(path) => Profile::from_file(path)?,
        None => Profile::default_profile(),
    };
    let config = crate::schema::Config::find(std::path::Path::new("migrations"))?;
    let opts = SeedOptions {
        config: config.clone(),
        triggers: !args.no_triggers,
        orgs: args.orgs,
        seed: args.seed,
        profile,
        anchor_date: args.anchor_date,
        reset: args.reset,
        allow_remote: args.allow_remote,
        progress: true,
    };
    if args.print_profile {
        let url = Database::resolve(connect.database_url.as_deref())?.url()?;
        let derived = seed::derived_profile(&url, &opts).await?;
        report::emit(&derived, format)?;
        return Ok(Outcome::Clean);
    }
    let summary = match &args.to_files {
        // A database named explicitly: its schema decides the rows; else the built-in
        // booking schema's, without a database.
        Some(dir)
            if connect.database_url.is_some() || std::env::var_os("DATABASE_URL").is_some() =>
        {
            let url = Database::resolve(connect.database_url.as_deref())?.url()?;
            seed::write_database_files(&url, dir, &opts).await?
        }
        Some(dir) => seed::write_files(dir, &opts)?,
        None => {
            let url = Database::resolve(connect.database_url.as_deref())?.url()?;
            if args.reset && !args.yes {
                confirm_reset(&url, args.allow_remote, &config).await?;
            }
            seed::seed_database(&url, &opts).await?
        }
    };
    report::emit(&summary, format)?;
    Ok(Outcome::Clean)
}

/// Ask before `--reset` deletes rows: a "yes" typed on a terminal, else `--yes`.
async fn confirm_reset(
    url: &DbUrl,
    allow_remote: bool,
    config: &crate::schema::Config,
) -> Result<()> {
    let rows = seed::tenant_rows(url, allow_remote, config).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let held = rows.describe();
    if !std::io::stdin().is_terminal() {
        return Err(hinted(
            format!(
                "--reset would delete tenant rows in {} ({held})",
                url.target()
            ),
            "confirm with --yes when not running on a terminal",
        ));
    }
    eprint!(
        "This deletes every row of {} in {} ({held}). Type yes to continue: ",
        rows.tables(),
        url.target()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "yes" | "y") {
        return Ok(());
    }
    Err(hinted(
        "reset not confirmed; nothing was changed",
        "type yes, or pass --yes",
    ))
}
