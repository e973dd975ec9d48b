//! Checking a catalog against the database it is about to run on: every query is
//! prepared (parsed and analysed by the server, never executed) with its parameter
//! types. A query the server refuses — a dropped column, a renamed table — is set aside
//! with the server's message at the file and line it points to; the others still run.

use anyhow::Result;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::catalog::{Catalog, CatalogError, Query, Source};
use crate::db::session::{is_lost, lost_connection};

/// Prepare every query of `catalog` on `client` (as the connecting role); set aside
/// the ones the server refuses.
pub async fn validate(client: &Client, catalog: &mut Catalog) -> Result<()> {
    let mut refused = Vec::new();
    for query in &catalog.queries {
        let types: Vec<Type> = query.params.iter().map(|p| p.ty.pg_type()).collect();
        let mut statements = vec![(&query.service_sql, &query.service_source)];
        if query.tenant_sql != query.service_sql {
            statements.push((&query.tenant_sql, &query.tenant_source));
        }
        for (sql, source) in statements {
            if let Err(e) = client.prepare_typed(sql, &types).await {
                let err = anyhow::Error::new(e);
                if is_lost(client, &err) {
                    return Err(lost_connection(err, "checking the query catalog"));
                }
                refused.push((query.name.clone(), problem(query, sql, source, &err)));
                break;
            }
        }
    }
    for (name, problem) in refused {
        catalog.set_aside(&name, problem);
    }
    Ok(())
}

/// The server's complaint about `sql`, located in its file.
fn problem(query: &Query, sql: &str, source: &Source, err: &anyhow::Error) -> CatalogError {
    let db = err
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.as_db_error());
    let (message, line) = match db {
        Some(db) => {
            let line = match db.position() {
                Some(ErrorPosition::Original(at)) => {
                    Some(source.line_at(sql, byte_offset(sql, *at)))
                }
                _ => None,
            };
            (
                format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                line,
            )
        }
        None => (crate::error::one_line(err), None),
    };
    CatalogError {
        file: source.file.clone(),
        line,
        query: Some(query.name.clone()),
        message: format!("query `{}` no longer runs: {message}", query.name),
    }
}

/// The byte offset of PostgreSQL's 1-based character position in `sql`.
fn byte_offset(sql: &str, position: u32) -> usize {
    sql.char_indices()
        .nth(position.saturating_sub(1) as usize)
        .map_or(sql.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_characters_not_bytes() {
        let sql = "SELECT 'é'\nFROM t\nWHERE gone = 1";
        let at = sql.find("gone").unwrap();
        let chars = sql[..at].chars().count() as u32 + 1;
        assert_eq!(byte_offset(sql, chars), at);
        let source = Source {
            file: "q.sql".into(),
            first_line: 2,
        };
        assert_eq!(source.line_at(sql, byte_offset(sql, chars)), 4);
    }
}
