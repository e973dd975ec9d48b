//! The command layer: from parsed CLI to resolved config to the module that does the
//! work. Each arm returns an `Outcome`; `exit` turns it into the exit code.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::config::Database;
use crate::exit::{hinted, Outcome};
use crate::report::Format;

pub async fn dispatch(cli: Cli) -> Result<Outcome> {
    if cli.output.format == Format::Github
        && !matches!(cli.command, Command::Check(_) | Command::Completions { .. })
    {
        return Err(hinted(
            "--format github (workflow annotations) is for `dbkit check` only",
            "use --format table, markdown or json with this command",
        ));
    }
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "dbkit", &mut script);
            crate::report::print(&String::from_utf8_lossy(&script))?;
            Ok(Outcome::Clean)
        }
        Command::Db(args) => crate::db::cluster::command(args.action, cli.output.format),
        Command::Migrate(args) => {
            let database = Database::resolve(&cli.connect)?;
            crate::migrate::command(&database, &args, cli.output.format).await
        }
        Command::Seed(args) => {
            let database = Database::resolve(&cli.connect)?;
            crate::seed::command(&database, &args, cli.output.format).await
        }
        Command::New(args) => crate::migrate::new_migration(&args, cli.output.format),
        Command::Explain(args) => {
            let database = Database::resolve(&cli.connect)?;
            crate::explain::command(&database, &args, cli.output.format).await
        }
        Command::Bench(args) => {
            let database = Database::resolve(&cli.connect)?;
            crate::bench::command(&database, &args, cli.output.format).await
        }
        Command::Check(args) => {
            let database = Database::resolve(&cli.connect)?;
            crate::check::command(&database, &args, cli.output.format).await
        }
    }
}
