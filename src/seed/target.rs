//! The database a seed goes into: refusing a remote `--reset`, the advisory lock that
//! keeps two seeds of one database apart, the schema check, and the tenant rows it
//! already holds. Asking whether to delete them is the command layer's job; the engine
//! is only told whether the reset was confirmed.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::db::DbUrl;
use crate::error::hinted;

/// The six tenant tables, in load (foreign-key) order.
pub const TENANT_TABLES: [&str; 6] = [
    "orgs",
    "org_settings",
    "members",
    "providers",
    "contacts",
    "appointments",
];

/// The session advisory lock of a seed ("dbkseed"). Advisory locks are per database,
/// so one key keeps two seeds of the same database apart and no others.
pub const SEED_LOCK_KEY: i64 = 0x0064_626b_7365_6564;

const MISSING_TABLES: &str =
    "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL ORDER BY t";
const COUNT_ROWS: &str =
    "SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM org_settings), \
     (SELECT count(*) FROM members), (SELECT count(*) FROM providers), \
     (SELECT count(*) FROM contacts), (SELECT count(*) FROM appointments)";
// All six in one statement and no CASCADE: a table of someone else's that references
// them makes this fail instead of silently emptying it too.
const TRUNCATE: &str = "TRUNCATE orgs, org_settings, members, providers, contacts, appointments";

/// `--reset` deletes rows: only on this machine unless `allow_remote`. Decided on the
/// URL, before any connection.
pub fn refuse_remote_reset(url: &DbUrl, reset: bool, allow_remote: bool) -> Result<()> {
    if reset && !url.is_local() && !allow_remote {
        return Err(hinted(
            format!(
                "refusing to --reset {}: it is not on this machine",
                url.target()
            ),
            "add --allow-remote if you really mean to delete the tenant rows of that database",
        ));
    }
    Ok(())
}

/// Take the seed lock for this session, or refuse: another seed is running.
pub async fn lock(client: &Client, url: &DbUrl) -> Result<()> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SEED_LOCK_KEY])
        .await
        .context("taking the seed lock")?;
    if row.get::<_, bool>(0) {
        return Ok(());
    }
    Err(hinted(
        format!(
            "another `dbkit seed` is running on {}; nothing was changed",
            url.target()
        ),
        "wait for it to finish (seeds of one database run one at a time)",
    ))
}

/// Rows the tables a reset would empty hold, per table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantRows(pub Vec<(String, i64)>);

impl TenantRows {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, n)| *n == 0)
    }

    /// "orgs: 5, contacts: 40" for the tables that hold rows.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The tables, for a question about them.
    pub fn tables(&self) -> String {
        self.0
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Is the built-in booking schema there (all six tenant tables)?
pub async fn booking_schema(client: &Client) -> Result<bool> {
    let missing = client
        .query(MISSING_TABLES, &[&TENANT_TABLES.to_vec()])
        .await
        .context("looking for the booking tables")?;
    Ok(missing.is_empty())
}

/// Check the booking schema is there; the rows its tenant tables hold.
pub async fn tenant_rows(client: &Client, url: &DbUrl) -> Result<TenantRows> {
    let missing: Vec<String> = client
        .query(MISSING_TABLES, &[&TENANT_TABLES.to_vec()])
        .await
        .context("looking for the booking tables")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !missing.is_empty() {
        return Err(hinted(
            format!(
                "{} has no booking schema (missing: {})",
                url.target(),
                missing.join(", ")
            ),
            "run `dbkit migrate` first",
        ));
    }
    let row = client
        .query_one(COUNT_ROWS, &[])
        .await
        .context("counting tenant rows")?;
    Ok(TenantRows(
        TENANT_TABLES
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), row.get(i)))
            .collect(),
    ))
}

/// Refuse tenant rows unless a reset was confirmed; empty the tables when it was
/// (inside the seed's transaction, so a failed seed keeps them).
pub async fn make_room(client: &Client, url: &DbUrl, rows: TenantRows, reset: bool) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if !reset {
        return Err(hinted(
            format!(
                "{} already holds tenant rows ({}); nothing was changed",
                url.target(),
                rows.describe()
            ),
            "`dbkit seed --reset` deletes them first (it asks; add --yes in scripts)",
        ));
    }
    client
        .batch_execute(TRUNCATE)
        .await
        .context("deleting the tenant rows (--reset)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_described_by_table() {
        let rows = TenantRows(
            TENANT_TABLES
                .iter()
                .zip([5, 5, 0, 0, 40, 0])
                .map(|(t, n)| (t.to_string(), n))
                .collect(),
        );
        assert!(!rows.is_empty());
        assert_eq!(rows.describe(), "orgs: 5, org_settings: 5, contacts: 40");
        assert!(TenantRows::default().is_empty());
    }

    #[test]
    fn a_remote_reset_is_refused_before_connecting() {
        let remote = DbUrl::parse("postgres://u:secret@db.example.com/app", "test").unwrap();
        let err = refuse_remote_reset(&remote, true, false).unwrap_err();
        assert!(err.to_string().contains("not on this machine"), "{err}");
        assert!(!err.to_string().contains("secret"));
        assert!(refuse_remote_reset(&remote, true, true).is_ok());
        assert!(refuse_remote_reset(&remote, false, false).is_ok());
    }
}
