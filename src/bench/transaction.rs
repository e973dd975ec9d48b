//! The booking transaction as PostgREST runs the voice-booking handler's requests:
//! BEGIN; SET LOCAL ROLE authenticated; the member's claims via set_config(…, true);
//! provider + contact validation; provider conflict check; INSERT … RETURNING id; COMMIT.
//!
//! The three statements live in `BookingStatements`, built from the canonical query
//! files by `canonical`: each statement says which request field binds to which `$n`.

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use uuid::Uuid;

use super::stats::{Outcome, Taken};
use super::workload::BookingRequest;

/// A value of the request a statement binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    OrgId,
    ProviderId,
    ContactId,
    StartsAt,
    EndsAt,
    /// The run's marker, stored in `appointments.notes` so a crashed run can be cleaned.
    Marker,
}

/// One statement and the request fields bound to `$1, $2, …` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub name: String,
    pub sql: String,
    pub params: Vec<Param>,
}

/// The statements of the booking path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingStatements {
    /// Returns one row saying whether the provider (active) and the contact belong to
    /// the org (see `validates`).
    pub validate: Statement,
    /// Returns a row when the provider already has a non-cancelled appointment
    /// overlapping the requested slot.
    pub conflict_check: Statement,
    /// Inserts the appointment and returns its id.
    pub insert: Statement,
    /// Where the statements came from, for the report.
    pub origin: String,
}

impl BookingStatements {
    pub fn all(&self) -> [&Statement; 3] {
        [&self.validate, &self.conflict_check, &self.insert]
    }
}

const SET_CLAIMS_SQL: &str = "SELECT set_config('request.jwt.claims', $1, true)";

/// An error after which the connection (or the server) is gone: the run stops.
#[derive(Debug)]
pub struct Fatal {
    pub message: String,
    /// The SQLSTATE when the server sent one (57P01 for pg_terminate_backend).
    pub code: Option<String>,
}

/// The timings of one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub query: Duration,
}

/// Prepare every statement on this connection (deadpool caches prepared statements per
/// connection), so the measured transactions never pay for PARSE.
pub async fn prepare(
    client: &deadpool_postgres::Client,
    st: &BookingStatements,
) -> Result<(), tokio_postgres::Error> {
    client.prepare_cached(SET_CLAIMS_SQL).await?;
    for s in st.all() {
        client.prepare_cached(&s.sql).await?;
    }
    Ok(())
}

/// Run one booking transaction. Business outcomes and recoverable errors come back as
/// `Outcome`; a dead connection as `Fatal`.
pub async fn book(
    client: &deadpool_postgres::Client,
    st: &BookingStatements,
    req: &BookingRequest,
    marker: &str,
) -> Result<(Outcome, Timing), Fatal> {
    let started = Instant::now();
    let outcome = match run(client, st, req, marker).await {
        Ok(outcome) => outcome,
        Err((step, err)) => {
            let code = err.code().map(|c| c.code().to_string());
            if is_fatal(&err, client) {
                return Err(fatal(err));
            }
            // The transaction is aborted; end it so the pooled connection is clean.
            if let Err(rollback) = client.batch_execute("ROLLBACK").await {
                return Err(fatal(rollback));
            }
            if err.code() == Some(&SqlState::EXCLUSION_VIOLATION) {
                Outcome::SlotTaken(Taken::Constraint)
            } else if step == Step::Insert && err.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) {
                Outcome::SlotTaken(Taken::Deadlock)
            } else {
                Outcome::Error(code.unwrap_or_else(|| "client".into()))
            }
        }
    };
    Ok((
        outcome,
        Timing {
            query: started.elapsed(),
        },
    ))
}

/// Which statement of the transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Session,
    Validate,
    ConflictCheck,
    Insert,
    Commit,
}

async fn run(
    client: &deadpool_postgres::Client,
    st: &BookingStatements,
    req: &BookingRequest,
    marker: &str,
) -> Result<Outcome, (Step, tokio_postgres::Error)> {
    let marker = marker.to_string();
    let bind = |p: &Param| -> &(dyn ToSql + Sync) {
        match p {
            Param::OrgId => &req.org_id,
            Param::ProviderId => &req.provider_id,
            Param::ContactId => &req.contact_id,
            Param::StartsAt => &req.starts_at,
            Param::EndsAt => &req.ends_at,
            Param::Marker => &marker,
        }
    };
    let args = |s: &Statement| s.params.iter().map(bind).collect::<Vec<_>>();

    let at = |step: Step| move |e: tokio_postgres::Error| (step, e);

    client
        .batch_execute("BEGIN; SET LOCAL ROLE authenticated")
        .await
        .map_err(at(Step::Session))?;
    let set_claims = client
        .prepare_cached(SET_CLAIMS_SQL)
        .await
        .map_err(at(Step::Session))?;
    client
        .query_one(&set_claims, &[&req.claims()])
        .await
        .map_err(at(Step::Session))?;

    let validate = client
        .prepare_cached(&st.validate.sql)
        .await
        .map_err(at(Step::Validate))?;
    let valid = client
        .query_opt(&validate, &args(&st.validate))
        .await
        .map_err(at(Step::Validate))?;
    if !valid.as_ref().is_some_and(validates) {
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(at(Step::Validate))?;
        return Ok(Outcome::Invalid);
    }
    let conflict = client
        .prepare_cached(&st.conflict_check.sql)
        .await
        .map_err(at(Step::ConflictCheck))?;
    let taken = client
        .query_opt(&conflict, &args(&st.conflict_check))
        .await
        .map_err(at(Step::ConflictCheck))?;
    if taken.is_some() {
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(at(Step::ConflictCheck))?;
        return Ok(Outcome::SlotTaken(Taken::ConflictCheck));
    }
    let insert = client
        .prepare_cached(&st.insert.sql)
        .await
        .map_err(at(Step::Insert))?;
    let row = client
        .query_one(&insert, &args(&st.insert))
        .await
        .map_err(at(Step::Insert))?;
    let id: Uuid = row.try_get(0).map_err(at(Step::Insert))?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(at(Step::Commit))?;
    Ok(Outcome::Booked(id))
}

/// The validation answer: a row whose columns are all non-null and whose booleans are
/// all true (the canonical query returns `provider_active` — NULL when the provider is
/// not the org's — and `contact_exists`).
fn validates(row: &tokio_postgres::Row) -> bool {
    (0..row.len()).all(|i| {
        if row.columns()[i].type_() == &tokio_postgres::types::Type::BOOL {
            row.try_get::<_, Option<bool>>(i).ok().flatten() == Some(true)
        } else {
            row.try_get::<_, NotNull>(i).is_ok_and(|v| v.0)
        }
    })
}

/// Whether a value of any type is non-null.
struct NotNull(bool);

impl<'a> tokio_postgres::types::FromSql<'a> for NotNull {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        _: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(NotNull(true))
    }

    fn from_sql_null(
        _: &tokio_postgres::types::Type,
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(NotNull(false))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// Connection-level failures: the server terminated the backend (57P01..57P03), the
/// connection class 08, or the socket is closed.
fn is_fatal(err: &tokio_postgres::Error, client: &Client) -> bool {
    if client.is_closed() || err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("57P") || c.starts_with("08")
        }
        // No SQLSTATE: an I/O or protocol error.
        None => true,
    }
}

fn fatal(err: tokio_postgres::Error) -> Fatal {
    let code = err.code().map(|c| c.code().to_string());
    let message = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None if err.is_closed() => {
            "the server closed the connection (backend terminated, e.g. by pg_terminate_backend, or the server restarted)".to_string()
        }
        None => err.to_string(),
    };
    Fatal { message, code }
}

/// The marker a run stores in `notes` of every appointment it inserts.
pub fn marker(run_id: Uuid) -> String {
    format!("{MARKER_PREFIX}{run_id}")
}

/// Prefix of every bench marker; `--cleanup` removes rows whose notes start with it.
pub const MARKER_PREFIX: &str = "dbkit-bench run ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_recognisable() {
        let id = Uuid::nil();
        assert!(marker(id).starts_with(MARKER_PREFIX));
        assert!(marker(id).ends_with(&id.to_string()));
    }
}
