//! The query catalog: `queries/catalog.yaml` (serde_yaml) and one `.sql` file per
//! query, validated with sqlparser at load time so a broken file is reported by name
//! and line before anything runs. Pure apart from reading the directory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use serde::Deserialize;
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
    member: String,
    #[serde(rename = "x-samplers", default)]
    _samplers: serde_yaml::Value,
    queries: Vec<RawQuery>,
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
    params: Vec<Param>,
}

/// The PostgreSQL types a parameter may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Uuid,
    Timestamptz,
    Date,
    Int4,
    Int8,
    Text,
    Bool,
}

impl ParamType {
    pub fn pg_type(self) -> tokio_postgres::types::Type {
        use tokio_postgres::types::Type;
        match self {
            ParamType::Uuid => Type::UUID,
            ParamType::Timestamptz => Type::TIMESTAMPTZ,
            ParamType::Date => Type::DATE,
            ParamType::Int4 => Type::INT4,
            ParamType::Int8 => Type::INT8,
            ParamType::Text => Type::TEXT,
            ParamType::Bool => Type::BOOL,
        }
    }
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
    pub params: Vec<Param>,
    /// The statement as the service (booking handler) sends it.
    pub service_sql: String,
    /// The statement as a tenant's client sends it (often the same).
    pub tenant_sql: String,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: PathBuf,
    /// (pick name, query) in file order.
    pub orgs: Vec<(OrgPick, String)>,
    pub member: String,
    pub queries: Vec<Query>,
}

/// A problem with one file of the catalog, located for the reader.
#[derive(Debug)]
pub struct CatalogError {
    pub file: PathBuf,
    pub line: Option<u64>,
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

fn located(file: &Path, line: Option<u64>, message: impl Into<String>) -> anyhow::Error {
    let err = CatalogError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    };
    hinted(
        err.to_string(),
        "fix the query file, or point --queries at another directory",
    )
}

impl Catalog {
    /// Load and validate `dir/catalog.yaml` and every file it names.
    pub fn load(dir: &Path) -> Result<Catalog> {
        Catalog::load_with(dir, &|path: &Path| std::fs::read_to_string(path))
    }

    /// The shipped booking queries, compiled into the binary (used when ./queries does
    /// not exist, so `dbkit explain --before 3` works from any directory).
    pub fn embedded() -> Result<Catalog> {
        let read = |path: &Path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            EMBEDDED
                .iter()
                .find(|(file, _)| *file == name)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not shipped"))
        };
        Catalog::load_with(Path::new("<embedded>/queries"), &read)
    }

    fn load_with(dir: &Path, read: &dyn Fn(&Path) -> std::io::Result<String>) -> Result<Catalog> {
        let path = dir.join("catalog.yaml");
        let text = read(&path).map_err(|e| {
            hinted(
                format!("cannot read {}: {e}", path.display()),
                "run from the repository root or pass --queries DIR",
            )
        })?;
        let raw: RawCatalog = serde_yaml::from_str(&text).map_err(|e| {
            let line = e.location().map(|l| l.line() as u64);
            located(&path, line, e.to_string())
        })?;
        if raw.orgs.is_empty() {
            return Err(located(&path, None, "`orgs` names no org to run for"));
        }
        let mut queries: Vec<Query> = Vec::new();
        for q in raw.queries {
            if queries.iter().any(|other| other.name == q.name) {
                return Err(located(
                    &path,
                    None,
                    format!("query `{}` is defined twice", q.name),
                ));
            }
            if q.params.is_empty() || q.params[0].sample != Sample::Org {
                return Err(located(
                    &path,
                    None,
                    format!(
                        "query `{}`: the first param must be the org (`sample: org`)",
                        q.name
                    ),
                ));
            }
            let service_sql = load_sql(read, &dir.join(&q.file), q.params.len(), q.dml)?;
            let tenant_sql = match &q.tenant_file {
                Some(file) => load_sql(read, &dir.join(file), q.params.len(), q.dml)?,
                None => service_sql.clone(),
            };
            for p in &q.params {
                if let Sample::Query(sql) = &p.sample {
                    validate_sql(sql).map_err(|(line, msg)| {
                        located(
                            &path,
                            line,
                            format!("sampler of `{}.{}`: {msg}", q.name, p.name),
                        )
                    })?;
                }
            }
            queries.push(Query {
                name: q.name,
                summary: q.summary,
                dml: q.dml,
                params: q.params,
                service_sql,
                tenant_sql,
            });
        }
        // serde_yaml keeps mapping order in BTreeMap sorted; keep `largest` first.
        let mut orgs: Vec<(String, String)> = raw.orgs.into_iter().collect();
        orgs.sort_by_key(|(name, _)| (name != "largest", name.clone()));
        Ok(Catalog {
            dir: dir.to_path_buf(),
            orgs,
            member: raw.member,
            queries,
        })
    }

    /// Keep only the named queries (`--only`); unknown names are a usage error.
    pub fn retain(&mut self, only: &[String]) -> Result<()> {
        for name in only {
            if !self.queries.iter().any(|q| &q.name == name) {
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
        }
        Ok(())
    }
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
    read: &dyn Fn(&Path) -> std::io::Result<String>,
    path: &Path,
    params: usize,
    dml: bool,
) -> Result<String> {
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
    Ok(sql.trim().trim_end_matches(';').to_string())
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

    /// The error loading the shipped catalog with org_settings.sql replaced by `sql`.
    fn load_error_with_org_settings(sql: &str) -> String {
        let dir = copy_catalog();
        std::fs::write(dir.path().join("org_settings.sql"), sql).unwrap();
        Catalog::load(dir.path()).unwrap_err().to_string()
    }

    /// A broken query file (line 4 does not parse), an unflagged write and a placeholder
    /// beyond the params are each refused with an error saying where and what.
    #[test]
    fn bad_query_files_are_refused_by_name() {
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
            let err = load_error_with_org_settings(sql);
            for part in parts {
                assert!(err.contains(part), "{part:?} missing from: {err}");
            }
        }
    }

    #[test]
    fn placeholder_scan() {
        assert_eq!(max_placeholder("a = $1 and b < $12 + $3"), 12);
        assert_eq!(max_placeholder("select 1"), 0);
    }
}
