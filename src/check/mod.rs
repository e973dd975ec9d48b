//! `dbkit check`: the CI gate for migrations. File checks and lint rules (pure), then on
//! lab databases (`crate::lab`): apply from zero and on seeded data at `--base`,
//! catalog rules on the final schema (and, with `--base`, at the base, to report only
//! what the new migrations introduce), and the tenant-isolation proof. Findings go
//! through the inline ignores; the engine returns them as `Findings` and prints nothing
//! (`report::check` renders them).

pub mod apply;
pub mod baseline;
pub mod catalog;
pub mod extension_unavailable;
pub mod files;
pub mod ignore;
pub mod isolation;
pub mod lint;
pub mod locate;
pub mod rule;

use anyhow::Result;
use serde::Serialize;

use crate::db::{connect, DbUrl};
use crate::lab::{Finished, Lab};
use crate::migrate::SourceOptions;
use crate::progress::Indicator;
use baseline::Baseline;
use files::ParsedFile;
use locate::Locator;
use rule::{Finding, Rule, Severity};

/// What to check, and where.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The migrations (`--migrations DIR`, resolved as every command resolves it).
    pub source: SourceOptions,
    /// The version production is at (`--base`).
    pub base: Option<i64>,
    /// With `base`: report the catalog findings already present at the base too.
    pub all: bool,
    /// The server lab databases are made on, whose target database's history is
    /// compared with the files. None: offline (file checks and lints only).
    pub server: Option<DbUrl>,
    /// Keep the lab databases.
    pub keep: bool,
    /// `--rehearse`: rehearse the pending migrations under booking traffic; its
    /// findings join the gate's before the inline ignores apply.
    pub rehearse: Option<crate::rehearse::RehearseOptions>,
    /// `--stats-from`: a production or staging database whose table statistics grade
    /// the lock-taking lint findings (read only).
    pub stats_from: Option<DbUrl>,
}

/// The result of `dbkit check`: the findings to report, and what ran.
#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    /// Why the catalog rules and the tenant-isolation proof did not run, when they
    /// could not (an apply failure, an extension the server lacks, …): the run fails
    /// closed, and every output format says so first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    pub findings: Vec<Finding>,
    pub ran: Ran,
    /// `--rehearse`: the rehearsal itself (its findings are among `findings`).
    #[serde(skip)]
    pub rehearsal: Option<crate::rehearse::Rehearsal>,
}

/// What the check looked at, for the lines under the findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ran {
    pub files: usize,
    pub statements: usize,
    /// Statements the lint rules could not read (PostgreSQL's grammar rejects them;
    /// each is also a `parse-error` finding).
    pub not_linted: Vec<NotLinted>,
    pub base: Option<i64>,
    /// Whether PostgreSQL applied every migration from zero on a lab database (false
    /// with `--offline`, or when one was rejected).
    pub applied: bool,
    /// Findings silenced by `-- dbkit:ignore`.
    pub ignored: usize,
    /// With `--base` (and not `--all`): catalog findings the base already had, not
    /// reported above.
    pub present_at_base: Vec<Finding>,
    /// Lab databases left on the server (`--keep`).
    pub kept: Vec<KeptDatabase>,
    /// What the tenant-isolation proof tried (None: it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<isolation::Proof>,
    /// Supabase's own extensions stubbed on the scratch databases (the server lacks
    /// them): names and signatures only, their behaviour was not checked.
    pub stubbed: Vec<String>,
}

/// A statement PostgreSQL's grammar rejects, so no lint rule could read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotLinted {
    pub file: String,
    pub line: usize,
    /// PostgreSQL's message.
    pub reason: String,
}

/// A lab database kept for inspection; `url` has no password.
#[derive(Debug, Clone, Serialize)]
pub struct KeptDatabase {
    pub name: String,
    pub url: String,
}

impl Findings {
    /// Any error-severity finding fails the run, and so does a security part that
    /// could not run.
    pub fn failed(&self) -> bool {
        self.incomplete.is_some() || self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The headline of a run whose catalog rules and isolation proof did not run.
pub fn incomplete_headline(reason: &str) -> String {
    format!("INCOMPLETE: the catalog rules and the tenant-isolation proof did not run ({reason}); nothing here says the schema is safe")
}

pub async fn check(opts: &CheckOptions) -> Result<Findings> {
    let (files, mut findings) = files::load(opts.source.clone())?;
    let config = crate::schema::Config::find(&opts.source.dir)?;
    if let Some(base) = opts.base {
        if !files.iter().any(|f| f.version == base) {
            return Err(crate::error::hinted(
                format!(
                    "--base {base} names no migration in {}",
                    opts.source.dir.display()
                ),
                "pass the version production is at, e.g. --base 6",
            ));
        }
    }
    let sizes = match &opts.stats_from {
        Some(url) => Some(read_sizes(url).await?),
        None => None,
    };
    findings.extend(lint::lint(&files, opts.base, sizes.as_ref()));
    findings.extend(files::parse_findings(&files));
    let mut ran = Ran {
        files: files.len(),
        statements: files.iter().map(|f| f.statements.len()).sum(),
        not_linted: not_linted(&files),
        base: opts.base,
        ..Ran::default()
    };
    let mut baseline = None;
    let mut incomplete = None;
    if let Some(server) = &opts.server {
        let target = connect(server).await?;
        if let Some(applied) = files::applied_history(&target).await? {
            findings.extend(files::applied_findings(&files, &applied)?);
        }
        ran.stubbed = stubbed_on_labs(&target, &files, opts).await?;
        drop(target);
        let labs = on_labs(server, &files, opts, &config).await?;
        findings.extend(labs.findings);
        ran.kept = labs.kept;
        ran.applied = labs.applied;
        ran.proof = labs.proof;
        baseline = labs.baseline;
        incomplete = labs.skipped;
    }
    let mut rehearsal = None;
    if let Some(rehearse) = &opts.rehearse {
        let rehearsed = crate::rehearse::run(rehearse).await?;
        findings.extend(crate::rehearse::gate::check_findings(
            &rehearsed,
            &rehearse.migrations,
        ));
        rehearsal = Some(rehearsed);
    }
    let (findings, ignored) = ignore::apply(&files, findings);
    ran.ignored = ignored;
    let (mut findings, mut present) = match &baseline {
        Some(baseline) => baseline.split(findings),
        None => (findings, Vec::new()),
    };
    if opts.all {
        findings.append(&mut present);
    }
    sort(&mut findings);
    sort(&mut present);
    ran.present_at_base = present;
    Ok(Findings {
        incomplete,
        findings,
        ran,
        rehearsal,
    })
}

/// The table statistics of the `--stats-from` database, as a hinted error when it
/// cannot be read.
async fn read_sizes(url: &DbUrl) -> Result<crate::schema::stats::TableSizes> {
    let mut client = connect(url).await.map_err(|e| {
        crate::error::hinted(
            format!("--stats-from {url}: {}", crate::error::one_line(&e)),
            "give a database dbkit can connect to and read pg_class from (a read-only role is enough)",
        )
    })?;
    crate::schema::stats::TableSizes::read(&mut client).await
}

/// The tenancy model of the migrations applied from zero on a lab database, as the
/// isolation proof sees it (`dbkit check --explain-tenancy`).
pub async fn explain_tenancy(opts: &CheckOptions) -> Result<crate::schema::Tenancy> {
    let (files, _) = files::load(opts.source.clone())?;
    let config = crate::schema::Config::find(&opts.source.dir)?;
    let Some(server) = &opts.server else {
        return Err(crate::error::hinted(
            "--explain-tenancy needs a database to apply the migrations on",
            "drop --offline: the model is read from the applied schema",
        ));
    };
    let Some(set) = apply::migration_set(&files, opts.source.platform) else {
        anyhow::bail!("two migration files share a version: run dbkit check to see which");
    };
    let mut lab = Lab::create(server, "check", set).await?;
    let result = async {
        if let Some(failure) = apply::migrate(&mut lab, None).await? {
            anyhow::bail!("{}:{}: {}", failure.file, failure.line, failure.message);
        }
        let client = connect(lab.url()).await?;
        Ok(crate::schema::model(&client, &config).await?.tenancy)
    }
    .await;
    lab.finish(opts.keep).await?;
    result
}

/// Supabase's own extensions the scratch databases get as stubs: those the
/// migrations need that the server lacks, when they assume the Supabase platform.
async fn stubbed_on_labs(
    server: &tokio_postgres::Client,
    files: &[ParsedFile],
    opts: &CheckOptions,
) -> Result<Vec<String>> {
    let Some(set) = apply::migration_set(files, opts.source.platform) else {
        return Ok(Vec::new());
    };
    if !crate::platform::wanted(&set) {
        return Ok(Vec::new());
    }
    let wanted = crate::migrate::guard::stubs_wanted(set.migrations.iter());
    let lacking = crate::platform::stubs::lacking(server, &wanted).await?;
    Ok(crate::platform::stubs::labels(&lacking))
}

/// The statements PostgreSQL's grammar rejects, where they are and why.
fn not_linted(files: &[ParsedFile]) -> Vec<NotLinted> {
    files::parse_findings(files)
        .into_iter()
        .map(|f| NotLinted {
            file: f.file.unwrap_or_default(),
            line: f.line.unwrap_or(1),
            // The file check words it as a finding; here it is only PostgreSQL's reason.
            reason: f
                .message
                .trim_start_matches("PostgreSQL's grammar rejects this statement: ")
                .to_string(),
        })
        .collect()
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
    Finding::new(
        extension_unavailable::rule_of(&failure),
        format!("{context}{}", failure.message),
    )
    .at(failure.file, failure.line)
}

/// What the lab runs found.
struct LabRuns {
    findings: Vec<Finding>,
    /// Every migration applied from zero.
    applied: bool,
    /// What the isolation proof tried.
    proof: Option<isolation::Proof>,
    /// Why the catalog rules and the isolation proof did not run on the final schema.
    skipped: Option<String>,
    /// The catalog findings at `--base`; None without one, or when the base could not
    /// be built (then nothing is hidden: what cannot be compared is reported).
    baseline: Option<Baseline>,
    kept: Vec<KeptDatabase>,
}

/// Apply on lab databases; catalog rules and the isolation proof on the result. The run
/// from zero and the upgrade at the base are independent: they run side by side.
async fn on_labs(
    server: &DbUrl,
    files: &[ParsedFile],
    opts: &CheckOptions,
    config: &crate::schema::Config,
) -> Result<LabRuns> {
    let locator = Locator::new(files);
    let Some(set) = apply::migration_set(files, opts.source.platform) else {
        // Duplicate versions: already reported; there is no order to apply them in.
        return Ok(LabRuns {
            findings: vec![],
            applied: false,
            proof: None,
            skipped: Some(
                "two migration files share a version, so there is no order to apply them in".into(),
            ),
            baseline: None,
            kept: vec![],
        });
    };
    let progress = Indicator::spinner("{spinner} check: {msg}");
    progress.set_message(format!("applying {} migrations", set.migrations.len()));

    // 1. Everything from zero; the final schema is what catalog rules judge.
    let fresh = async {
        let mut lab = Lab::create(server, "check", set.clone()).await?;
        let result = fresh_schema(&mut lab, &locator, config).await;
        let finished = lab.finish(opts.keep).await?;
        Ok::<_, anyhow::Error>((result?, finished))
    };
    // 2. Production upgrades happen on data: migrate to the base, judge the catalog
    // there, seed, apply the rest.
    let upgrade = async {
        let Some(base) = opts.base else {
            return Ok(None);
        };
        let mut lab = Lab::create(server, "check_base", set.clone()).await?;
        let result = upgrade_on_data(&mut lab, base, &locator, config).await;
        let finished = lab.finish(opts.keep).await?;
        Ok::<_, anyhow::Error>(Some((result?, finished)))
    };
    // Both run to the end (and clean up their database) even when the other fails.
    let (fresh, upgrade) = tokio::join!(fresh, upgrade);
    let ((fresh, fresh_lab), upgrade) = (fresh?, upgrade?);
    let FreshSchema {
        mut findings,
        skipped,
        proof,
    } = fresh;
    let applied = skipped.is_none();
    progress.finish();

    let mut kept: Vec<KeptDatabase> = kept_database(fresh_lab).into_iter().collect();
    let mut baseline = None;
    if let Some((upgrade, upgrade_lab)) = upgrade {
        findings.extend(upgrade.findings);
        baseline = upgrade.baseline;
        kept.extend(kept_database(upgrade_lab));
    }
    Ok(LabRuns {
        findings,
        applied,
        proof,
        skipped,
        baseline,
        kept,
    })
}

fn kept_database(finished: Finished) -> Option<KeptDatabase> {
    match finished {
        Finished::Dropped => None,
        Finished::Kept { name, url } => Some(KeptDatabase {
            name,
            url: url.to_string(),
        }),
    }
}

/// What the run from zero found.
struct FreshSchema {
    findings: Vec<Finding>,
    /// Why the catalog rules and the isolation proof did not run (a migration could
    /// not be applied).
    skipped: Option<String>,
    /// What the isolation proof tried.
    proof: Option<isolation::Proof>,
}

/// The findings on the final schema, or why there is none to judge.
async fn fresh_schema(
    lab: &mut Lab,
    locator: &Locator,
    config: &crate::schema::Config,
) -> Result<FreshSchema> {
    if let Some(failure) = apply::migrate(lab, None).await? {
        let skipped = extension_unavailable::skipped(&failure);
        let finding = failure_finding(failure, "applying from an empty database: ");
        return Ok(FreshSchema {
            findings: vec![finding],
            skipped: Some(skipped),
            proof: None,
        });
    }
    let mut client = connect(lab.url()).await?;
    let model = crate::schema::model(&client, config).await?;
    let mut findings = catalog::check(&client, locator, &model).await?;
    let proof = isolation::prove(&mut client, &model, locator).await?;
    // The calls decide what the static SECURITY DEFINER rule could only suspect.
    isolation::security_definer_leak::regrade(&mut findings, &proof.called);
    isolation::regrade_policies(&mut findings, &model.facts, &proof);
    findings.extend(proof.findings);
    Ok(FreshSchema {
        findings,
        skipped: None,
        proof: Some(proof.summary),
    })
}

/// What the upgrade at the base found: apply failures on data, and the catalog there.
struct Upgrade {
    findings: Vec<Finding>,
    baseline: Option<Baseline>,
}

async fn upgrade_on_data(
    lab: &mut Lab,
    base: i64,
    locator: &Locator,
    config: &crate::schema::Config,
) -> Result<Upgrade> {
    // A failure up to the base is already reported by the run from zero.
    if apply::migrate(lab, Some(base)).await?.is_some() {
        return Ok(Upgrade {
            findings: vec![],
            baseline: None,
        });
    }
    let client = connect(lab.url()).await?;
    let model = crate::schema::model(&client, config).await?;
    let baseline = Some(Baseline::new(
        &catalog::check(&client, locator, &model).await?,
    ));
    if let Err(e) = isolation::seed_orgs(&client, config, 3).await {
        let finding = Finding::new(
            Rule::IsolationInconclusive,
            format!(
                "could not seed a fixture at V{base}, so the upgrade ran on empty tables: {}",
                crate::error::one_line(&e)
            ),
        );
        return Ok(Upgrade {
            findings: vec![finding],
            baseline,
        });
    }
    drop(client);
    let findings = apply::migrate(lab, None)
        .await?
        .map(|f| failure_finding(f, &format!("upgrading seeded data from V{base}: ")))
        .into_iter()
        .collect();
    Ok(Upgrade { findings, baseline })
}
