//! `dbkit new NAME`: the next migration file, in whichever layout the project uses —
//! `V{max+1}__NAME.sql`, or a Supabase `<UTC timestamp>_NAME.sql` that is always
//! later than the last one. A version past the layout's range is refused, never wrapped.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::layout::{self, Layout, Located, SourceOptions};
use super::source::{self, MigrationSet, Mode};
use super::version::Version;
use crate::error::hinted;

/// The largest Supabase version: 14 digits.
const SUPABASE_MAX: i64 = 99_999_999_999_999;

/// What `dbkit new` is asked for.
#[derive(Debug, Clone)]
pub struct NewOptions {
    pub name: String,
    pub source: SourceOptions,
    pub no_transaction: bool,
    /// Statements written after the header (empty: a file to fill in).
    pub body: String,
}

/// The file `dbkit new` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    #[serde(serialize_with = "path_text")]
    pub path: PathBuf,
    pub version: Version,
    pub name: String,
    #[serde(serialize_with = "display_text")]
    pub mode: Mode,
    pub layout: Layout,
}

fn path_text<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.display().to_string())
}

fn display_text<S: serde::Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mode.to_string())
}

/// The version after `latest` in `layout`; `now` is the UTC timestamp as 14 digits.
pub fn next_version(layout: Layout, latest: Option<Version>, now: i64) -> Result<Version> {
    match layout {
        Layout::Supabase => {
            let after_last = match latest {
                Some(v) => v.get().checked_add(1),
                None => Some(now),
            };
            match after_last.map(|a| a.max(now)) {
                Some(v) if v <= SUPABASE_MAX => Ok(Version::new(v)),
                _ => Err(hinted(
                    format!(
                        "the latest migration is {}: no 14-digit timestamp comes after it",
                        latest.map(|v| v.to_string()).unwrap_or_default()
                    ),
                    "rename that file to its real creation time (YYYYMMDDHHMMSS) before adding another",
                )),
            }
        }
        Layout::Dbkit | Layout::Embedded => {
            let last = latest.map(Version::get).unwrap_or(0);
            match last.checked_add(1) {
                Some(v) if v <= i64::from(i32::MAX) => Ok(Version::new(v)),
                _ => Err(hinted(
                    format!("the latest migration is V{last}: V{} would not fit refinery's 32-bit history", i128::from(last) + 1),
                    "refinery_schema_history stores int4 versions (up to 2147483647); renumber the migrations from a smaller version",
                )),
            }
        }
    }
}

/// Write the next migration file.
pub fn create(opts: &NewOptions) -> Result<Created> {
    if !source::valid_new_name(&opts.name) {
        return Err(hinted(
            format!("`{}` is not a snake_case migration name", opts.name),
            "use lowercase letters, digits and single underscores, e.g. add_reminders_table",
        ));
    }
    let (dir, layout) = match layout::locate(&opts.source) {
        Located::Dir { dir, layout } if dir.is_dir() => (dir, layout),
        Located::Dir { dir, .. } => {
            return Err(hinted(
                format!("migrations directory {} does not exist", dir.display()),
                "create it (mkdir) or pass --migrations DIR",
            ))
        }
        Located::Embedded => {
            return Err(hinted(
                format!(
                    "no migrations directory here: neither ./{} nor ./{} exists",
                    layout::DEFAULT_DIR,
                    layout::SUPABASE_DIR
                ),
                "create one (mkdir migrations) or pass --migrations DIR; the shipped migrations are embedded in dbkit, copy them from the dbkit repository to extend them",
            ))
        }
    };
    let set = MigrationSet::strict_dir(&dir, layout)?;
    let now: i64 = chrono::Utc::now()
        .format("%Y%m%d%H%M%S")
        .to_string()
        .parse()
        .context("the clock's timestamp")?;
    let version = next_version(layout, set.latest(), now)?;
    let file_name = match layout {
        Layout::Supabase => format!(
            "{}_{}.sql",
            super::history::supabase_version_text(version),
            opts.name
        ),
        Layout::Dbkit | Layout::Embedded => format!("V{version}__{}.sql", opts.name),
    };
    let path = dir.join(file_name);
    let label = layout.label(version);
    let what = opts.name.replace('_', " ");
    let mut body = String::new();
    if opts.no_transaction {
        body.push_str(source::NO_TRANSACTION);
        body.push('\n');
        body.push_str(&format!(
            "-- {label}: {what}\n-- Runs one statement at a time outside a transaction (CREATE INDEX CONCURRENTLY).\n-- A failure leaves earlier statements applied and the next `dbkit migrate` re-runs the\n-- whole file: keep every statement idempotent (IF NOT EXISTS).\n\n"
        ));
    } else {
        body.push_str(&format!(
            "-- {label}: {what}\n-- Runs in one transaction: a failure rolls all of it back. Never edit this file once\n-- it is applied anywhere; add a new migration instead.\n\n"
        ));
    }
    body.push_str(&opts.body);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, body.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Created {
        path,
        version,
        name: opts.name.clone(),
        mode: if opts.no_transaction {
            Mode::NoTransaction
        } else {
            Mode::Transactional
        },
        layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbkit_versions_count_up_and_stop_at_int4() {
        let v = Version::new;
        assert_eq!(next_version(Layout::Dbkit, None, 0).unwrap(), v(1));
        assert_eq!(next_version(Layout::Dbkit, Some(v(6)), 0).unwrap(), v(7));
        let err = next_version(Layout::Dbkit, Some(v(2_147_483_647)), 0).unwrap_err();
        assert!(err.to_string().contains("V2147483648"), "{err}");
    }

    #[test]
    fn supabase_versions_are_now_and_always_after_the_last() {
        let v = Version::new;
        let now = 20_261_201_120_000;
        assert_eq!(next_version(Layout::Supabase, None, now).unwrap(), v(now));
        assert_eq!(
            next_version(Layout::Supabase, Some(v(20_240_101_000_000)), now).unwrap(),
            v(now)
        );
        // A file from "the future" (or clock skew): one past it.
        assert_eq!(
            next_version(Layout::Supabase, Some(v(20_301_231_235_959)), now).unwrap(),
            v(20_301_231_235_960)
        );
        assert!(next_version(Layout::Supabase, Some(v(SUPABASE_MAX)), now).is_err());
    }
}
