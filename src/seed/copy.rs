//! Binary COPY: the column lists and PostgreSQL types of the six tenant tables, a
//! loader that streams generated chunks into a database with `BinaryCopyInWriter`
//! (in the seed's one transaction), and a writer of the same rows as PostgreSQL binary COPY
//! files (`--to-files`), loadable with `psql \copy ... with (format binary)`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use anyhow::{Context, Result};
use bytes::{BufMut, BytesMut};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::rows::{Appointment, Batch, Contact, Member, Org, OrgSettings, Provider, Table};
use crate::progress::Indicator;

/// One table's columns, in the order rows give their values: its row type's fields
/// (`copy_row!` names the columns after them).
pub fn columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Orgs => Org::COLUMNS,
        Table::OrgSettings => OrgSettings::COLUMNS,
        Table::Members => Member::COLUMNS,
        Table::Providers => Provider::COLUMNS,
        Table::Contacts => Contact::COLUMNS,
        Table::Appointments => Appointment::COLUMNS,
    }
}

/// The PostgreSQL types of `columns(table)` (as in migrations/V2).
pub fn types(table: Table) -> Vec<Type> {
    match table {
        Table::Orgs => Org::TYPES,
        Table::OrgSettings => OrgSettings::TYPES,
        Table::Members => Member::TYPES,
        Table::Providers => Provider::TYPES,
        Table::Contacts => Contact::TYPES,
        Table::Appointments => Appointment::TYPES,
    }
    .to_vec()
}

/// `COPY table (cols) FROM STDIN (FORMAT binary)`: fixed text, no user input.
pub fn copy_statement(table: Table) -> String {
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        table.name(),
        columns(table).join(", ")
    )
}

/// A row as the values of its table's columns.
pub trait CopyRow {
    /// The table's columns, named as the row's fields.
    const COLUMNS: &'static [&'static str];
    /// Their PostgreSQL types.
    const TYPES: &'static [Type];
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;
}

/// `impl CopyRow` from the row's fields in its table's column order: the column names
/// and the values come from the one list.
macro_rules! copy_row {
    ($($row:ty => [$($field:ident: $ty:ident),+ $(,)?];)+) => {
        $(impl CopyRow for $row {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];
            const TYPES: &'static [Type] = &[$(Type::$ty),+];
            fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
                vec![$(&self.$field),+]
            }
        })+
    };
}

copy_row! {
    Org => [id: UUID, name: TEXT, slug: TEXT, created_at: TIMESTAMPTZ];
    OrgSettings => [
        org_id: UUID, timezone: TEXT, opens_at: TIME, closes_at: TIME,
        business_days: INT2_ARRAY, slot_minutes: INT4, booking_horizon_days: INT4,
        updated_at: TIMESTAMPTZ,
    ];
    Member => [org_id: UUID, user_id: UUID, role: TEXT, created_at: TIMESTAMPTZ];
    Provider => [
        id: UUID, org_id: UUID, name: TEXT, email: TEXT, specialty: TEXT, active: BOOL,
        created_at: TIMESTAMPTZ,
    ];
    Contact => [
        id: UUID, org_id: UUID, first_name: TEXT, last_name: TEXT, email: TEXT, phone: TEXT,
        created_at: TIMESTAMPTZ,
    ];
    Appointment => [
        id: UUID, org_id: UUID, provider_id: UUID, contact_id: UUID,
        scheduled_at: TIMESTAMPTZ, ends_at: TIMESTAMPTZ, status: TEXT, source: TEXT,
        notes: TEXT, created_at: TIMESTAMPTZ, updated_at: TIMESTAMPTZ,
    ];
}

/// Calls `$body` with `$rows` bound to the typed rows of a data batch.
macro_rules! with_rows {
    ($batch:expr, $rows:ident => $body:expr) => {
        match $batch {
            Batch::Orgs($rows) => $body,
            Batch::OrgSettings($rows) => $body,
            Batch::Members($rows) => $body,
            Batch::Providers($rows) => $body,
            Batch::Contacts($rows) => $body,
            Batch::Appointments($rows) => $body,
            Batch::OrgDone { .. } => unreachable!("not a data batch"),
        }
    };
}

/// The progress of a seed on stderr: orgs done, appointments so far.
pub struct Progress {
    bar: Indicator,
    appointments: AtomicU64,
}

impl Progress {
    /// A bar over `orgs`, drawn only when `wanted` and stderr is a terminal.
    pub fn new(orgs: u32, wanted: bool) -> Progress {
        Progress {
            bar: Indicator::bar_if(
                wanted,
                orgs as u64,
                "{spinner} seeding [{bar:30}] {pos}/{len} orgs, {msg} ({elapsed})",
            ),
            appointments: AtomicU64::new(0),
        }
    }

    pub fn rows(&self, table: Table, n: u64) {
        if table == Table::Appointments {
            let total = self.appointments.fetch_add(n, Relaxed) + n;
            self.bar.set_message(format!("{total} appointments"));
        }
    }

    pub fn org_done(&self) {
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// Rows loaded per table, as COPY reported them, and orgs loaded whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    pub rows: [u64; 6],
    pub orgs: u32,
}

/// Stream batches into the database, in the caller's transaction: one COPY per table
/// and org. Stops at the first error; the caller's rollback then removes every row.
pub async fn load(
    client: &Client,
    rx: &mut mpsc::Receiver<Batch>,
    progress: &Progress,
    loaded: &mut Loaded,
) -> Result<()> {
    let mut open: Option<(Table, Pin<Box<BinaryCopyInWriter>>)> = None;
    let mut current_org = String::new();
    while let Some(batch) = rx.recv().await {
        if let Batch::OrgDone { .. } = &batch {
            finish(&mut open, loaded, &current_org).await?;
            loaded.orgs += 1;
            progress.org_done();
            continue;
        }
        if let Batch::Orgs(orgs) = &batch {
            current_org = orgs.first().map(|o| o.slug.clone()).unwrap_or_default();
        }
        let table = batch.table().expect("a data batch");
        if open.as_ref().map(|(t, _)| *t) != Some(table) {
            finish(&mut open, loaded, &current_org).await?;
            let sink = client
                .copy_in(&copy_statement(table))
                .await
                .with_context(|| format!("starting COPY into {}", table.name()))?;
            open = Some((
                table,
                Box::pin(BinaryCopyInWriter::new(sink, &types(table))),
            ));
        }
        let (_, writer) = open.as_mut().expect("opened above");
        let n = batch.len() as u64;
        with_rows!(&batch, rows => {
            for row in rows {
                writer.as_mut().write(&row.values()).await.with_context(|| {
                    format!("loading {} of org {current_org}", table.name())
                })?;
            }
        });
        progress.rows(table, n);
    }
    finish(&mut open, loaded, &current_org).await
}

async fn finish(
    open: &mut Option<(Table, Pin<Box<BinaryCopyInWriter>>)>,
    loaded: &mut Loaded,
    org: &str,
) -> Result<()> {
    if let Some((table, mut writer)) = open.take() {
        let n = writer
            .as_mut()
            .finish()
            .await
            .with_context(|| format!("loading {} of org {org}", table.name()))?;
        loaded.rows[table as usize] += n;
    }
    Ok(())
}

const MAGIC: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// One binary COPY file per table in a directory, plus `load.sql` for psql.
pub struct CopyFiles {
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
    buf: BytesMut,
    pub rows: [u64; 6],
}

impl CopyFiles {
    pub fn file_name(table: Table) -> String {
        format!("{}.pgcopy", table.name())
    }

    pub fn create(dir: &Path) -> Result<CopyFiles> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut files = Vec::new();
        for table in Table::ALL {
            let path = dir.join(Self::file_name(table));
            let mut f = BufWriter::with_capacity(
                1 << 20,
                File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            f.write_all(MAGIC)?;
            f.write_all(&0i32.to_be_bytes())?; // flags
            f.write_all(&0i32.to_be_bytes())?; // header extension length
            files.push(f);
        }
        Ok(CopyFiles {
            dir: dir.to_path_buf(),
            files,
            buf: BytesMut::with_capacity(1024),
            rows: [0; 6],
        })
    }

    /// Append a data batch to its table's file (the encoding `BinaryCopyInWriter` uses).
    pub fn write(&mut self, batch: &Batch) -> Result<()> {
        let Some(table) = batch.table() else {
            return Ok(());
        };
        let types = types(table);
        with_rows!(batch, rows => {
            for row in rows {
                self.encode(&row.values(), &types)
                    .with_context(|| format!("encoding a row of {}", table.name()))?;
                self.files[table as usize].write_all(&self.buf)?;
            }
        });
        self.rows[table as usize] += batch.len() as u64;
        Ok(())
    }

    fn encode(&mut self, values: &[&(dyn ToSql + Sync)], types: &[Type]) -> Result<()> {
        self.buf.clear();
        self.buf.put_i16(values.len() as i16);
        for (value, ty) in values.iter().zip(types) {
            let at = self.buf.len();
            self.buf.put_i32(0);
            let len = match value
                .to_sql_checked(ty, &mut self.buf)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                IsNull::Yes => -1,
                IsNull::No => (self.buf.len() - at - 4) as i32,
            };
            self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Write the trailers and `load.sql`; returns the directory.
    pub fn finish(mut self) -> Result<PathBuf> {
        for f in &mut self.files {
            f.write_all(&(-1i16).to_be_bytes())?;
            f.flush()?;
        }
        let dir = self.dir.canonicalize().unwrap_or(self.dir.clone());
        let mut script = String::from(
            "-- Load these files with: psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -f load.sql\n\
             -- (into a migrated database whose tenant tables are empty)\n",
        );
        for table in Table::ALL {
            let path = dir.join(Self::file_name(table)).display().to_string();
            script.push_str(&format!(
                "\\copy {} ({}) from '{}' with (format binary)\n",
                table.name(),
                columns(table).join(", "),
                path.replace('\'', "''")
            ));
        }
        script
            .push_str("ANALYZE orgs, org_settings, members, providers, contacts, appointments;\n");
        std::fs::write(dir.join("load.sql"), script)?;
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_types_line_up() {
        for t in Table::ALL {
            assert_eq!(columns(t).len(), types(t).len(), "{t:?}");
        }
        assert_eq!(
            copy_statement(Table::Orgs),
            "COPY orgs (id, name, slug, created_at) FROM STDIN (FORMAT binary)"
        );
    }
}
