//! The one row generator below seed and check: from the schema model (catalog facts
//! and the tenancy model) it plans which tables to fill in foreign-key order and how
//! (`plan`), makes plausible values per column type and name (`column`, `names`) that
//! satisfy CHECKs, domains and enums (`check`), keeps uniques unique and exclusion
//! constraints' ranges apart, keeps every foreign-key path inside its tenant, and does
//! it deterministically per seed (`generate`). `value` is one cell and its encodings.
//! `dbkit seed` streams its rows with binary COPY; the isolation proof's fixture inserts
//! a few of them per tenant.

pub mod check;
pub mod column;
pub mod generate;
pub mod names;
pub mod plan;
pub mod row;
pub mod value;

pub use generate::{GenError, Generator, Params, Sink, Stopped};
pub use plan::{Plan, PlanError, RowsProfile, TableProfile};
pub use value::{Value, Wire};
