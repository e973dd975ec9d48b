//! Exit codes, decided in one place: 0 done, 1 findings or budgets failed, 2 usage,
//! connection or tool error (one line of cause, then a hint).

use std::process::ExitCode;

use crate::db::redact;
use crate::error::{hint, one_line};

pub const FINDINGS: u8 = 1;
pub const USAGE: u8 = 2;

/// What a command that ran to completion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing failing.
    Clean,
    /// Findings or budgets failed: exit 1.
    Failed,
}

/// Print the outcome of a command and return the process exit code.
pub fn report(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(FINDINGS),
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            eprintln!("hint: {}", redact::scrub_registered(&hint(&err)));
            ExitCode::from(USAGE)
        }
    }
}
