//! The PostgreSQL store: several serversync instances may share one database.
//!
//! The schema is created or migrated on first use (`migrations/postgres/`, embedded; sqlx's
//! migrator holds an advisory lock meanwhile). The statements are the ones both backends
//! share (`src/shared/`, compiled into this module with PostgreSQL's types), with `?`
//! numbered for PostgreSQL ([`sql`]); this file holds only what PostgreSQL does differently
//! (its typed values, `timestamptz` and `jsonb`, are in `postgres/types.rs`).
//! Every write that reads first runs in a transaction holding one advisory lock
//! ([`begin_write`]), so writers of every instance wait for each other as SQLite's
//! `BEGIN IMMEDIATE` makes them, instead of deciding on a stale read; readers never wait.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::Connection;
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
mod sql;
mod types;
#[allow(clippy::duplicate_mod)]
#[path = "shared/users.rs"]
mod users;
#[allow(clippy::duplicate_mod)]
#[path = "shared/values.rs"]
mod values;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

// ---------------------------------------------------------------------------------------------
// The dialect the shared statements (`src/shared/`) are written against.

/// The database of this backend.
type Db = sqlx::Postgres;
/// One connection (a transaction derefs to it).
type DbConn = PgConnection;
/// One result row.
type DbRow = sqlx::postgres::PgRow;
/// The connection pool.
type DbPool = sqlx::PgPool;
/// A write transaction ([`begin_write`]).
type Tx = sqlx::Transaction<'static, Db>;
/// This backend's store, as the shared statements name it.
type BackendStore = PgStore;

/// Bind parameters per statement: PostgreSQL's protocol allows 65535.
const MAX_BINDS: usize = 65_000;

use sql::{query, query_as, query_scalar};
use types::{json_doc, Doc, Ts};

/// Whether a JSON document may hold a NUL character (`\u0000`): no, PostgreSQL's `jsonb`
/// (like its text) cannot.
const DOCUMENTS_HOLD_NUL: bool = false;

/// The key of the transaction-level advisory lock every write transaction takes first.
/// Writes that read first (imports, applies, leases, setup) are serialised as SQLite's
/// `BEGIN IMMEDIATE` serialises them, across every process sharing the database, so they
/// never decide on a stale read; reads never wait for it.
const WRITE_LOCK: i64 = 0x7365_7276_7379_6e63; // "servsync"

/// Begins a write transaction holding [`WRITE_LOCK`] (released at commit or rollback).
async fn begin_write(pool: &DbPool) -> Result<Tx> {
    let mut tx = pool.begin().await.db()?;
    query("SELECT pg_advisory_xact_lock(?)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await
        .db()?;
    Ok(tx)
}

/// The database server's clock: every instance sharing the database judges a lease's
/// expiry by the same clock, whatever the skew between their hosts.
async fn clock(conn: &mut DbConn) -> Result<OffsetDateTime> {
    let micros: i64 =
        query_scalar("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)")
            .fetch_one(&mut *conn)
            .await
            .db()?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("the database clock: {e}")))
}

/// A statement returning the rows of `from` (aliased `s`) as one JSON array (text) of arrays
/// of `cols`, built by PostgreSQL: serde reads one array far faster than sqlx decodes
/// 100,000 rows one by one.
fn json_rows(cols: &str, from: &str) -> String {
    format!("SELECT CAST(json_agg(json_build_array({cols})) AS TEXT) FROM ({from}) s")
}

/// No bulk reader on PostgreSQL: its JSON document ([`json_rows`]) is read.
async fn direct_services(
    _store: &PgStore,
    _cond: &str,
    _ints: &[i64],
    _texts: &[&str],
) -> Result<Option<Vec<serversync_core::model::Service>>> {
    Ok(None)
}

/// No bulk reader on PostgreSQL, as for [`direct_services`].
async fn direct_clients(_store: &PgStore) -> Result<Option<Vec<serversync_core::model::Client>>> {
    Ok(None)
}

/// No bulk reader on PostgreSQL, as for [`direct_services`].
async fn direct_client_emails(
    _store: &PgStore,
) -> Result<Option<std::collections::HashMap<serversync_core::model::ClientId, String>>> {
    Ok(None)
}

/// After rows were written with ids a records document gave: moves `table`'s identity past
/// its largest id, so that the next row the database creates gets a free one.
async fn identity_past_ids(conn: &mut DbConn, table: &str) -> Result<()> {
    query(&format!(
        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) \
         FROM {table}"
    ))
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

/// After plain-text secrets were rewritten sealed: nothing to do (PostgreSQL's WAL is not
/// a file beside the database that a copy would take along).
async fn after_sealing(_pool: &DbPool) -> Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Opening

/// The PostgreSQL implementation of [`crate::Store`]. Server secrets are encrypted with its
/// [`SecretKey`] before they are bound to any statement and decrypted when read back.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: DbPool,
    /// Swapped by [`crate::BillingRecords::rotate_secret_key`]; never held across an await.
    key: Arc<RwLock<Arc<SecretKey>>>,
}

impl PgStore {
    /// Connects to the PostgreSQL database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`,
    /// `postgresql://…`; TLS as `sslmode=` in the query says: `disable`, `prefer` (the
    /// default), `require`, `verify-ca`, `verify-full`, with `sslrootcert=FILE`) and applies
    /// the embedded migrations (`migrations/postgres/`) on first use. Server secrets are
    /// sealed with `key` as in SQLite; rows holding plain text are encrypted now, and a key
    /// that does not open the stored secrets is refused here ([`StoreError::Secret`]).
    /// Messages show the URL without its user, password and query ([`crate::redact_url`]).
    pub async fn open(url: &str, key: SecretKey) -> Result<PgStore> {
        let shown = crate::redact_url(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Invalid(format!("invalid PostgreSQL URL {shown}")))?;
        // One direct connection first: the pool would retry a refused connection until its
        // acquire timeout, where a wrong host or password should fail at once.
        let probe = PgConnection::connect_with(&options).await.db()?;
        probe.close().await.db()?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .db()?;
        migrate(&pool).await?;
        let store = PgStore {
            pool,
            key: Arc::new(RwLock::new(Arc::new(key))),
        };
        store.seal_plain_secrets().await?;
        store.check_secrets().await?;
        Ok(store)
    }

    /// The connection pool (for tests and maintenance; the trait methods are the API).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs the migrations. sqlx's PostgreSQL migrator takes an advisory lock, so two instances
/// migrating one new database at once wait for each other.
async fn migrate(pool: &DbPool) -> Result<()> {
    MIGRATOR.run(pool).await.db()
}
