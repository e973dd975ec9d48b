//! Rows of a project's own schema on their way into the database: the generator thread
//! encodes each row into its table's COPY format (binary where every column has a
//! binary encoding, text otherwise) and fingerprints it (`Encoder`, a `rows::Sink`),
//! hands chunks of encoded rows through a bounded channel, and the loader streams them
//! with `COPY ... FROM STDIN`, one COPY per table and org, in the seed's transaction.
//! `Files` writes the same bytes as one COPY file per table for `--to-files`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::SinkExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::{Client, CopyInSink};

use crate::rows::plan::Plan;
use crate::rows::value::{encode_binary, encode_text};
use crate::rows::{Sink, Stopped, Value};

/// Bytes per chunk handed from the generator to the loader.
const CHUNK_BYTES: usize = 256 * 1024;

// What PostgREST sets for a request: triggers that read auth.uid() see the org's owner.
const SET_CLAIMS: &str = "SELECT set_config('request.jwt.claims', $1, true), \
     set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claim.role', 'authenticated', true)";
const CLEAR_CLAIMS: &str = "SELECT set_config('request.jwt.claims', '', true), \
     set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claim.role', '', true)";

const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const BINARY_TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// What the generator thread hands on.
#[derive(Debug)]
pub enum Message {
    /// Encoded rows of one table.
    Chunk {
        table: usize,
        rows: u64,
        bytes: Vec<u8>,
    },
    OrgDone(u32),
    /// The org's rows from here on are made as this user (`request.jwt.claims`).
    Actor(String),
}

/// Encodes rows into chunks and fingerprints them; sends chunks on `tx`.
pub struct Encoder<'p, F: FnMut(Message) -> bool> {
    plan: &'p Plan,
    tx: F,
    current: Option<usize>,
    buf: Vec<u8>,
    rows: u64,
    fp: Sha256,
    /// The first encoding error: a generated value that does not fit its column.
    pub error: Option<String>,
    /// Ids of the auth users made (what `--reset` may delete later).
    pub users: Vec<uuid::Uuid>,
}

impl<'p, F: FnMut(Message) -> bool> Encoder<'p, F> {
    pub fn new(plan: &'p Plan, tx: F) -> Encoder<'p, F> {
        Encoder {
            plan,
            tx,
            current: None,
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            rows: 0,
            fp: Sha256::new(),
            error: None,
            users: vec![],
        }
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if let Some(table) = self.current {
            if self.rows > 0 {
                let bytes =
                    std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
                let ok = (self.tx)(Message::Chunk {
                    table,
                    rows: self.rows,
                    bytes,
                });
                self.rows = 0;
                if !ok {
                    return Err(Stopped);
                }
            }
        }
        Ok(())
    }

    /// Send what is left; the hex fingerprint.
    pub fn finish(mut self) -> Result<(String, Vec<uuid::Uuid>), Stopped> {
        self.flush()?;
        let fp = self
            .fp
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((fp, self.users))
    }
}

impl<F: FnMut(Message) -> bool> Sink for Encoder<'_, F> {
    fn row(&mut self, table: usize, values: &[Value]) -> Result<(), Stopped> {
        if self.current != Some(table) || self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
            self.current = Some(table);
        }
        let t = &self.plan.tables[table];
        let start = self.buf.len();
        if t.binary {
            self.buf
                .extend_from_slice(&(values.len() as i16).to_be_bytes());
            for (v, c) in values.iter().zip(&t.columns) {
                if let Err(e) = encode_binary(v, &c.wire, &mut self.buf) {
                    self.error = Some(format!("{}.{}: {e}", t.name, c.name));
                    return Err(Stopped);
                }
            }
        } else {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b'\t');
                }
                encode_text(v, &mut self.buf);
            }
            self.buf.push(b'\n');
        }
        self.fp.update((table as u32).to_le_bytes());
        self.fp.update(&self.buf[start..]);
        self.rows += 1;
        if t.role == crate::rows::plan::Role::Users {
            if let Some(Value::Uuid(id)) = t
                .columns
                .iter()
                .position(|c| matches!(c.source, crate::rows::plan::Source::Id))
                .map(|i| &values[i])
            {
                self.users.push(*id);
            }
        }
        Ok(())
    }

    fn actor(&mut self, user: &Value) -> Result<(), Stopped> {
        self.flush()?;
        self.current = None;
        let Some(id) = user.to_text() else {
            return Ok(());
        };
        if (self.tx)(Message::Actor(id)) {
            Ok(())
        } else {
            Err(Stopped)
        }
    }

    fn org_done(&mut self, index: u32) -> Result<(), Stopped> {
        self.flush()?;
        self.current = None;
        if (self.tx)(Message::OrgDone(index)) {
            Ok(())
        } else {
            Err(Stopped)
        }
    }
}

/// Rows loaded per table (plan order), as COPY reported them, and orgs loaded whole.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub rows: Vec<u64>,
    pub orgs: u32,
}

type Open = Option<(usize, Pin<Box<CopyInSink<Bytes>>>)>;

/// Stream chunks into the database, in the caller's transaction. Stops at the first
/// error; the caller's rollback removes every row.
pub async fn load(
    client: &Client,
    plan: &Plan,
    rx: &mut mpsc::Receiver<Message>,
    progress: &super::copy::Progress,
    loaded: &mut Loaded,
) -> Result<()> {
    loaded.rows = vec![0; plan.tables.len()];
    let mut open: Open = None;
    while let Some(message) = rx.recv().await {
        match message {
            Message::OrgDone(_index) => {
                finish(&mut open, plan, loaded).await?;
                loaded.orgs += 1;
                progress.org_done();
                client
                    .batch_execute(CLEAR_CLAIMS)
                    .await
                    .context("clearing the request claims")?;
            }
            Message::Actor(id) => {
                finish(&mut open, plan, loaded).await?;
                let claims = serde_json::json!({ "sub": id, "role": "authenticated" }).to_string();
                client
                    .execute(SET_CLAIMS, &[&claims, &id])
                    .await
                    .context("setting the request claims")?;
            }
            Message::Chunk { table, bytes, .. } => {
                if open.as_ref().map(|(t, _)| *t) != Some(table) {
                    finish(&mut open, plan, loaded).await?;
                    let t = &plan.tables[table];
                    let mut sink = Box::pin(
                        client
                            .copy_in::<_, Bytes>(&t.copy_statement())
                            .await
                            .with_context(|| format!("starting COPY into {}", t.name))?,
                    );
                    if t.binary {
                        sink.send(Bytes::from_static(BINARY_HEADER))
                            .await
                            .with_context(|| format!("loading {}", t.name))?;
                    }
                    open = Some((table, sink));
                }
                let (_, sink) = open.as_mut().expect("opened above");
                sink.send(Bytes::from(bytes))
                    .await
                    .with_context(|| format!("loading {}", plan.tables[table].name))?;
            }
        }
    }
    finish(&mut open, plan, loaded).await
}

async fn finish(open: &mut Open, plan: &Plan, loaded: &mut Loaded) -> Result<()> {
    if let Some((table, mut sink)) = open.take() {
        let t = &plan.tables[table];
        if t.binary {
            sink.send(Bytes::from_static(&BINARY_TRAILER))
                .await
                .with_context(|| format!("loading {}", t.name))?;
        }
        let n = sink
            .as_mut()
            .finish()
            .await
            .with_context(|| format!("loading {}", t.name))?;
        loaded.rows[table] += n;
    }
    Ok(())
}

/// One COPY file per filled table, plus `load.sql` for psql.
pub struct Files<'p> {
    plan: &'p Plan,
    dir: PathBuf,
    files: Vec<Option<BufWriter<File>>>,
}

impl<'p> Files<'p> {
    pub fn create(dir: &Path, plan: &'p Plan) -> Result<Files<'p>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Files {
            plan,
            dir: dir.to_path_buf(),
            files: (0..plan.tables.len()).map(|_| None).collect(),
        })
    }

    fn file_name(&self, table: usize) -> String {
        let t = &self.plan.tables[table];
        format!(
            "{:02}_{}.{}",
            table,
            t.name.replace(['.', '/', '"'], "_"),
            if t.binary { "pgcopy" } else { "tsv" }
        )
    }

    pub fn write(&mut self, table: usize, bytes: &[u8]) -> Result<()> {
        if self.files[table].is_none() {
            let path = self.dir.join(self.file_name(table));
            let mut f = BufWriter::with_capacity(
                1 << 20,
                File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            if self.plan.tables[table].binary {
                f.write_all(BINARY_HEADER)?;
            }
            self.files[table] = Some(f);
        }
        self.files[table]
            .as_mut()
            .expect("opened")
            .write_all(bytes)?;
        Ok(())
    }

    /// Trailers, and `load.sql`; the directory.
    pub fn finish(mut self) -> Result<PathBuf> {
        let dir = self.dir.canonicalize().unwrap_or(self.dir.clone());
        let mut script = String::from(
            "-- Load these files with: psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -f load.sql\n\
             -- (into a migrated database whose tables are empty)\n",
        );
        for table in 0..self.plan.tables.len() {
            let Some(mut f) = self.files[table].take() else {
                continue;
            };
            let t = &self.plan.tables[table];
            if t.binary {
                f.write_all(&BINARY_TRAILER)?;
            }
            f.flush()?;
            let copy = t.copy_statement();
            let (head, format) = match copy.split_once(" FROM STDIN") {
                Some((head, _)) => (head.trim_start_matches("COPY ").to_string(), t.binary),
                None => (copy.clone(), t.binary),
            };
            let path = dir.join(self.file_name(table)).display().to_string();
            script.push_str(&format!(
                "\\copy {head} from '{}'{}\n",
                path.replace('\'', "''"),
                if format { " with (format binary)" } else { "" }
            ));
        }
        std::fs::write(dir.join("load.sql"), script)?;
        Ok(dir)
    }
}
