//! SARIF 2.1.0 (GitHub code scanning, GitLab, review tools) for the findings of check,
//! explain and rehearse: one run of the tool `dbkit`, every rule of the one vocabulary
//! (`crate::rule`) with its help page, a level per severity, file:line regions where a
//! finding has one, and a fingerprint per finding that stays the same across pushes
//! (the rule, the file and the message with its numbers blanked: line numbers, counts
//! and timings move; the finding does not). The types are serde-sarif's.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_sarif::sarif;
use sha2::{Digest, Sha256};

use crate::check::rule::Finding;
use crate::explain::ExplainReport;
use crate::rule::{Rule, Severity};

/// The SARIF version written, and its schema's address.
pub const VERSION: &str = "2.1.0";
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key of dbkit's fingerprint in `partialFingerprints`.
pub const FINGERPRINT: &str = "dbkitFinding/v1";

/// One finding, whatever engine reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// Relative to the repository root (the working directory), when one is to blame.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// What tells two findings of one rule in one file apart, besides the message:
    /// the database object, the query × org × role.
    pub subject: Option<String>,
}

/// Where a rule's documentation lives: `docs/rules/<id>.md` in the repository.
pub fn help_uri(rule: Rule) -> String {
    format!(
        "{}/blob/main/docs/rules/{}.md",
        env!("CARGO_PKG_REPOSITORY"),
        rule.id()
    )
}

/// check's findings (rehearse's too, once `check --rehearse` made them check findings).
pub fn from_check(findings: &[Finding]) -> Vec<Issue> {
    findings
        .iter()
        .map(|f| Issue {
            rule: f.rule,
            severity: f.severity,
            message: f.message.clone(),
            file: f.file.clone(),
            line: f.line,
            subject: f.object.clone(),
        })
        .collect()
}

/// A rehearsal's findings, as `check --rehearse` words and places them.
pub fn from_rehearsal(
    rehearsal: &crate::rehearse::Rehearsal,
    migrations: &crate::migrate::MigrationSet,
) -> Vec<Issue> {
    from_check(&crate::rehearse::gate::check_findings(
        rehearsal, migrations,
    ))
}

/// explain's findings on the last phase (after the migrations, or the database as it
/// is): what the code under review leaves. Each is placed on its query's file in
/// `queries` when that file exists (`name.tenant.sql` for a tenant run that has one).
pub fn from_explain(report: &ExplainReport, queries: &Path) -> Vec<Issue> {
    let last = report.last_phase();
    let mut issues = Vec::new();
    for run in report.runs.iter().filter(|r| r.phase == last) {
        let file = query_file(queries, &run.query, &run.role.to_string());
        for f in &run.findings {
            issues.push(Issue {
                rule: f.rule,
                severity: f.severity,
                message: format!("{}: {}", run.label(), f.message),
                line: file.as_ref().map(|_| 1),
                file: file.clone(),
                subject: Some(run.label()),
            });
        }
    }
    issues
}

fn query_file(queries: &Path, query: &str, role: &str) -> Option<String> {
    let tenant = queries.join(format!("{query}.tenant.sql"));
    let plain = queries.join(format!("{query}.sql"));
    let path = if role == "tenant" && tenant.is_file() {
        tenant
    } else if plain.is_file() {
        plain
    } else {
        return None;
    };
    Some(relative(&path.to_string_lossy()))
}

/// A path as code scanning wants it: relative to the repository root, `/`-separated.
fn relative(path: &str) -> String {
    let path = Path::new(path);
    let path = match std::env::current_dir() {
        Ok(cwd) if path.is_absolute() => path.strip_prefix(&cwd).unwrap_or(path),
        _ => path,
    };
    let text = path.to_string_lossy().replace('\\', "/");
    text.trim_start_matches("./").to_string()
}

fn level(severity: Severity) -> sarif::ResultLevel {
    match severity {
        Severity::Error => sarif::ResultLevel::Error,
        Severity::Warning => sarif::ResultLevel::Warning,
        Severity::Info => sarif::ResultLevel::Note,
    }
}

/// The message with every run of digits blanked: `V7__x.sql:12: 2600 ms` and
/// `V7__x.sql:14: 2950 ms` are the same finding moved.
fn blank_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The fingerprint of each issue, in order: a hash of rule, file, subject and the
/// blanked message, with the occurrence appended when several issues share one.
pub fn fingerprints(issues: &[Issue]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    issues
        .iter()
        .map(|i| {
            let mut hash = Sha256::new();
            for part in [
                i.rule.id(),
                i.file.as_deref().unwrap_or(""),
                i.subject.as_deref().unwrap_or(""),
                &blank_numbers(&i.message),
            ] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            let digest: String = hash.finalize()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let n = seen.entry(digest.clone()).or_insert(0);
            *n += 1;
            format!("{digest}:{n}")
        })
        .collect()
}

/// The SARIF log of `issues`: one run, every rule of the vocabulary described.
pub fn document(issues: &[Issue]) -> sarif::Sarif {
    let rules: Vec<sarif::ReportingDescriptor> = Rule::ALL
        .iter()
        .map(|rule| {
            sarif::ReportingDescriptor::builder()
                .id(rule.id())
                .short_description(
                    sarif::MultiformatMessageString::builder()
                        .text(rule.what())
                        .build(),
                )
                .help_uri(help_uri(*rule))
                .default_configuration(
                    sarif::ReportingConfiguration::builder()
                        .level(serde_json::json!(level(rule.severity()).to_string()))
                        .build(),
                )
                .build()
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name("dbkit")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(env!("CARGO_PKG_REPOSITORY"))
        .rules(rules)
        .build();
    let results: Vec<sarif::Result> = issues
        .iter()
        .zip(fingerprints(issues))
        .map(|(issue, fingerprint)| result(issue, fingerprint))
        .collect();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .build();
    sarif::Sarif::builder()
        .schema(SCHEMA)
        .version(serde_json::json!(VERSION))
        .runs(vec![run])
        .build()
}

fn result(issue: &Issue, fingerprint: String) -> sarif::Result {
    let index = Rule::ALL.iter().position(|r| *r == issue.rule).unwrap_or(0);
    let locations = issue.file.as_ref().map(|file| {
        let artifact = sarif::ArtifactLocation::builder()
            .uri(relative(file))
            .build();
        let physical = match issue.line {
            Some(line) => sarif::PhysicalLocation::builder()
                .artifact_location(artifact)
                .region(
                    sarif::Region::builder()
                        .start_line(i64::try_from(line.max(1)).unwrap_or(1))
                        .build(),
                )
                .build(),
            None => sarif::PhysicalLocation::builder()
                .artifact_location(artifact)
                .build(),
        };
        vec![sarif::Location::builder()
            .physical_location(physical)
            .build()]
    });
    let message = match &issue.subject {
        Some(subject) if !issue.message.contains(subject.as_str()) => {
            format!("{subject}: {}", issue.message)
        }
        _ => issue.message.clone(),
    };
    let builder = sarif::Result::builder()
        .rule_id(issue.rule.id())
        .rule_index(i64::try_from(index).unwrap_or(0))
        .level(level(issue.severity))
        .message(sarif::Message::builder().text(message).build())
        .partial_fingerprints(BTreeMap::from([(FINGERPRINT.to_string(), fingerprint)]));
    match locations {
        Some(locations) => builder.locations(locations).build(),
        None => builder.build(),
    }
}

/// Write the SARIF log of `issues` as pretty JSON.
pub fn write(issues: &[Issue], out: &mut dyn Write) -> io::Result<()> {
    crate::report::write_json(out, &document(issues))
}

/// The SARIF log of `issues` to stdout (`--format sarif`), as `report::emit` does.
pub fn emit(issues: &[Issue]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    write(issues, &mut out).map_err(crate::report::stdout_error)?;
    crate::report::print(&String::from_utf8_lossy(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(rule: Rule, file: Option<&str>, line: Option<usize>, message: &str) -> Issue {
        Issue {
            rule,
            severity: rule.severity(),
            message: message.into(),
            file: file.map(String::from),
            line,
            subject: None,
        }
    }

    fn sample() -> Vec<Issue> {
        vec![
            issue(
                Rule::RequireConcurrentIndexCreation,
                Some("./migrations/V7__idx.sql"),
                Some(3),
                "CREATE INDEX on appointments without CONCURRENTLY",
            ),
            issue(
                Rule::TenantLeak,
                None,
                None,
                "public.notes: 2 rows of org B read — SELECT as authenticated",
            ),
            Issue {
                severity: Severity::Info,
                ..issue(Rule::RlsEnabledNoPolicy, Some("m/V8.sql"), None, "t")
            },
        ]
    }

    fn json(issues: &[Issue]) -> serde_json::Value {
        let mut out = Vec::new();
        write(issues, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn results_carry_rule_level_region_and_fingerprint() {
        let v = json(&sample());
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "dbkit");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let first = &results[0];
        assert_eq!(first["ruleId"], "require-concurrent-index-creation");
        assert_eq!(first["level"], "error");
        let location = &first["locations"][0]["physicalLocation"];
        assert_eq!(
            location["artifactLocation"]["uri"],
            "migrations/V7__idx.sql"
        );
        assert_eq!(location["region"]["startLine"], 3);
        assert!(first["partialFingerprints"][FINGERPRINT].is_string());
        assert!(
            results[1].get("locations").is_none(),
            "no file, no location"
        );
        assert_eq!(results[2]["level"], "note");
        assert!(results[2]["locations"][0]["physicalLocation"]
            .get("region")
            .is_none());
        // The rule the result names, at its index, with its help page.
        let index = first["ruleIndex"].as_u64().unwrap() as usize;
        let rule = &run["tool"]["driver"]["rules"][index];
        assert_eq!(rule["id"], "require-concurrent-index-creation");
        assert!(rule["helpUri"]
            .as_str()
            .unwrap()
            .ends_with("/docs/rules/require-concurrent-index-creation.md"));
    }

    #[test]
    fn fingerprints_survive_moved_lines_and_new_timings() {
        let before = issue(
            Rule::RehearsalStall,
            Some("migrations/V7__x.sql"),
            Some(12),
            "V7__x.sql:12: bookings stalled 2600 ms",
        );
        let after = Issue {
            line: Some(14),
            message: "V7__x.sql:14: bookings stalled 2950 ms".into(),
            ..before.clone()
        };
        assert_eq!(
            fingerprints(std::slice::from_ref(&before)),
            fingerprints(&[after])
        );
        let other_file = Issue {
            file: Some("migrations/V8__y.sql".into()),
            ..before.clone()
        };
        assert_ne!(
            fingerprints(std::slice::from_ref(&before)),
            fingerprints(&[other_file])
        );
        // Two identical findings get two fingerprints.
        let twice = fingerprints(&[before.clone(), before]);
        assert_ne!(twice[0], twice[1]);
    }

    /// The vendored OASIS schema (tests/fixtures/sarif/).
    pub(crate) fn assert_valid(value: &serde_json::Value) {
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/sarif/sarif-schema-2.1.0.json"
        ))
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
    }

    #[test]
    fn the_log_validates_against_the_sarif_schema() {
        assert_valid(&json(&sample()));
        assert_valid(&json(&[]));
    }
}
