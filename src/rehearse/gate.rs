//! A rehearsal as `dbkit check --rehearse` gates on it: each rehearse finding becomes a
//! check finding (`rehearsal-failed` for a migration that failed under the traffic,
//! `rehearsal-stall` for a statement over the stall or error budget), at the file as
//! check names it, with the lock as its object and the safer recipe in its message.

use crate::check::rule::{Finding, Rule};
use crate::migrate::{MigrationSet, Version};

use super::Rehearsal;

pub fn check_findings(rehearsal: &Rehearsal, set: &MigrationSet) -> Vec<Finding> {
    rehearsal
        .findings
        .iter()
        .map(|f| {
            let rule = if f.sqlstate.is_some() {
                Rule::RehearsalFailed
            } else {
                Rule::RehearsalStall
            };
            // The message names the file itself (`V6__x.sql:11: …`): say it once.
            let place = match f.line {
                Some(line) => format!("{}:{line}: ", f.file),
                None => format!("{} (COMMIT): ", f.file),
            };
            let what = f.message.strip_prefix(&place).unwrap_or(&f.message);
            let finding =
                Finding::new(rule, format!("{what}; safer: {}", f.recipe)).object(f.lock.clone());
            let file = set
                .get(Version::from(f.version))
                .map(|m| m.display.clone())
                .unwrap_or_else(|| f.file.clone());
            match f.line {
                Some(line) => finding.at(file, line),
                None => Finding {
                    file: Some(file),
                    ..finding
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rehearse::{Baseline, Finding as RehearseFinding};

    fn rehearsal(findings: Vec<RehearseFinding>) -> Rehearsal {
        Rehearsal {
            layout: crate::migrate::Layout::Dbkit,
            traffic: "booking".into(),
            before_version: 5,
            orgs: 1,
            clients: 3,
            baseline: Baseline {
                p99_ms: 1.0,
                requests: 10,
                errors: 0,
            },
            stall_budget_ms: 2000,
            migrations: vec![],
            findings,
            not_rehearsed: vec![],
            lab_cache: None,
            kept: None,
        }
    }

    #[test]
    fn stalls_and_failures_become_error_findings_at_their_line() {
        let stall = RehearseFinding {
            version: 6,
            file: "V6__no_double_booking.sql".into(),
            line: Some(11),
            lock: "AccessExclusiveLock on public.appointments".into(),
            stall_ms: 2600.0,
            message: "V6__no_double_booking.sql:11: AccessExclusiveLock on public.appointments: bookings stalled 2600 ms (budget 2000 ms)".into(),
            recipe: "no lock-free way exists".into(),
            sqlstate: None,
        };
        let failed = RehearseFinding {
            sqlstate: Some("40P01".into()),
            line: None,
            message: "V6__no_double_booking.sql (COMMIT): failed under the booking traffic: deadlock detected (SQLSTATE 40P01)".into(),
            recipe: "take the locks in a fixed order".into(),
            ..stall.clone()
        };
        let set = MigrationSet::embedded().unwrap();
        let out = check_findings(&rehearsal(vec![stall, failed]), &set);
        assert_eq!(out[0].rule, Rule::RehearsalStall);
        assert_eq!(out[0].severity, crate::rule::Severity::Error);
        assert_eq!(out[0].line, Some(11));
        assert!(out[0]
            .file
            .as_deref()
            .unwrap()
            .ends_with("V6__no_double_booking.sql"));
        assert_eq!(
            out[0].object.as_deref(),
            Some("AccessExclusiveLock on public.appointments")
        );
        assert_eq!(
            out[0].message,
            "AccessExclusiveLock on public.appointments: bookings stalled 2600 ms (budget 2000 ms); safer: no lock-free way exists"
        );
        assert_eq!(out[1].rule, Rule::RehearsalFailed);
        assert_eq!(out[1].line, None);
        assert!(out[1].message.starts_with("failed under the booking traffic: deadlock detected (SQLSTATE 40P01); safer: take the locks"), "{}", out[1].message);
    }
}
