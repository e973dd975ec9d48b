//! Rendering `SeedSummary`: rows per table, then what was seeded where and its
//! fingerprint on lines of their own under the table (each within 80 columns); JSON
//! as serialized.

use std::io::{self, Write};

use super::{render_rows, write_json, Format, Render};
use crate::seed::{DerivedProfile, SeedSummary};

impl Render for SeedSummary {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(out, self);
        }
        let mut rows: Vec<Vec<String>> = self
            .tables
            .0
            .iter()
            .map(|(t, n)| vec![t.clone(), n.to_string()])
            .collect();
        rows.push(vec!["total".into(), self.rows.to_string()]);
        out.write_all(render_rows(format, &["table", "rows"], &rows).as_bytes())?;
        if format == Format::Markdown {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{} rows into {} in {:.1} s ({:.0} rows/s)",
            self.rows, self.target, self.seconds, self.rows_per_s
        )?;
        if format == Format::Markdown {
            writeln!(out)?;
        }
        writeln!(
            out,
            "seed {}, {} org{}, anchor {}\nfingerprint {}",
            self.seed,
            self.orgs,
            if self.orgs == 1 { "" } else { "s" },
            self.anchor_date,
            self.fingerprint
        )?;
        for note in &self.notes {
            if format == Format::Markdown {
                writeln!(out)?;
            }
            writeln!(out, "note: {note}")?;
        }
        Ok(())
    }
}

impl Render for DerivedProfile {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => write_json(out, &serde_json::json!({ "profile": self.0 })),
            Format::Markdown => write!(out, "```yaml\n{}```\n", self.0),
            _ => out.write_all(self.0.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::report::testing::assert_contains;
    use chrono::NaiveDate;

    use super::*;
    use crate::report::to_string;
    use crate::seed::TableRows;

    fn summary() -> SeedSummary {
        SeedSummary {
            tables: TableRows(
                [
                    "orgs",
                    "org_settings",
                    "members",
                    "providers",
                    "contacts",
                    "appointments",
                ]
                .iter()
                .zip([1, 1, 2, 3, 4, 5])
                .map(|(t, n)| (t.to_string(), n))
                .collect(),
            ),
            rows: 16,
            seconds: 2.0,
            rows_per_s: 8.0,
            fingerprint: "ab".into(),
            seed: 42,
            orgs: 1,
            anchor_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            target: "127.0.0.1:5432/app".into(),
            notes: vec![],
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&to_string(&summary(), Format::Json)).unwrap();
        assert_eq!(v["tables"]["appointments"], 5);
        assert_eq!(v["rows"], 16);
        assert_eq!(v["rows_per_s"], 8.0);
        assert_eq!(v["fingerprint"], "ab");
        assert_eq!(v["anchor_date"], "2026-01-01");
        assert_eq!(v["target"], "127.0.0.1:5432/app");
    }

    #[test]
    fn table_lists_every_table_and_the_run_under_it() {
        let text = to_string(&summary(), Format::Table);
        for (t, _) in &summary().tables.0 {
            assert!(text.contains(t.as_str()), "{text}");
        }
        assert_contains(&text, &["│ total"]);
        assert!(text.contains("16 rows into 127.0.0.1:5432/app in 2.0 s (8 rows/s)"));
        assert!(text.ends_with("seed 42, 1 org, anchor 2026-01-01\nfingerprint ab\n"));
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }

    #[test]
    fn a_derived_profile_is_yaml_in_every_format() {
        let p = DerivedProfile("tables:\n  bookings: {}\n".into());
        assert_eq!(to_string(&p, Format::Table), "tables:\n  bookings: {}\n");
        assert!(to_string(&p, Format::Markdown).starts_with("```yaml\ntables:"));
        let v: serde_json::Value = serde_json::from_str(&to_string(&p, Format::Json)).unwrap();
        assert_eq!(v["profile"], "tables:\n  bookings: {}\n");
    }

    #[test]
    fn notes_follow_the_summary() {
        let mut s = summary();
        s.notes = vec!["clients.lsn: left NULL".into()];
        assert!(to_string(&s, Format::Table).ends_with("note: clients.lsn: left NULL\n"));
        let v: serde_json::Value = serde_json::from_str(&to_string(&s, Format::Json)).unwrap();
        assert_eq!(v["notes"][0], "clients.lsn: left NULL");
    }

    #[test]
    fn markdown_is_a_table_then_paragraphs() {
        let text = to_string(&summary(), Format::Markdown);
        assert!(text.starts_with("| table | rows |\n|---|---|\n| orgs | 1 |\n"));
        assert_contains(
            &text,
            &["| total | 16 |\n\n16 rows into", "\n\nseed 42, 1 org,"],
        );
    }
}
