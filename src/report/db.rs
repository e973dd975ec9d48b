//! Renders what `dbkit db` reports: the cluster's status, its URL, and the one line
//! an action (start, stop, destroy) ends with; with `--format json` an action's line
//! comes with the cluster's status.

use std::io::{self, Write};

use crate::db::cluster::{shown, ClusterStatus};
use crate::report::{render_rows, Format, Render};

/// What one `dbkit db` action reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbReport {
    /// `db status`.
    Status(ClusterStatus),
    /// `db url`: the full URL, password included: the owner asked for their own secret.
    Url(String),
    /// `db status` of a running cluster: with the lab's templates on it.
    StatusWithCache {
        status: ClusterStatus,
        cache: Vec<crate::lab::cache::Template>,
    },
    /// `db prune-cache`: the templates dropped.
    Pruned(Vec<String>),
    /// `db start|stop|destroy`: what was done, and the status after it.
    Done {
        message: String,
        status: ClusterStatus,
    },
}

impl Render for ClusterStatus {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        if format == Format::Json {
            return writeln!(out, "{}", serde_json::to_string(self)?);
        }
        let state = match (self.running, &self.version) {
            (true, _) => "running",
            (false, Some(_)) => "stopped",
            (false, None) => "not created",
        };
        let row = vec![
            state.to_string(),
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            shown(&self.data_dir),
            self.version.clone().unwrap_or_default(),
        ];
        out.write_all(
            render_rows(format, &["state", "port", "data dir", "version"], &[row]).as_bytes(),
        )
    }
}

impl Render for DbReport {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match (self, format) {
            (DbReport::Status(status), _) => status.render(format, out),
            (DbReport::StatusWithCache { status, cache }, Format::Json) => {
                let mut value = serde_json::to_value(status)?;
                value["cache"] = serde_json::json!({
                    "templates": cache,
                    "bytes": cache.iter().map(|t| t.bytes).sum::<i64>(),
                });
                writeln!(out, "{value}")
            }
            (DbReport::StatusWithCache { status, cache }, _) => {
                status.render(format, out)?;
                writeln!(out, "{}", cache_line(cache))
            }
            (DbReport::Pruned(names), Format::Json) => {
                writeln!(out, "{}", serde_json::json!({ "dropped": names }))
            }
            (DbReport::Pruned(names), _) if names.is_empty() => {
                writeln!(out, "lab cache: nothing to prune")
            }
            (DbReport::Pruned(names), _) => {
                writeln!(
                    out,
                    "lab cache: dropped {} template(s): {}",
                    names.len(),
                    names.join(", ")
                )
            }
            (DbReport::Url(url), Format::Json) => {
                writeln!(out, "{}", serde_json::json!({ "url": url }))
            }
            (DbReport::Url(url), _) => writeln!(out, "{url}"),
            (DbReport::Done { message, status }, Format::Json) => {
                let mut value = serde_json::to_value(status)?;
                value["message"] = message.clone().into();
                writeln!(out, "{value}")
            }
            (DbReport::Done { message, .. }, _) => writeln!(out, "{message}"),
        }
    }
}

/// `lab cache: 2 templates, 1.3 GB, newest built 2026-12-01T10:00:00Z`.
fn cache_line(cache: &[crate::lab::cache::Template]) -> String {
    if cache.is_empty() {
        return "lab cache: empty".into();
    }
    let bytes: i64 = cache.iter().map(|t| t.bytes).sum();
    let newest = cache.iter().filter_map(|t| t.built_at.as_deref()).max();
    let oldest = cache.iter().filter_map(|t| t.built_at.as_deref()).min();
    let age = match (oldest, newest) {
        (Some(o), Some(n)) if o != n => format!(", built {o} to {n}"),
        (_, Some(n)) => format!(", built {n}"),
        _ => String::new(),
    };
    format!(
        "lab cache: {} template(s), {:.1} MB{age} (`dbkit db prune-cache` drops them)",
        cache.len(),
        bytes as f64 / 1_048_576.0
    )
}

#[cfg(test)]
mod tests {
    use crate::report::testing::assert_contains;
    #[test]
    fn the_cache_line_says_count_size_and_age() {
        use crate::lab::cache::Template;
        let t = |name: &str, bytes, at: Option<&str>| Template {
            name: name.into(),
            bytes,
            built_at: at.map(str::to_string),
        };
        assert_eq!(super::cache_line(&[]), "lab cache: empty");
        let line = super::cache_line(&[
            t("dbkit_cache_a", 1_048_576 * 3, Some("2026-12-01T10:00:00Z")),
            t("dbkit_cache_b", 1_048_576, Some("2026-12-01T11:00:00Z")),
        ]);
        assert_eq!(line, "lab cache: 2 template(s), 4.0 MB, built 2026-12-01T10:00:00Z to 2026-12-01T11:00:00Z (`dbkit db prune-cache` drops them)");
        let json = crate::report::to_string(
            &super::DbReport::Pruned(vec!["dbkit_cache_a".into()]),
            crate::report::Format::Json,
        );
        assert_eq!(json.trim(), r#"{"dropped":["dbkit_cache_a"]}"#);
    }

    use super::*;
    use crate::report::to_string;
    use std::path::PathBuf;

    fn running() -> ClusterStatus {
        ClusterStatus {
            running: true,
            port: Some(54123),
            data_dir: PathBuf::from("/srv/app/.dbkit/pg/data"),
            version: Some("15".into()),
            pid: Some(42),
        }
    }

    #[test]
    fn status_in_every_format() {
        let table = to_string(&running(), Format::Table);
        assert!(
            table.contains("running") && table.contains("54123") && table.contains("15"),
            "{table}"
        );
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
        let md = to_string(&running(), Format::Markdown);
        assert!(
            md.starts_with("| state | port | data dir | version |\n"),
            "{md}"
        );
        assert_contains(&md, &["| running | 54123 | /srv/app/.dbkit/pg/data | 15 |"]);
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&running(), Format::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "running": true, "port": 54123,
                "data_dir": "/srv/app/.dbkit/pg/data", "version": "15"
            }),
            "the pid is not part of the contract"
        );
    }

    #[test]
    fn a_missing_cluster_is_not_created() {
        let missing = ClusterStatus {
            running: false,
            port: None,
            data_dir: PathBuf::from("/x/data"),
            version: None,
            pid: None,
        };
        assert!(to_string(&missing, Format::Table).contains("not created"));
        let stopped = ClusterStatus {
            version: Some("15".into()),
            ..missing.clone()
        };
        assert!(to_string(&stopped, Format::Markdown).contains("| stopped |"));
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&missing, Format::Json)).unwrap();
        assert_eq!(json["running"], false);
        assert!(json["port"].is_null() && json["version"].is_null());
    }

    #[test]
    fn url_in_every_format() {
        let url = DbReport::Url("postgresql://postgres:pw@127.0.0.1:5/dbkit".into());
        assert_eq!(
            to_string(&url, Format::Table),
            "postgresql://postgres:pw@127.0.0.1:5/dbkit\n"
        );
        assert_eq!(
            to_string(&url, Format::Markdown),
            "postgresql://postgres:pw@127.0.0.1:5/dbkit\n"
        );
        let json: serde_json::Value = serde_json::from_str(&to_string(&url, Format::Json)).unwrap();
        assert_eq!(json["url"], "postgresql://postgres:pw@127.0.0.1:5/dbkit");
    }

    #[test]
    fn an_action_is_one_line_or_the_status_with_its_message() {
        let done = DbReport::Done {
            message: "stopped (.dbkit/pg)".into(),
            status: ClusterStatus {
                running: false,
                ..running()
            },
        };
        assert_eq!(to_string(&done, Format::Table), "stopped (.dbkit/pg)\n");
        assert_eq!(to_string(&done, Format::Markdown), "stopped (.dbkit/pg)\n");
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&done, Format::Json)).unwrap();
        assert_eq!(json["message"], "stopped (.dbkit/pg)");
        assert_eq!(json["running"], false);
        assert_eq!(json["port"], 54123);
    }
}
