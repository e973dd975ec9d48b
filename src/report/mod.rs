//! Output formats shared by every command: table (tabled), markdown, json. Renderers
//! write to any `io::Write`, so each format can be tested without a terminal.

use std::io::IsTerminal;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned table for a terminal.
    #[default]
    Table,
    /// Markdown, fit for a pull-request comment.
    Markdown,
    /// Stable JSON for machines.
    Json,
    /// GitHub Actions workflow annotations (`dbkit check` only; a usage error elsewhere).
    Github,
}

/// Colour only on a terminal and never with `NO_COLOR`.
pub fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Progress and status lines go to stderr only when it is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Write `text` to stdout. A write that fails (disk full, a closed descriptor) is an
/// error naming stdout, never a panic; a closed pipe ends the process quietly (SIGPIPE).
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(stdout_error)
}

/// A failed write to stdout, as a hinted error.
pub fn stdout_error(err: std::io::Error) -> anyhow::Error {
    crate::exit::hinted(
        format!("cannot write the output to stdout: {err}"),
        "check the file or device stdout is redirected to (full disk, closed descriptor?)",
    )
}

/// Render rows as a table with the given headers, in the chosen human format.
pub fn render_rows(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    match format {
        Format::Markdown => {
            let mut out = String::new();
            out.push_str(&format!("| {} |\n", headers.join(" | ")));
            out.push_str(&format!(
                "|{}\n",
                headers.iter().map(|_| "---|").collect::<String>()
            ));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            out
        }
        _ => {
            let mut builder = tabled::builder::Builder::default();
            builder.push_record(headers.iter().map(|h| h.to_string()));
            for row in rows {
                builder.push_record(row.clone());
            }
            let mut table = builder.build();
            table.with(tabled::settings::Style::sharp());
            format!("{table}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_pipes() {
        let out = render_rows(
            Format::Markdown,
            &["a", "b"],
            &[vec!["x|y".into(), "z".into()]],
        );
        assert_eq!(out, "| a | b |\n|---|---|\n| x\\|y | z |\n");
    }

    #[test]
    fn table_has_headers_and_cells() {
        let out = render_rows(
            Format::Table,
            &["version", "state"],
            &[vec!["1".into(), "applied".into()]],
        );
        assert!(out.contains("version") && out.contains("applied"), "{out}");
    }
}
