//! The finding `dbkit check` reports. Rule ids and severities are dbkit's one
//! vocabulary in `crate::rule`, re-exported here.

use serde::Serialize;

pub use crate::rule::{Family, Rule, Severity};

/// One thing `dbkit check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// Migration file (as given, e.g. `migrations/V3__x.sql`), when one is to blame.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<usize>,
    /// The database object: table, `table.policy`, index, function.
    pub object: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            file: None,
            line: None,
            object: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, file: impl Into<String>, line: usize) -> Finding {
        self.file = Some(file.into());
        self.line = Some(line);
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Finding {
        self.object = Some(object.into());
        self
    }
}
