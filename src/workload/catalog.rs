//! The query catalog: `queries/catalog.yaml` (serde_yaml) and one `.sql` file per
//! query, validated with sqlparser at load time so a broken file is reported by name
//! and line before anything runs — and left out, so the other queries still run. The
//! same format whether written by hand, derived from the schema or read from
//! pg_stat_statements. Pure apart from reading the directory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use super::param::{ParamType, ParamValue};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::hinted;

/// The shipped queries (file name, text).
const EMBEDDED: &[(&str, &str)] = &[
    ("catalog.yaml", include_str!("../../queries/catalog.yaml")),
    (
        "provider_contact_validation.sql",
        include_str!("../../queries/provider_contact_validation.sql"),
    ),
    (
        "provider_conflict_check.sql",
        include_str!("../../queries/provider_conflict_check.sql"),
    ),
    (
        "contact_conflict_check.sql",
        include_str!("../../queries/contact_conflict_check.sql"),
    ),
    (
        "booking_insert.sql",
        include_str!("../../queries/booking_insert.sql"),
    ),
    (
        "provider_day_schedule.sql",
        include_str!("../../queries/provider_day_schedule.sql"),
    ),
    (
        "provider_day_schedule.tenant.sql",
        include_str!("../../queries/provider_day_schedule.tenant.sql"),
    ),
    (
        "contact_history.sql",
        include_str!("../../queries/contact_history.sql"),
    ),
    (
        "contact_history.tenant.sql",
        include_str!("../../queries/contact_history.tenant.sql"),
    ),
    (
        "org_upcoming.sql",
        include_str!("../../queries/org_upcoming.sql"),
    ),
    (
        "org_upcoming.tenant.sql",
        include_str!("../../queries/org_upcoming.tenant.sql"),
    ),
    (
        "org_settings.sql",
        include_str!("../../queries/org_settings.sql"),
    ),
    (
        "free_slots.sql",
        include_str!("../../queries/free_slots.sql"),
    ),
    (
        "monthly_status_report.sql",
        include_str!("../../queries/monthly_status_report.sql"),
    ),
    (
        "monthly_status_report.tenant.sql",
        include_str!("../../queries/monthly_status_report.tenant.sql"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    orgs: BTreeMap<String, String>,
    #[serde(default)]
    member: Option<String>,
    #[serde(default = "default_claim")]
    tenant_claim: Option<String>,
    #[serde(default)]
    tenants: Option<String>,
    #[serde(rename = "x-samplers", default)]
    _samplers: serde_yaml::Value,
    queries: Vec<RawQuery>,
}

/// The booking schema's claim, the default of catalogs written before `tenant_claim`.
fn default_claim() -> Option<String> {
    Some("org_id".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: String,
    file: PathBuf,
    #[serde(default)]
    tenant_file: Option<PathBuf>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    dml: bool,
    #[serde(default)]
    commit: bool,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    params: Vec<Param>,
}

fn one() -> u32 {
    1
}

/// How a parameter's value is found in the seeded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// The org the query runs for.
    Org,
    /// A query returning one value; $1.. are the params sampled before this one.
    Query(String),
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(if text.trim() == "org" {
            Sample::Org
        } else {
            Sample::Query(text)
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub sample: Sample,
}

/// Which org a run is for: the catalog's `orgs` keys (`largest`, `median`).
pub type OrgPick = String;

#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub summary: String,
    pub dml: bool,
    /// A write that bench commits (and removes afterwards) instead of rolling back.
    pub commit: bool,
    /// Relative share of bench's mix (default 1).
    pub weight: u32,
    pub params: Vec<Param>,
    /// The statement as the service (booking handler) sends it.
    pub service_sql: String,
    /// The statement as a tenant's client sends it (often the same).
    pub tenant_sql: String,
    /// Where each statement came from, to locate the server's complaints.
    pub service_source: Source,
    pub tenant_source: Source,
}

/// A query file and the line its statement starts on (blank lines before it are
/// trimmed from the text that runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub first_line: u64,
}

impl Source {
    /// The line of the character at byte `offset` of the statement that runs.
    pub fn line_at(&self, sql: &str, offset: usize) -> u64 {
        let before = &sql[..offset.min(sql.len())];
        self.first_line + before.matches('\n').count() as u64
    }
}

/// Where a catalog came from: a directory, the booking queries shipped in the binary,
/// or derived from the schema (`dbkit queries init` writes the same ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Directory,
    Embedded,
    Derived,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: PathBuf,
    pub origin: Origin,
    /// (pick name, query) in file order.
    pub orgs: Vec<(OrgPick, String)>,
    /// A real member of the org ($1): the `sub` of the tenant's JWT. None: no `sub`.
    pub member: Option<String>,
    /// The JWT claim that carries the tenant (`org_id`; `app_metadata.org_id` nests).
    pub tenant_claim: Option<String>,
    /// Every tenant and its weight (bench's traffic): `SELECT id, weight`; None: the
    /// orgs the `orgs` pickers find.
    pub tenants: Option<String>,
    pub queries: Vec<Query>,
    /// Queries that could not be loaded, each located: the others still run.
    pub problems: Vec<CatalogError>,
}

/// A problem with one file of the catalog, located for the reader.
#[derive(Debug, Clone)]
pub struct CatalogError {
    pub file: PathBuf,
    pub line: Option<u64>,
    /// The query it is about, when one.
    pub query: Option<String>,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for CatalogError {}

const FIX_HINT: &str = "fix the query file, or point --queries at another directory";

fn located(file: &Path, line: Option<u64>, message: impl Into<String>) -> CatalogError {
    CatalogError {
        file: file.to_path_buf(),
        line,
        query: None,
        message: message.into(),
    }
}

fn fatal(err: CatalogError) -> anyhow::Error {
    hinted(err.to_string(), FIX_HINT)
}

/// Reads one file of a catalog (from disk, the binary, or memory).
pub type Reader<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

impl Catalog {
    /// Load and validate `dir/catalog.yaml` and every file it names. A query whose file
    /// is broken is left out and listed in `problems`; a broken catalog.yaml is an error.
    pub fn load(dir: &Path) -> Result<Catalog> {
        Catalog::load_with(dir, Origin::Directory, &|path: &Path| {
            std::fs::read_to_string(path)
        })
    }

    /// The shipped booking queries, compiled into the binary (used when ./queries does
    /// not exist, so `dbkit explain --before 3` works from any directory).
    pub fn embedded() -> Result<Catalog> {
        Catalog::from_files(Path::new("<embedded>/queries"), Origin::Embedded, EMBEDDED)
    }

    /// A catalog from files held in memory: (file name, text).
    pub fn from_files<S: AsRef<str>>(
        dir: &Path,
        origin: Origin,
        files: &[(S, S)],
    ) -> Result<Catalog> {
        let read = |path: &Path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            files
                .iter()
                .find(|(file, _)| file.as_ref() == name)
                .map(|(_, text)| text.as_ref().to_string())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "not in the catalog")
                })
        };
        Catalog::load_with(dir, origin, &read)
    }

    pub fn load_with(dir: &Path, origin: Origin, read: Reader) -> Result<Catalog> {
        let path = dir.join("catalog.yaml");
        let text = read(&path).map_err(|e| {
            hinted(
                format!("cannot read {}: {e}", path.display()),
                "run from the repository root or pass --queries DIR",
            )
        })?;
        let raw: RawCatalog = serde_yaml::from_str(&text).map_err(|e| {
            let line = e.location().map(|l| l.line() as u64);
            fatal(located(&path, line, e.to_string()))
        })?;
        if raw.orgs.is_empty() {
            return Err(fatal(located(
                &path,
                None,
                "`orgs` names no org to run for",
            )));
        }
        let mut queries: Vec<Query> = Vec::new();
        let mut problems = Vec::new();
        for q in raw.queries {
            if queries.iter().any(|other| other.name == q.name) {
                return Err(fatal(located(
                    &path,
                    None,
                    format!("query `{}` is defined twice", q.name),
                )));
            }
            let name = q.name.clone();
            match load_query(read, dir, &path, q) {
                Ok(query) => queries.push(query),
                Err(mut problem) => {
                    problem.query = Some(name);
                    problems.push(problem);
                }
            }
        }
        // serde_yaml keeps mapping order in BTreeMap sorted; keep `largest` first.
        let mut orgs: Vec<(String, String)> = raw.orgs.into_iter().collect();
        orgs.sort_by_key(|(name, _)| (name != "largest", name.clone()));
        Ok(Catalog {
            dir: dir.to_path_buf(),
            origin,
            orgs,
            member: raw.member,
            tenant_claim: raw.tenant_claim.filter(|c| !c.trim().is_empty()),
            tenants: raw.tenants,
            queries,
            problems,
        })
    }

    /// This catalog, or its first problem as the error (bench's booking statements
    /// must all load).
    pub fn strict(self) -> Result<Catalog> {
        match self.problems.first() {
            Some(problem) => Err(fatal(problem.clone())),
            None => Ok(self),
        }
    }

    /// Keep only the named queries (`--only`); unknown names are a usage error.
    pub fn retain(&mut self, only: &[String]) -> Result<()> {
        for name in only {
            let broken = self.problems.iter().any(|p| p.query.as_ref() == Some(name));
            if !broken && !self.queries.iter().any(|q| &q.name == name) {
                let known: Vec<&str> = self.queries.iter().map(|q| q.name.as_str()).collect();
                return Err(hinted(
                    format!(
                        "no query named `{name}` in {}",
                        self.dir.join("catalog.yaml").display()
                    ),
                    format!("known queries: {}", known.join(", ")),
                ));
            }
        }
        if !only.is_empty() {
            self.queries.retain(|q| only.contains(&q.name));
            self.problems
                .retain(|p| p.query.as_ref().is_none_or(|n| only.contains(n)));
        }
        Ok(())
    }

    /// Leave out a query the database refused, recording why.
    pub fn set_aside(&mut self, name: &str, problem: CatalogError) {
        self.queries.retain(|q| q.name != name);
        self.problems.push(CatalogError {
            query: Some(name.to_string()),
            ..problem
        });
    }
}

/// One catalog entry, checked: its files parse, hold one statement, declare their
/// writes and use no placeholder beyond the params.
fn load_query(
    read: Reader,
    dir: &Path,
    catalog_path: &Path,
    q: RawQuery,
) -> std::result::Result<Query, CatalogError> {
    if q.params.is_empty() || q.params[0].sample != Sample::Org {
        return Err(located(
            catalog_path,
            None,
            format!(
                "query `{}`: the first param must be the org (`sample: org`)",
                q.name
            ),
        ));
    }
    if q.commit && !q.dml {
        return Err(located(
            catalog_path,
            None,
            format!(
                "query `{}`: `commit: true` is for writes (`dml: true`)",
                q.name
            ),
        ));
    }
    let (service_sql, service_source) = load_sql(read, &dir.join(&q.file), q.params.len(), q.dml)?;
    let (tenant_sql, tenant_source) = match &q.tenant_file {
        Some(file) => load_sql(read, &dir.join(file), q.params.len(), q.dml)?,
        None => (service_sql.clone(), service_source.clone()),
    };
    for p in &q.params {
        if let Sample::Query(sql) = &p.sample {
            validate_sql(sql).map_err(|(line, msg)| {
                located(
                    catalog_path,
                    line,
                    format!("sampler of `{}.{}`: {msg}", q.name, p.name),
                )
            })?;
        }
    }
    Ok(Query {
        name: q.name,
        summary: q.summary,
        dml: q.dml,
        commit: q.commit,
        weight: q.weight,
        params: q.params,
        service_sql,
        tenant_sql,
        service_source,
        tenant_source,
    })
}

/// Parse one statement with sqlparser: Err((line, message)).
fn validate_sql(
    sql: &str,
) -> std::result::Result<Vec<sqlparser::ast::Statement>, (Option<u64>, String)> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
        let msg = e.to_string();
        (line_of(&msg), msg)
    })
}

/// sqlparser ends its messages with "at Line: N, Column: M".
fn line_of(message: &str) -> Option<u64> {
    let rest = &message[message.find("Line: ")? + 6..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    u64::from_str(&digits).ok()
}

fn load_sql(
    read: Reader,
    path: &Path,
    params: usize,
    dml: bool,
) -> std::result::Result<(String, Source), CatalogError> {
    let sql = read(path)
        .with_context(|| format!("cannot read query file {}", path.display()))
        .map_err(|e| located(path, None, format!("{e:#}")))?;
    let statements = validate_sql(&sql).map_err(|(line, msg)| located(path, line, msg))?;
    if statements.len() != 1 {
        return Err(located(
            path,
            None,
            format!(
                "holds {} statements; a query file holds exactly one",
                statements.len()
            ),
        ));
    }
    let writes = matches!(
        statements[0],
        sqlparser::ast::Statement::Insert(_)
            | sqlparser::ast::Statement::Update { .. }
            | sqlparser::ast::Statement::Delete(_)
    );
    if writes && !dml {
        return Err(located(
            path,
            None,
            "writes data but its catalog entry lacks `dml: true`",
        ));
    }
    let highest = max_placeholder(&sql);
    if highest > params {
        return Err(located(
            path,
            None,
            format!("uses ${highest} but the catalog declares {params} params"),
        ));
    }
    let trimmed = sql.trim_start();
    let skipped = &sql[..sql.len() - trimmed.len()];
    let source = Source {
        file: path.to_path_buf(),
        first_line: 1 + skipped.matches('\n').count() as u64,
    };
    Ok((trimmed.trim_end().trim_end_matches(';').to_string(), source))
}

/// The highest `$n` in the text (outside nothing smarter than a scan: query files are
/// ours and hold no `$n` inside string literals).
fn max_placeholder(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut best = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > start {
                best = best.max(sql[start..j].parse().unwrap_or(0));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_queries() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("queries")
    }

    #[test]
    fn the_embedded_catalog_matches_the_directory() {
        let embedded = Catalog::embedded().unwrap();
        let dir = Catalog::load(&repo_queries()).unwrap();
        assert_eq!(embedded.queries.len(), dir.queries.len());
        let files = std::fs::read_dir(repo_queries()).unwrap().count();
        assert_eq!(
            files,
            EMBEDDED.len(),
            "every file in queries/ must be in EMBEDDED"
        );
    }

    #[test]
    fn the_shipped_catalog_loads() {
        let catalog = Catalog::load(&repo_queries()).unwrap();
        let names: Vec<&str> = catalog.queries.iter().map(|q| q.name.as_str()).collect();
        for required in [
            "provider_contact_validation",
            "provider_conflict_check",
            "contact_conflict_check",
            "booking_insert",
            "provider_day_schedule",
            "contact_history",
            "org_upcoming",
            "org_settings",
            "free_slots",
            "monthly_status_report",
        ] {
            assert!(
                names.contains(&required),
                "{required} missing from {names:?}"
            );
        }
        assert_eq!(catalog.orgs[0].0, "largest");
        let insert = catalog
            .queries
            .iter()
            .find(|q| q.name == "booking_insert")
            .unwrap();
        assert!(insert.dml);
    }

    fn copy_catalog() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(repo_queries()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        dir
    }

    /// The problem loading the shipped catalog with org_settings.sql replaced by `sql`;
    /// the other queries load.
    fn problem_with_org_settings(sql: &str) -> String {
        let dir = copy_catalog();
        std::fs::write(dir.path().join("org_settings.sql"), sql).unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        assert_eq!(catalog.problems.len(), 1, "{:?}", catalog.problems);
        assert_eq!(catalog.problems[0].query.as_deref(), Some("org_settings"));
        assert!(catalog.queries.iter().all(|q| q.name != "org_settings"));
        assert_eq!(catalog.queries.len(), 9, "the other queries still load");
        let err = catalog.clone().strict().unwrap_err().to_string();
        assert_eq!(err, catalog.problems[0].to_string());
        err
    }

    /// A broken query file (line 4 does not parse), an unflagged write and a placeholder
    /// beyond the params are each a problem saying where and what; the rest loads.
    #[test]
    fn bad_query_files_are_set_aside_by_name() {
        let cases: [(&str, &[&str]); 3] = [
            (
                "-- settings\nSELECT timezone\nFROM org_settings\nWHERE org_id = = $1\n",
                &["org_settings.sql:4:"],
            ),
            (
                "DELETE FROM org_settings WHERE org_id = $1",
                &["org_settings.sql", "dml: true"],
            ),
            (
                "SELECT 1 FROM org_settings WHERE org_id = $1 AND slot_minutes = $2",
                &["uses $2"],
            ),
        ];
        for (sql, parts) in cases {
            let err = problem_with_org_settings(sql);
            for part in parts {
                assert!(err.contains(part), "{part:?} missing from: {err}");
            }
        }
    }

    #[test]
    fn a_statement_knows_its_lines() {
        let dir = copy_catalog();
        std::fs::write(
            dir.path().join("org_settings.sql"),
            "\n\n-- settings\nSELECT timezone\nFROM org_settings\nWHERE org_id = $1;\n",
        )
        .unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        let q = catalog
            .queries
            .iter()
            .find(|q| q.name == "org_settings")
            .unwrap();
        assert!(q.service_sql.starts_with("-- settings") && !q.service_sql.ends_with(';'));
        let at = q.service_sql.find("WHERE").unwrap();
        assert_eq!(q.service_source.line_at(&q.service_sql, at), 6);
        assert_eq!(q.weight, 1);
        assert!(!q.commit);
        assert_eq!(catalog.tenant_claim.as_deref(), Some("org_id"));
    }

    #[test]
    fn placeholder_scan() {
        assert_eq!(max_placeholder("a = $1 and b < $12 + $3"), 12);
        assert_eq!(max_placeholder("select 1"), 0);
    }
}
