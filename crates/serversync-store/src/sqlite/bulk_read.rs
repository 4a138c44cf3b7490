//! SQLite's bulk reads of billing records (one server's services, all clients, their
//! e-mails) through a read-only `rusqlite` connection of their own, in a blocking thread.
//!
//! Why a second driver: sqlx-sqlite steps its statements on a worker thread and sends every
//! row across a channel to the caller, decoding each value through its type checks; for a
//! server of 100,000 services that was 1.1 s. The statements then asked SQLite for one JSON
//! document of all rows (`json_rows`), which SQLite's JSON functions build and serde parses
//! again: still ~0.3 s of CPU, on a machine where the panel's listing competes for it.
//! `rusqlite` steps the same statement in the calling thread and the columns are read by
//! index straight into [`Service`] / [`Client`]: several times less CPU. It links the same
//! `libsqlite3-sys` as sqlx (one bundled SQLite; `Cargo.toml` pins the pair together).
//!
//! The connection is opened read-only on the database file (the store's own pool holds it
//! open in WAL mode, so a reader sees every committed write and blocks no writer), with the
//! pool's busy timeout, and is kept for the next read. Where a second connection cannot see
//! the store's database (`sqlite::memory:`) or cannot open the file, the caller falls back to
//! the JSON document (`Ok(None)`). A corrupt value is named by table, row id and column, as
//! every other read of the store names it.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serversync_core::model::{parse_date, Client, ClientId, Service, ServiceStatus};
use time::Date;

use super::rows::{CLIENT_SELECT, SERVICE_COLS, SERVICE_SELECT};
use crate::error::from_rusqlite;
use crate::{Result, StoreError};

/// The columns of [`CLIENT_SELECT`], in its order (named in errors).
const CLIENT_SELECT_COLS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "status",
];

/// The columns of the client e-mail read ([`BulkReader::client_emails`]), in its order.
const CLIENT_EMAIL_COLS: &[&str] = &["id", "email"];

/// The store's bulk reader: the database file (none for an in-memory database) and the
/// connection kept between reads.
#[derive(Debug)]
pub(super) struct BulkReader {
    /// The database file, made absolute when the store was opened.
    path: Option<PathBuf>,
    /// The connection of the last read, for the next one (a read that finds it taken opens
    /// another one).
    idle: Mutex<Option<Connection>>,
    /// The pool's busy timeout, used by this connection too.
    busy_timeout: Duration,
}

impl BulkReader {
    /// A reader of the database file at `path`; `None` for a database that only the pool's
    /// own connection sees (in memory), whose reads always fall back.
    pub(super) fn new(path: Option<PathBuf>, busy_timeout: Duration) -> BulkReader {
        BulkReader {
            path,
            idle: Mutex::new(None),
            busy_timeout,
        }
    }

    /// Closes the kept connection (the store is being closed).
    pub(super) fn close(&self) {
        drop(self.take());
    }

    fn take(&self) -> Option<Connection> {
        // A poisoned lock only means a read panicked: its connection is simply not reused.
        self.idle.lock().ok().and_then(|mut c| c.take())
    }

    fn keep(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.is_none() {
                *idle = Some(conn);
            }
        }
    }

    /// Runs `read` on a connection in a blocking thread; `Ok(None)` when there is no
    /// database file to open or it cannot be opened (then the caller reads through the pool).
    async fn with_connection<T, F>(self: &Arc<Self>, read: F) -> Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(path) = self.path.clone() else {
            return Ok(None);
        };
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = match reader.take() {
                Some(conn) => conn,
                None => match open(&path, reader.busy_timeout) {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::debug!(error = %e, path = %path.display(),
                            "no bulk-read connection to the database file: reading through the pool");
                        return Ok(None);
                    }
                },
            };
            let out = read(&conn);
            reader.keep(conn);
            out.map(Some)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("bulk read failed: {e}")))?
    }

    /// The services matching `cond` (SQL over `services`), its `?` bound to `texts` first,
    /// then `ints`; ordered by id.
    pub(super) async fn services(
        self: &Arc<Self>,
        cond: &str,
        ints: &[i64],
        texts: &[&str],
    ) -> Result<Option<Vec<Service>>> {
        let sql = format!("{SERVICE_SELECT} WHERE {cond} ORDER BY s.id");
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        let ints = ints.to_vec();
        self.with_connection(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(from_rusqlite)?;
            let mut at = 1;
            for t in &texts {
                stmt.raw_bind_parameter(at, t).map_err(from_rusqlite)?;
                at += 1;
            }
            for i in &ints {
                stmt.raw_bind_parameter(at, i).map_err(from_rusqlite)?;
                at += 1;
            }
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(from_rusqlite)? {
                out.push(service(row)?);
            }
            Ok(out)
        })
        .await
    }

    /// Every client, ordered by id.
    pub(super) async fn clients(self: &Arc<Self>) -> Result<Option<Vec<Client>>> {
        self.with_connection(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{CLIENT_SELECT} ORDER BY id"))
                .map_err(from_rusqlite)?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(from_rusqlite)? {
                let c = Cells::new(row, "clients", CLIENT_SELECT_COLS)?;
                out.push(Client {
                    id: c.id,
                    email: c.text(1)?,
                    first_name: c.text(2)?,
                    last_name: c.text(3)?,
                    company: c.text(4)?,
                    status: c.text(5)?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Every client's e-mail by client id (two columns of every client, not six).
    pub(super) async fn client_emails(
        self: &Arc<Self>,
    ) -> Result<Option<HashMap<ClientId, String>>> {
        self.with_connection(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, email FROM clients")
                .map_err(from_rusqlite)?;
            let mut rows = stmt.raw_query();
            let mut out = HashMap::new();
            while let Some(row) = rows.next().map_err(from_rusqlite)? {
                let c = Cells::new(row, "clients", CLIENT_EMAIL_COLS)?;
                out.insert(c.id, c.text(1)?);
            }
            Ok(out)
        })
        .await
    }
}

/// Opens the database file read-only, with the pool's busy timeout.
fn open(path: &std::path::Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// One service from a row of [`SERVICE_SELECT`] (columns in [`SERVICE_COLS`] order).
fn service(row: &rusqlite::Row<'_>) -> Result<Service> {
    let c = Cells::new(row, "services", SERVICE_COLS)?;
    let status = c.str(8)?;
    Ok(Service {
        id: c.id,
        client_id: c.int(1)?,
        product_id: c.int(2)?,
        server_id: c.opt_int(3)?,
        domain: c.text(4)?,
        username: c.text(5)?,
        dedicated_ip: c.text(6)?,
        regdate: c.date(7)?,
        status: ServiceStatus::from_str(status).map_err(|e| c.bad(8, e))?,
        billing_cycle: c.text(9)?,
        amount: c.text(10)?,
        next_due_date: c.date(11)?,
        termination_date: c.date(12)?,
        custom_fields: serde_json::from_str(c.str(13)?)
            .map_err(|e| c.bad(13, format!("invalid JSON: {e}")))?,
        version: c.int(14)?,
    })
}

/// Reads the cells of one row by index, naming table, row id and column in every error
/// (as `rows::Cols` does for sqlx's rows).
struct Cells<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    table: &'static str,
    cols: &'static [&'static str],
    id: i64,
}

impl<'a, 'r> Cells<'a, 'r> {
    /// The row, its id read from column 0.
    fn new(
        row: &'a rusqlite::Row<'r>,
        table: &'static str,
        cols: &'static [&'static str],
    ) -> Result<Self> {
        match row.get_ref(0).map_err(from_rusqlite)? {
            ValueRef::Integer(id) => Ok(Cells {
                row,
                table,
                cols,
                id,
            }),
            other => Err(StoreError::Corrupt(format!(
                "{table}.id: {} is not an integer",
                kind(other)
            ))),
        }
    }

    fn bad(&self, at: usize, e: impl Display) -> StoreError {
        let col = self.cols.get(at).copied().unwrap_or("?");
        StoreError::Corrupt(format!("{}.id={} {col}: {e}", self.table, self.id))
    }

    fn value(&self, at: usize) -> Result<ValueRef<'_>> {
        self.row.get_ref(at).map_err(from_rusqlite)
    }

    /// A nullable TEXT cell, borrowed.
    fn opt_str(&self, at: usize) -> Result<Option<&str>> {
        match self.value(at)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|e| self.bad(at, format!("invalid UTF-8: {e}"))),
            other => Err(self.bad(at, format!("{} where text is expected", kind(other)))),
        }
    }

    /// A TEXT cell, borrowed.
    fn str(&self, at: usize) -> Result<&str> {
        self.opt_str(at)?
            .ok_or_else(|| self.bad(at, "NULL where a value is expected"))
    }

    /// A TEXT cell.
    fn text(&self, at: usize) -> Result<String> {
        self.str(at).map(str::to_string)
    }

    /// A nullable INTEGER cell.
    fn opt_int(&self, at: usize) -> Result<Option<i64>> {
        match self.value(at)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(self.bad(at, format!("{} where an integer is expected", kind(other)))),
        }
    }

    /// An INTEGER cell.
    fn int(&self, at: usize) -> Result<i64> {
        self.opt_int(at)?
            .ok_or_else(|| self.bad(at, "NULL where a value is expected"))
    }

    /// A nullable date cell (`YYYY-MM-DD` text).
    fn date(&self, at: usize) -> Result<Option<Date>> {
        self.opt_str(at)?
            .map(|s| parse_date(s).map_err(|e| self.bad(at, e)))
            .transpose()
    }
}

/// The storage class of a cell, for messages.
fn kind(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}
