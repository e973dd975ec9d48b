//! The reporter: the one layer that turns engine results into output. Every result
//! type implements `Render` for the three formats every command has (table, markdown,
//! json); GitHub workflow annotations are `check`'s alone (`report::check::github`). Renderers
//! write to any `io::Write`, so each format is a unit test over a `Vec<u8>`; `emit`
//! is the only place that writes a result to stdout.

pub mod advice;
pub mod bench;
pub mod bench_mix;
pub mod db;
pub mod explain;
pub mod migrate;
pub mod queries;
pub mod rehearse;
pub mod review;
pub mod rules;
pub mod sarif;
pub mod seed;
mod tenancy;

use std::io::{self, IsTerminal, Write};

pub mod check;

/// The output formats every command has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned table for a terminal, within its width.
    #[default]
    Table,
    /// Markdown, fit for a pull-request comment (full text, no wrapping).
    Markdown,
    /// Stable JSON for machines: one document on stdout and nothing else.
    Json,
}

/// A result that can be printed in every format.
pub trait Render {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()>;
}

/// Write `value` as pretty JSON and a newline: the JSON format of every result.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Render `result` into a string (tests, and results embedded in others).
pub fn to_string(result: &dyn Render, format: Format) -> String {
    let mut out = Vec::new();
    result
        .render(format, &mut out)
        .expect("writing into a Vec cannot fail");
    String::from_utf8_lossy(&out).into_owned()
}

/// Render `result` to stdout. The whole document is rendered first, so a failing
/// renderer never leaves half a JSON document behind.
pub fn emit(result: &dyn Render, format: Format) -> anyhow::Result<()> {
    let mut out = Vec::new();
    result.render(format, &mut out).map_err(stdout_error)?;
    print(&String::from_utf8_lossy(&out))
}

/// Columns a table may take: the terminal's width on a terminal, else 100.
pub fn table_width() -> usize {
    if std::io::stdout().is_terminal() {
        if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
            return usize::from(w).max(40);
        }
    }
    100
}

/// Progress and status lines go to stderr only when it is a terminal
/// (`crate::progress` draws them).
pub fn stderr_is_terminal() -> bool {
    crate::progress::enabled()
}

/// Write `text` to stdout. A write that fails (disk full, a closed descriptor) is an
/// error naming stdout, never a panic. A pipe closed by its reader (`| head`) is not:
/// the output nobody reads is dropped and the command goes on, so that its errors
/// still reach stderr.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(stdout_error),
    }
}

/// A failed write to stdout, as a hinted error.
pub fn stdout_error(err: std::io::Error) -> anyhow::Error {
    crate::error::hinted(
        format!("cannot write the output to stdout: {err}"),
        "check the file or device stdout is redirected to (full disk, closed descriptor?)",
    )
}

/// Render rows as a table with the given headers, in the chosen human format. Tables
/// wrap their widest cells to fit `table_width()`; markdown keeps the full text.
pub fn render_rows(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    render_rows_within(format, headers, rows, table_width())
}

/// `render_rows` with an explicit width (tests).
pub fn render_rows_within(
    format: Format,
    headers: &[&str],
    rows: &[Vec<String>],
    width: usize,
) -> String {
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
            table.with(
                tabled::settings::Width::wrap(width)
                    .priority(tabled::settings::peaker::Priority::max(true))
                    .keep_words(true),
            );
            format!("{table}\n")
        }
    }
}

/// `render_rows` for a table whose columns `keep` are never wrapped (a location such
/// as `supabase/migrations/20240624_remote_schema.sql:1405` stays whole): the other
/// columns share the rest of the width, wrapped by words. Markdown is unchanged.
pub fn render_rows_keeping(
    format: Format,
    headers: &[&str],
    rows: &[Vec<String>],
    keep: &[usize],
) -> String {
    render_rows_keeping_within(format, headers, rows, keep, table_width())
}

/// `render_rows_keeping` with an explicit width (tests).
pub fn render_rows_keeping_within(
    format: Format,
    headers: &[&str],
    rows: &[Vec<String>],
    keep: &[usize],
    width: usize,
) -> String {
    if format == Format::Markdown {
        return render_rows_within(format, headers, rows, width);
    }
    use tabled::settings::object::Columns;
    use tabled::settings::{Modify, Style, Width};
    let n = headers.len();
    let natural: Vec<usize> = (0..n)
        .map(|i| {
            std::iter::once(headers[i])
                .chain(rows.iter().filter_map(|r| r.get(i).map(String::as_str)))
                .flat_map(str::lines)
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Borders and one space of padding each side: 3 per column and 1.
    let mut room = width.saturating_sub(3 * n + 1);
    let mut target = natural.clone();
    for &i in keep.iter().filter(|&&i| i < n) {
        room = room.saturating_sub(natural[i]);
    }
    // Water-filling: the narrowest wrapped columns keep their width, the widest share
    // what is left.
    let mut wrapped: Vec<usize> = (0..n).filter(|i| !keep.contains(i)).collect();
    wrapped.sort_by_key(|&i| natural[i]);
    let mut left = wrapped.len();
    for &i in &wrapped {
        let share = (room / left.max(1)).max(8);
        target[i] = natural[i].min(share);
        room = room.saturating_sub(target[i]);
        left -= 1;
    }
    let mut builder = tabled::builder::Builder::default();
    builder.push_record(headers.iter().map(|h| h.to_string()));
    for row in rows {
        builder.push_record(row.clone());
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    for &i in &wrapped {
        if target[i] < natural[i] {
            table.with(Modify::new(Columns::one(i)).with(Width::wrap(target[i]).keep_words(true)));
        }
    }
    format!("{table}\n")
}

/// `text` word-wrapped within `width` columns: the first line after `first`, the others
/// after `rest` (`first` no longer than `rest`).
pub fn write_wrapped(
    out: &mut dyn Write,
    text: &str,
    first: &str,
    rest: &str,
    width: usize,
) -> io::Result<()> {
    use tabled::settings::{Padding, Style, Width};
    let room = width.saturating_sub(rest.chars().count()).max(10);
    let mut cell = tabled::builder::Builder::from_iter([[text]]).build();
    cell.with(Style::empty())
        .with(Padding::zero())
        .with(Width::wrap(room).keep_words(true));
    for (i, line) in cell.to_string().lines().enumerate() {
        let indent = if i == 0 { first } else { rest };
        writeln!(out, "{indent}{}", line.trim())?;
    }
    Ok(())
}

/// What report tests share.
#[cfg(test)]
pub(crate) mod testing {
    /// Asserts that `out` contains each of `parts`, showing `out` when one is missing.
    pub fn assert_contains(out: &str, parts: &[&str]) {
        for part in parts {
            assert!(out.contains(part), "{part:?} missing from:\n{out}");
        }
    }

    /// Asserts that the JSON object `value` has each of `keys`.
    pub fn assert_has_keys(value: &serde_json::Value, keys: &[&str]) {
        for key in keys {
            assert!(value.get(key).is_some(), "{key} missing: {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `render_rows` of a single row.
    fn one_row(format: Format, headers: &[&str], row: &[&str]) -> String {
        let row = row.iter().map(|c| c.to_string()).collect();
        render_rows(format, headers, &[row])
    }

    #[test]
    fn markdown_escapes_pipes() {
        let out = one_row(Format::Markdown, &["a", "b"], &["x|y", "z"]);
        assert_eq!(out, "| a | b |\n|---|---|\n| x\\|y | z |\n");
    }

    #[test]
    fn tables_wrap_to_the_width() {
        let long = "word ".repeat(60);
        let out = render_rows_within(
            Format::Table,
            &["query", "message"],
            &[vec!["provider_conflict_check".into(), long.clone()]],
            100,
        );
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{line}");
        }
        let md = one_row(Format::Markdown, &["query", "message"], &["q", &long]);
        assert!(md.contains(long.trim_end()), "markdown keeps the full text");
    }

    #[test]
    fn kept_columns_stay_whole_and_the_rest_wraps() {
        let place = "supabase/migrations/20240624104607_remote_schema.sql:1405".to_string();
        let rows = vec![vec!["error".to_string(), place.clone(), "word ".repeat(40)]];
        let out = render_rows_keeping_within(
            Format::Table,
            &["severity", "where", "message"],
            &rows,
            &[0, 1],
            100,
        );
        assert!(out.contains(&place), "{out}");
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{line}");
        }
        assert!(out.lines().count() > 5, "the message wraps: {out}");
    }

    #[test]
    fn table_has_headers_and_cells() {
        let out = one_row(Format::Table, &["version", "state"], &["1", "applied"]);
        assert!(out.contains("version") && out.contains("applied"), "{out}");
    }
}
