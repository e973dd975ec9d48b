//! After the load: prove that no two non-cancelled appointments of a provider overlap
//! where the bench booked, remove exactly the rows the bench inserted, and compare every
//! table's row count with the count before the run.
//!
//! In-flight rows when a connection dies: a transaction whose COMMIT had not been
//! processed is rolled back by the server when the backend ends, so it leaves nothing.
//! A COMMIT that the server processed but whose answer never arrived leaves a row whose
//! id the bench does not know; every inserted row carries the run's marker in `notes`,
//! so cleanup also deletes by marker, and `dbkit bench --cleanup` removes rows of any
//! earlier run that could not clean up (server gone, process killed with SIGKILL;
//! Ctrl-C lets the clients finish their transaction and cleans up).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use tokio_postgres::Client;
use uuid::Uuid;

use super::transaction::MARKER_PREFIX;
use crate::db::ident::quote as quote_ident;

/// Overlapping pairs of non-cancelled appointments of one provider that involve a row
/// the bench inserted (a pair of two bench rows counts once). Each bench row probes the
/// provider's calendar through (org_id, provider_id, scheduled_at); slots are at most
/// 240 minutes, so an overlapping appointment starts less than a day earlier.
const DOUBLE_BOOKINGS_SQL: &str = "
SELECT count(*)
FROM appointments r
JOIN appointments b
  ON b.org_id = r.org_id
 AND b.provider_id = r.provider_id
 AND b.id <> r.id
 AND b.status <> 'cancelled'
 AND b.scheduled_at < r.ends_at
 AND b.scheduled_at > r.scheduled_at - interval '1 day'
 AND tstzrange(b.scheduled_at, b.ends_at) && tstzrange(r.scheduled_at, r.ends_at)
WHERE r.id = ANY($1)
  AND r.status <> 'cancelled'
  AND (b.id > r.id OR NOT b.id = ANY($1))";

pub async fn double_bookings(client: &Client, inserted: &[Uuid]) -> Result<i64> {
    if inserted.is_empty() {
        return Ok(0);
    }
    let row = client
        .query_one(DOUBLE_BOOKINGS_SQL, &[&inserted])
        .await
        .context("checking for overlapping appointments")?;
    Ok(row.get(0))
}

/// Delete the rows this run inserted: by id, then by marker (rows whose COMMIT went
/// through but whose answer was lost). Returns the number of rows deleted.
pub async fn cleanup(client: &Client, inserted: &[Uuid], marker: &str) -> Result<u64> {
    let mut deleted = 0;
    for chunk in inserted.chunks(10_000) {
        deleted += client
            .execute("DELETE FROM appointments WHERE id = ANY($1)", &[&chunk])
            .await
            .context("deleting the appointments the bench inserted")?;
    }
    deleted += client
        .execute("DELETE FROM appointments WHERE notes = $1", &[&marker])
        .await
        .context("deleting the appointments tagged with this run's marker")?;
    Ok(deleted)
}

/// Delete every row any bench run left behind (notes starting with the marker prefix).
pub async fn cleanup_all_runs(client: &Client) -> Result<u64> {
    let pattern = format!("{}%", like_escape(MARKER_PREFIX));
    client
        .execute("DELETE FROM appointments WHERE notes LIKE $1", &[&pattern])
        .await
        .context("deleting appointments left by earlier bench runs")
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Row count of every base table in the `public` schema.
pub async fn row_counts(client: &Client) -> Result<BTreeMap<String, i64>> {
    let tables = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .await
        .context("listing tables")?;
    let mut counts = BTreeMap::new();
    for row in tables {
        let name: String = row.get(0);
        // The name comes from the catalog, quoted as an identifier.
        let sql = format!("SELECT count(*) FROM public.{}", quote_ident(&name));
        let n: i64 = client
            .query_one(&sql, &[])
            .await
            .with_context(|| format!("counting rows of {name}"))?
            .get(0);
        counts.insert(name, n);
    }
    Ok(counts)
}

/// Tables whose count differs: (table, before, after).
pub fn changed_counts(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
) -> Vec<(String, i64, i64)> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|t| {
            let (b, a) = (
                before.get(t).copied().unwrap_or(0),
                after.get(t).copied().unwrap_or(0),
            );
            (b != a).then(|| (t.clone(), b, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_is_literal() {
        assert_eq!(like_escape("a_b%c"), "a\\_b\\%c");
    }

    #[test]
    fn changed_counts_names_each_table() {
        let before = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
        let after = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 3)]);
        assert_eq!(changed_counts(&before, &after), vec![("b".into(), 2, 3)]);
        assert!(changed_counts(&before, &before).is_empty());
    }
}
