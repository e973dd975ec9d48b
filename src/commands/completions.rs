//! `dbkit completions SHELL`: a shell completion script on stdout.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Outcome;

pub fn run(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dbkit", &mut script);
    crate::report::print(&String::from_utf8_lossy(&script))?;
    Ok(Outcome::Clean)
}
