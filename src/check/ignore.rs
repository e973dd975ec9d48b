//! Inline ignores: `-- dbkit:ignore RULE[, RULE...]` in the comments right before a
//! statement silences that rule's findings on that statement. An ignore that silences
//! nothing (or names no rule) is reported as `unused-ignore`, so stale ones do not pile up.

use super::files::ParsedFile;
use super::rule::{Finding, Rule};

const DIRECTIVE: &str = "dbkit:ignore";

#[derive(Debug, Clone)]
struct Ignore {
    file: String,
    /// Line of the comment.
    line: usize,
    /// Line of the statement it applies to.
    statement_line: usize,
    rule: Result<Rule, String>,
    used: bool,
}

fn directives(files: &[ParsedFile]) -> Vec<Ignore> {
    let mut out = Vec::new();
    for file in files {
        for s in &file.statements {
            for comment in &s.stmt.leading_comments {
                let Some(rest) = comment.text.strip_prefix(DIRECTIVE) else {
                    continue;
                };
                let ids: Vec<&str> = rest
                    .split([',', ' ', '\t'])
                    .filter(|w| !w.is_empty())
                    .collect();
                if ids.is_empty() {
                    out.push(Ignore {
                        file: file.display.clone(),
                        line: comment.line,
                        statement_line: s.stmt.line,
                        rule: Err("`-- dbkit:ignore` names no rule".into()),
                        used: false,
                    });
                }
                for id in ids {
                    out.push(Ignore {
                        file: file.display.clone(),
                        line: comment.line,
                        statement_line: s.stmt.line,
                        rule: id.parse::<Rule>(),
                        used: false,
                    });
                }
            }
        }
    }
    out
}

/// Drop the findings silenced by an ignore, and report the ignores that silenced nothing.
/// Returns the findings kept and how many were silenced.
pub fn apply(files: &[ParsedFile], findings: Vec<Finding>) -> (Vec<Finding>, usize) {
    let mut ignores = directives(files);
    let total = findings.len();
    let mut kept = Vec::with_capacity(findings.len());
    for finding in findings {
        let silenced = ignores.iter_mut().find(|i| {
            i.rule == Ok(finding.rule)
                && finding.file.as_deref() == Some(i.file.as_str())
                && finding.line == Some(i.statement_line)
        });
        match silenced {
            Some(ignore) => ignore.used = true,
            None => kept.push(finding),
        }
    }
    let silenced = total - kept.len();
    for ignore in ignores.into_iter().filter(|i| !i.used) {
        let message = match &ignore.rule {
            Ok(rule) => format!(
                "`-- dbkit:ignore {rule}` silences nothing on the statement at line {}: remove it",
                ignore.statement_line
            ),
            Err(e) => format!("{e}: nothing silenced"),
        };
        kept.push(Finding::new(Rule::UnusedIgnore, message).at(ignore.file, ignore.line));
    }
    (kept, silenced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::files::parse_file;
    use crate::check::lint::lint_file;

    fn file(sql: &str) -> ParsedFile {
        parse_file(
            "V9__t.sql".into(),
            "V9__t.sql".into(),
            9,
            "t".into(),
            sql.into(),
        )
    }

    #[test]
    fn ignore_silences_the_next_statement_only() {
        let f = file("-- dbkit:ignore ban-drop-table\nDROP TABLE a;\nDROP TABLE b;\n");
        let (out, silenced) = apply(std::slice::from_ref(&f), lint_file(&f));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(silenced, 1);
        assert_eq!((out[0].rule, out[0].line), (Rule::BanDropTable, Some(3)));
    }

    #[test]
    fn unused_and_unknown_ignores_are_reported() {
        let f = file("-- dbkit:ignore ban-drop-column\nDROP TABLE a;\n-- dbkit:ignore no-such-rule\nSELECT 1;\n");
        let (out, silenced) = apply(std::slice::from_ref(&f), lint_file(&f));
        assert_eq!(silenced, 0);
        let rules: Vec<(Rule, Option<usize>)> = out.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            rules,
            vec![
                (Rule::BanDropTable, Some(2)),
                (Rule::UnusedIgnore, Some(1)),
                (Rule::UnusedIgnore, Some(3))
            ]
        );
        assert!(
            out[2].message.contains("unknown rule"),
            "{}",
            out[2].message
        );
    }
}
