//! Everything about reaching PostgreSQL: URLs and TLS (`connect`), password redaction
//! (`redact`), dbkit's own local cluster (`cluster`) and throw-away databases (`scratch`).

pub mod cluster;
pub mod connect;
pub mod ident;
pub mod redact;
pub mod scratch;

pub use connect::{connect, DbUrl};
