//! Loading the booking statements from the canonical query files (`queries/` with
//! `catalog.yaml`, DESIGN.md "Canonical queries"), so bench, explain and pgbench run
//! the same SQL. Bench needs three of them — `provider_contact_validation`,
//! `provider_conflict_check`, `booking_insert` — and maps each catalog parameter name to
//! a field of its request. The INSERT gets one addition, made on the parsed statement:
//! a `notes` column bound to the run's marker, so rows of a run that could not clean
//! up can be found later.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use sqlparser::ast::{Expr, Ident, ObjectName, SetExpr, Statement as SqlStatement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::transaction::{BookingStatements, Param, Statement};

pub const VALIDATION: &str = "provider_contact_validation";
pub const CONFLICT_CHECK: &str = "provider_conflict_check";
pub const INSERT: &str = "booking_insert";

#[derive(Debug, Deserialize)]
struct Catalog {
    queries: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    file: String,
    #[serde(default)]
    params: Vec<ParamEntry>,
}

#[derive(Debug, Deserialize)]
struct ParamEntry {
    name: String,
}

/// Load the three booking statements from a queries directory.
pub fn load_dir(dir: &Path) -> Result<BookingStatements> {
    let catalog_path = dir.join("catalog.yaml");
    let text = std::fs::read_to_string(&catalog_path)
        .with_context(|| format!("cannot read {}", catalog_path.display()))?;
    from_catalog(&text, &dir.display().to_string(), |file| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    })
}

/// Build the statements from a catalog's text and a way to read its files.
pub fn from_catalog(
    catalog_yaml: &str,
    origin: &str,
    read: impl Fn(&str) -> Result<String>,
) -> Result<BookingStatements> {
    let catalog: Catalog = serde_yaml::from_str(catalog_yaml)
        .with_context(|| format!("{origin}/catalog.yaml is not a valid catalog"))?;
    let statement = |name: &str| -> Result<Statement> {
        let entry = catalog
            .queries
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| {
                anyhow!("{origin}/catalog.yaml has no query `{name}`, which bench needs")
            })?;
        let sql = strip_comments(&read(&entry.file)?);
        let params = entry
            .params
            .iter()
            .map(|p| {
                param_for(&p.name).ok_or_else(|| {
                    anyhow!(
                        "{origin}/{}: bench cannot bind parameter `{}`",
                        entry.file,
                        p.name
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Statement {
            name: name.to_string(),
            sql,
            params,
        })
    };
    let mut insert = statement(INSERT)?;
    insert.sql = with_marker_column(&insert.sql, insert.params.len() + 1)
        .with_context(|| format!("{origin}: `{INSERT}`"))?;
    insert.params.push(Param::Marker);
    Ok(BookingStatements {
        validate: statement(VALIDATION)?,
        conflict_check: statement(CONFLICT_CHECK)?,
        insert,
        origin: format!("{origin} (canonical)"),
    })
}

/// Which request field a catalog parameter name means.
fn param_for(name: &str) -> Option<Param> {
    Some(match name {
        "org_id" => Param::OrgId,
        "provider_id" => Param::ProviderId,
        "contact_id" => Param::ContactId,
        "slot_start" | "scheduled_at" | "starts_at" => Param::StartsAt,
        "slot_end" | "ends_at" => Param::EndsAt,
        _ => return None,
    })
}

/// Add `notes = $n` to a single-row INSERT … VALUES (…).
pub fn with_marker_column(sql: &str, n: usize) -> Result<String> {
    let mut statements =
        Parser::parse_sql(&PostgreSqlDialect {}, sql).context("cannot parse the INSERT")?;
    let [SqlStatement::Insert(insert)] = statements.as_mut_slice() else {
        bail!("expected exactly one INSERT statement");
    };
    if insert
        .columns
        .iter()
        .any(|c| c.to_string().eq_ignore_ascii_case("notes"))
    {
        bail!("the INSERT already sets notes; bench stores its run marker there");
    }
    let Some(SetExpr::Values(values)) = insert.source.as_mut().map(|q| q.body.as_mut()) else {
        bail!("expected INSERT … VALUES (…)");
    };
    for row in &mut values.rows {
        row.content.push(Expr::Value(
            Value::Placeholder(format!("${n}")).with_empty_span(),
        ));
    }
    insert
        .columns
        .push(ObjectName::from(vec![Ident::new("notes")]));
    Ok(statements[0].to_string())
}

/// Drop `--` comment lines (the files open with a comment block).
fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .trim_end_matches(';')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "
orgs:
  largest: SELECT 1
queries:
  - name: provider_contact_validation
    file: v.sql
    params:
      - { name: org_id, type: uuid, sample: org }
      - { name: provider_id, type: uuid, sample: SELECT 1 }
      - { name: contact_id, type: uuid, sample: SELECT 1 }
  - name: provider_conflict_check
    file: c.sql
    params:
      - { name: org_id, type: uuid, sample: org }
      - { name: provider_id, type: uuid, sample: x }
      - { name: slot_start, type: timestamptz, sample: x }
      - { name: slot_end, type: timestamptz, sample: x }
  - name: booking_insert
    file: i.sql
    dml: true
    params:
      - { name: org_id, type: uuid, sample: org }
      - { name: provider_id, type: uuid, sample: x }
      - { name: contact_id, type: uuid, sample: x }
      - { name: scheduled_at, type: timestamptz, sample: x }
      - { name: ends_at, type: timestamptz, sample: x }
";

    fn read(file: &str) -> Result<String> {
        Ok(match file {
            "v.sql" => "-- step 1\nSELECT EXISTS (SELECT 1 FROM providers WHERE id = $2 AND org_id = $1) AS ok, $3::uuid IS NOT NULL AS c",
            "c.sql" => "SELECT id FROM appointments WHERE org_id = $1 AND provider_id = $2 AND scheduled_at < $4 AND ends_at > $3 LIMIT 1",
            "i.sql" => "-- the insert\nINSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, status, source)\nVALUES ($1, $2, $3, $4, $5, 'booked', 'voice')\nRETURNING id;",
            other => bail!("no {other}"),
        }
        .to_string())
    }

    #[test]
    fn catalog_parameters_map_to_request_fields() {
        let st = from_catalog(CATALOG, "queries", read).unwrap();
        use Param::*;
        assert_eq!(st.validate.params, vec![OrgId, ProviderId, ContactId]);
        assert_eq!(
            st.conflict_check.params,
            vec![OrgId, ProviderId, StartsAt, EndsAt]
        );
        assert_eq!(
            st.insert.params,
            vec![OrgId, ProviderId, ContactId, StartsAt, EndsAt, Marker]
        );
        assert!(!st.validate.sql.contains("--"));
        assert!(st.origin.contains("canonical"));
    }

    #[test]
    fn the_insert_gets_a_marker_column() {
        let st = from_catalog(CATALOG, "queries", read).unwrap();
        assert!(
            st.insert.sql.contains(
                "source, notes) VALUES ($1, $2, $3, $4, $5, 'booked', 'voice', $6) RETURNING id"
            ),
            "{}",
            st.insert.sql
        );
    }

    #[test]
    fn an_insert_that_sets_notes_or_is_not_values_is_refused() {
        assert!(with_marker_column("INSERT INTO a (x, notes) VALUES ($1, $2)", 3).is_err());
        assert!(with_marker_column("INSERT INTO a (x) SELECT 1", 2).is_err());
        assert!(with_marker_column("SELECT 1", 2).is_err());
    }

    #[test]
    fn missing_queries_and_unknown_params_are_named() {
        let err = from_catalog("queries: []", "q", read)
            .unwrap_err()
            .to_string();
        assert!(err.contains("booking_insert"), "{err}");
        let odd = CATALOG.replace("slot_end", "wormhole");
        let err = format!("{:#}", from_catalog(&odd, "q", read).unwrap_err());
        assert!(err.contains("wormhole"), "{err}");
    }
}
