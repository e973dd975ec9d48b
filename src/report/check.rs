//! Renders `dbkit check`'s `Findings`: a table for the terminal (messages listed under
//! it, so rows fit the width), markdown for a PR comment, JSON (DESIGN.md's shape plus
//! `ran`), and GitHub workflow annotations — the one result that has them. Under the
//! findings: the summary, what `--base` left out, what PostgreSQL's grammar rejects (listed
//! with `--verbose`) and how many findings inline ignores silenced.

use std::io::{self, Write};

use crate::check::rule::{Finding, Severity};
use crate::check::{incomplete_headline, Findings};
use crate::report::{render_rows, write_json, Format, Render};

/// `Findings` with what the reader asked to see besides them.
#[derive(Debug, Clone, Copy)]
pub struct CheckReport<'a> {
    pub findings: &'a Findings,
    /// List each statement that was not linted (`--verbose`), not only their count.
    pub verbose: bool,
}

impl Render for CheckReport<'_> {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        let result = self.findings;
        // A run that could not judge security says so before anything else.
        let headline = result.incomplete.as_deref().map(incomplete_headline);
        match format {
            Format::Json => write_json(out, result),
            Format::Markdown => {
                if let Some(headline) = &headline {
                    writeln!(out, "> **dbkit check {headline}**\n")?;
                }
                writeln!(out, "### dbkit check\n")?;
                if result.findings.is_empty() {
                    writeln!(out, "No findings.")?;
                } else {
                    let rows = rows(&result.findings, true);
                    out.write_all(render_rows(Format::Markdown, MARKDOWN, &rows).as_bytes())?;
                    writeln!(out, "\n{}", summary(&result.findings))?;
                }
                for line in self.notes() {
                    writeln!(out, "\n{line}")?;
                }
                Ok(())
            }
            Format::Table => {
                if let Some(headline) = &headline {
                    writeln!(out, "dbkit check {headline}")?;
                }
                if result.findings.is_empty() {
                    writeln!(out, "dbkit check: no findings")?;
                } else {
                    let rows = rows(&result.findings, false);
                    let mut table_rows: Vec<Vec<String>> = Vec::with_capacity(rows.len());
                    for (n, mut row) in rows.into_iter().enumerate() {
                        // Object and message go under the table, so rows fit the width.
                        row.truncate(3);
                        row.insert(0, (n + 1).to_string());
                        table_rows.push(row);
                    }
                    out.write_all(render_rows(Format::Table, TABLE, &table_rows).as_bytes())?;
                    for (n, f) in result.findings.iter().enumerate() {
                        // Named once: many messages already start with their object.
                        match &f.object {
                            Some(object) if !f.message.contains(object.as_str()) => {
                                writeln!(out, "{}. {object}: {}", n + 1, f.message)?
                            }
                            _ => writeln!(out, "{}. {}", n + 1, f.message)?,
                        }
                    }
                    writeln!(out, "{}", summary(&result.findings))?;
                }
                for line in self.notes() {
                    writeln!(out, "{line}")?;
                }
                Ok(())
            }
        }
    }
}

impl CheckReport<'_> {
    /// The lines under the findings (plain text, every human format).
    fn notes(&self) -> Vec<String> {
        let ran = &self.findings.ran;
        let mut lines = Vec::new();
        if let (Some(base), false) = (ran.base, ran.present_at_base.is_empty()) {
            let n = ran.present_at_base.len();
            lines.push(format!(
                "{} already present at V{base} — --all shows {}",
                count(n, "finding"),
                if n == 1 { "it" } else { "them" }
            ));
        }
        if !ran.not_linted.is_empty() {
            let n = ran.not_linted.len();
            let them = if n == 1 { "it" } else { "them" };
            let hint = if self.verbose {
                ":"
            } else {
                "; --verbose lists them"
            };
            lines.push(format!(
                "{} not linted (PostgreSQL's grammar rejects {them}){hint}",
                count(n, "statement")
            ));
            if self.verbose {
                for s in &ran.not_linted {
                    lines.push(format!("  {}:{}: {}", s.file, s.line, s.reason));
                }
            }
        }
        if !ran.stubbed.is_empty() {
            lines.push(format!(
                "Supabase's own extensions stubbed on the scratch databases (same names and signatures, no behaviour; the server lacks them): {}",
                ran.stubbed.join(", ")
            ));
        }
        if ran.ignored > 0 {
            lines.push(format!(
                "{} silenced by `-- dbkit:ignore`",
                count(ran.ignored, "finding")
            ));
        }
        lines
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

const MARKDOWN: &[&str] = &["severity", "rule", "where", "object", "message"];
const TABLE: &[&str] = &["#", "severity", "rule", "where"];

/// severity, rule, where, object, message.
fn rows(findings: &[Finding], markdown: bool) -> Vec<Vec<String>> {
    findings
        .iter()
        .map(|f| {
            let code = |s: String| {
                if markdown && !s.is_empty() {
                    format!("`{s}`")
                } else {
                    s
                }
            };
            vec![
                f.severity.to_string(),
                code(f.rule.to_string()),
                location(f),
                code(f.object.clone().unwrap_or_default()),
                f.message.clone(),
            ]
        })
        .collect()
}

fn location(f: &Finding) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        _ => "database".to_string(),
    }
}

pub fn summary(findings: &[Finding]) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} error(s), {} warning(s), {} info",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )
}

/// `::error file=F,line=L,title=RULE::message` — GitHub shows it on the PR diff. The
/// notes go in the log before the summary, which stays the last line.
pub fn github(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(reason) = &report.findings.incomplete {
        writeln!(
            out,
            "::error title=dbkit check incomplete::{}",
            escape_data(&format!("dbkit check {}", incomplete_headline(reason)))
        )?;
    }
    let findings = &report.findings.findings;
    for f in findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = &f.file {
            props.push(format!("file={}", escape_property(file)));
        }
        if let Some(line) = f.line {
            props.push(format!("line={line}"));
        }
        props.push(format!("title={}", escape_property(f.rule.id())));
        let message = match &f.object {
            Some(object) => format!("{} [{}]: {}", f.rule, object, f.message),
            None => format!("{}: {}", f.rule, f.message),
        };
        writeln!(
            out,
            "::{level} {}::{}",
            props.join(","),
            escape_data(&message)
        )?;
    }
    for line in report.notes() {
        writeln!(out, "dbkit check: {line}")?;
    }
    writeln!(out, "dbkit check: {}", summary(findings))
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::rule::Rule;
    use crate::check::{NotLinted, Ran};
    use crate::report::testing::assert_contains;
    use crate::report::to_string;

    fn sample() -> Vec<Finding> {
        vec![
            Finding::new(Rule::BanDropTable, "dropping table a, b: 100%")
                .at("migrations/V7__x.sql", 3)
                .object("a"),
            Finding::new(Rule::AuthRlsInitplan, "per row")
                .object("appointments.appointments_tenant"),
        ]
    }

    fn result(findings: Vec<Finding>) -> Findings {
        Findings {
            incomplete: None,
            findings,
            ran: Ran {
                files: 7,
                statements: 40,
                applied: true,
                ..Ran::default()
            },
            rehearsal: None,
        }
    }

    /// A `--base 6` run that left out one old finding and could not lint one statement.
    fn narrowed() -> Findings {
        let mut r = result(sample());
        r.ran.base = Some(6);
        r.ran.present_at_base = vec![Finding::new(Rule::NoPrimaryKey, "old").object("log")];
        r.ran.not_linted = vec![NotLinted {
            file: "migrations/V7__x.sql".into(),
            line: 5,
            reason: "syntax error at or near \")\"".into(),
        }];
        r.ran.ignored = 2;
        r.ran.stubbed = vec!["pg_net".into(), "supabase_vault".into()];
        r
    }

    fn text(findings: &Findings, format: Format, verbose: bool) -> String {
        to_string(&CheckReport { findings, verbose }, format)
    }

    fn annotations(findings: &Findings) -> String {
        let mut buf = Vec::new();
        github(
            &CheckReport {
                findings,
                verbose: false,
            },
            &mut buf,
        )
        .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn github_annotations() {
        let out = annotations(&result(sample()));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=migrations/V7__x.sql,line=3,title=ban-drop-table::ban-drop-table [a]: dropping table a, b: 100%25"
        );
        assert_eq!(
            lines[1],
            "::warning title=auth-rls-initplan::auth-rls-initplan [appointments.appointments_tenant]: per row"
        );
        assert_eq!(lines[2], "dbkit check: 1 error(s), 1 warning(s), 0 info");
        let out = annotations(&narrowed());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[2],
            "dbkit check: 1 finding already present at V6 — --all shows it"
        );
        assert_eq!(
            *lines.last().unwrap(),
            "dbkit check: 1 error(s), 1 warning(s), 0 info"
        );
    }

    #[test]
    fn json_shape() {
        let out = text(&narrowed(), Format::Json, false);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = &v["findings"][0];
        assert_eq!(f["rule"], "ban-drop-table");
        assert_eq!(f["severity"], "error");
        assert_eq!(f["file"], "migrations/V7__x.sql");
        assert_eq!(f["line"], 3);
        assert_eq!(f["object"], "a");
        assert_eq!(v["findings"][1]["file"], serde_json::Value::Null);
        assert_eq!(v["findings"][1]["severity"], "warning");
        assert_eq!(v["ran"]["base"], 6);
        assert_eq!(v["ran"]["present_at_base"][0]["rule"], "no-primary-key");
        assert_eq!(v["ran"]["not_linted"][0]["line"], 5);
        assert_eq!(v["ran"]["ignored"], 2);
    }

    #[test]
    fn markdown_keeps_messages_in_the_table() {
        let md = text(&narrowed(), Format::Markdown, false);
        assert_contains(&md, &["| error | `ban-drop-table` | migrations/V7__x.sql:3 | `a` | dropping table a, b: 100% |", "1 finding already present at V6"]);
        assert_eq!(
            text(&result(vec![]), Format::Markdown, false),
            "### dbkit check\n\nNo findings.\n"
        );
    }

    #[test]
    fn table_lists_messages_under_it_within_the_width() {
        let mut long = sample();
        long[0].message = "word ".repeat(50);
        let table = text(&result(long), Format::Table, false);
        for line in table.lines().filter(|l| !l.starts_with("1. ")) {
            assert!(line.chars().count() <= 100, "{line}");
        }
        assert_contains(
            &table,
            &[
                "\n1. a: word word",
                "\n2. appointments.appointments_tenant: per row",
            ],
        );
        assert!(
            table.contains("database") && table.contains("1 error(s)"),
            "{table}"
        );
        assert_eq!(
            text(&result(vec![]), Format::Table, false),
            "dbkit check: no findings\n"
        );
    }

    /// Fail closed: when the security part did not run, every format says so on its
    /// first line, and the run fails even without an error finding.
    #[test]
    fn an_incomplete_run_says_so_first_in_every_format() {
        let mut r = result(vec![]);
        assert!(!r.failed());
        r.incomplete = Some("migrations/V3__x.sql:2 could not be applied".into());
        assert!(r.failed());
        let headline = "INCOMPLETE: the catalog rules and the tenant-isolation proof did not run (migrations/V3__x.sql:2 could not be applied); nothing here says the schema is safe";
        let table = text(&r, Format::Table, false);
        assert_eq!(
            table.lines().next(),
            Some(format!("dbkit check {headline}").as_str()),
            "{table}"
        );
        let md = text(&r, Format::Markdown, false);
        assert_eq!(
            md.lines().next(),
            Some(format!("> **dbkit check {headline}**").as_str()),
            "{md}"
        );
        let json = text(&r, Format::Json, false);
        assert_eq!(
            json.lines().nth(1).map(str::trim_start),
            Some("\"incomplete\": \"migrations/V3__x.sql:2 could not be applied\","),
            "{json}"
        );
        let gh = annotations(&r);
        assert_eq!(
            gh.lines().next(),
            Some(format!("::error title=dbkit check incomplete::dbkit check {headline}").as_str()),
            "{gh}"
        );
        // A complete run has no such line (and no such JSON field).
        assert!(!text(&result(vec![]), Format::Json, false).contains("incomplete"));
    }

    #[test]
    fn not_linted_statements_are_a_count_listed_with_verbose() {
        let quiet = text(&narrowed(), Format::Table, false);
        assert_contains(
            &quiet,
            &["1 statement not linted (PostgreSQL's grammar rejects it); --verbose lists them"],
        );
        assert!(!quiet.contains("V7__x.sql:5"), "{quiet}");
        assert!(quiet.contains("2 findings silenced by `-- dbkit:ignore`"));
        assert!(quiet.contains("Supabase's own extensions stubbed on the scratch databases (same names and signatures, no behaviour; the server lacks them): pg_net, supabase_vault"), "{quiet}");
        let verbose = text(&narrowed(), Format::Table, true);
        assert_contains(
            &verbose,
            &["  migrations/V7__x.sql:5: syntax error at or near \")\""],
        );
    }
}
