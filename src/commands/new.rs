//! `dbkit new NAME`: the next migration file.

use anyhow::Result;

use crate::cli::NewArgs;
use crate::exit::Outcome;
use crate::report::Format;

pub fn run(args: &NewArgs, format: Format) -> Result<Outcome> {
    crate::migrate::new_migration(args, format)
}
