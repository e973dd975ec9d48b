//! Seeding a project's own schema: read the schema model, plan the rows
//! (`rows::Plan`), refuse tables that hold rows (or, with `--reset`, empty the tables
//! an earlier seed filled and nothing else), load bare tables with the generator
//! running on a thread of its own, rebuild, advance sequences, ANALYZE, record what was
//! seeded, commit — all in the seed's one transaction.
//!
//! What a seed filled is recorded in `dbkit_seed.seeded` (table, rows) and
//! `dbkit_seed.users` (the auth users it made), so `--reset` deletes only those: the
//! tables it filled when they were empty, if they still hold no more rows than it put
//! there, and its own users — never a table it did not fill, never by CASCADE.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use tokio_postgres::Client;

use super::stream::{self, Encoder, Loaded, Message};
use crate::db::ident::quote;
use crate::db::DbUrl;
use crate::error::hinted;
use crate::rows::column::Window;
use crate::rows::generate::anchor_of;
use crate::rows::plan::{Count, ExistingRows, Plan, Role, Source, TablePlan};
use crate::rows::{GenError, Generator, Params, Value};
use crate::schema::Model;

/// The bookkeeping of what seed filled.
const BOOKKEEPING: &str = "\
CREATE SCHEMA IF NOT EXISTS dbkit_seed;
COMMENT ON SCHEMA dbkit_seed IS 'dbkit seed: the tables and auth users it filled, so that --reset deletes only those';
CREATE TABLE IF NOT EXISTS dbkit_seed.seeded (relation text PRIMARY KEY, rows bigint NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS dbkit_seed.users (id uuid PRIMARY KEY);";

/// What `--reset` would delete: per table, the rows.
pub async fn held_rows(client: &Client, model: &Model) -> Result<Vec<(String, i64)>> {
    let counts = counts(client, model).await?;
    let mut out: Vec<(String, i64)> = Vec::new();
    for r in fillable(model) {
        if let Some(n) = counts.get(&r.oid).filter(|n| **n > 0) {
            if recorded(client).await?.contains_key(&r.sql_name) {
                out.push((r.name.clone(), *n));
            }
        }
    }
    Ok(out)
}

/// Tables of the project a seed may fill (not dbkit's or the platform's bookkeeping).
fn fillable(model: &Model) -> impl Iterator<Item = &crate::schema::facts::Relation> {
    model.facts.relations.iter().filter(|r| {
        r.owned
            && r.kind == crate::schema::facts::RelKind::Table
            && !r.partition
            && r.schema != "supabase_migrations"
    })
}

async fn counts(client: &Client, model: &Model) -> Result<HashMap<u32, i64>> {
    let mut out = HashMap::new();
    for r in model.facts.relations.iter().filter(|r| {
        r.kind == crate::schema::facts::RelKind::Table
            && !r.partition
            && (r.owned || (r.schema == "auth" && r.short == "users"))
    }) {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", r.sql_name), &[])
            .await
            .with_context(|| format!("counting the rows of {}", r.name))?
            .get(0);
        out.insert(r.oid, n);
    }
    Ok(out)
}

/// relation → rows, of an earlier seed.
async fn recorded(client: &Client) -> Result<BTreeMap<String, i64>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('dbkit_seed.seeded') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(BTreeMap::new());
    }
    Ok(client
        .query("SELECT relation, rows FROM dbkit_seed.seeded", &[])
        .await
        .context("reading what an earlier seed filled")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The settings of a project seed.
pub struct ProjectSeed<'a> {
    pub model: &'a Model,
    pub profile: &'a crate::rows::RowsProfile,
    pub orgs: u32,
    pub seed: u64,
    pub anchor: NaiveDate,
    pub past_days: u32,
    pub future_days: u32,
    pub reset: bool,
    /// Load with triggers on (else `session_replication_role = replica`).
    pub triggers: bool,
}

/// A plan for the database at `client`, with the rows it holds, after a reset when asked
/// (the caller's transaction is open).
pub async fn prepare(
    client: &Client,
    url: &DbUrl,
    s: &ProjectSeed<'_>,
) -> Result<(Plan, Vec<i64>, Vec<Vec<Vec<Value>>>)> {
    if fillable(s.model).next().is_none() {
        return Err(hinted(
            format!("{} has no tables to seed", url.target()),
            "run `dbkit migrate` first (seed fills the tables your migrations create)",
        ));
    }
    let mut counts = counts(client, s.model).await?;
    if s.reset {
        reset(client, url, s.model, &mut counts).await?;
    }
    let existing: HashMap<u32, ExistingRows> = counts
        .iter()
        .map(|(oid, n)| {
            (
                *oid,
                ExistingRows {
                    count: *n,
                    keys: vec![],
                },
            )
        })
        .collect();
    let plan = Plan::new(s.model, s.profile, &existing, s.triggers)
        .map_err(|e| hinted(e.message, e.hint))?;
    // Tables it fills must be empty.
    let seeded = recorded(client).await?;
    let filled_before: Vec<(&TablePlan, i64)> = plan
        .tables
        .iter()
        .filter(|t| !matches!(t.role, Role::Existing | Role::Users))
        .filter_map(|t| {
            let n = counts.get(&t.oid).copied().unwrap_or(0);
            (n > 0).then_some((t, n))
        })
        .collect();
    let (held, foreign): (Vec<_>, Vec<_>) = filled_before
        .into_iter()
        .partition(|(t, _)| seeded.contains_key(&t.sql_name));
    let listed = |v: &[(&TablePlan, i64)]| -> String {
        v.iter()
            .map(|(t, n)| format!("{}: {n}", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !foreign.is_empty() {
        // Rows a migration (or someone) put there: --reset would not delete them.
        let names: Vec<&str> = foreign.iter().map(|(t, _)| t.name.as_str()).collect();
        return Err(hinted(
            format!(
                "{} holds rows dbkit did not make in tables seed fills ({}); nothing was changed",
                url.target(),
                listed(&foreign)
            ),
            format!(
                "seed fills empty tables only, and --reset never deletes rows it did not make: seed a database where {} {} empty (delete those rows there first)",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" }
            ),
        ));
    }
    if !held.is_empty() {
        return Err(hinted(
            format!(
                "{} already holds tenant rows ({}); nothing was changed",
                url.target(),
                listed(&held)
            ),
            "`dbkit seed --reset` deletes what an earlier seed made first (it asks; add --yes in scripts)",
        ));
    }
    let (serial, rows) = starts(client, &plan).await?;
    Ok((plan, serial, rows))
}

/// Counters past what the tables hold; the rows of tables others connect to.
pub async fn starts(client: &Client, plan: &Plan) -> Result<(Vec<i64>, Vec<Vec<Vec<Value>>>)> {
    let mut serial = Vec::with_capacity(plan.tables.len());
    let mut rows = Vec::with_capacity(plan.tables.len());
    for t in &plan.tables {
        let mut start = 1i64;
        for c in t
            .columns
            .iter()
            .filter(|c| matches!(c.source, Source::Serial))
        {
            let max: Option<i64> = client
                .query_one(
                    &format!("SELECT max({})::int8 FROM {}", quote(&c.name), t.sql_name),
                    &[],
                )
                .await
                .with_context(|| format!("reading {}.{}", t.name, c.name))?
                .get(0);
            start = start.max(max.unwrap_or(0) + 1);
        }
        serial.push(start);
        rows.push(if t.role == Role::Existing && t.referenced {
            existing_rows(client, t).await?
        } else {
            vec![]
        });
    }
    Ok((serial, rows))
}

/// The plan a seed with `--reset` would make (tables an earlier seed filled count as
/// empty), without changing anything: for `--print-profile`.
pub async fn plan_as_if_reset(client: &Client, url: &DbUrl, s: &ProjectSeed<'_>) -> Result<Plan> {
    if fillable(s.model).next().is_none() {
        return Err(hinted(
            format!("{} has no tables to seed", url.target()),
            "run `dbkit migrate` first (seed fills the tables your migrations create)",
        ));
    }
    let mut counts = counts(client, s.model).await?;
    let recorded = recorded(client).await?;
    for r in fillable(s.model) {
        if recorded.contains_key(&r.sql_name) {
            counts.insert(r.oid, 0);
        }
    }
    let existing = counts
        .iter()
        .map(|(oid, n)| {
            (
                *oid,
                ExistingRows {
                    count: *n,
                    keys: vec![],
                },
            )
        })
        .collect();
    Plan::new(s.model, s.profile, &existing, s.triggers).map_err(|e| hinted(e.message, e.hint))
}

/// The rows of a table seed connects to (at most 10,000), as values of its columns.
async fn existing_rows(
    client: &Client,
    t: &crate::rows::plan::TablePlan,
) -> Result<Vec<Vec<Value>>> {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("{}::text", quote(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY 1 LIMIT 10000",
        cols.join(", "),
        t.sql_name
    );
    let rows = client
        .query(&sql, &[])
        .await
        .with_context(|| format!("reading the rows of {}", t.name))?;
    Ok(rows
        .iter()
        .map(|r| {
            t.columns
                .iter()
                .enumerate()
                .map(|(i, c)| match r.get::<_, Option<String>>(i) {
                    Some(text) => crate::rows::column::typed(&text, &c.wire),
                    None => Value::Null,
                })
                .collect()
        })
        .collect())
}

/// `--reset`: empty the tables an earlier seed filled and delete its users, refusing
/// tables that hold rows it did not make.
async fn reset(
    client: &Client,
    url: &DbUrl,
    model: &Model,
    counts: &mut HashMap<u32, i64>,
) -> Result<()> {
    let recorded = recorded(client).await?;
    let mut truncate: Vec<(u32, String)> = Vec::new();
    for r in fillable(model) {
        let n = counts.get(&r.oid).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        match recorded.get(&r.sql_name) {
            Some(seeded) if n <= *seeded => truncate.push((r.oid, r.sql_name.clone())),
            Some(seeded) => {
                return Err(hinted(
                    format!(
                        "{} holds {n} rows but dbkit seeded {seeded}: it holds rows dbkit did not make; nothing was changed",
                        r.name
                    ),
                    format!("empty {} yourself, or leave it out with tables.{}.skip: true in a profile", r.name, r.name),
                ))
            }
            None => {
                // Rows made by migrations in a table seed would only read: not its to delete.
                continue;
            }
        }
    }
    if !truncate.is_empty() {
        let names: Vec<&str> = truncate.iter().map(|(_, n)| n.as_str()).collect();
        client
            .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
            .await
            .map_err(|e| {
                hinted(
                    format!(
                        "--reset cannot empty {} in {}: {}; nothing was changed",
                        names.join(", "),
                        url.target(),
                        crate::error::one_line(&anyhow::Error::from(e))
                    ),
                    "a table seed did not fill references them: empty it first (seed never deletes by CASCADE)",
                )
            })?;
        for (oid, _) in &truncate {
            counts.insert(*oid, 0);
        }
    }
    let users: bool = client
        .query_one(
            "SELECT to_regclass('dbkit_seed.users') IS NOT NULL AND to_regclass('auth.users') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if users {
        client
            .batch_execute(
                "DELETE FROM auth.users WHERE id IN (SELECT id FROM dbkit_seed.users); \
                 DELETE FROM dbkit_seed.users; DELETE FROM dbkit_seed.seeded;",
            )
            .await
            .context("deleting the auth users an earlier seed made (--reset)")?;
        if let Some(u) = model
            .facts
            .relations
            .iter()
            .find(|r| r.schema == "auth" && r.short == "users")
        {
            let n: i64 = client
                .query_one("SELECT count(*) FROM auth.users", &[])
                .await?
                .get(0);
            counts.insert(u.oid, n);
        }
    }
    Ok(())
}

/// Run the generator on a thread of its own and load what it makes. Returns the rows
/// loaded per table, the fingerprint and the users made.
pub async fn load(
    client: &Client,
    plan: &Plan,
    s: &ProjectSeed<'_>,
    serial: Vec<i64>,
    existing: Vec<Vec<Vec<Value>>>,
    progress: &super::copy::Progress,
    loaded: &mut Loaded,
) -> Result<(String, Vec<uuid::Uuid>)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(16);
    let plan_owned = plan.clone();
    let params = params(s);
    let generator = std::thread::Builder::new()
        .name("seed-generator".into())
        .spawn(move || -> Result<(String, Vec<uuid::Uuid>), String> {
            let mut encoder = Encoder::new(&plan_owned, move |m| tx.blocking_send(m).is_ok());
            let mut gen = Generator::new(&plan_owned, params, serial, existing);
            let run = gen.run(&mut encoder);
            if let Some(e) = encoder.error.take() {
                return Err(format!("a generated value does not fit its column: {e}"));
            }
            match run {
                Ok(()) => encoder.finish().map_err(|_| "stopped".to_string()),
                Err(GenError::Stopped) => Err("stopped".into()),
                Err(e) => Err(e.to_string()),
            }
        })
        .context("starting the generator thread")?;
    let loading = stream::load(client, plan, &mut rx, progress, loaded).await;
    drop(rx);
    let generated = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    if let Err(e) = &generated {
        if e != "stopped" {
            return Err(hinted(
                format!("{e}; nothing was kept"),
                "set the columns that constraint checks in a profile (tables.<table>.columns.<column>), or skip the table (tables.<table>.skip: true); `dbkit seed --print-profile` writes one to start from",
            ));
        }
    }
    if let Err(e) = loading {
        let triggers = s.triggers
            && s.model.facts.triggers.iter().any(|t| {
                t.enabled
                    && plan
                        .tables
                        .iter()
                        .any(|p| p.oid == t.table && p.role != Role::Existing)
            });
        return Err(hinted(
            format!(
                "seeding stopped after {} of {} orgs: {}; nothing was kept",
                loaded.orgs,
                s.orgs,
                crate::error::one_line(&e)
            ),
            if refused_value(&e) {
                "the column's type refused a value dbkit made (SQLSTATE class 22): set that column in a profile (tables.<table>.columns.<column>), or skip the table (tables.<table>.skip: true)"
            } else if triggers {
                "triggers on the seeded tables made rows that clash with the seed's: `dbkit seed --no-triggers` makes every row itself (it names the triggers it skips)"
            } else {
                "a value broke a constraint dbkit did not plan for: set that column in a profile (tables.<table>.columns.<column>), or skip the table (tables.<table>.skip: true)"
            },
        ));
    }
    generated.map_err(|_| anyhow::anyhow!("the generator stopped early"))
}

/// Did the server refuse a value as input for its type (class 22, data exception:
/// `invalid input value for enum`), rather than a row for a constraint?
fn refused_value(e: &anyhow::Error) -> bool {
    e.chain()
        .find_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .and_then(|pg| pg.code())
        .is_some_and(|code| code.code().starts_with("22"))
}

fn params(s: &ProjectSeed<'_>) -> Params {
    Params {
        orgs: s.orgs,
        seed: s.seed,
        window: Window {
            anchor: anchor_of(s.anchor),
            past_days: s.past_days,
            future_days: s.future_days,
        },
        size_skew: s.profile.size_skew,
        size_jitter: s.profile.size_jitter,
        cover: false,
    }
}

/// The triggers `--no-triggers` skips: enabled user triggers on the tables seed fills.
pub fn skipped_triggers(plan: &Plan, model: &Model) -> Vec<String> {
    model
        .facts
        .triggers
        .iter()
        .filter(|t| t.enabled)
        .filter_map(|t| {
            let table = plan
                .tables
                .iter()
                .find(|p| p.oid == t.table && p.role != Role::Existing)?;
            Some(format!("{} on {}", t.name, table.name))
        })
        .collect()
}

/// After the load: sequences past the values written, ANALYZE, the bookkeeping.
pub async fn finish(client: &Client, plan: &Plan, users: &[uuid::Uuid]) -> Result<()> {
    for t in &plan.tables {
        if matches!(t.count, Count::Existing) {
            continue;
        }
        for c in &t.columns {
            if let (Source::Serial, Some(seq)) = (&c.source, &c.sequence) {
                client
                    .query(
                        &format!(
                            "SELECT setval($1::text::regclass, max({})::int8) FROM {} HAVING max({}) IS NOT NULL",
                            quote(&c.name),
                            t.sql_name,
                            quote(&c.name)
                        ),
                        &[seq],
                    )
                    .await
                    .with_context(|| format!("advancing {seq} past the rows of {}", t.name))?;
            }
        }
    }
    let filled: Vec<&str> = plan
        .tables
        .iter()
        .filter(|t| !matches!(t.count, Count::Existing))
        .map(|t| t.sql_name.as_str())
        .collect();
    if !filled.is_empty() {
        client
            .batch_execute(&format!("ANALYZE {}", filled.join(", ")))
            .await
            .context("running ANALYZE")?;
    }
    client
        .batch_execute(BOOKKEEPING)
        .await
        .context("recording what the seed filled (dbkit_seed)")?;
    for t in plan
        .tables
        .iter()
        .filter(|t| !matches!(t.count, Count::Existing) && t.role != Role::Users)
    {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", t.sql_name), &[])
            .await?
            .get(0);
        client
            .execute(
                "INSERT INTO dbkit_seed.seeded (relation, rows) VALUES ($1, $2) \
                 ON CONFLICT (relation) DO UPDATE SET rows = excluded.rows, seeded_at = now()",
                &[&t.sql_name, &n],
            )
            .await
            .context("recording what the seed filled (dbkit_seed)")?;
    }
    for chunk in users.chunks(10_000) {
        client
            .execute(
                "INSERT INTO dbkit_seed.users (id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING",
                &[&chunk.to_vec()],
            )
            .await
            .context("recording the auth users the seed made (dbkit_seed)")?;
    }
    Ok(())
}

/// The generator's rows written as COPY files (`--to-files`) for a planned schema.
pub fn write_files(
    dir: &std::path::Path,
    plan: &Plan,
    s: &ProjectSeed<'_>,
    serial: Vec<i64>,
    existing: Vec<Vec<Vec<Value>>>,
    progress: &super::copy::Progress,
) -> Result<(Vec<u64>, String, std::path::PathBuf)> {
    let mut files = stream::Files::create(dir, plan)?;
    let mut failure: Option<anyhow::Error> = None;
    let mut rows = vec![0u64; plan.tables.len()];
    let result = {
        let mut encoder = Encoder::new(plan, |m| match m {
            Message::Chunk {
                table,
                rows: n,
                bytes,
            } => {
                rows[table] += n;
                match files.write(table, &bytes) {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            }
            Message::OrgDone(_) => {
                progress.org_done();
                true
            }
            Message::Actor(_) => true,
        });
        let mut gen = Generator::new(plan, params(s), serial, existing);
        let run = gen.run(&mut encoder);
        let error = encoder.error.take();
        match (run, error) {
            (_, Some(e)) => Err(anyhow::anyhow!("a generated value does not fit its column: {e}")),
            (Ok(()), None) => encoder
                .finish()
                .map(|(fp, _)| fp)
                .map_err(|_| anyhow::anyhow!("writing stopped")),
            (Err(GenError::Stopped), None) => Err(anyhow::anyhow!("writing stopped")),
            (Err(e), None) => Err(hinted(e.to_string(), "set the columns that constraint checks in a profile (tables.<table>.columns.<column>), or skip the table")),
        }
    };
    if let Some(e) = failure {
        return Err(e.context(format!("writing COPY files into {}", dir.display())));
    }
    let fingerprint = result?;
    let dir = files.finish()?;
    Ok((rows, fingerprint, dir))
}

/// The profile dbkit derives for this schema, as YAML a team can edit and pass back
/// with `--profile`: the window and sizes, and per table its rows and the weights of
/// its listed values.
pub fn derived_profile(plan: &Plan, profile: &super::Profile) -> String {
    use serde_yaml::{Mapping, Value as Y};
    let mut doc = Mapping::new();
    let mut window = Mapping::new();
    window.insert("past_days".into(), profile.past_days.into());
    window.insert("future_days".into(), profile.future_days.into());
    doc.insert("window".into(), Y::Mapping(window));
    let mut orgs = Mapping::new();
    orgs.insert("size_skew".into(), profile.rows.size_skew.into());
    orgs.insert("size_jitter".into(), profile.rows.size_jitter.into());
    orgs.insert(
        "event_rows_per_org".into(),
        profile.rows.event_rows_per_org.into(),
    );
    doc.insert("orgs".into(), Y::Mapping(orgs));
    let mut tables = Mapping::new();
    for t in &plan.tables {
        let mut entry = Mapping::new();
        match t.count {
            Count::PerOrg(n) => {
                entry.insert("rows_per_org".into(), round(n).into());
            }
            Count::PerParent(n) => {
                entry.insert("rows_per_parent".into(), round(n).into());
            }
            Count::PerUser(n) if !matches!(t.role, Role::Membership { .. }) => {
                entry.insert("rows_per_user".into(), round(n).into());
            }
            Count::Shared(n) => {
                entry.insert("rows".into(), n.into());
            }
            _ => {}
        }
        let mut columns = Mapping::new();
        for c in &t.columns {
            if let Source::Gen(crate::rows::column::Gen::Choice(items)) = &c.source {
                let mut weights = Mapping::new();
                for (v, w) in items {
                    if let Some(text) = v.to_text() {
                        weights.insert(text.into(), (*w).into());
                    }
                }
                let mut spec = Mapping::new();
                spec.insert("weights".into(), Y::Mapping(weights));
                columns.insert(c.name.clone().into(), Y::Mapping(spec));
            }
        }
        if !columns.is_empty() {
            entry.insert("columns".into(), Y::Mapping(columns));
        }
        tables.insert(t.name.clone().into(), Y::Mapping(entry));
    }
    doc.insert("tables".into(), Y::Mapping(tables));
    let body = serde_yaml::to_string(&Y::Mapping(doc)).unwrap_or_default();
    let roles: Vec<String> = plan
        .tables
        .iter()
        .map(|t| {
            let role = match t.role {
                Role::Tenant => "the tenant table: one row per org".to_string(),
                Role::Users => "auth users: the org's members".into(),
                Role::Membership { .. } => "the membership: one row per member".into(),
                Role::PerOrg => "rows per org (Zipf-skewed across orgs)".into(),
                Role::Child { fk } => {
                    format!("rows per row of {}", plan.tables[t.fks[fk].target].name)
                }
                Role::PerUser { .. } => "rows per member".into(),
                Role::Shared => "rows shared by every org, made once".into(),
                Role::Existing => "holds rows already: referenced, not filled".into(),
                Role::ByTrigger { source, .. } => format!(
                    "made by a trigger, one row per row of {}",
                    plan.tables[source].name
                ),
            };
            format!("#   {}: {role}\n", t.name)
        })
        .collect();
    format!(
        "# dbkit seed profile derived from this database's schema: edit it and pass it with\n\
         # `dbkit seed --profile FILE`. Tables in load order:\n{}\
         # Per table: rows_per_org, rows_per_parent, rows_per_user or rows (shared), skip: true,\n\
         # and columns: {{weights: {{..}}, value: '..', generator: email, pattern: '..', min, max, null_share}}.\n\
         {body}",
        roles.concat()
    )
}

fn round(n: f64) -> f64 {
    (n * 100.0).round() / 100.0
}
