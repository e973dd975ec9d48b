//! Renders the migrate engine's results: `MigrationStatus` (`migrate status`),
//! `Applied` (`migrate`), `DryRun` (`migrate --dry-run`) and `Created` (`dbkit new`).
//! JSON shapes are the documented ones; tables keep to short cells.

use std::io::{self, Write};

use serde_json::json;

use super::{render_rows, write_json, Format, Render};
use crate::migrate::{
    past_target, version_label, Applied, Created, DryRun, MigrationStatus, Version,
};

/// A table row about one migration: its version and name, then `more`.
fn migration_row<const N: usize>(version: Version, name: &str, more: [String; N]) -> Vec<String> {
    [version.to_string(), name.to_string()]
        .into_iter()
        .chain(more)
        .collect()
}

impl Render for MigrationStatus {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(out, &self.rows);
        }
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let applied_on = r.applied_on.clone().unwrap_or_else(|| "-".into());
                migration_row(r.version, &r.name, [r.state.to_string(), applied_on])
            })
            .collect();
        out.write_all(
            render_rows(format, &["version", "name", "state", "applied_on"], &cells).as_bytes(),
        )
    }
}

impl Render for Applied {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(
                out,
                &json!({"applied": self.applied, "version": self.version()}),
            );
        }
        if self.applied.is_empty() {
            return writeln!(
                out,
                "nothing to do: database is at {}{}",
                version_label(self.layout, self.version()),
                past_target(self.version(), self.target)
            );
        }
        let cells: Vec<Vec<String>> = self
            .applied
            .iter()
            .map(|m| migration_row(m.version, &m.name, [m.mode.clone(), m.ms.to_string()]))
            .collect();
        out.write_all(render_rows(format, &["version", "name", "mode", "ms"], &cells).as_bytes())?;
        for warning in self.applied.iter().filter_map(|m| m.warning.as_ref()) {
            writeln!(out, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Render for DryRun {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return write_json(
                out,
                &json!({"dry_run": true, "version": self.current, "would_apply": self.would_apply}),
            );
        }
        let at = version_label(self.layout, self.current);
        if self.would_apply.is_empty() {
            return writeln!(
                out,
                "nothing to do: database is at {at}{}",
                past_target(self.current, self.target)
            );
        }
        writeln!(out, "dry run: database is at {at}; would apply:")?;
        let cells: Vec<Vec<String>> = self
            .would_apply
            .iter()
            .map(|m| migration_row(m.version, &m.name, [m.mode.clone()]))
            .collect();
        out.write_all(render_rows(format, &["version", "name", "mode"], &cells).as_bytes())
    }
}

impl Render for Created {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => write_json(out, self),
            Format::Table | Format::Markdown => writeln!(out, "{}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{AppliedMigration, Layout, Mode, Planned, State, StatusRow, Version};
    use crate::report::testing::assert_contains;
    use crate::report::to_string;

    fn status() -> MigrationStatus {
        MigrationStatus {
            layout: Layout::Dbkit,
            history: "refinery_schema_history",
            rows: vec![
                StatusRow {
                    version: Version::new(1),
                    name: "one".into(),
                    state: State::Applied,
                    applied_on: Some("2026-01-01T00:00:00Z".into()),
                },
                StatusRow {
                    version: Version::new(2),
                    name: "two".into(),
                    state: State::Pending,
                    applied_on: None,
                },
            ],
        }
    }

    #[test]
    fn status_in_every_format() {
        let s = status();
        let table = to_string(&s, Format::Table);
        assert!(
            table.contains("applied_on") && table.contains("pending"),
            "{table}"
        );
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
        let md = to_string(&s, Format::Markdown);
        assert!(
            md.starts_with("| version | name | state | applied_on |"),
            "{md}"
        );
        assert_contains(&md, &["| 2 | two | pending | - |"]);
        let json: serde_json::Value = serde_json::from_str(&to_string(&s, Format::Json)).unwrap();
        assert_eq!(
            json,
            json!([
                {"version": 1, "name": "one", "state": "applied", "applied_on": "2026-01-01T00:00:00Z"},
                {"version": 2, "name": "two", "state": "pending", "applied_on": null}
            ])
        );
    }

    #[test]
    fn supabase_versions_render_as_numbers() {
        let mut s = status();
        s.layout = Layout::Supabase;
        s.rows[0].version = Version::new(20_240_101_120_000);
        let json: serde_json::Value = serde_json::from_str(&to_string(&s, Format::Json)).unwrap();
        assert_eq!(json[0]["version"], json!(20_240_101_120_000i64));
        assert!(to_string(&s, Format::Table).contains("20240101120000"));
    }

    fn applied(list: Vec<AppliedMigration>) -> Applied {
        Applied {
            layout: Layout::Dbkit,
            before: Some(Version::new(3)),
            applied: list,
            target: Some(Version::new(2)),
        }
    }

    #[test]
    fn applied_in_every_format() {
        let run = applied(vec![AppliedMigration {
            version: Version::new(4),
            name: "idx".into(),
            mode: "no-transaction".into(),
            ms: 12,
            warning: None,
        }]);
        let table = to_string(&run, Format::Table);
        assert!(
            table.contains("no-transaction") && table.contains("ms"),
            "{table}"
        );
        let md = to_string(&run, Format::Markdown);
        assert_contains(&md, &["| 4 | idx | no-transaction | 12 |"]);
        let json: serde_json::Value = serde_json::from_str(&to_string(&run, Format::Json)).unwrap();
        assert_eq!(
            json,
            json!({"applied": [{"version": 4, "name": "idx", "mode": "no-transaction", "ms": 12}], "version": 4})
        );
    }

    #[test]
    fn a_warning_follows_the_table_and_joins_its_migration_in_json() {
        let run = applied(vec![AppliedMigration {
            version: Version::new(5),
            name: "enum".into(),
            mode: "2 transactions".into(),
            ms: 3,
            warning: Some("m/V5__enum.sql ran as 2 transactions".into()),
        }]);
        for format in [Format::Table, Format::Markdown] {
            let text = to_string(&run, format);
            assert!(
                text.contains("2 transactions")
                    && text.ends_with("\nwarning: m/V5__enum.sql ran as 2 transactions\n"),
                "{text}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&to_string(&run, Format::Json)).unwrap();
        assert_eq!(
            json["applied"][0]["warning"],
            "m/V5__enum.sql ran as 2 transactions"
        );
    }

    #[test]
    fn nothing_applied_says_where_the_database_is() {
        let idle = applied(vec![]);
        for format in [Format::Table, Format::Markdown] {
            assert_eq!(
                to_string(&idle, format),
                "nothing to do: database is at V3, past --target 2 (dbkit only migrates up; undo with a new migration)\n"
            );
        }
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&idle, Format::Json)).unwrap();
        assert_eq!(json, json!({"applied": [], "version": 3}));
    }

    #[test]
    fn dry_run_in_every_format() {
        let plan = DryRun {
            layout: Layout::Dbkit,
            current: None,
            target: None,
            would_apply: vec![Planned {
                version: Version::new(1),
                name: "one".into(),
                mode: "transactional".into(),
            }],
        };
        let table = to_string(&plan, Format::Table);
        assert!(
            table.starts_with("dry run: database is at V0 (no migration applied); would apply:\n"),
            "{table}"
        );
        assert!(to_string(&plan, Format::Markdown).contains("| 1 | one | transactional |"));
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&plan, Format::Json)).unwrap();
        assert_eq!(
            json,
            json!({"dry_run": true, "version": null, "would_apply": [{"version": 1, "name": "one", "mode": "transactional"}]})
        );
        let idle = DryRun {
            would_apply: vec![],
            current: Some(Version::new(6)),
            ..plan
        };
        assert_eq!(
            to_string(&idle, Format::Table),
            "nothing to do: database is at V6\n"
        );
    }

    #[test]
    fn created_in_every_format() {
        let created = Created {
            path: "migrations/V7__x.sql".into(),
            version: Version::new(7),
            name: "x".into(),
            mode: Mode::Transactional,
            layout: Layout::Dbkit,
        };
        assert_eq!(to_string(&created, Format::Table), "migrations/V7__x.sql\n");
        assert_eq!(
            to_string(&created, Format::Markdown),
            "migrations/V7__x.sql\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&created, Format::Json)).unwrap();
        assert_eq!(
            json,
            json!({"path": "migrations/V7__x.sql", "version": 7, "name": "x", "mode": "transactional", "layout": "dbkit"})
        );
    }
}
