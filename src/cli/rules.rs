//! `dbkit rules`'s arguments.

use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit rules                            # every rule, one line each\n  dbkit rules require-concurrent-index-creation"
)]
pub struct RulesArgs {
    /// A rule id: print its page (what it catches, why, bad and good SQL, how to
    /// suppress it). Without one, list every rule.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}
