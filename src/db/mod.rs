//! Everything about reaching PostgreSQL: URLs and TLS (`connect`), the one redaction
//! of secrets (`redact`), dbkit's own local cluster (`cluster`, with `bindir`, `owner`
//! and `postmaster`), whether a URL stays on this machine (`locality`) and throw-away
//! databases (`scratch`). Nothing here writes to stdout.

pub mod bindir;
pub mod cluster;
pub mod connect;
pub mod ident;
pub mod locality;
pub mod owner;
pub mod postmaster;
pub mod redact;
pub mod scratch;
pub mod settings;

pub use connect::{connect, DbUrl};
