//! `dbkit explain`: `ExplainArgs` → `ExplainOptions` → the explain engine →
//! `ExplainReport` → the reporter; `--fail-on` decides the outcome. With
//! `--write-migration`, the suggested indexes become the project's next migration.

use anyhow::Result;

use crate::cli::{ConnectOpts, ExplainArgs, OutputFormat};
use crate::config::Database;
use crate::exit::Outcome;
use crate::explain::rules::Thresholds;
use crate::explain::{AdviseOptions, BeforeOptions, ExplainOptions, ExplainReport, RunOptions};
use crate::migrate::{MigrationSet, NewOptions};
use crate::report::Format;
use crate::seed::{Profile, SeedOptions};
use crate::workload::CatalogSource;

pub async fn run(
    connect: &ConnectOpts,
    args: &ExplainArgs,
    output: OutputFormat,
) -> Result<Outcome> {
    let format = match output {
        OutputFormat::Sarif => None,
        other => Some(super::report_format(other)?),
    };
    // Resolving connects to nothing: catalog errors still name their file first.
    let database = Database::resolve(connect.database_url.as_deref())?;
    let opts = options(args, matches!(database, Database::Local(_)))?;
    let mut report = crate::explain::explain(&database.url()?, &opts).await?;
    if let Some(dir) = &args.save_plans {
        crate::explain::save_plans(&report, dir)?;
    }
    if let Some(name) = &args.write_migration {
        report.notes.push(write_migration(&report, name, args)?);
    }
    let Some(format) = format else {
        // Derived queries have no files: their findings carry no location.
        let dir = match &opts.catalog {
            CatalogSource::Loaded(catalog) => Some(catalog.dir.as_path()),
            CatalogSource::Derived { .. } => None,
        };
        crate::report::sarif::emit(&crate::report::sarif::from_explain(&report, dir))?;
        return Ok(outcome(&report, args));
    };
    crate::report::emit(&report, format)?;
    if format == Format::Json {
        // The table and markdown list these themselves; JSON's stdout stays one document.
        for line in crate::report::explain::error_lines(&report) {
            eprintln!("{line}");
        }
    }
    Ok(outcome(&report, args))
}

/// `--write-migration NAME`: the suggested indexes as the next migration file (the
/// project's layout, no-transaction, CONCURRENTLY); what was written, as a note.
fn write_migration(report: &ExplainReport, name: &str, args: &ExplainArgs) -> Result<String> {
    let indexes = report.advised_indexes();
    if indexes.is_empty() {
        return Ok("--write-migration: no index was suggested, so no migration was written".into());
    }
    let mut body =
        String::from("-- The indexes `dbkit explain` suggested; review them before applying.\n\n");
    for index in &indexes {
        body.push_str(&format!(
            "-- on {}\n{}\n\n",
            index.table,
            idempotent(&index.statement)
        ));
    }
    let created = crate::migrate::new::create(&NewOptions {
        name: name.to_string(),
        source: args.source.options(),
        no_transaction: true,
        body,
    })?;
    Ok(format!(
        "wrote {} ({} index{}): apply it with dbkit migrate",
        created.path.display(),
        indexes.len(),
        if indexes.len() == 1 { "" } else { "es" }
    ))
}

/// `CREATE INDEX CONCURRENTLY x …` as `… IF NOT EXISTS x …;`: a no-transaction file
/// that failed half-way is run again from its start.
fn idempotent(ddl: &str) -> String {
    const PLAIN: &str = "CREATE INDEX CONCURRENTLY ";
    let ddl = ddl.trim().trim_end_matches(';');
    let ddl = match ddl.strip_prefix(PLAIN) {
        Some(rest) if !rest.starts_with("IF NOT EXISTS") => {
            format!("{PLAIN}IF NOT EXISTS {rest}")
        }
        _ => ddl.to_string(),
    };
    format!("{ddl};")
}

fn outcome(report: &ExplainReport, args: &ExplainArgs) -> Outcome {
    if report.fails(&args.fail_on) {
        Outcome::Failed
    } else {
        Outcome::Clean
    }
}

/// The engine's plain options from the flags.
fn options(args: &ExplainArgs, local_cluster: bool) -> Result<ExplainOptions> {
    let catalog =
        CatalogSource::locate(args.queries.as_deref(), &args.source.options(), &args.only)?;
    let before = match args.before {
        Some(version) => {
            let migrations = MigrationSet::resolve(&args.source.options())?;
            let profile = match &args.profile {
                Some(path) => Profile::from_file(path)?,
                None => Profile::default_profile(),
            };
            Some(BeforeOptions {
                version: migrations.below_head("--before", version)?,
                migrations,
                seed: SeedOptions {
                    orgs: args.orgs,
                    seed: args.seed,
                    profile,
                    ..SeedOptions::default()
                },
                keep: args.keep,
                cache: crate::lab::CachePolicy::for_target(local_cluster, args.cache),
            })
        }
        None => None,
    };
    let advise = if args.advise {
        let source = args.source.options();
        Some(AdviseOptions {
            migrations: MigrationSet::resolve(&source)?,
            config: crate::schema::Config::find(&source.dir)?,
        })
    } else {
        None
    };
    Ok(ExplainOptions {
        advise,
        catalog,
        run: RunOptions {
            runs: args.runs.max(1),
            series_budget: args.budget,
            statement_timeout: args.statement_timeout,
            jobs: args.jobs.max(1),
            index_suggestions: !args.no_index_suggestions,
            thresholds: Thresholds {
                seq_scan_min_rows: args.seq_scan_min_rows as f64,
                ..Thresholds::default()
            },
        },
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::idempotent;

    #[test]
    fn written_indexes_are_idempotent() {
        assert_eq!(
            idempotent("CREATE INDEX CONCURRENTLY b_y_idx ON b (y);"),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_y_idx ON b (y);"
        );
        let already = "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_y_idx ON b (y);";
        assert_eq!(idempotent(already), already);
        assert_eq!(
            idempotent("CREATE INDEX CONCURRENTLY x ON b (y)"),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS x ON b (y);"
        );
    }
}
