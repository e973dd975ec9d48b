//! `dbkit check`: the CI gate. Args → `CheckOptions` → `check::check` → `Findings` →
//! the reporter (or workflow annotations) → exit 1 on any error-severity finding.

use anyhow::Result;

use crate::check::{check, CheckOptions};
use crate::cli::{CheckArgs, ConnectOpts, OutputFormat};
use crate::config::Database;
use crate::exit::Outcome;
use crate::report::check::{github, CheckReport};
use crate::report::sarif;

pub async fn run(connect: &ConnectOpts, args: &CheckArgs, format: OutputFormat) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    // --offline never touches a database (nor starts the local cluster).
    let server = if args.offline {
        None
    } else {
        Some(database.url()?)
    };
    let rehearse = match args.rehearse {
        true => Some(rehearse_options(&database, args)?),
        false => None,
    };
    let opts = CheckOptions {
        source: args.source.options(),
        base: args.base,
        all: args.all,
        server,
        keep: args.keep,
        rehearse,
        stats_from: args
            .stats_from
            .as_deref()
            .map(|raw| crate::db::DbUrl::parse(raw, "--stats-from"))
            .transpose()?,
    };
    if args.explain_tenancy {
        let tenancy = crate::check::explain_tenancy(&opts).await?;
        crate::report::emit(&tenancy, format.report().unwrap_or_default())?;
        return Ok(Outcome::Clean);
    }
    let findings = check(&opts).await?;
    for kept in &findings.ran.kept {
        eprintln!("kept scratch database {}: {}", kept.name, kept.url);
    }
    let report = CheckReport {
        findings: &findings,
        verbose: args.verbose,
    };
    match (format.report(), format) {
        (Some(format), _) => crate::report::emit(&report, format)?,
        (None, OutputFormat::Sarif) => sarif::emit(&sarif::from_check(&findings.findings))?,
        (None, _) => {
            let mut out = Vec::new();
            github(&report, &mut out).map_err(crate::report::stdout_error)?;
            crate::report::print(&String::from_utf8_lossy(&out))?;
        }
    }
    Ok(if findings.failed() {
        Outcome::Failed
    } else {
        Outcome::Clean
    })
}

/// `--rehearse`: what to rehearse, from check's flags (from `--base`, else the target's
/// version).
fn rehearse_options(
    database: &Database,
    args: &CheckArgs,
) -> Result<crate::rehearse::RehearseOptions> {
    let migrations = crate::migrate::MigrationSet::resolve(&args.source.options())?;
    let load = super::rehearse::Load {
        queries: None,
        before: args.base.map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
        orgs: args.orgs,
        clients: args.clients,
        max_stall: args.max_stall,
        cache: false,
    };
    super::rehearse::options(database, migrations, load)
}
