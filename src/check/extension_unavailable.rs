//! `extension-unavailable`: a migration creates an extension the server dbkit checks on
//! cannot provide — not installed there, and not one of Supabase's own that dbkit
//! stubs. `migrate` refuses the run before anything runs (`migrate::guard`); check
//! reports it as this rule rather than a bare `apply-failed`, naming the extension and
//! the package to install, and fails closed: nothing could be applied, so nothing of
//! the schema was judged.

use super::apply::ApplyFailure;
use super::rule::Rule;

/// The rule an apply failure is reported as.
pub fn rule_of(failure: &ApplyFailure) -> Rule {
    if failure.missing_extensions.is_empty() {
        Rule::ApplyFailed
    } else {
        Rule::ExtensionUnavailable
    }
}

/// Why the rest of the check could not run, for the headline.
pub fn skipped(failure: &ApplyFailure) -> String {
    if failure.missing_extensions.is_empty() {
        format!("{}:{} could not be applied", failure.file, failure.line)
    } else {
        format!("the server lacks {}", failure.missing_extensions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(missing: &[&str]) -> ApplyFailure {
        ApplyFailure {
            file: "supabase/migrations/20240103090000_embeddings.sql".into(),
            line: 1,
            message: "the server lacks the extension vector".into(),
            missing_extensions: missing.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn a_missing_extension_is_its_own_rule_and_reason() {
        let f = failure(&["vector (install postgresql-15-pgvector)"]);
        assert_eq!(rule_of(&f), Rule::ExtensionUnavailable);
        assert_eq!(
            skipped(&f),
            "the server lacks vector (install postgresql-15-pgvector)"
        );
        let other = failure(&[]);
        assert_eq!(rule_of(&other), Rule::ApplyFailed);
        assert_eq!(
            skipped(&other),
            "supabase/migrations/20240103090000_embeddings.sql:1 could not be applied"
        );
    }
}
