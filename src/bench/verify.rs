//! After the load: prove that no two non-cancelled appointments of a provider overlap
//! where the bench booked, remove exactly the rows the bench inserted, and check that
//! none of them is left. Only the bench's own rows are looked at: other sessions may
//! write to every table meanwhile (a live database).
//!
//! In-flight rows when a connection dies: a transaction whose COMMIT had not been
//! processed is rolled back by the server when the backend ends, so it leaves nothing.
//! A COMMIT that the server processed but whose answer never arrived leaves a row whose
//! id the bench does not know; every inserted row carries the run's marker in `notes`,
//! so cleanup also deletes by marker, and `dbkit bench --cleanup` removes rows of any
//! earlier run that could not clean up (server gone, process killed with SIGKILL;
//! Ctrl-C lets the clients finish their transaction and cleans up).

use anyhow::{Context, Result};
use tokio_postgres::Client;
use uuid::Uuid;

use super::transaction::MARKER_PREFIX;

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

/// Rows of this run still in the table after cleanup: by id or by its marker.
const OWN_ROWS_LEFT_SQL: &str =
    "SELECT count(*) FROM appointments WHERE id = ANY($1) OR notes = $2";

/// How many of this run's rows are still present (0 after a successful cleanup). Other
/// writers' rows are not counted: the bench may run against a live database.
pub async fn own_rows_left(client: &Client, inserted: &[Uuid], marker: &str) -> Result<i64> {
    let row = client
        .query_one(OWN_ROWS_LEFT_SQL, &[&inserted, &marker])
        .await
        .context("checking that the bench's rows are gone")?;
    Ok(row.get(0))
}

/// The error for a run stopped by a lost connection, after cleaning up on a fresh
/// connection (the control connection may have been killed too).
pub async fn after_fatal(
    url: &crate::db::DbUrl,
    fatal: &super::transaction::Fatal,
    inserted: &[Uuid],
    marker: &str,
) -> anyhow::Error {
    let cleaned = match crate::db::connect(url).await {
        Ok(c) => cleanup(&c, inserted, marker).await,
        Err(e) => Err(e),
    };
    let what = match &fatal.code {
        Some(code) => format!("{} (SQLSTATE {code})", fatal.message),
        None => fatal.message.clone(),
    };
    let hint = match cleaned {
        Ok(n) => format!(
            "the run stopped; the {n} appointment(s) it had inserted were removed (transactions in flight were rolled back by the server). Check the server and run again"
        ),
        Err(e) => format!(
            "the {} appointment(s) it inserted could not be removed ({}); when the server is back, run `dbkit bench --cleanup`",
            inserted.len(),
            crate::error::one_line(&e)
        ),
    };
    crate::error::hinted(format!("bench lost its database connection: {what}"), hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_is_literal() {
        assert_eq!(like_escape("a_b%c"), "a\\_b\\%c");
    }
}
