//! The error vocabulary: an error that carries its hint (`Hinted`), and how any error
//! becomes the one `error:` line and one `hint:` line dbkit prints. Engines build
//! `Hinted` errors; only `exit` prints them.

use std::fmt;

use crate::db::redact;

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

/// Build an error with a hint: `hinted("cannot reach {host}", "is the server running?")`.
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

/// The error's own hint, else one from its kind: every error ends with a `hint:` line.
pub fn hint(err: &anyhow::Error) -> String {
    if let Some(hinted) = err.chain().find_map(|c| c.downcast_ref::<Hinted>()) {
        return hinted.hint.clone();
    }
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => {
                    "check that the path named above exists (relative paths start in the working directory)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "check the permissions of the path named above"
                }
                _ => "the operating system refused: check the path or device named above",
            }
            .into();
        }
        if cause.downcast_ref::<tokio_postgres::Error>().is_some() {
            return "PostgreSQL reported this: check that the database above is reachable and migrated (`dbkit migrate status`)".into();
        }
    }
    "`dbkit <command> --help` describes every option; docs/install.md the setup".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_hinted_error_keeps_its_hint() {
        let err = hinted("cannot reach x", "is it running?").context("migrate");
        assert_eq!(hint(&err), "is it running?");
    }

    #[test]
    fn other_errors_get_a_hint_from_their_kind() {
        let missing = std::fs::read("/nonexistent/dbkit").context("cannot read /nonexistent/dbkit");
        assert!(hint(&missing.unwrap_err()).contains("exists"));
        assert!(!hint(&anyhow::anyhow!("something")).is_empty());
    }
}
