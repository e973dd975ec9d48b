//! Renderers for check findings: human table, markdown (PR comment), JSON (DESIGN.md
//! shape) and GitHub workflow annotations. All write to any `io::Write`.

use std::io::{self, Write};

use serde::Serialize;

use super::rule::{Finding, Severity};
use crate::report::{render_rows, Format};

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [Finding],
}

/// What `check` prints: one of the reporter's formats, or workflow annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Report(Format),
    Github,
}

pub fn render(output: Output, findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    let format = match output {
        Output::Github => return github(findings, out),
        Output::Report(format) => format,
    };
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonReport { findings })?;
            writeln!(out)
        }
        Format::Markdown => {
            writeln!(out, "### dbkit check\n")?;
            if findings.is_empty() {
                return writeln!(out, "No findings.");
            }
            out.write_all(
                render_rows(Format::Markdown, HEADERS, &rows(findings, true)).as_bytes(),
            )?;
            writeln!(out, "\n{}", summary(findings))
        }
        Format::Table => {
            if findings.is_empty() {
                return writeln!(out, "dbkit check: no findings");
            }
            out.write_all(render_rows(Format::Table, HEADERS, &rows(findings, false)).as_bytes())?;
            writeln!(out, "{}", summary(findings))
        }
    }
}

const HEADERS: &[&str] = &["severity", "rule", "where", "object", "message"];

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

/// `::error file=F,line=L,title=RULE::message` — GitHub shows it on the PR diff.
fn github(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
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

    fn sample() -> Vec<Finding> {
        vec![
            Finding::new(Rule::BanDropTable, "dropping table a, b: 100%")
                .at("migrations/V7__x.sql", 3)
                .object("a"),
            Finding::new(Rule::AuthRlsInitplan, "per row")
                .object("appointments.appointments_tenant"),
        ]
    }

    fn text(output: Output, findings: &[Finding]) -> String {
        let mut buf = Vec::new();
        render(output, findings, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn github_annotations() {
        let out = text(Output::Github, &sample());
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
    }

    #[test]
    fn json_shape() {
        let out = text(Output::Report(Format::Json), &sample());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = &v["findings"][0];
        assert_eq!(f["rule"], "ban-drop-table");
        assert_eq!(f["severity"], "error");
        assert_eq!(f["file"], "migrations/V7__x.sql");
        assert_eq!(f["line"], 3);
        assert_eq!(f["object"], "a");
        assert_eq!(v["findings"][1]["file"], serde_json::Value::Null);
        assert_eq!(v["findings"][1]["severity"], "warning");
    }

    #[test]
    fn markdown_and_table() {
        let md = text(Output::Report(Format::Markdown), &sample());
        assert!(
            md.contains("| error | `ban-drop-table` | migrations/V7__x.sql:3 | `a` |"),
            "{md}"
        );
        let table = text(Output::Report(Format::Table), &sample());
        assert!(
            table.contains("database") && table.contains("1 error(s)"),
            "{table}"
        );
        assert_eq!(
            text(Output::Report(Format::Table), &[]),
            "dbkit check: no findings\n"
        );
    }
}
