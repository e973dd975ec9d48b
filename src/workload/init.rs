//! `dbkit queries init`: a catalog written to a directory for the team to edit — derived
//! from the schema of the project's migrations (applied on a lab database, never the
//! target), or read from the target's pg_stat_statements (`--from-stats`, read only).
//! Nothing is overwritten without `force`. Returns what it wrote; prints nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::catalog::{Catalog, Origin};
use super::{derive, from_stats};
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::lab::{CachePolicy, Lab};
use crate::migrate::MigrationSet;
use crate::schema::Config;

/// What `queries init` is asked for.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub out: PathBuf,
    pub force: bool,
    pub from: InitFrom,
}

#[derive(Debug, Clone)]
pub enum InitFrom {
    /// The schema of `migrations`, applied on a lab database.
    Schema {
        migrations: MigrationSet,
        config: Config,
        cache: CachePolicy,
    },
    /// The target's pg_stat_statements: the `top` statements by total time.
    Stats { top: usize, config: Config },
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Initialized {
    pub dir: String,
    /// `schema` or `pg_stat_statements`.
    pub source: String,
    pub queries: Vec<WrittenQuery>,
    pub files: Vec<String>,
    /// Statements of pg_stat_statements left out, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedStatement>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenQuery {
    pub name: String,
    pub summary: String,
    pub params: usize,
    pub weight: u32,
    /// Parameters whose sampler needs writing (`$n`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samplers_to_write: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedStatement {
    pub query: String,
    pub why: String,
}

/// Write the catalog `opts` asks for; `url` is the target (its server hosts the lab).
pub async fn init(url: &DbUrl, opts: &InitOptions) -> Result<Initialized> {
    refuse_to_overwrite(&opts.out.join("catalog.yaml"), opts.force)?;
    let (files, source, skipped, unplaced) = match &opts.from {
        InitFrom::Schema {
            migrations,
            config,
            cache,
        } => {
            let files = on_lab(url, migrations, config, *cache).await?;
            (files, "schema", Vec::new(), Vec::new())
        }
        InitFrom::Stats { top, config } => from_stats_files(url, *top, config).await?,
    };
    for (name, _) in &files {
        refuse_to_overwrite(&opts.out.join(name), opts.force)?;
    }
    // What is written must load as any catalog does.
    let catalog = Catalog::from_files(&opts.out, Origin::Directory, &files)?;
    if let Some(problem) = catalog.problems.first() {
        return Err(hinted(
            format!("the catalog dbkit wrote does not load: {problem}"),
            "this is a bug in dbkit: please report it with the schema",
        ));
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    for (name, text) in &files {
        let path = opts.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let queries = catalog
        .queries
        .iter()
        .map(|q| WrittenQuery {
            name: q.name.clone(),
            summary: q.summary.clone(),
            params: q.params.len(),
            weight: q.weight,
            samplers_to_write: unplaced
                .iter()
                .filter(|(name, _)| *name == q.name)
                .flat_map(|(_, n): &(String, Vec<usize>)| n.clone())
                .collect(),
        })
        .collect();
    Ok(Initialized {
        dir: opts.out.display().to_string(),
        source: source.to_string(),
        queries,
        files: files.iter().map(|(n, _)| n.clone()).collect(),
        skipped,
    })
}

fn refuse_to_overwrite(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(hinted(
            format!(
                "{} exists: queries init does not overwrite it",
                path.display()
            ),
            "pass --force to replace the files it writes, or --out DIR to write elsewhere",
        ));
    }
    Ok(())
}

/// The schema of `migrations` at its head, on a lab database (dropped afterwards).
async fn on_lab(
    server: &DbUrl,
    migrations: &MigrationSet,
    config: &Config,
    cache: CachePolicy,
) -> Result<Vec<(String, String)>> {
    let head = migrations.latest().ok_or_else(|| {
        hinted(
            format!(
                "{} holds no migration: there is no schema to derive queries from",
                migrations.describe()
            ),
            "write the schema's migrations first (dbkit new NAME)",
        )
    })?;
    let mut lab = Lab::create(server, "queries", migrations.clone()).await?;
    let derived = async {
        lab.prepare(head, None, cache).await?;
        let client = connect(lab.url()).await?;
        let model = crate::schema::model(&client, config).await?;
        derive::files(&model)
    }
    .await;
    let _ = lab.finish(false).await;
    derived
}

type StatsFiles = (
    Vec<(String, String)>,
    &'static str,
    Vec<SkippedStatement>,
    Vec<(String, Vec<usize>)>,
);

/// The top statements of the target's pg_stat_statements as catalog files.
async fn from_stats_files(url: &DbUrl, top: usize, config: &Config) -> Result<StatsFiles> {
    let client = connect(url).await?;
    let statements = from_stats::read(&client).await?;
    let model = crate::schema::model(&client, config).await?;
    let mut names = Vec::new();
    let mut queries = Vec::new();
    let mut calls = Vec::new();
    let mut skipped = Vec::new();
    for s in &statements {
        if queries.len() >= top {
            break;
        }
        if from_stats::not_traffic(&s.query).is_some() {
            continue;
        }
        let types =
            match from_stats::parameter_types(&client, &from_stats::runnable(&s.query)).await {
                Ok(types) => types,
                Err(why) => {
                    skipped.push(SkippedStatement {
                        query: flat(&s.query),
                        why: format!("no longer prepares: {why}"),
                    });
                    continue;
                }
            };
        match from_stats::take(&model, s, &types, &mut names) {
            from_stats::Taken::Query(q) => {
                calls.push(s.calls);
                queries.push(q);
            }
            from_stats::Taken::Skipped { query, why } => {
                skipped.push(SkippedStatement { query, why })
            }
        }
    }
    if queries.is_empty() {
        return Err(hinted(
            "pg_stat_statements holds no statement of the project's traffic on this database",
            "run the application (or its tests) against it first; `SELECT pg_stat_statements_reset()` starts the count afresh",
        ));
    }
    from_stats::weigh(&mut queries, &calls);
    let unplaced = queries
        .iter()
        .map(|q| (q.name.clone(), q.unplaced.clone()))
        .collect();
    let files = derive::stats_files(&model, &queries)?;
    Ok((files, "pg_stat_statements", skipped, unplaced))
}

fn flat(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(119).collect::<String>())
    } else {
        flat
    }
}
