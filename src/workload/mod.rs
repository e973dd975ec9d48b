//! The workload: the queries a project runs, in one catalog format (`catalog`: catalog.yaml
//! and one .sql file per query, typed `$n` parameters with samplers over the seeded
//! data). A catalog is written by hand, derived from the schema model (`derive`, what
//! `dbkit queries init` writes) or read from pg_stat_statements (`from_stats`). Below
//! explain, bench and rehearse, which all run whatever catalog the project has.
//!
//! Owns: the format (`catalog`), parameter types and values (`param`), sampling the
//! orgs and every query's parameters from the data (`sample`), checking a catalog
//! against a database (`validate`), deriving one (`derive`), reading live traffic
//! (`from_stats`) and writing a catalog as files (`write`).

pub mod catalog;
pub mod param;
pub mod sample;

pub use catalog::{Catalog, CatalogError, Origin, Query};
pub use param::{ParamType, ParamValue};
