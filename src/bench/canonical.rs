//! The booking statements come from the canonical query catalog (`queries/` with
//! `catalog.yaml`, DESIGN.md "Canonical queries") — the one `dbkit explain` runs, loaded
//! and validated by `explain::catalog` — so bench, explain and pgbench run the same SQL.
//! By default the catalog compiled into the binary; `--queries DIR` another directory.
//!
//! Bench needs three queries — `provider_contact_validation`, `provider_conflict_check`,
//! `booking_insert` — and maps each catalog parameter (by name, checked against its
//! declared type) to a field of its request. The INSERT gets one addition, made on the
//! parsed statement: a `notes` column bound to the run's marker, so rows of a run that
//! could not clean up can be found later.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use sqlparser::ast::{Expr, Ident, ObjectName, SetExpr, Statement as SqlStatement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::transaction::{BookingStatements, Param, Statement};
use crate::workload::catalog::{Catalog, ParamType};

pub const VALIDATION: &str = "provider_contact_validation";
pub const CONFLICT_CHECK: &str = "provider_conflict_check";
pub const INSERT: &str = "booking_insert";

/// The shipped canonical queries (compiled into the binary).
pub fn embedded() -> Result<BookingStatements> {
    from_catalog(&Catalog::embedded()?.strict()?, "queries/ (embedded)")
}

/// The canonical queries of another directory (`--queries DIR`).
pub fn load_dir(dir: &Path) -> Result<BookingStatements> {
    from_catalog(&Catalog::load(dir)?.strict()?, &dir.display().to_string())
}

/// Build the statements from a loaded catalog; `origin` names it in the report.
pub fn from_catalog(catalog: &Catalog, origin: &str) -> Result<BookingStatements> {
    let file = catalog.dir.join("catalog.yaml");
    let statement = |name: &str| -> Result<Statement> {
        let query = catalog
            .queries
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| {
                anyhow!(
                    "{} has no query `{name}`, which bench needs",
                    file.display()
                )
            })?;
        let params = query
            .params
            .iter()
            .map(|p| match param_for(&p.name) {
                Some((param, ty)) if ty == p.ty => Ok(param),
                Some((_, ty)) => Err(anyhow!(
                    "{}: `{name}.{}` is declared {}; bench binds it as {ty}",
                    file.display(),
                    p.name,
                    p.ty
                )),
                None => Err(anyhow!(
                    "{}: bench cannot bind parameter `{name}.{}` (it knows org_id, provider_id, contact_id, slot_start/scheduled_at, slot_end/ends_at)",
                    file.display(),
                    p.name
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Statement {
            name: name.to_string(),
            // The service's statement: the booking handler uses the service key.
            sql: strip_comments(&query.service_sql),
            params,
        })
    };
    let mut insert = statement(INSERT)?;
    insert.sql = with_marker_column(&insert.sql, insert.params.len() + 1)
        .with_context(|| format!("{}: `{INSERT}`", file.display()))?;
    insert.params.push(Param::Marker);
    Ok(BookingStatements {
        validate: statement(VALIDATION)?,
        conflict_check: statement(CONFLICT_CHECK)?,
        insert,
        origin: origin.to_string(),
    })
}

/// Which request field a catalog parameter name means, and the type it is bound as.
pub fn param_for(name: &str) -> Option<(Param, ParamType)> {
    let (param, ty) = match name {
        "org_id" => (Param::OrgId, "uuid"),
        "provider_id" => (Param::ProviderId, "uuid"),
        "contact_id" => (Param::ContactId, "uuid"),
        "slot_start" | "scheduled_at" | "starts_at" => (Param::StartsAt, "timestamptz"),
        "slot_end" | "ends_at" => (Param::EndsAt, "timestamptz"),
        _ => return None,
    };
    Some((param, ParamType::new(ty)))
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
    use std::path::PathBuf;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    /// A writable copy of queries/.
    fn copy_queries() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(repo("queries")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        dir
    }

    fn edit(dir: &Path, file: &str, from: &str, to: &str) {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from}");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    #[test]
    fn the_embedded_catalog_gives_the_three_statements() {
        let st = embedded().unwrap();
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
        for s in st.all() {
            assert!(!s.sql.contains("--"), "{}", s.sql);
            let highest = (1..=9)
                .rev()
                .find(|n| s.sql.contains(&format!("${n}")))
                .unwrap_or(0);
            assert_eq!(highest, s.params.len(), "{}", s.name);
        }
        assert_eq!(st.origin, "queries/ (embedded)");
        assert_eq!(
            st,
            BookingStatements {
                origin: st.origin.clone(),
                ..load_dir(&repo("queries")).unwrap()
            },
            "the embedded catalog is queries/"
        );
    }

    #[test]
    fn the_insert_gets_a_marker_column() {
        let st = embedded().unwrap();
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

    /// The error of loading a copy of queries/ whose catalog.yaml has `from` replaced.
    fn catalog_error(from: &str, to: &str) -> String {
        let dir = copy_queries();
        edit(dir.path(), "catalog.yaml", from, to);
        format!("{:#}", load_dir(dir.path()).unwrap_err())
    }

    #[test]
    fn missing_queries_unknown_params_and_wrong_types_are_named() {
        for (from, to, named) in [
            (
                "name: booking_insert",
                "name: booking_upsert",
                "no query `booking_insert`",
            ),
            (
                "{ name: slot_end, type: timestamptz",
                "{ name: wormhole, type: timestamptz",
                "provider_conflict_check.wormhole",
            ),
            (
                "{ name: slot_end, type: timestamptz",
                "{ name: slot_end, type: date",
                "declared date",
            ),
        ] {
            let err = catalog_error(from, to);
            assert!(err.contains(named), "{err}");
        }
    }

    /// benches/booking.pgbench runs the canonical statements: each one, with `$n`
    /// written as pgbench's `:variable` (`-M prepared` binds it as `$n` again), is in the
    /// script — the validation and the conflict check inside a wrapper that gives pgbench
    /// one row to `\gset`, the INSERT with the run's `notes` value and
    /// `ON CONFLICT DO NOTHING`.
    #[test]
    fn the_pgbench_script_runs_the_canonical_sql() {
        let script = std::fs::read_to_string(repo("benches/booking.pgbench")).unwrap();
        let script = normalise(
            &script
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let catalog = Catalog::load(&repo("queries")).unwrap();
        for name in [VALIDATION, CONFLICT_CHECK, INSERT] {
            let query = catalog.queries.iter().find(|q| q.name == name).unwrap();
            let mut sql = normalise(&strip_comments(&query.service_sql));
            // Highest first, so $1 does not eat the front of $12.
            for (i, p) in query.params.iter().enumerate().rev() {
                let var = match param_for(&p.name).unwrap().0 {
                    Param::OrgId => ":org_id",
                    Param::ProviderId => ":provider_id",
                    Param::ContactId => ":contact_id",
                    Param::StartsAt => ":slot_start",
                    Param::EndsAt => ":slot_end",
                    Param::Marker => unreachable!(),
                };
                sql = sql.replace(&format!("${}", i + 1), var);
            }
            if name == INSERT {
                let with_marker = sql
                    .replacen(", source)", ", source, notes)", 1)
                    .replacen("'voice')", "'voice', 'pgbench run')", 1)
                    .replacen(" RETURNING id", " ON CONFLICT DO NOTHING RETURNING id", 1);
                assert!(script.contains(&with_marker), "{with_marker}\n\n{script}");
            } else {
                assert!(script.contains(&sql), "{sql}\n\n{script}");
            }
        }
    }

    fn normalise(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
