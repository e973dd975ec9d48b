//! dbkit: migrate, seed, explain, check and bench the PostgreSQL database behind a
//! multi-tenant booking service. `run` is the whole program; `main.rs` only calls it.

pub mod bench;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod exit;
pub mod explain;
pub mod migrate;
pub mod report;
pub mod seed;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Parse `args`, run the command on a Tokio runtime and decide the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    restore_sigpipe();
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version itself (exit 0) and usage errors (exit 2).
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return exit::report(Err(err.into())),
    };
    exit::report(runtime.block_on(commands::dispatch(cli)))
}

/// Rust ignores SIGPIPE, so `dbkit ... | head` would panic on a closed stdout; restore
/// the default so the process ends quietly like any other Unix tool.
fn restore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing the default disposition before any thread is spawned.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}
