//! What dbkit sets up in its local cluster: the server settings (`dbkit.conf`), who
//! may connect (`pg_hba.conf`: the superuser's password, from this machine only), and
//! the `dbkit` database with its extensions.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::db::cluster::{DB_NAME, SUPERUSER};
use crate::db::{connect, DbUrl};

/// Extensions created in `template1` and `dbkit` when the server has them.
const EXTENSIONS: [&str; 2] = ["pg_stat_statements", "hypopg"];

/// Every connection authenticates with the superuser's password, socket and loopback
/// alike: the directory's mode keeps others off the socket, the password off TCP.
pub const PG_HBA: &str = "\
# dbkit's local cluster: the password in ../password, from this machine only.
local   all             all                     scram-sha-256
host    all             all     127.0.0.1/32    scram-sha-256
host    all             all     ::1/128         scram-sha-256
local   replication     all                     scram-sha-256
host    replication     all     127.0.0.1/32    scram-sha-256
";

/// The settings dbkit owns: a dev/test cluster, durability traded for speed.
pub fn server_settings(port: u16, socket_dir: Option<&Path>, preload: bool) -> String {
    let sockets = socket_dir
        .map(|d| d.display().to_string().replace('\'', "''"))
        .unwrap_or_default();
    let mut out = format!(
        "# Written by dbkit at every start; edit postgresql.conf instead.\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{sockets}'\n\
         max_connections = 200\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         password_encryption = 'scram-sha-256'\n"
    );
    if preload {
        out.push_str("shared_preload_libraries = 'pg_stat_statements'\n");
    }
    out
}

/// Create `dbkit` and the extensions (in `template1` too, so new databases have them),
/// and make sure every connection needs the password. A cluster made before dbkit
/// generated passwords still trusts local connections (its pg_hba.conf is not ours):
/// its superuser gets the password, then pg_hba.conf is switched and reloaded.
pub async fn prepare(server: &DbUrl, hba: &Path, password: &str) -> Result<()> {
    let trusting = fs::read_to_string(hba).map_or(true, |text| text != PG_HBA);
    let client = connect(&server.with_dbname("template1")).await?;
    let wanted: Vec<&str> = EXTENSIONS.to_vec();
    let rows = client
        .query(
            "SELECT name FROM pg_available_extensions WHERE name = ANY($1) \
             AND (name <> 'pg_stat_statements' \
                  OR current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%') \
             ORDER BY name",
            &[&wanted],
        )
        .await?;
    let available: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    create_extensions(&client, &available).await?;
    drop(client);
    let client = connect(server).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DB_NAME])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {DB_NAME}"))
            .await
            .context("cannot create database dbkit")?;
    }
    if trusting {
        // ALTER ROLE takes no bound parameters; the password is hex.
        client
            .batch_execute(&format!(
                "ALTER ROLE {SUPERUSER} PASSWORD '{}'",
                password.replace('\'', "''")
            ))
            .await
            .context("cannot set the superuser's password")?;
        fs::write(hba, PG_HBA).with_context(|| format!("cannot write {}", hba.display()))?;
        client
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .context("cannot reload pg_hba.conf")?;
    }
    drop(client);
    let client = connect(&server.with_dbname(DB_NAME)).await?;
    create_extensions(&client, &available).await
}

async fn create_extensions(client: &tokio_postgres::Client, names: &[String]) -> Result<()> {
    for name in names {
        // `name` comes from EXTENSIONS via pg_available_extensions, never from user text.
        client
            .batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {name}"))
            .await
            .with_context(|| format!("cannot create extension {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_port_socket_and_speed() {
        let s = server_settings(54123, Some(Path::new("/tmp/it's/pg")), true);
        assert!(s.contains("port = 54123\n"), "{s}");
        assert!(
            s.contains("unix_socket_directories = '/tmp/it''s/pg'\n"),
            "{s}"
        );
        assert!(s.contains("listen_addresses = '127.0.0.1'\n"));
        assert!(s.contains("fsync = off\n") && s.contains("full_page_writes = off\n"));
        assert!(s.contains("shared_preload_libraries = 'pg_stat_statements'"));
        let s = server_settings(1, None, false);
        assert!(s.contains("unix_socket_directories = ''\n") && !s.contains("shared_preload"));
    }

    #[test]
    fn every_connection_needs_the_password() {
        for line in PG_HBA.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.ends_with("scram-sha-256"), "{line}");
        }
    }
}
