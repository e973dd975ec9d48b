//! `dbkit new NAME`: the next migration file, in the layout the project uses.

use anyhow::Result;

use crate::cli::NewArgs;
use crate::exit::Outcome;
use crate::report::{emit, Format};

pub fn run(args: &NewArgs, format: Format) -> Result<Outcome> {
    emit(&crate::migrate::new::create(&args.options())?, format)?;
    Ok(Outcome::Clean)
}
