//! dbkit: migrate, seed, explain, check and bench the PostgreSQL database behind a
//! multi-tenant booking service. `run` is the whole program; `main.rs` only calls it.
//!
//! SIGPIPE keeps Rust's disposition (ignored): a stdout closed early (`dbkit migrate |
//! head -0`) makes writes fail, `report::print` drops the output, and the command
//! still runs to its end, so its `error:` line reaches stderr. SIGINT and SIGTERM are
//! `signal`'s.

pub mod bench;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod exit;
pub mod explain;
pub mod lab;
pub mod migrate;
pub mod platform;
pub mod progress;
pub mod rehearse;
pub mod report;
pub mod review;
pub mod rule;
pub mod schema;
pub mod seed;
pub mod signal;

use std::ffi::OsString;
use std::process::ExitCode;

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;

/// Parse `args`, run the command on a Tokio runtime and decide the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version, exit 0; a stdout that cannot take them is an error
            // (`--help > /dev/full`). On a terminal clap prints them in colour.
            if std::io::stdout().is_terminal() {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            return exit::report(
                report::print(&err.render().to_string()).map(|()| exit::Outcome::Clean),
            );
        }
        Err(err)
            if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            // `dbkit db`: the subcommand's help, on stderr, as a usage error.
            let _ = err.print();
            return ExitCode::from(exit::USAGE);
        }
        Err(err) => {
            let (message, hint) = usage_error(&err.render().to_string(), &command_path(&args));
            eprintln!("error: {message}\nhint: {hint}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return exit::report(Err(err.into())),
    };
    exit::report(runtime.block_on(async {
        signal::install().context("cannot listen for SIGINT and SIGTERM")?;
        commands::dispatch(cli).await
    }))
}

/// clap's usage error as dbkit prints every error: one `error:` line (clap's message,
/// its lines joined) and one `hint:` line (clap's tip, else the usage line).
fn usage_error(rendered: &str, command: &str) -> (String, String) {
    let mut message = Vec::new();
    let mut tip = None;
    let mut usage = None;
    for (i, paragraph) in rendered.split("\n\n").enumerate() {
        for line in paragraph.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(t) = line.strip_prefix("tip: ") {
                tip.get_or_insert_with(|| t.to_string());
            } else if let Some(u) = line.strip_prefix("Usage: ") {
                usage = Some(u.to_string());
            } else if i == 0 {
                message.push(line.strip_prefix("error: ").unwrap_or(line));
            }
        }
    }
    let hint = match (tip, usage) {
        (Some(tip), _) => format!("{tip}; `{command} --help` lists the options"),
        (None, Some(usage)) => format!("usage: {usage}; `{command} --help` lists the options"),
        (None, None) => format!("`{command} --help` lists the options"),
    };
    (message.join(" "), hint)
}

/// `dbkit migrate status` from the arguments: the subcommands named in them.
fn command_path(args: &[OsString]) -> String {
    use clap::CommandFactory;
    let mut cmd = cli::Cli::command();
    let mut path = vec!["dbkit".to_string()];
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = cmd.find_subcommand(arg).cloned() {
            path.push(sub.get_name().to_string());
            cmd = sub;
        }
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_error_and_one_hint_line() {
        let err = cli::Cli::try_parse_from(["dbkit", "new"]).unwrap_err();
        let (message, hint) = usage_error(&err.render().to_string(), "dbkit new");
        assert_eq!(
            message,
            "the following required arguments were not provided: <NAME>"
        );
        assert_eq!(
            hint,
            "usage: dbkit new <NAME>; `dbkit new --help` lists the options"
        );
        let err = cli::Cli::try_parse_from(["dbkit", "bench", "--runs", "0"]).unwrap_err();
        let (message, hint) = usage_error(&err.render().to_string(), "dbkit bench");
        assert_eq!(message, "unexpected argument '--runs' found");
        assert!(
            hint.starts_with("a similar argument exists: '--requests'"),
            "{hint}"
        );
    }

    #[test]
    fn the_command_path_names_the_subcommands() {
        let args: Vec<OsString> = ["dbkit", "--format", "json", "migrate", "status", "x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(command_path(&args), "dbkit migrate status");
    }
}
