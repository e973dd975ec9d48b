//! Migration files: finding them (a directory, or the shipped set embedded in the
//! binary), checking their names strictly (refinery skips a bad name silently; dbkit
//! refuses it), the `-- dbkit:no-transaction` directive, and refinery's identity of a
//! migration (version, name, checksum) via `refinery::Migration::unapplied`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use regex::Regex;

use super::split::{split, Statement};
use crate::cli::MigrationSourceOpts;
use crate::error::hinted;

/// The directive that makes a file run statement by statement outside a transaction.
pub const NO_TRANSACTION: &str = "-- dbkit:no-transaction";

/// The default `--migrations` value: when it does not exist, the embedded set is used.
pub const DEFAULT_DIR: &str = "migrations";

/// The booking schema's migrations, shipped inside the binary.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "V1__supabase_compat.sql",
        include_str!("../../migrations/V1__supabase_compat.sql"),
    ),
    (
        "V2__booking_schema.sql",
        include_str!("../../migrations/V2__booking_schema.sql"),
    ),
    (
        "V3__tenant_rls.sql",
        include_str!("../../migrations/V3__tenant_rls.sql"),
    ),
    (
        "V4__appointment_indexes.sql",
        include_str!("../../migrations/V4__appointment_indexes.sql"),
    ),
    (
        "V5__rls_initplan.sql",
        include_str!("../../migrations/V5__rls_initplan.sql"),
    ),
    (
        "V6__no_double_booking.sql",
        include_str!("../../migrations/V6__no_double_booking.sql"),
    ),
];

/// How a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole file in one transaction (refinery's only mode).
    Transactional,
    /// `-- dbkit:no-transaction`: one statement at a time, each committed on its own.
    NoTransaction,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Transactional => "transactional",
            Mode::NoTransaction => "no-transaction",
        })
    }
}

/// One migration file.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: i32,
    /// The name part of the file name (`booking_schema`), as refinery records it.
    pub name: String,
    /// `V2__booking_schema.sql`.
    pub file_name: String,
    /// How to name the file in messages: its path, or `<embedded>/V2__x.sql`.
    pub display: String,
    pub sql: String,
    pub mode: Mode,
    /// refinery's checksum (SipHash-1-3 of name, version and the raw SQL).
    pub checksum: u64,
}

impl MigrationFile {
    /// Build from a file name and its contents, checking the name strictly.
    pub fn new(file_name: &str, display: String, sql: String) -> Result<MigrationFile> {
        let (version, _name) = parse_file_name(file_name)?;
        let stem = file_name.trim_end_matches(".sql");
        let identity = refinery::Migration::unapplied(stem, &sql).map_err(|e| {
            hinted(
                format!("{display}: refinery rejects the name: {e}"),
                "name files V{n}__{snake_name}.sql",
            )
        })?;
        debug_assert_eq!(identity.version(), version);
        let mode = if has_no_transaction_directive(&sql) {
            Mode::NoTransaction
        } else {
            Mode::Transactional
        };
        Ok(MigrationFile {
            version: identity.version(),
            name: identity.name().to_string(),
            file_name: file_name.to_string(),
            display,
            mode,
            checksum: identity.checksum(),
            sql,
        })
    }

    /// The file's statements, with their lines.
    pub fn statements(&self) -> Vec<Statement> {
        split(&self.sql)
    }
}

/// Where a set of migrations came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Dir(PathBuf),
    Embedded,
}

/// The migrations of one directory (or the embedded set), sorted by version, with
/// names checked and versions unique.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub origin: Origin,
    pub migrations: Vec<MigrationFile>,
}

impl MigrationSet {
    /// `--migrations DIR`; when it is the default `migrations` and that directory does
    /// not exist, the shipped migrations embedded in the binary.
    pub fn resolve(opts: &MigrationSourceOpts) -> Result<MigrationSet> {
        if opts.migrations == Path::new(DEFAULT_DIR) && !opts.migrations.exists() {
            return MigrationSet::embedded();
        }
        MigrationSet::load(&opts.migrations)
    }

    /// The shipped booking-schema migrations.
    pub fn embedded() -> Result<MigrationSet> {
        let migrations = EMBEDDED
            .iter()
            .map(|(file, sql)| {
                MigrationFile::new(file, format!("<embedded>/{file}"), sql.to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        MigrationSet::checked(Origin::Embedded, migrations)
    }

    /// Every `.sql` file directly in `dir`; a `.sql` file with a bad name is an error.
    pub fn load(dir: &Path) -> Result<MigrationSet> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            hinted(
                format!("cannot read migrations directory {}: {e}", dir.display()),
                "pass --migrations DIR, or run where ./migrations exists",
            )
        })?;
        let mut migrations = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            if !path.is_file() || path.extension().is_none_or(|ext| ext != "sql") {
                continue;
            }
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let sql = std::fs::read_to_string(&path).map_err(|e| {
                hinted(
                    format!("cannot read {}: {e}", path.display()),
                    "migration files must be readable UTF-8 text",
                )
            })?;
            migrations.push(MigrationFile::new(
                &file_name,
                path.display().to_string(),
                sql,
            )?);
        }
        MigrationSet::checked(Origin::Dir(dir.to_path_buf()), migrations)
    }

    /// Sort by version and refuse duplicate versions.
    pub fn checked(origin: Origin, mut migrations: Vec<MigrationFile>) -> Result<MigrationSet> {
        migrations.sort_by(|a, b| {
            a.version
                .cmp(&b.version)
                .then(a.file_name.cmp(&b.file_name))
        });
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(hinted(
                    format!(
                        "duplicate migration version V{}: {} and {}",
                        pair[0].version, pair[0].display, pair[1].display
                    ),
                    "every migration needs its own version; renumber the newer file",
                ));
            }
        }
        Ok(MigrationSet { origin, migrations })
    }

    pub fn latest(&self) -> Option<i32> {
        self.migrations.last().map(|m| m.version)
    }

    pub fn get(&self, version: i32) -> Option<&MigrationFile> {
        self.migrations.iter().find(|m| m.version == version)
    }

    /// The directory, for messages (`migrations/`, `embedded migrations`).
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Dir(dir) => format!("{}/", dir.display()),
            Origin::Embedded => "the embedded migrations".to_string(),
        }
    }
}

/// dbkit's file-name rule: refinery's pattern, versioned only, integer version.
fn file_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^V(\d+)__(\w+)\.sql$").expect("valid regex"))
}

/// Parse `V{n}__{name}.sql` into (version, name), with an error naming the file.
pub fn parse_file_name(file_name: &str) -> Result<(i32, String)> {
    let hint = "name migration files V{n}__{snake_name}.sql, e.g. V7__add_reminders.sql (refinery would silently skip this one)";
    if file_name.starts_with('U') && file_name.contains("__") {
        return Err(hinted(
            format!("{file_name}: unversioned (U) migrations are not supported by dbkit"),
            hint,
        ));
    }
    let caps = file_re()
        .captures(file_name)
        .ok_or_else(|| hinted(format!("{file_name}: not a migration file name"), hint))?;
    let version: i32 = caps[1].parse().map_err(|_| {
        hinted(
            format!("{file_name}: version {} is too large", &caps[1]),
            hint,
        )
    })?;
    Ok((version, caps[2].to_string()))
}

/// A snake_case name for `dbkit new`: lowercase letters, digits and underscores,
/// starting with a letter.
pub fn valid_new_name(name: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$").expect("valid regex"))
        .is_match(name)
}

/// True when the first line of the file is the no-transaction directive.
pub fn has_no_transaction_directive(sql: &str) -> bool {
    let first = sql
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    first.trim_end() == NO_TRANSACTION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_names() {
        assert_eq!(parse_file_name("V1__init.sql").unwrap(), (1, "init".into()));
        assert_eq!(
            parse_file_name("V012__add_reminders_2.sql").unwrap(),
            (12, "add_reminders_2".into())
        );
    }

    #[test]
    fn rejects_what_refinery_would_skip() {
        for bad in [
            "V7__add-index.sql",
            "V7_add_index.sql",
            "v7__add_index.sql",
            "V7.1__point_release.sql",
            "7__no_prefix.sql",
            "V__no_version.sql",
            "V7__.sql",
            "U7__unversioned.sql",
            "V99999999999__huge.sql",
        ] {
            let err = parse_file_name(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn new_names_are_snake_case() {
        assert!(valid_new_name("add_reminders_table"));
        assert!(valid_new_name("v2"));
        for bad in ["", "Add", "add-index", "_x", "x_", "a__b", "9lives", "a b"] {
            assert!(!valid_new_name(bad), "{bad}");
        }
    }

    #[test]
    fn directive_only_on_the_first_line() {
        assert!(has_no_transaction_directive(
            "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"
        ));
        assert!(has_no_transaction_directive(
            "-- dbkit:no-transaction\r\nSELECT 1;"
        ));
        assert!(!has_no_transaction_directive(
            "-- header\n-- dbkit:no-transaction\nSELECT 1;"
        ));
        assert!(!has_no_transaction_directive("SELECT 1;"));
    }

    #[test]
    fn checksum_is_refinerys() {
        let sql = "CREATE TABLE persons (id int);";
        let file = MigrationFile::new("V1__initial.sql", "x".into(), sql.into()).unwrap();
        let refinery = refinery::Migration::unapplied("V1__initial", sql).unwrap();
        assert_eq!(file.checksum, refinery.checksum());
        assert_eq!(file.name, "initial");
        // Any byte changes it (CRLF included).
        let crlf =
            MigrationFile::new("V1__initial.sql", "x".into(), sql.replace(';', ";\r\n")).unwrap();
        assert_ne!(file.checksum, crlf.checksum);
    }

    #[test]
    fn duplicate_versions_are_refused() {
        let a = MigrationFile::new("V1__a.sql", "d/V1__a.sql".into(), "SELECT 1;".into()).unwrap();
        let b =
            MigrationFile::new("V01__b.sql", "d/V01__b.sql".into(), "SELECT 1;".into()).unwrap();
        let err = MigrationSet::checked(Origin::Embedded, vec![a, b]).unwrap_err();
        assert!(err.to_string().contains("V1__a.sql") && err.to_string().contains("V01__b.sql"));
    }

    #[test]
    fn embedded_set_matches_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let on_disk = MigrationSet::load(&dir).unwrap();
        let embedded = MigrationSet::embedded().unwrap();
        let names = |s: &MigrationSet| -> Vec<(String, u64)> {
            s.migrations
                .iter()
                .map(|m| (m.file_name.clone(), m.checksum))
                .collect()
        };
        assert_eq!(names(&embedded), names(&on_disk));
        assert_eq!(embedded.latest(), Some(6));
        assert_eq!(embedded.get(4).unwrap().mode, Mode::NoTransaction);
    }

    #[test]
    fn bad_file_in_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("V1__ok.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.path().join("README.md"), "not sql").unwrap();
        std::fs::write(dir.path().join("V2__add-index.sql"), "SELECT 1;").unwrap();
        let err = MigrationSet::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("V2__add-index.sql"), "{err}");
    }
}
