//! `dbkit rules [NAME]`: the rule vocabulary's own documentation, from the binary.

use anyhow::Result;

use crate::cli::RulesArgs;
use crate::exit::Outcome;
use crate::report::Format;
use crate::rule::{Rule, RuleDocs};

pub fn run(args: &RulesArgs, format: Format) -> Result<Outcome> {
    let docs = match &args.name {
        None => RuleDocs::All,
        Some(name) => RuleDocs::One(
            name.parse::<Rule>()
                .map_err(|e| crate::error::hinted(e, "`dbkit rules` lists every rule id"))?,
        ),
    };
    crate::report::emit(&docs, format)?;
    Ok(Outcome::Clean)
}
