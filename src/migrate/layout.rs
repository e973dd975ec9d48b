//! Which migrations a project has, and how their files are named: dbkit's own
//! `migrations/V{n}__{name}.sql` (refinery's convention), the Supabase CLI's
//! `supabase/migrations/<YYYYMMDDHHMMSS>_<name>.sql`, or — when neither directory
//! exists — the booking schema embedded in the binary. Every command resolves its
//! migrations through `locate` (via `MigrationSet::resolve`), so they all agree.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use super::version::Version;

/// The default `--migrations` value.
pub const DEFAULT_DIR: &str = "migrations";

/// Where the Supabase CLI keeps a project's migrations.
pub const SUPABASE_DIR: &str = "supabase/migrations";

/// How a project's migrations are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `V{n}__{name}.sql`, history in refinery's `refinery_schema_history`.
    Dbkit,
    /// `<14 digits>_<name>.sql`, history in `supabase_migrations.schema_migrations`.
    Supabase,
    /// dbkit's built-in booking schema (dbkit layout, shipped in the binary).
    Embedded,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Dbkit => "dbkit",
            Layout::Supabase => "supabase",
            Layout::Embedded => "embedded",
        })
    }
}

impl Layout {
    /// How a file of this layout is named, for hints.
    pub fn naming(self) -> &'static str {
        match self {
            Layout::Supabase => {
                "name Supabase migrations <YYYYMMDDHHMMSS>_<name>.sql, e.g. 20240101120000_add_profiles.sql (`dbkit new NAME` writes one)"
            }
            Layout::Dbkit | Layout::Embedded => {
                "name migration files V<n>__<snake_name>.sql, e.g. V7__add_reminders.sql (refinery would silently skip this one)"
            }
        }
    }

    /// `V7` in the dbkit layout, the bare timestamp in Supabase's.
    pub fn label(self, version: Version) -> String {
        match self {
            Layout::Supabase => version.to_string(),
            Layout::Dbkit | Layout::Embedded => format!("V{version}"),
        }
    }

    /// Parse a file name of this layout into (version, name); the error says why not.
    pub fn parse_file_name(self, file_name: &str) -> Result<(Version, String), String> {
        match self {
            Layout::Supabase => parse_supabase(file_name),
            Layout::Dbkit | Layout::Embedded => parse_dbkit(file_name),
        }
    }
}

/// The platform a project's migrations assume, beyond PostgreSQL (`--platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Supabase: its roles, `auth`, `storage`, its own extensions (`crate::platform`).
    Supabase,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Supabase => "supabase",
        })
    }
}

/// Plain options naming the migrations (`--migrations DIR`, from the command layer)
/// and the platform they assume (`--platform`; the Supabase CLI's layout implies
/// Supabase's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOptions {
    pub dir: PathBuf,
    pub platform: Option<Platform>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            dir: PathBuf::from(DEFAULT_DIR),
            platform: None,
        }
    }
}

impl From<&Path> for SourceOptions {
    fn from(dir: &Path) -> SourceOptions {
        SourceOptions {
            dir: dir.to_path_buf(),
            platform: None,
        }
    }
}

impl From<&PathBuf> for SourceOptions {
    fn from(dir: &PathBuf) -> SourceOptions {
        SourceOptions::from(dir.as_path())
    }
}

impl From<&SourceOptions> for SourceOptions {
    fn from(opts: &SourceOptions) -> SourceOptions {
        opts.clone()
    }
}

/// Where the migrations are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    Dir { dir: PathBuf, layout: Layout },
    Embedded,
}

/// Resolve `--migrations`: an explicit directory is read as it is (Supabase layout
/// when it is a `supabase/migrations` directory or holds timestamped files only); the
/// default `migrations` falls back to `./supabase/migrations`, then to the embedded set.
pub fn locate(opts: &SourceOptions) -> Located {
    let default = opts.dir == Path::new(DEFAULT_DIR);
    if default && !opts.dir.exists() {
        let supabase = opts
            .dir
            .parent()
            .unwrap_or(Path::new(""))
            .join(SUPABASE_DIR);
        if supabase.is_dir() {
            return Located::Dir {
                dir: PathBuf::from(SUPABASE_DIR),
                layout: Layout::Supabase,
            };
        }
        return Located::Embedded;
    }
    Located::Dir {
        layout: detect(&opts.dir),
        dir: opts.dir.clone(),
    }
}

/// The layout of an existing directory.
pub fn detect(dir: &Path) -> Layout {
    let named_supabase = dir.file_name().is_some_and(|n| n == "migrations")
        && dir
            .canonicalize()
            .ok()
            .and_then(|d| d.parent().map(|p| p.ends_with("supabase")))
            .unwrap_or(false);
    if named_supabase {
        return Layout::Supabase;
    }
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.to_ascii_lowercase().ends_with(".sql"))
                .collect()
        })
        .unwrap_or_default();
    let timestamped = names.iter().filter(|n| timestamp_re().is_match(n)).count();
    if timestamped > 0 && timestamped == names.len() {
        Layout::Supabase
    } else {
        Layout::Dbkit
    }
}

/// The one line every command prints when it falls back to the built-in schema.
pub const EMBEDDED_NOTICE: &str = "dbkit: no ./migrations or ./supabase/migrations here: using dbkit's built-in booking schema (V1-V6); pass --migrations DIR for your own";

fn dbkit_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^V(\d+)__(\w+)\.sql$").expect("valid regex"))
}

fn supabase_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(\d{14})_([\w-]+)\.sql$").expect("valid regex"))
}

/// A name that starts like a Supabase migration (`<14 digits>_`), for detection.
fn timestamp_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\d{14}_").expect("valid regex"))
}

fn parse_dbkit(file_name: &str) -> Result<(Version, String), String> {
    if file_name.starts_with('U') && file_name.contains("__") {
        return Err(format!(
            "{file_name}: unversioned (U) migrations are not supported by dbkit"
        ));
    }
    let caps = dbkit_re()
        .captures(file_name)
        .ok_or_else(|| format!("{file_name}: not a migration file name"))?;
    // refinery's history stores int4 versions: a larger one is refused here, by name.
    // refinery is used for this layout only, without its `int8-versions` feature: that
    // feature hashes the version as 8 bytes instead of 4, which changes the checksum of
    // every migration already applied (each would read as divergent) and the table's
    // DDL. Supabase-layout versions (i64) never go through refinery.
    let version: i32 = caps[1]
        .parse()
        .map_err(|_| format!("{file_name}: version {} is too large", &caps[1]))?;
    Ok((Version::from(version), caps[2].to_string()))
}

fn parse_supabase(file_name: &str) -> Result<(Version, String), String> {
    let caps = supabase_re().captures(file_name).ok_or_else(|| {
        format!("{file_name}: not a Supabase migration name (<YYYYMMDDHHMMSS>_<name>.sql)")
    })?;
    let version: i64 = caps[1]
        .parse()
        .map_err(|_| format!("{file_name}: timestamp {} does not parse", &caps[1]))?;
    Ok((Version::new(version), caps[2].to_string()))
}

/// Does this entry look like it was meant to be a migration (and so must be valid)?
pub fn looks_like_migration(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".sql")
        || (name.len() > 1
            && matches!(name.as_bytes()[0], b'V' | b'v' | b'U' | b'u')
            && name.as_bytes()[1].is_ascii_digit())
        || timestamp_re().is_match(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `layout` refuses each of `names`, naming it in the error.
    fn assert_refused(layout: Layout, names: &[&str]) {
        for name in names {
            let err = layout.parse_file_name(name).unwrap_err();
            assert!(err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn dbkit_names() {
        assert_eq!(
            Layout::Dbkit.parse_file_name("V012__add_x.sql").unwrap(),
            (Version::new(12), "add_x".into())
        );
        assert_refused(
            Layout::Dbkit,
            &[
                "V7__x.SQL",
                "V7_x.sql",
                "V__x.sql",
                "U7__x.sql",
                "V99999999999__huge.sql",
                "20240101120000_x.sql",
            ],
        );
    }

    #[test]
    fn supabase_names() {
        assert_eq!(
            Layout::Supabase
                .parse_file_name("20240101120000_create_profiles.sql")
                .unwrap(),
            (Version::new(20_240_101_120_000), "create_profiles".into())
        );
        assert_refused(
            Layout::Supabase,
            &[
                "2024010112000_short.sql",
                "20240101120000-dash.sql",
                "20240101120000_.sql",
                "V1__dbkit.sql",
                "20240101120000_x.SQL",
            ],
        );
    }

    #[test]
    fn labels() {
        assert_eq!(Layout::Dbkit.label(Version::new(7)), "V7");
        assert_eq!(
            Layout::Supabase.label(Version::new(20_240_101_120_000)),
            "20240101120000"
        );
    }

    #[test]
    fn locating() {
        let tmp = tempfile::tempdir().unwrap();
        let under = |p: &str| SourceOptions::from(tmp.path().join(p).as_path());
        // An explicit directory of timestamped files is Supabase's.
        let dir = tmp.path().join("sb");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("20240101120000_a.sql"), "").unwrap();
        assert_eq!(detect(&dir), Layout::Supabase);
        std::fs::write(dir.join("V1__a.sql"), "").unwrap();
        assert_eq!(detect(&dir), Layout::Dbkit);
        // supabase/migrations is Supabase's whatever it holds.
        let sb = tmp.path().join("supabase/migrations");
        std::fs::create_dir_all(&sb).unwrap();
        assert_eq!(detect(&sb), Layout::Supabase);
        assert_eq!(
            locate(&under("x")),
            Located::Dir {
                dir: tmp.path().join("x"),
                layout: Layout::Dbkit
            }
        );
    }
}
