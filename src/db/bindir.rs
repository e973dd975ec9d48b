//! Where PostgreSQL's server binaries are (`initdb`, `pg_ctl`, `postgres`): `PG_BINDIR`,
//! `pg_config --bindir`, `PATH`, then the highest `/usr/lib/postgresql/*/bin`; and
//! whether the installation ships an extension's library.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::error::hinted;

const INSTALL_HINT: &str =
    "install PostgreSQL (`apt-get install postgresql`, `brew install postgresql@16`) \
     or point PG_BINDIR at its bin directory; or set DATABASE_URL to use another server";

/// Is `<bindir>/../lib/<name>.so` (or pg_config's pkglibdir) there? Unknown counts as yes.
pub fn has_library(bindir: &Path, name: &str) -> bool {
    let pkglibdir = Command::new(bindir.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match pkglibdir {
        Some(dir) => {
            dir.join(format!("{name}.so")).exists() || dir.join(format!("{name}.dylib")).exists()
        }
        None => true,
    }
}

/// Where `initdb`, `pg_ctl` and `postgres` are: `PG_BINDIR`, `pg_config --bindir`,
/// `PATH`, then the highest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Result<PathBuf> {
    let explicit = std::env::var_os("PG_BINDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let versioned: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    let found = choose_bindir(explicit.clone(), pg_config, path, versioned, has_server)
        .ok_or_else(|| match &explicit {
            Some(dir) => hinted(
                format!("PG_BINDIR={} has no initdb and pg_ctl", dir.display()),
                "point PG_BINDIR at PostgreSQL's bin directory (`pg_config --bindir`), or unset it",
            ),
            None => hinted(
                "PostgreSQL server binaries (initdb, pg_ctl) not found",
                INSTALL_HINT,
            ),
        })?;
    // PATH often holds symlinks (/usr/local/bin/initdb); pg_ctl wants its real siblings.
    Ok(fs::canonicalize(found.join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or(found))
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The bindir search order, pure. An explicit `PG_BINDIR` is final: when it is
/// wrong, say so rather than silently use another installation.
pub fn choose_bindir(
    explicit: Option<PathBuf>,
    pg_config: Option<PathBuf>,
    path: Vec<PathBuf>,
    mut versioned: Vec<PathBuf>,
    has_server: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return has_server(&dir).then_some(dir);
    }
    versioned.sort_by_key(|bin| std::cmp::Reverse(version_key(bin)));
    pg_config
        .into_iter()
        .chain(path)
        .chain(versioned)
        .find(|dir| has_server(dir))
}

/// `/usr/lib/postgresql/9.6/bin` → [9, 6]; non-numeric names sort first.
fn version_key(bin: &Path) -> Vec<u32> {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').map(|part| part.parse().unwrap_or(0)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_bindir_is_final() {
        let all = |_: &Path| true;
        let none = |_: &Path| false;
        let pick = choose_bindir(
            Some("/opt/pg/bin".into()),
            Some("/usr/bin".into()),
            vec![],
            vec![],
            all,
        );
        assert_eq!(pick, Some(PathBuf::from("/opt/pg/bin")));
        let pick = choose_bindir(
            Some("/opt/pg/bin".into()),
            None,
            vec!["/usr/local/bin".into()],
            vec![],
            none,
        );
        assert_eq!(pick, None);
    }

    #[test]
    fn pg_config_without_initdb_falls_through_to_path_then_highest_version() {
        let has =
            |dirs: &'static [&'static str]| move |d: &Path| dirs.iter().any(|x| Path::new(x) == d);
        let versioned = vec![
            PathBuf::from("/usr/lib/postgresql/9.6/bin"),
            PathBuf::from("/usr/lib/postgresql/16/bin"),
            PathBuf::from("/usr/lib/postgresql/10/bin"),
        ];
        let pick = choose_bindir(
            None,
            Some("/usr/bin".into()),
            vec!["/usr/sbin".into(), "/usr/local/bin".into()],
            versioned.clone(),
            has(&["/usr/local/bin", "/usr/lib/postgresql/16/bin"]),
        );
        assert_eq!(pick, Some(PathBuf::from("/usr/local/bin")));
        let pick = choose_bindir(
            None,
            Some("/usr/bin".into()),
            vec![],
            versioned,
            has(&[
                "/usr/lib/postgresql/9.6/bin",
                "/usr/lib/postgresql/10/bin",
                "/usr/lib/postgresql/16/bin",
            ]),
        );
        assert_eq!(pick, Some(PathBuf::from("/usr/lib/postgresql/16/bin")));
        assert_eq!(choose_bindir(None, None, vec![], vec![], has(&[])), None);
    }
}
