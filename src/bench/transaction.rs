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
            // The transaction is aborted; end it so the pooled connection is clean —
            // unless the COMMIT sent along with the INSERT has ended it already.
            if !step.ends_the_transaction() {
                if let Err(rollback) = client.batch_execute("ROLLBACK").await {
                    return Err(fatal(rollback));
                }
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

impl Step {
    /// The INSERT travels with its COMMIT: after either fails, the COMMIT has run (on
    /// an aborted transaction it rolls back), so no ROLLBACK is owed.
    fn ends_the_transaction(self) -> bool {
        matches!(self, Step::Insert | Step::Commit)
    }
}

type StepResult<T> = Result<T, (Step, tokio_postgres::Error)>;

/// Five round trips: `BEGIN; SET LOCAL ROLE authenticated` (one simple-protocol
/// message), the claims, the validation, the conflict check, and the INSERT pipelined
/// with its COMMIT (sent together, answered together: the statements and their order
/// are unchanged, benches/booking.pgbench pipelines the same two). A ROLLBACK ends the
/// transaction when the request is invalid or the slot is taken.
async fn run(
    client: &deadpool_postgres::Client,
    st: &BookingStatements,
    req: &BookingRequest,
    marker: &str,
) -> StepResult<Outcome> {
    let claims = req.claims();
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
    let bound = |s: &Statement| s.params.iter().map(bind).collect::<Vec<_>>();

    client
        .batch_execute("BEGIN; SET LOCAL ROLE authenticated")
        .await
        .map_err(at(Step::Session))?;
    let set_claims = prepared(client, SET_CLAIMS_SQL, Step::Session).await?;
    client
        .query_one(&set_claims, &[&claims])
        .await
        .map_err(at(Step::Session))?;

    let valid = query_opt(client, &st.validate, &bound(&st.validate), Step::Validate).await?;
    if !valid.as_ref().is_some_and(validates) {
        return rollback(client, Step::Validate, Outcome::Invalid).await;
    }
    let conflict = &st.conflict_check;
    let taken = query_opt(client, conflict, &bound(conflict), Step::ConflictCheck).await?;
    if taken.is_some() {
        let outcome = Outcome::SlotTaken(Taken::ConflictCheck);
        return rollback(client, Step::ConflictCheck, outcome).await;
    }
    let insert = prepared(client, &st.insert.sql, Step::Insert).await?;
    let args = bound(&st.insert);
    // Both requests are queued before either answer is awaited: one round trip.
    let (row, committed) = tokio::join!(
        client.query_one(&insert, &args),
        client.batch_execute("COMMIT")
    );
    let id: Uuid = row
        .and_then(|row| row.try_get(0))
        .map_err(at(Step::Insert))?;
    committed.map_err(at(Step::Commit))?;
    Ok(Outcome::Booked(id))
}

fn at(step: Step) -> impl Fn(tokio_postgres::Error) -> (Step, tokio_postgres::Error) {
    move |e| (step, e)
}

/// The statement prepared on this connection (by `prepare`, at warm-up).
async fn prepared(
    client: &deadpool_postgres::Client,
    sql: &str,
    step: Step,
) -> StepResult<tokio_postgres::Statement> {
    client.prepare_cached(sql).await.map_err(at(step))
}

async fn query_opt(
    client: &deadpool_postgres::Client,
    s: &Statement,
    args: &[&(dyn ToSql + Sync)],
    step: Step,
) -> StepResult<Option<tokio_postgres::Row>> {
    let statement = prepared(client, &s.sql, step).await?;
    client.query_opt(&statement, args).await.map_err(at(step))
}

async fn rollback(
    client: &deadpool_postgres::Client,
    step: Step,
    outcome: Outcome,
) -> StepResult<Outcome> {
    client.batch_execute("ROLLBACK").await.map_err(at(step))?;
    Ok(outcome)
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
pub(crate) fn is_fatal(err: &tokio_postgres::Error, client: &Client) -> bool {
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

pub(crate) fn fatal(err: tokio_postgres::Error) -> Fatal {
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
