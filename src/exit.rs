//! Exit codes, decided in one place: 0 done, 1 findings or budgets failed, 2 usage,
//! connection or tool error (one line of cause, then a hint).

use std::fmt;
use std::process::ExitCode;

use crate::db::redact;

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

/// An error that carries a hint for the user, printed on its own line.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Build an error with a hint: `bail_hint!("cannot reach {host}", "is the server running?")`.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Hinted {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// One line naming the cause: the error chain joined with ": ", passwords removed.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        // tokio-postgres and anyhow often repeat the inner message in the outer one.
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(text)) {
            continue;
        }
        parts.push(text.replace('\n', " "));
    }
    redact::scrub(&parts.join(": "))
}

/// Print the outcome of a command and return the process exit code.
pub fn report(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(FINDINGS),
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            if let Some(hinted) = err.chain().find_map(|c| c.downcast_ref::<Hinted>()) {
                eprintln!("hint: {}", redact::scrub(&hinted.hint));
            }
            ExitCode::from(USAGE)
        }
    }
}
