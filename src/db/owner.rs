//! Who runs the local server. PostgreSQL refuses to run as root: as root, dbkit runs
//! `initdb`/`pg_ctl` as the owner of an existing data directory, or else as the
//! `postgres` system user, and hands the cluster directory to that user, who must be
//! able to enter every parent of it.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use nix::unistd::User;

use crate::error::hinted;

/// The system user that runs the server when dbkit runs as root.
pub const SYSTEM_USER: &str = "postgres";

/// The system user the server runs as (when dbkit runs as root).
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl From<User> for Owner {
    fn from(user: User) -> Self {
        let groups = CString::new(user.name.clone())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
            .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_else(|| vec![user.gid.as_raw()]);
        Owner {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups,
        }
    }
}

pub fn chown(path: &Path, owner: &Owner) -> Result<()> {
    nix::unistd::chown(path, Some(owner.uid.into()), Some(owner.gid.into()))
        .with_context(|| format!("cannot give {} to user {}", path.display(), owner.name))
}

/// May a user (uid, groups) enter a directory with this mode and ownership?
pub fn can_traverse(mode: u32, dir_uid: u32, dir_gid: u32, uid: u32, groups: &[u32]) -> bool {
    if uid == 0 {
        true
    } else if uid == dir_uid {
        mode & 0o100 != 0
    } else if groups.contains(&dir_gid) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// Who runs the server: nobody special unless we are root; then the owner of an
/// existing data directory, else the `postgres` system user.
pub fn server_owner(data_dir: &Path) -> Result<Option<Owner>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    if let Ok(meta) = fs::metadata(data_dir) {
        if meta.uid() != 0 {
            if let Some(user) = User::from_uid(meta.uid().into())? {
                return Ok(Some(Owner::from(user)));
            }
        }
    }
    match User::from_name(SYSTEM_USER)? {
        Some(user) => Ok(Some(Owner::from(user))),
        None => Err(hinted(
            "dbkit runs as root, PostgreSQL refuses to, and there is no `postgres` system user to run it as",
            "create one (`useradd --system --home-dir /var/lib/postgresql postgres`), run dbkit as a normal user, or set DATABASE_URL",
        )),
    }
}

/// The server user must be able to enter every parent of the cluster directory.
pub fn check_reachable(dir: &Path, owner: &Owner) -> Result<()> {
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(parent) else {
            continue;
        };
        if !can_traverse(
            meta.mode(),
            meta.uid(),
            meta.gid(),
            owner.uid,
            &owner.groups,
        ) {
            return Err(hinted(
                format!(
                    "PostgreSQL cannot run in {}: it runs as `{}` (not as root), which cannot enter {} (mode {:o})",
                    super::cluster::shown(dir),
                    owner.name,
                    parent.display(),
                    meta.mode() & 0o7777
                ),
                format!(
                    "let it through (`chmod o+x {}`), work from a checkout outside it, or set DATABASE_URL",
                    parent.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_follows_owner_group_other() {
        assert!(!can_traverse(0o700, 0, 0, 101, &[104]));
        assert!(can_traverse(0o701, 0, 0, 101, &[104]));
        assert!(can_traverse(0o710, 0, 104, 101, &[104]));
        assert!(
            !can_traverse(0o701, 0, 104, 101, &[104]),
            "group bits apply to members"
        );
        assert!(can_traverse(0o700, 101, 0, 101, &[104]));
        assert!(can_traverse(0o000, 5, 5, 0, &[]));
    }
}
