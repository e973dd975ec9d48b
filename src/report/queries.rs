//! Renders `Initialized` (`dbkit queries init`): the queries written, one row each, then
//! what to edit (samplers dbkit could not write) and the statements it left out.

use std::io::{self, Write};

use super::{render_rows, write_json, Format, Render};
use crate::workload::init::Initialized;

impl Render for Initialized {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(out, self);
        }
        let heading = format!(
            "wrote {} queries to {}/ (from the {}): edit them to match what the application sends",
            self.queries.len(),
            self.dir,
            if self.source == "schema" {
                "schema".to_string()
            } else {
                self.source.clone()
            }
        );
        let markdown = format == Format::Markdown;
        if markdown {
            writeln!(out, "## dbkit queries init\n\n{heading}\n")?;
        } else {
            writeln!(out, "{heading}")?;
        }
        let rows: Vec<Vec<String>> = self
            .queries
            .iter()
            .map(|q| {
                vec![
                    if markdown {
                        format!("`{}`", q.name)
                    } else {
                        q.name.clone()
                    },
                    q.params.to_string(),
                    q.weight.to_string(),
                    q.summary.clone(),
                ]
            })
            .collect();
        write!(
            out,
            "{}",
            render_rows(format, &["query", "params", "weight", "what"], &rows)
        )?;
        let bullet = if markdown { "- " } else { "" };
        for q in self
            .queries
            .iter()
            .filter(|q| !q.samplers_to_write.is_empty())
        {
            let params: Vec<String> = q
                .samplers_to_write
                .iter()
                .map(|n| format!("${n}"))
                .collect();
            writeln!(
                out,
                "{bullet}edit: {}: write the sampler of {} in catalog.yaml (until then explain skips it)",
                q.name,
                params.join(", ")
            )?;
        }
        for s in &self.skipped {
            writeln!(out, "{bullet}skipped: {} ({})", s.query, s.why)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{assert_contains, assert_has_keys};
    use crate::report::to_string;
    use crate::workload::init::{SkippedStatement, WrittenQuery};

    fn written() -> Initialized {
        Initialized {
            dir: "queries".into(),
            source: "pg_stat_statements".into(),
            queries: vec![WrittenQuery {
                name: "select_visits_by_pet_id".into(),
                summary: "from pg_stat_statements: 12 calls, 40.00 ms mean, 480 ms in all".into(),
                params: 3,
                weight: 4,
                samplers_to_write: vec![3],
            }],
            files: vec!["catalog.yaml".into(), "select_visits_by_pet_id.sql".into()],
            skipped: vec![SkippedStatement {
                query: "SELECT * FROM gone WHERE x = $1".into(),
                why: "no longer prepares: relation \"gone\" does not exist".into(),
            }],
        }
    }

    #[test]
    fn every_format_names_the_queries_what_to_edit_and_what_was_left_out() {
        let table = to_string(&written(), Format::Table);
        assert_contains(
            &table,
            &[
                "wrote 1 queries to queries/ (from the pg_stat_statements)",
                "select_visits_by_pet_id",
                "edit: select_visits_by_pet_id: write the sampler of $3",
                "skipped: SELECT * FROM gone WHERE x = $1 (no longer prepares",
            ],
        );
        let md = to_string(&written(), Format::Markdown);
        assert_contains(
            &md,
            &[
                "## dbkit queries init",
                "| `select_visits_by_pet_id` | 3 | 4 |",
                "- edit:",
            ],
        );
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&written(), Format::Json)).unwrap();
        assert_has_keys(&json, &["dir", "source", "queries", "files", "skipped"]);
        assert_eq!(json["queries"][0]["samplers_to_write"][0], 3);
    }
}
