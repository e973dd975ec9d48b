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

#[cfg(test)]
mod tests {
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
        assert!(
            md.contains("| running | 54123 | /srv/app/.dbkit/pg/data | 15 |"),
            "{md}"
        );
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
