//! The command layer: parsed CLI → the engine's plain options → the engine → a typed
//! result → the reporter. One file per command; `dispatch` only routes. Engines never
//! see a clap type or a `--format`; the exit code is decided from the `Outcome`.

mod bench;
mod check;
mod completions;
mod db;
mod explain;
mod migrate;
mod new;
mod rehearse;
mod review;
mod rules;
mod seed;

use anyhow::Result;

use crate::cli::{Cli, Command, OutputFormat};
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::Format;

pub async fn dispatch(cli: Cli) -> Result<Outcome> {
    let Cli {
        connect,
        output,
        command,
    } = cli;
    match command {
        // Workflow annotations are valid for check's findings only; SARIF for the
        // commands that report rule findings.
        Command::Check(args) => check::run(&connect, &args, output.format).await,
        Command::Explain(args) => explain::run(&connect, &args, output.format).await,
        Command::Rehearse(args) => rehearse::run(&connect, &args, output.format).await,
        Command::Review(args) => review::run(&connect, &args, output.format).await,
        Command::Completions { shell } => completions::run(shell),
        command => {
            let format = report_format(output.format)?;
            match command {
                Command::Db(args) => db::run(&connect, args.action, format).await,
                Command::Migrate(args) => migrate::run(&connect, &args, format).await,
                Command::Seed(args) => seed::run(&connect, &args, format).await,
                Command::New(args) => new::run(&args, format),
                Command::Bench(args) => bench::run(&connect, &args, format).await,
                Command::Rules(args) => rules::run(&args, format),
                Command::Check(_)
                | Command::Explain(_)
                | Command::Rehearse(_)
                | Command::Review(_)
                | Command::Completions { .. } => unreachable!("routed above"),
            }
        }
    }
}

/// `--format` for the commands without annotations or SARIF: a usage error for them.
pub(super) fn report_format(format: OutputFormat) -> Result<Format> {
    format.report().ok_or_else(|| match format {
        OutputFormat::Sarif => hinted(
            "--format sarif is for `dbkit check`, `explain`, `rehearse` and `review`",
            "use --format table, markdown or json with this command",
        ),
        _ => hinted(
            "--format github (workflow annotations) is for `dbkit check` only",
            "use --format table, markdown or json with this command",
        ),
    })
}
