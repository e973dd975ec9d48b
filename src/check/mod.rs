//! `dbkit check`: the CI gate for migrations. File checks and lint rules (pure), then on
//! scratch databases: apply from zero and on seeded data at `--base`, catalog rules on
//! the final schema, and the tenant-isolation proof. Findings go through the inline
//! ignores and one renderer; any error-severity finding fails the run (exit 1).

pub mod apply;
pub mod catalog;
pub mod files;
pub mod ignore;
pub mod isolation;
pub mod lint;
pub mod locate;
pub mod render;
pub mod rule;

use anyhow::Result;
use clap::Args;

use crate::cli::MigrationSourceOpts;
use crate::config::Database;
use crate::db::{connect, DbUrl};
use crate::exit::Outcome;
use crate::migrate::source::MigrationSet;
use files::MigrationFile;
use locate::Locator;
use rule::{Finding, Rule, Severity};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// The version production is at: lint only newer migrations, and apply them on a
    /// scratch database migrated to this version and seeded with a few orgs.
    #[arg(long, value_name = "V")]
    pub base: Option<i64>,
    /// File checks and lint rules only: no database needed.
    #[arg(long)]
    pub offline: bool,
    /// Keep the scratch databases for inspection (their names go to stderr).
    #[arg(long)]
    pub keep: bool,
    /// Print the tenancy model inferred from the migrations (and dbkit.yaml), then stop.
    #[arg(long)]
    pub explain_tenancy: bool,
}

pub async fn command(
    database: &Database,
    args: &CheckArgs,
    format: render::Output,
) -> Result<Outcome> {
    let (files, mut findings) = files::load(&args.source.migrations)?;
    findings.extend(files::parse_findings(&files));
    findings.extend(lint::lint(&files, args.base));
    if let Some(base) = args.base {
        if !files.iter().any(|f| f.version == base) {
            return Err(crate::error::hinted(
                format!(
                    "--base {base} names no migration in {}",
                    args.source.migrations.display()
                ),
                "pass the version production is at, e.g. --base 6",
            ));
        }
    }
    let config = isolation::Config::find(&args.source.migrations)?;
    if args.explain_tenancy {
        let tenancy = explain_tenancy(&database.url()?, &files, &config, args).await?;
        let format = match format {
            render::Output::Report(format) => format,
            render::Output::Github => crate::report::Format::Table,
        };
        crate::report::emit(&tenancy, format)?;
        return Ok(Outcome::Clean);
    }
    if !args.offline {
        let server = database.url()?;
        let target = connect(&server).await?;
        if let Some(applied) = files::applied_history(&target).await? {
            findings.extend(files::applied_findings(&files, &applied)?);
        }
        drop(target);
        findings.extend(on_scratch(&server, &files, args, &config).await?);
    }
    let mut findings = ignore::apply(&files, findings);
    sort(&mut findings);
    let mut out = std::io::stdout().lock();
    render::render(format, &findings, &mut out).map_err(crate::report::stdout_error)?;
    Ok(if findings.iter().any(|f| f.severity == Severity::Error) {
        Outcome::Failed
    } else {
        Outcome::Clean
    })
}

/// Files in order, then findings about the database.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        // Errors before warnings before infos at the same place.
        use std::cmp::Reverse;
        (
            a.file.is_none(),
            &a.file,
            a.line,
            Reverse(a.severity),
            a.rule,
        )
            .cmp(&(
                b.file.is_none(),
                &b.file,
                b.line,
                Reverse(b.severity),
                b.rule,
            ))
    });
}

fn failure_finding(failure: apply::ApplyFailure, context: &str) -> Finding {
    Finding::new(Rule::ApplyFailed, format!("{context}{}", failure.message))
        .at(failure.file, failure.line)
}

/// Apply on scratch databases; catalog rules and the isolation proof on the result.
async fn on_scratch(
    server: &DbUrl,
    files: &[MigrationFile],
    args: &CheckArgs,
    config: &isolation::Config,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let locator = Locator::new(files);
    let Some(set) = apply::migration_set(files) else {
        // Duplicate versions: already reported; there is no order to apply them in.
        return Ok(findings);
    };

    // 1. Everything from zero; the final schema is what catalog rules judge.
    let scratch = apply::Scratch::create(server, "check", args.keep).await?;
    let result = fresh_schema(scratch.url(), &set, &locator, config).await;
    scratch.finish().await?;
    findings.extend(result?);

    // 2. Production upgrades happen on data: migrate to the base, seed, apply the rest.
    if let Some(base) = args.base {
        let scratch = apply::Scratch::create(server, "check_base", args.keep).await?;
        let result = upgrade_on_data(scratch.url(), &set, base, config).await;
        scratch.finish().await?;
        findings.extend(result?);
    }
    Ok(findings)
}

/// The tenancy model of the migrations applied from zero on a scratch database.
async fn explain_tenancy(
    server: &DbUrl,
    files: &[MigrationFile],
    config: &isolation::Config,
    args: &CheckArgs,
) -> Result<isolation::Tenancy> {
    let Some(set) = apply::migration_set(files) else {
        anyhow::bail!("two migration files share a version: run dbkit check to see which");
    };
    let scratch = apply::Scratch::create(server, "check", args.keep).await?;
    let result = async {
        if let Some(failure) = apply::apply_to(scratch.url(), &set, None).await? {
            anyhow::bail!("{}:{}: {}", failure.file, failure.line, failure.message);
        }
        let client = connect(scratch.url()).await?;
        Ok(isolation::model(&client, config).await?.tenancy)
    }
    .await;
    scratch.finish().await?;
    result
}

async fn fresh_schema(
    url: &DbUrl,
    set: &MigrationSet,
    locator: &Locator,
    config: &isolation::Config,
) -> Result<Vec<Finding>> {
    if let Some(failure) = apply::apply_to(url, set, None).await? {
        return Ok(vec![failure_finding(
            failure,
            "applying from an empty database: ",
        )]);
    }
    let mut client = connect(url).await?;
    let model = isolation::model(&client, config).await?;
    let mut findings = catalog::check(&client, locator, &model).await?;
    findings.extend(isolation::prove(&mut client, &model, locator).await?);
    Ok(findings)
}

async fn upgrade_on_data(
    url: &DbUrl,
    set: &MigrationSet,
    base: i64,
    config: &isolation::Config,
) -> Result<Vec<Finding>> {
    // A failure up to the base is already reported by the run from zero.
    if apply::apply_to(url, set, Some(base)).await?.is_some() {
        return Ok(vec![]);
    }
    let client = connect(url).await?;
    if let Err(e) = isolation::seed_orgs(&client, config, 3).await {
        return Ok(vec![Finding::new(
            Rule::IsolationInconclusive,
            format!(
                "could not seed a fixture at V{base}, so the upgrade ran on empty tables: {}",
                crate::error::one_line(&e)
            ),
        )]);
    }
    drop(client);
    Ok(apply::apply_to(url, set, None)
        .await?
        .map(|f| failure_finding(f, &format!("upgrading seeded data from V{base}: ")))
        .into_iter()
        .collect())
}
