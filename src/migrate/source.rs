//! Migration files: the one `MigrationFile` model (check's file checks read the same
//! one), reading a directory strictly (refinery skips a bad name silently; dbkit refuses
//! it, and a `*.sql` directory too), the shipped set embedded in the binary, the
//! `-- dbkit:no-transaction` directive, and each file's checksum: refinery's for the
//! dbkit layout (so refinery's tools agree), SHA-256 of the text for Supabase's.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::layout::{self, Layout, Located, Platform, SourceOptions};
use super::split::{split, Statement};
use super::version::Version;
use crate::error::hinted;

/// The directive that makes a file run statement by statement outside a transaction.
pub const NO_TRANSACTION: &str = "-- dbkit:no-transaction";

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    pub version: Version,
    /// The name part of the file name (`booking_schema`), as the history records it.
    pub name: String,
    /// `V2__booking_schema.sql`, `20240101120000_add_profiles.sql`.
    pub file_name: String,
    /// How to name the file in messages: its path, or `<embedded>/V2__x.sql`.
    pub display: String,
    pub sql: String,
    pub mode: Mode,
    pub layout: Layout,
    /// refinery's checksum (SipHash-1-3 of name, version and the SQL) as decimal text in
    /// the dbkit layout; the SHA-256 of the SQL in hex in Supabase's.
    pub checksum: String,
}

impl MigrationFile {
    /// Build from a file name and its contents, checking the name strictly.
    pub fn new(
        layout: Layout,
        file_name: &str,
        display: String,
        sql: String,
    ) -> Result<MigrationFile> {
        let (version, name) = layout
            .parse_file_name(file_name)
            .map_err(|e| hinted(e, layout.naming()))?;
        let checksum = match layout {
            Layout::Supabase => Sha256::digest(sql.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            Layout::Dbkit | Layout::Embedded => {
                let stem = file_name.trim_end_matches(".sql");
                let identity = refinery::Migration::unapplied(stem, &sql).map_err(|e| {
                    hinted(
                        format!("{display}: refinery rejects the name: {e}"),
                        layout.naming(),
                    )
                })?;
                debug_assert_eq!(Version::from(identity.version()), version);
                identity.checksum().to_string()
            }
        };
        let mode = if has_no_transaction_directive(&sql) {
            Mode::NoTransaction
        } else {
            Mode::Transactional
        };
        Ok(MigrationFile {
            version,
            name,
            file_name: file_name.to_string(),
            display,
            sql,
            mode,
            layout,
            checksum,
        })
    }

    /// The file's statements, with their lines.
    pub fn statements(&self) -> Vec<Statement> {
        split(&self.sql)
    }

    pub fn no_transaction(&self) -> bool {
        self.mode == Mode::NoTransaction
    }

    /// `V7` or `20240101120000`.
    pub fn label(&self) -> String {
        self.layout.label(self.version)
    }
}

/// Where a set of migrations came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Dir(PathBuf),
    Embedded,
}

/// A directory entry that looks like a migration but cannot be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameProblem {
    /// The path, as messages name it.
    pub display: String,
    /// Why (names the file).
    pub message: String,
}

/// What a directory holds: the migrations with a valid name (unsorted, unchecked for
/// duplicates) and the entries that look like migrations but are not valid ones.
/// `check` reports the problems as findings; `MigrationSet` refuses them.
#[derive(Debug, Clone)]
pub struct Scan {
    pub origin: Origin,
    pub layout: Layout,
    pub files: Vec<MigrationFile>,
    pub problems: Vec<NameProblem>,
}

impl Scan {
    /// The migrations `opts` names (see `layout::locate`); when that is the built-in
    /// schema, the one stderr line every command prints about it.
    pub fn resolve(opts: &SourceOptions) -> Result<Scan> {
        match layout::locate(opts) {
            Located::Embedded => {
                eprintln!("{}", layout::EMBEDDED_NOTICE);
                Scan::embedded()
            }
            Located::Dir { dir, layout } => Scan::dir(&dir, layout),
        }
    }

    pub fn embedded() -> Result<Scan> {
        let files = EMBEDDED
            .iter()
            .map(|(file, sql)| {
                MigrationFile::new(
                    Layout::Embedded,
                    file,
                    format!("<embedded>/{file}"),
                    sql.to_string(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Scan {
            origin: Origin::Embedded,
            layout: Layout::Embedded,
            files,
            problems: Vec::new(),
        })
    }

    /// Every entry directly in `dir`, in name order.
    pub fn dir(dir: &Path, layout: Layout) -> Result<Scan> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| {
                hinted(
                format!("cannot read the migrations directory {}: {e}", dir.display()),
                "pass --migrations DIR, or run where ./migrations or ./supabase/migrations exists",
            )
            })?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        names.sort();
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for (file_name, is_dir) in names {
            let path = dir.join(&file_name);
            let display = path.display().to_string();
            if is_dir {
                if file_name.to_ascii_lowercase().ends_with(".sql") {
                    problems.push(NameProblem {
                        message: format!("{display}: a directory named like a migration file"),
                        display,
                    });
                }
                continue;
            }
            if let Err(why) = layout.parse_file_name(&file_name) {
                if layout::looks_like_migration(&file_name) {
                    problems.push(NameProblem {
                        message: format!("{}/{why}", dir.display()),
                        display,
                    });
                }
                continue;
            }
            let sql = std::fs::read_to_string(&path).map_err(|e| {
                hinted(
                    format!("cannot read {display}: {e}"),
                    "migration files must be readable UTF-8 text",
                )
            })?;
            files.push(MigrationFile::new(layout, &file_name, display, sql)?);
        }
        Ok(Scan {
            origin: Origin::Dir(dir.to_path_buf()),
            layout,
            files,
            problems,
        })
    }
}

/// The migrations of one directory (or the embedded set), sorted by version, with
/// names checked and versions unique.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub origin: Origin,
    layout: Layout,
    pub migrations: Vec<MigrationFile>,
    /// `--platform`: the platform the migrations assume, when named (the Supabase
    /// layout assumes Supabase's without it).
    platform: Option<Platform>,
}

impl MigrationSet {
    /// The migrations `opts` names: `./migrations`, else `./supabase/migrations`, else
    /// the built-in booking schema (saying so on stderr); an explicit `--migrations
    /// DIR` in whichever layout it holds.
    pub fn resolve(opts: &SourceOptions) -> Result<MigrationSet> {
        Ok(MigrationSet::strict(Scan::resolve(opts)?)?.with_platform(opts.platform))
    }

    /// The same migrations, assuming `platform` (`--platform`) when named.
    pub fn with_platform(mut self, platform: Option<Platform>) -> MigrationSet {
        self.platform = platform.or(self.platform);
        self
    }

    /// The platform the migrations assume: `--platform`, else Supabase's for the
    /// Supabase CLI's layout. dbkit's own layout and the booking schema (whose V1
    /// brings what its migrations need) assume none.
    pub fn platform(&self) -> Option<Platform> {
        match self.layout {
            Layout::Supabase => Some(Platform::Supabase),
            Layout::Dbkit | Layout::Embedded => self.platform,
        }
    }

    /// Whether `--platform` named the platform (as opposed to the layout implying it).
    pub fn platform_named(&self) -> bool {
        self.platform.is_some()
    }

    /// The shipped booking-schema migrations.
    pub fn embedded() -> Result<MigrationSet> {
        MigrationSet::strict(Scan::embedded()?)
    }

    /// Every migration in `dir` (layout detected); a bad name is an error.
    pub fn load(dir: &Path) -> Result<MigrationSet> {
        MigrationSet::strict(Scan::dir(dir, layout::detect(dir))?)
    }

    /// Every migration in `dir`, read in `layout`; a bad name is an error.
    pub fn strict_dir(dir: &Path, layout: Layout) -> Result<MigrationSet> {
        MigrationSet::strict(Scan::dir(dir, layout)?)
    }

    /// Refuse the first name problem, then sort and check.
    fn strict(scan: Scan) -> Result<MigrationSet> {
        if let Some(problem) = scan.problems.first() {
            return Err(hinted(problem.message.clone(), scan.layout.naming()));
        }
        MigrationSet::checked(scan.origin, scan.layout, scan.files)
    }

    /// Sort by version and refuse duplicate versions.
    pub fn checked(
        origin: Origin,
        layout: Layout,
        mut migrations: Vec<MigrationFile>,
    ) -> Result<MigrationSet> {
        migrations.sort_by(|a, b| {
            a.version
                .cmp(&b.version)
                .then(a.file_name.cmp(&b.file_name))
        });
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(hinted(
                    format!(
                        "duplicate migration version {}: {} and {}",
                        layout.label(pair[0].version),
                        pair[0].display,
                        pair[1].display
                    ),
                    "every migration needs its own version; renumber the newer file",
                ));
            }
        }
        Ok(MigrationSet {
            origin,
            layout,
            migrations,
            platform: None,
        })
    }

    /// How the migrations are laid out (the platform objects and the history table
    /// are keyed on it).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn latest(&self) -> Option<Version> {
        self.migrations.last().map(|m| m.version)
    }

    pub fn get(&self, version: Version) -> Option<&MigrationFile> {
        self.migrations.iter().find(|m| m.version == version)
    }

    /// `V7` / `20240101120000`.
    pub fn label(&self, version: Version) -> String {
        self.layout.label(version)
    }

    /// The directory, for messages (`migrations/`, `embedded migrations`).
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Dir(dir) => format!("{}/", dir.display()),
            Origin::Embedded => "the embedded migrations".to_string(),
        }
    }
}

/// A snake_case name for `dbkit new`: lowercase letters, digits and underscores,
/// starting with a letter.
pub fn valid_new_name(name: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$").expect("valid regex"))
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

    fn dbkit_file(name: &str, sql: &str) -> MigrationFile {
        MigrationFile::new(Layout::Dbkit, name, format!("d/{name}"), sql.into()).unwrap()
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
    fn checksum_is_refinerys_in_the_dbkit_layout() {
        let sql = "CREATE TABLE persons (id int);";
        let file = dbkit_file("V1__initial.sql", sql);
        let refinery = refinery::Migration::unapplied("V1__initial", sql).unwrap();
        assert_eq!(file.checksum, refinery.checksum().to_string());
        assert_eq!(file.name, "initial");
        // Any byte changes it (CRLF included).
        let crlf = dbkit_file("V1__initial.sql", &sql.replace(';', ";\r\n"));
        assert_ne!(file.checksum, crlf.checksum);
    }

    #[test]
    fn supabase_files_have_timestamp_versions_and_sha256() {
        let f = MigrationFile::new(
            Layout::Supabase,
            "20240101120000_profiles.sql",
            "s/20240101120000_profiles.sql".into(),
            "SELECT 1;".into(),
        )
        .unwrap();
        assert_eq!(f.version, Version::new(20_240_101_120_000));
        assert_eq!(f.label(), "20240101120000");
        assert_eq!(f.checksum.len(), 64);
    }

    #[test]
    fn duplicate_versions_are_refused() {
        let a = dbkit_file("V1__a.sql", "SELECT 1;");
        let b = dbkit_file("V01__b.sql", "SELECT 1;");
        let err = MigrationSet::checked(Origin::Embedded, Layout::Dbkit, vec![a, b]).unwrap_err();
        assert!(err.to_string().contains("V1__a.sql") && err.to_string().contains("V01__b.sql"));
    }

    #[test]
    fn embedded_set_matches_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let on_disk = MigrationSet::load(&dir).unwrap();
        let embedded = MigrationSet::embedded().unwrap();
        let names = |s: &MigrationSet| -> Vec<(String, String)> {
            s.migrations
                .iter()
                .map(|m| (m.file_name.clone(), m.checksum.clone()))
                .collect()
        };
        assert_eq!(names(&embedded), names(&on_disk));
        assert_eq!(embedded.latest(), Some(Version::new(6)));
        assert_eq!(embedded.layout(), Layout::Embedded);
        assert_eq!(on_disk.layout(), Layout::Dbkit);
        assert_eq!(
            embedded.get(Version::new(4)).unwrap().mode,
            Mode::NoTransaction
        );
    }

    #[test]
    fn bad_entries_in_dir_are_named() {
        for bad in ["V2__add-index.sql", "V7__x.SQL", "V3__no_extension"] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("V1__ok.sql"), "SELECT 1;").unwrap();
            std::fs::write(dir.path().join("README.md"), "not sql").unwrap();
            std::fs::write(dir.path().join(bad), "SELECT 1;").unwrap();
            let err = MigrationSet::load(dir.path()).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("V2__folder.sql")).unwrap();
        let err = MigrationSet::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("V2__folder.sql"), "{err}");
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn supabase_dir_in_timestamp_order_and_bad_name_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("supabase/migrations");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("20240301000000_b.sql"), "SELECT 2;").unwrap();
        std::fs::write(dir.join("20240101000000_a.sql"), "SELECT 1;").unwrap();
        let set = MigrationSet::load(&dir).unwrap();
        assert_eq!(set.layout(), Layout::Supabase);
        let names: Vec<&str> = set.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        std::fs::write(dir.join("2024030100000_short.sql"), "SELECT 3;").unwrap();
        let err = MigrationSet::load(&dir).unwrap_err();
        assert!(err.to_string().contains("2024030100000_short.sql"), "{err}");
    }
}
