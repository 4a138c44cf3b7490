//! The embedded SQLite store (the default database).
//!
//! One file, WAL journal, `synchronous=NORMAL`, foreign keys on, 5 s busy timeout; the schema
//! is created or migrated on open (`migrations/sqlite/`, embedded). Every write that reads
//! first runs in a `BEGIN IMMEDIATE` transaction ([`begin_write`]), so concurrent writers (in
//! this process or another one) wait for each other instead of failing on a stale snapshot.
//!
//! The statements are the ones both backends share (`src/shared/`, compiled into this module
//! with SQLite's types); this file holds only what SQLite does differently: connecting,
//! pragmas, migrating, the write transaction, the clock and the JSON aggregate; how its
//! timestamps and JSON documents are stored (TEXT) is in `sqlite/types.rs`.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serversync_core::model::{Client, Service};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::error::DbResult;
use crate::secrets::SecretKey;
use crate::{Result, StoreError};

// The shared statement files are compiled once per backend on purpose (one SQL text, two
// sqlx drivers), hence the duplicate_mod allowances.
#[allow(clippy::duplicate_mod)]
#[path = "shared/apply.rs"]
mod apply;
#[allow(clippy::duplicate_mod)]
#[path = "shared/audit.rs"]
mod audit;
#[allow(clippy::duplicate_mod)]
#[path = "shared/bulk.rs"]
mod bulk;
mod bulk_read;
#[allow(clippy::duplicate_mod)]
#[path = "shared/deliveries.rs"]
mod deliveries;
#[allow(clippy::duplicate_mod)]
#[path = "shared/identifiers.rs"]
mod identifiers;
#[allow(clippy::duplicate_mod)]
#[path = "shared/import.rs"]
mod import;
#[allow(clippy::duplicate_mod)]
#[path = "shared/jobs.rs"]
mod jobs;
#[allow(clippy::duplicate_mod)]
#[path = "shared/leases.rs"]
mod leases;
#[allow(clippy::duplicate_mod)]
#[path = "shared/misses.rs"]
mod misses;
#[allow(clippy::duplicate_mod)]
#[path = "shared/records.rs"]
mod records;
#[allow(clippy::duplicate_mod)]
#[path = "shared/rows.rs"]
mod rows;
#[allow(clippy::duplicate_mod)]
#[path = "shared/runs.rs"]
mod runs;
#[allow(clippy::duplicate_mod)]
#[path = "shared/sealing.rs"]
mod sealing;
#[allow(clippy::duplicate_mod)]
#[path = "shared/selections.rs"]
mod selections;
#[allow(clippy::duplicate_mod)]
#[path = "shared/setup.rs"]
mod setup;
mod types;
#[allow(clippy::duplicate_mod)]
#[path = "shared/users.rs"]
mod users;
#[allow(clippy::duplicate_mod)]
#[path = "shared/values.rs"]
mod values;

use bulk_read::BulkReader;
use types::{json_doc, Doc, Ts};

/// Whether a JSON document may hold a NUL character (`\u0000`): yes, SQLite's TEXT may.
const DOCUMENTS_HOLD_NUL: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

// ---------------------------------------------------------------------------------------------
// The dialect the shared statements (`src/shared/`) are written against.

/// The database of this backend.
type Db = sqlx::Sqlite;
/// One connection (a transaction derefs to it).
type DbConn = sqlx::SqliteConnection;
/// One result row.
type DbRow = sqlx::sqlite::SqliteRow;
/// The connection pool.
type DbPool = sqlx::SqlitePool;
/// A write transaction ([`begin_write`]).
type Tx = sqlx::Transaction<'static, Db>;
/// This backend's store, as the shared statements name it.
type BackendStore = SqliteStore;

/// How long a statement waits for a lock another connection holds before it fails busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bind parameters per statement: SQLite allows 32766 since 3.32 (the bundled library is
/// newer); kept below with room to spare.
const MAX_BINDS: usize = 32_000;

/// A statement; `?` placeholders as written.
fn query(sql: &str) -> Query<'_, Db, SqliteArguments<'_>> {
    sqlx::query(sql)
}

/// A statement returning one column.
fn query_scalar<O>(sql: &str) -> QueryScalar<'_, Db, O, SqliteArguments<'_>>
where
    (O,): for<'r> FromRow<'r, DbRow>,
{
    sqlx::query_scalar(sql)
}

/// A statement returning rows as tuples.
fn query_as<O>(sql: &str) -> QueryAs<'_, Db, O, SqliteArguments<'_>>
where
    O: for<'r> FromRow<'r, DbRow>,
{
    sqlx::query_as(sql)
}

/// Begins a write transaction: `BEGIN IMMEDIATE` takes SQLite's write lock at once, so a
/// write that reads first never decides on a snapshot another writer has changed.
async fn begin_write(pool: &DbPool) -> Result<Tx> {
    pool.begin_with("BEGIN IMMEDIATE").await.db()
}

/// "Now" for leases and stored times: this host's clock (an SQLite file is shared by the
/// processes of one host only).
async fn clock(_conn: &mut DbConn) -> Result<OffsetDateTime> {
    Ok(OffsetDateTime::now_utc())
}

/// A statement returning the rows of `from` (aliased `s`) as one JSON array of arrays of
/// `cols`, built by SQLite in C: serde reads one array far faster than sqlx decodes 100,000
/// rows one by one. The services and clients of a database file are read more cheaply still
/// by the bulk reader (`sqlite/bulk_read.rs`); this remains for an in-memory database and
/// for reads inside a write transaction, which must see its snapshot (`identifiers.rs`).
fn json_rows(cols: &str, from: &str) -> String {
    format!("SELECT json_group_array(json_array({cols})) FROM ({from}) s")
}

/// The services matching `cond` (`records::services_where`) read by the bulk reader
/// (`sqlite/bulk_read.rs`); `Ok(None)` where it cannot see the store's database: then the
/// JSON document of [`json_rows`] is read through the pool.
async fn direct_services(
    store: &SqliteStore,
    cond: &str,
    ints: &[i64],
    texts: &[&str],
) -> Result<Option<Vec<Service>>> {
    if store.pool.is_closed() {
        // Through the pool, which says it is closed.
        return Ok(None);
    }
    store.bulk.services(cond, ints, texts).await
}

/// Every client, read by the bulk reader; `Ok(None)` as for [`direct_services`].
async fn direct_clients(store: &SqliteStore) -> Result<Option<Vec<Client>>> {
    if store.pool.is_closed() {
        return Ok(None);
    }
    store.bulk.clients().await
}

/// Every client's e-mail by id, read by the bulk reader; `Ok(None)` as for
/// [`direct_services`].
async fn direct_client_emails(
    store: &SqliteStore,
) -> Result<Option<std::collections::HashMap<serversync_core::model::ClientId, String>>> {
    if store.pool.is_closed() {
        return Ok(None);
    }
    store.bulk.client_emails().await
}

/// After plain-text secrets were rewritten sealed: truncates the WAL, so that no copy of the
/// plain text stays there.
async fn after_sealing(pool: &DbPool) -> Result<()> {
    query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Opening

/// The SQLite implementation of [`crate::Store`]. Server secrets are encrypted with its
/// [`SecretKey`] before they are bound to any statement and decrypted when read back.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: DbPool,
    /// Swapped by [`crate::BillingRecords::rotate_secret_key`]; never held across an await.
    key: Arc<RwLock<Arc<SecretKey>>>,
    /// The bulk reads of billing records, on a connection of their own (`sqlite/bulk_read.rs`).
    bulk: Arc<BulkReader>,
}

impl SqliteStore {
    /// Opens (creating if missing, mode 0600) and migrates the database at `url`:
    /// `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:` (one private in-memory database
    /// per store). Server secrets are sealed with `key`; rows of older databases holding
    /// plain text are encrypted now, and a key that does not open the stored secrets is
    /// refused here ([`StoreError::Secret`] naming the server and the key file).
    pub async fn open(url: &str, key: SecretKey) -> Result<SqliteStore> {
        // Two processes opening one new file at once can find it locked past the busy
        // timeout's reach (SQLite does not wait while another connection switches the
        // journal to WAL): opening is idempotent, so it is simply tried again (bounded).
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            match Self::open_once(url, key.clone()).await {
                Err(StoreError::Unavailable { source }) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %source, attempt, "database busy while opening: retrying");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn open_once(url: &str, key: SecretKey) -> Result<SqliteStore> {
        let shown = crate::redact_url(url);
        let rest = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| StoreError::Invalid(format!("{shown} is not a sqlite: URL")))?;
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let db = path.split('?').next().unwrap_or_default();
        if db.is_empty() && !path.contains("mode=memory") {
            return Err(StoreError::Invalid(format!(
                "database URL {shown} names no file; use sqlite://PATH or sqlite::memory:"
            )));
        }
        let in_memory = db == ":memory:" || path.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("invalid SQLite URL {shown}: {e}")))?;
        let file = if in_memory {
            None
        } else {
            create_private(options.get_filename())?;
            // Absolute, so that the bulk reader opens this file whatever the working
            // directory is later; none means its reads go through the pool.
            std::fs::canonicalize(options.get_filename()).ok()
        };
        let options = options
            .create_if_missing(true)
            // Freed pages are zeroed: a secret rewritten in its sealed form (or a deleted
            // row) does not linger in the file.
            .pragma("secure_delete", "ON")
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(4)
        }
        .connect_with(options)
        .await
        .db()?;
        migrate(&pool).await?;
        let store = SqliteStore {
            pool,
            key: Arc::new(RwLock::new(Arc::new(key))),
            bulk: Arc::new(BulkReader::new(file, BUSY_TIMEOUT)),
        };
        store.seal_plain_secrets().await?;
        store.check_secrets().await?;
        Ok(store)
    }

    /// The connection pool (for tests and maintenance; the trait methods are the API).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish, and the bulk reads' connection.
    pub async fn close(&self) {
        self.pool.close().await;
        self.bulk.close();
    }
}

/// Creates a missing database file readable by its owner only (0600), naming the file and
/// the cause when it cannot be ([`crate::location`]).
fn create_private(path: &std::path::Path) -> Result<()> {
    crate::location::create_database_file(path)
}

/// Runs the migrations. Two processes opening one new database at once (two `serve`s) both
/// find it unmigrated; SQLite's migrator takes no lock, so the slower one fails on a table the
/// faster one just created. Then the migrations are simply run again: they are recorded by the
/// winner, so the second run only checks them (bounded attempts; a real failure stays one).
async fn migrate(pool: &DbPool) -> Result<()> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "migration failed; another process may be migrating: retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(crate::error::from_migrate(e)),
        }
    }
}

/// After rows were written with ids a records document gave: nothing to do, SQLite gives a
/// new row the largest id plus one.
async fn identity_past_ids(_conn: &mut DbConn, _table: &str) -> Result<()> {
    Ok(())
}
