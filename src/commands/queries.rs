//! `dbkit queries init`: flags → `InitOptions` → `workload::init` → `report::queries`.

use anyhow::Result;

use crate::cli::queries::{QueriesAction, QueriesArgs};
use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::report::{emit, Format};
use crate::schema::Config;
use crate::workload::init::{InitFrom, InitOptions};

pub async fn run(connect: &ConnectOpts, args: &QueriesArgs, format: Format) -> Result<Outcome> {
    let QueriesAction::Init(init) = &args.action;
    let database = Database::resolve(connect.database_url.as_deref())?;
    let source = init.source.options();
    let from = if init.from_stats {
        InitFrom::Stats {
            top: init.top as usize,
            config: Config::find(&source.dir)?,
        }
    } else {
        InitFrom::Schema {
            migrations: MigrationSet::resolve(&source)?,
            config: Config::find(&source.dir)?,
            cache: crate::lab::CachePolicy::for_target(
                matches!(database, Database::Local(_)),
                init.cache,
            ),
        }
    };
    let opts = InitOptions {
        out: init.out.clone(),
        force: init.force,
        from,
    };
    let written = crate::workload::init::init(&database.url()?, &opts).await?;
    emit(&written, format)?;
    Ok(Outcome::Clean)
}
