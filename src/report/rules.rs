//! Rendering `RuleDocs`: the index of every rule (a table; in markdown, the index page
//! docs/rules/README.md with a link per rule) and one rule's page (its markdown as is,
//! in every human format); JSON carries the same fields.

use std::io::{self, Write};

use serde_json::json;

use super::{render_rows, write_json, Format, Render};
use crate::rule::{Rule, RuleDocs};

impl Render for RuleDocs {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match (self, format) {
            (RuleDocs::One(rule), Format::Json) => write_json(out, &entry(*rule, true)),
            (RuleDocs::One(rule), _) => out.write_all(rule.page().as_bytes()),
            (RuleDocs::All, Format::Json) => {
                let rules: Vec<_> = Rule::ALL.iter().map(|r| entry(*r, false)).collect();
                write_json(out, &json!({ "rules": rules }))
            }
            (RuleDocs::All, Format::Markdown) => out.write_all(index().as_bytes()),
            (RuleDocs::All, Format::Table) => {
                let rows: Vec<Vec<String>> = Rule::ALL
                    .iter()
                    .map(|r| {
                        vec![
                            r.id().to_string(),
                            r.family().name().to_string(),
                            r.severity().to_string(),
                            r.what().to_string(),
                        ]
                    })
                    .collect();
                let table = render_rows(format, &["rule", "family", "severity", "catches"], &rows);
                out.write_all(table.as_bytes())?;
                writeln!(out, "dbkit rules NAME prints a rule's page")
            }
        }
    }
}

fn entry(rule: Rule, with_doc: bool) -> serde_json::Value {
    let mut value = json!({
        "id": rule.id(),
        "family": rule.family().name(),
        "severity": rule.severity(),
        "summary": rule.what(),
    });
    if with_doc {
        value["doc"] = json!(rule.page());
    }
    value
}

/// docs/rules/README.md: every rule with a link to its page, by family.
pub fn index() -> String {
    let mut out = String::from(
        "# dbkit's rules\n\nEvery finding dbkit reports names one of these rules. Each page says what the rule catches, why it matters, bad and good SQL, and how to suppress it; `dbkit rules NAME` prints the same page. These pages are generated from the docs beside each rule's code (`src/**/<rule>.md`).\n",
    );
    let mut family = None;
    for rule in Rule::ALL {
        if family != Some(rule.family()) {
            family = Some(rule.family());
            out.push_str(&format!(
                "\n## {}\n\n| rule | default severity | catches |\n|---|---|---|\n",
                rule.family().describe()
            ));
        }
        out.push_str(&format!(
            "| [{id}]({id}.md) | {} | {} |\n",
            rule.severity(),
            rule.what().replace('|', "\\|"),
            id = rule.id()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::report::testing::{assert_contains, assert_has_keys};
    use crate::report::to_string;

    #[test]
    fn the_index_lists_every_rule_in_every_format() {
        let table = to_string(&RuleDocs::All, Format::Table);
        let markdown = to_string(&RuleDocs::All, Format::Markdown);
        for rule in Rule::ALL {
            assert!(
                table.contains(rule.id()),
                "{} missing from the table",
                rule.id()
            );
            assert_contains(&markdown, &[&format!("[{id}]({id}.md)", id = rule.id())]);
        }
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&RuleDocs::All, Format::Json)).unwrap();
        let rules = json["rules"].as_array().unwrap();
        assert_eq!(rules.len(), Rule::ALL.len());
        assert_has_keys(&rules[0], &["id", "family", "severity", "summary"]);
    }

    #[test]
    fn one_rule_is_its_page() {
        let rule = Rule::BanDropTable;
        for format in [Format::Table, Format::Markdown] {
            assert_eq!(to_string(&RuleDocs::One(rule), format), rule.page());
        }
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&RuleDocs::One(rule), Format::Json)).unwrap();
        assert_eq!(json["id"], "ban-drop-table");
        assert_eq!(json["doc"], rule.page());
        assert_contains(
            &rule.page(),
            &[
                "# ban-drop-table\n",
                "`dbkit check` · migration lint · default severity: error",
                "## How to suppress",
            ],
        );
    }

    /// docs/rules/ holds one page per rule, equal to the binary's, and the index:
    /// every rule has a page, every page a rule. `DBKIT_BLESS=1 cargo test --lib
    /// docs_rules` rewrites the directory from the rule docs.
    #[test]
    fn docs_rules_is_in_step_with_the_binary() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules");
        let mut expected: Vec<(String, String)> = Rule::ALL
            .iter()
            .map(|r| (format!("{}.md", r.id()), r.page()))
            .collect();
        expected.push(("README.md".into(), index()));
        if std::env::var_os("DBKIT_BLESS").is_some() {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in &expected {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .expect("docs/rules/ exists (DBKIT_BLESS=1 cargo test --lib docs_rules makes it)")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let wanted: BTreeSet<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            on_disk, wanted,
            "docs/rules/ and the rule table differ: DBKIT_BLESS=1 cargo test --lib docs_rules"
        );
        for (name, text) in &expected {
            let disk = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(
                disk == *text,
                "docs/rules/{name} differs from the binary's text: DBKIT_BLESS=1 cargo test --lib docs_rules"
            );
        }
    }
}
