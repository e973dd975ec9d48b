//! Renders `dbkit check`'s `Findings`: a table for the terminal (each finding's message
//! beside it, wrapped; severity, rule and location kept whole), markdown for a PR
//! comment, JSON (DESIGN.md's shape plus `ran`), and GitHub workflow annotations — the
//! one result that has them. Under the findings: the summary, what the isolation proof
//! tried and left out, what `--base` left out, what PostgreSQL's grammar rejects (listed
//! with `--verbose`) and how many findings inline ignores silenced.

use std::io::{self, Write};

use crate::check::isolation::Proof;
use crate::check::rule::{Finding, Severity};
use crate::check::{incomplete_headline, Findings};
use crate::report::{render_rows, table_width, write_json, write_wrapped, Format, Render};

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
                    let rows: Vec<Vec<String>> = result
                        .findings
                        .iter()
                        .map(|f| {
                            vec![
                                f.severity.to_string(),
                                f.rule.to_string(),
                                location(f),
                                named_message(f),
                            ]
                        })
                        .collect();
                    findings_table(out, &rows, table_width())?;
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
        if let Some(proof) = &ran.proof {
            lines.extend(proof_lines(proof));
        }
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
const TABLE: &[&str] = &["severity", "rule", "where", "message"];

/// Room a message needs beside its finding to read as prose, not a column of words.
const MESSAGE_ROOM: usize = 40;

/// The findings (severity, rule, where, message) within `width`: a table with the
/// message beside, severity, rule and file:line kept whole — or, where long paths
/// leave the message no room, each finding on a line of its own with its message
/// wrapped under it.
fn findings_table(out: &mut dyn Write, rows: &[Vec<String>], width: usize) -> io::Result<()> {
    let widest = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain(std::iter::once(TABLE[i].len()))
            .max()
            .unwrap_or(0)
    };
    let fixed = widest(0) + widest(1) + widest(2) + 3 * TABLE.len() + 1;
    if fixed + MESSAGE_ROOM <= width {
        let table = crate::report::render_rows_keeping_within(
            Format::Table,
            TABLE,
            rows,
            &[0, 1, 2],
            width,
        );
        return out.write_all(table.as_bytes());
    }
    for row in rows {
        writeln!(out, "{:<7} {}  {}", row[0], row[1], row[2])?;
        write_wrapped(out, &row[3], "        ", "        ", width)?;
    }
    Ok(())
}

/// The message, its object named first unless it already is (many messages start with
/// their object).
fn named_message(f: &Finding) -> String {
    match &f.object {
        Some(object) => {
            let last = object.rsplit('.').next().unwrap_or(object);
            if f.message.contains(object.as_str()) || f.message.contains(last) {
                f.message.clone()
            } else {
                format!("{object}: {}", f.message)
            }
        }
        None => f.message.clone(),
    }
}

/// What the isolation proof tried and left out, in a line or two.
pub fn proof_lines(proof: &Proof) -> Vec<String> {
    let mut lines = Vec::new();
    if proof.total() == 0 {
        lines.push(
            "isolation proof: nothing to probe (no table, view or function an API role can reach)"
                .to_string(),
        );
    }
    let per_role: Vec<String> = proof
        .requests
        .iter()
        .rev()
        .map(|(role, ops)| {
            let ops: Vec<String> = ["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"]
                .iter()
                .filter_map(|op| ops.get(*op).map(|n| format!("{op} {n}")))
                .collect();
            format!("as {role} {}", ops.join(", "))
        })
        .collect();
    let mut tried = vec![count(proof.tables, "table")];
    if proof.views > 0 {
        tried.push(count(proof.views, "view or function read"));
    }
    if proof.functions > 0 {
        tried.push(format!(
            "{} called",
            count(proof.functions, "SECURITY DEFINER function")
        ));
    }
    if proof.total() > 0 {
        lines.push(format!(
            "isolation proof: {} — {} ({})",
            tried.join(", "),
            count(proof.total(), "request"),
            per_role.join("; ")
        ));
    }
    if !proof.skipped.is_empty() {
        let mut by_why: Vec<(String, Vec<&str>)> = Vec::new();
        for s in &proof.skipped {
            let why = s.why.split(':').next().unwrap_or(&s.why).to_string();
            match by_why.iter_mut().find(|(w, _)| *w == why) {
                Some((_, objects)) => objects.push(&s.object),
                None => by_why.push((why, vec![&s.object])),
            }
        }
        let parts: Vec<String> = by_why
            .iter()
            .map(|(why, objects)| {
                let shown: Vec<&str> = objects.iter().take(4).copied().collect();
                let listed = if objects.len() > 4 {
                    format!("{} tables ({}, …)", objects.len(), shown.join(", "))
                } else {
                    shown.join(", ")
                };
                format!("{listed}: {why}")
            })
            .collect();
        lines.push(format!("not probed: {}", parts.join("; ")));
    }
    lines
}

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
    fn table_puts_each_message_beside_its_finding_and_keeps_locations_whole() {
        let mut long = sample();
        long[0].message = "word ".repeat(50);
        long[0].file = Some("supabase/migrations/20240624104607_remote_schema.sql".into());
        let table = text(&result(long), Format::Table, false);
        for line in table.lines() {
            assert!(line.chars().count() <= 100, "{line}");
        }
        assert_contains(
            &table,
            &[
                "supabase/migrations/20240624104607_remote_schema.sql:3",
                "a: word word",
                "appointments.appointments_tenant: per row",
            ],
        );
        // Long paths leave no room beside: the message is under its finding, never in a
        // list elsewhere.
        let lines: Vec<&str> = table.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("ban-drop-table"))
            .unwrap();
        assert!(lines[at + 1].trim_start().starts_with("a: word"), "{table}");
        // Short ones leave room: a table, the message beside.
        let grid = text(&result(sample()), Format::Table, false);
        let row = grid.lines().find(|l| l.contains("ban-drop-table")).unwrap();
        assert!(
            row.contains("migrations/V7__x.sql:3") && row.contains("dropping table a, b"),
            "{grid}"
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
    fn the_proof_says_what_it_tried_and_left_out() {
        let mut r = result(sample());
        let mut proof = Proof {
            tables: 12,
            functions: 2,
            ..Proof::default()
        };
        proof
            .requests
            .entry("authenticated".into())
            .or_default()
            .extend([("SELECT".to_string(), 12), ("EXECUTE".to_string(), 4)]);
        proof
            .requests
            .entry("anon".into())
            .or_default()
            .insert("SELECT".into(), 12);
        proof.skipped.push(crate::check::isolation::Skipped {
            object: "billing_events".into(),
            why: "service role only (row-level security on, no policy for an API role)".into(),
        });
        r.ran.proof = Some(proof);
        let table = text(&r, Format::Table, false);
        assert_contains(
            &table,
            &[
                "isolation proof: 12 tables, 2 SECURITY DEFINER functions called — 28 requests (as authenticated SELECT 12, EXECUTE 4; as anon SELECT 12)",
                "not probed: billing_events: service role only (row-level security on, no policy for an API role)",
            ],
        );
        assert!(text(&r, Format::Markdown, false).contains("isolation proof: 12 tables"));
        let v: serde_json::Value = serde_json::from_str(&text(&r, Format::Json, false)).unwrap();
        assert_eq!(v["ran"]["proof"]["requests"]["anon"]["SELECT"], 12);
        assert_eq!(v["ran"]["proof"]["skipped"][0]["object"], "billing_events");
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
