//! Throw-away databases on a server (INTERFACE ONLY — being implemented).
