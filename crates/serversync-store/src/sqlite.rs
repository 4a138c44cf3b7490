//! The embedded SQLite store (the default database).
//!
//! One file, WAL journal, `synchronous=NORMAL`, foreign keys on, 5 s busy timeout; the schema
//! is created or migrated on open (`migrations/sqlite/`). Every write that reads first runs in a
//! `BEGIN IMMEDIATE` transaction, so concurrent writers (in this process or another one) wait
//! for each other instead of failing on a stale snapshot.
//!
//! Bulk writes (records import, apply) go through multi-row `INSERT … VALUES (…), (…)`
//! statements of up to [`MAX_ROWS_PER_STATEMENT`] rows, prepared once per shape and reused:
//! 100,000 services are a few dozen statements, not 100,000 round trips.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serversync_core::model::{
    format_date, parse_date, Client, ClientId, Product, ProductId, RunId, Secret, Server, ServerId,
    Service, ServiceId, ServiceStatus,
};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::secrets::SecretKey;
use crate::{
    AdminUser, ApiToken, Applied, AuditEvent, AuditFilter, AuditFor, ChangeSet, ClientRef,
    IdentifierFields, ImportCounts, ListingStatus, LockHolder, NewAuditEvent, NewRun, Op, Records,
    Result, Role, Run, RunSummary, ServerLock, Session, SetupOffer, Store, StoreError,
};

mod identifiers;
mod leases;
mod sealing;
mod selections;
mod setup;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Bind parameters per statement (SQLite allows 32766 since 3.32, PostgreSQL 65535).
const MAX_BINDS: usize = 30_000;
/// Rows per multi-row statement.
pub const MAX_ROWS_PER_STATEMENT: usize = 1_000;
/// Ids per `WHERE id IN (…)` lookup.
const IN_CHUNK: usize = 500;

/// Timestamps: RFC 3339, UTC, fixed 9-digit fraction, so that text order is time order.
const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
);

/// The SQLite implementation of [`Store`]. Server secrets are encrypted with its
/// [`SecretKey`] before they are bound to any statement and decrypted when read back.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Swapped by [`Store::rotate_secret_key`]; never held across an await.
    key: Arc<RwLock<Arc<SecretKey>>>,
}

impl SqliteStore {
    /// Services matching `cond` (SQL over `services`), its `?` bound to `texts` first, then
    /// `ints`.
    async fn services_where(
        &self,
        cond: &str,
        ints: &[i64],
        texts: &[&str],
    ) -> Result<Vec<Service>> {
        // One row holding a JSON array: SQLite builds it in C, and serde reads it far faster
        // than sqlx decodes 100,000 rows one by one (1.1 s → ~0.2 s for a big server).
        let sql = SERVICES_JSON_SELECT.replace("{where}", cond);
        let mut q = sqlx::query_scalar::<_, Option<String>>(&sql);
        for t in texts {
            q = q.bind(*t);
        }
        for i in ints {
            q = q.bind(*i);
        }
        let text = q
            .fetch_one(&self.pool)
            .await?
            .unwrap_or_else(|| "[]".into());
        tokio::task::spawn_blocking(move || services_from_json(&text))
            .await
            .map_err(|e| StoreError::Corrupt(format!("services: reading failed: {e}")))?
    }

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
        if !in_memory {
            create_private(options.get_filename())?;
        }
        let options = options
            .create_if_missing(true)
            // Freed pages are zeroed: a secret rewritten in its sealed form (or a deleted
            // row) does not linger in the file.
            .pragma("secure_delete", "ON")
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
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
        .await?;
        migrate(&pool).await?;
        let store = SqliteStore {
            pool,
            key: Arc::new(RwLock::new(Arc::new(key))),
        };
        store.seal_plain_secrets().await?;
        store.check_secrets().await?;
        Ok(store)
    }

    /// The key secrets are sealed with now.
    fn key(&self) -> Arc<SecretKey> {
        // A poisoned lock still holds a whole key (it is only ever replaced whole).
        match self.key.read() {
            Ok(k) => Arc::clone(&k),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The connection pool (for tests and maintenance; the [`Store`] methods are the API).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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
async fn migrate(pool: &SqlitePool) -> Result<()> {
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
            Err(e) => return Err(e.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values, timestamps, row decoding

/// A value to bind in a multi-row statement.
enum V {
    I(i64),
    NI(Option<i64>),
    T(String),
    NT(Option<String>),
    B(bool),
}

type Q<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind_row<'q>(mut q: Q<'q>, row: Vec<V>) -> Q<'q> {
    for v in row {
        q = match v {
            V::I(x) => q.bind(x),
            V::NI(x) => q.bind(x),
            V::T(x) => q.bind(x),
            V::NT(x) => q.bind(x),
            V::B(x) => q.bind(x),
        };
    }
    q
}

fn fmt_ts(t: OffsetDateTime) -> Result<String> {
    t.to_offset(UtcOffset::UTC)
        .format(TS_FORMAT)
        .map_err(|e| StoreError::Invalid(format!("timestamp {t} cannot be stored: {e}")))
}

fn now_ts() -> Result<String> {
    fmt_ts(OffsetDateTime::now_utc())
}

fn opt_date(d: Option<Date>) -> Option<String> {
    d.map(format_date)
}

fn json<T: serde::Serialize + ?Sized>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))
}

/// The key e-mails are compared by: trimmed and lower-cased (Unicode).
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Reads the columns of one row, naming table, row id and column in every error.
struct Cols<'r> {
    row: &'r SqliteRow,
    table: &'static str,
    id: i64,
}

impl<'r> Cols<'r> {
    fn new(row: &'r SqliteRow, table: &'static str) -> Result<Self> {
        let id = row
            .try_get::<i64, _>("id")
            .map_err(|e| StoreError::Corrupt(format!("{table}.id: {e}")))?;
        Ok(Cols { row, table, id })
    }

    fn bad(&self, col: &str, e: impl Display) -> StoreError {
        StoreError::Corrupt(format!("{}.id={} {col}: {e}", self.table, self.id))
    }

    fn get<T>(&self, col: &str) -> Result<T>
    where
        T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.row.try_get(col).map_err(|e| self.bad(col, e))
    }

    fn date(&self, col: &str) -> Result<Option<Date>> {
        let s: Option<String> = self.get(col)?;
        s.map(|s| parse_date(&s).map_err(|e| self.bad(col, e)))
            .transpose()
    }

    fn ts(&self, col: &str) -> Result<OffsetDateTime> {
        let s: String = self.get(col)?;
        OffsetDateTime::parse(&s, &Rfc3339)
            .map_err(|e| self.bad(col, format!("invalid timestamp {s:?}: {e}")))
    }

    fn opt_ts(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        let s: Option<String> = self.get(col)?;
        s.map(|s| {
            OffsetDateTime::parse(&s, &Rfc3339)
                .map_err(|e| self.bad(col, format!("invalid timestamp {s:?}: {e}")))
        })
        .transpose()
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let s: String = self.get(col)?;
        serde_json::from_str(&s).map_err(|e| self.bad(col, format!("invalid JSON: {e}")))
    }
}

const CLIENT_COLS: &[&str] = &[
    "id",
    "email",
    "email_key",
    "first_name",
    "last_name",
    "company",
    "status",
];
const CLIENT_SELECT: &str = "SELECT id, email, first_name, last_name, company, status FROM clients";

fn client_values(c: &Client, id: ClientId) -> Vec<V> {
    vec![
        V::I(id),
        V::T(c.email.clone()),
        V::T(email_key(&c.email)),
        V::T(c.first_name.clone()),
        V::T(c.last_name.clone()),
        V::T(c.company.clone()),
        V::T(c.status.clone()),
    ]
}

fn client_from_row(row: &SqliteRow) -> Result<Client> {
    let c = Cols::new(row, "clients")?;
    Ok(Client {
        id: c.id,
        email: c.get("email")?,
        first_name: c.get("first_name")?,
        last_name: c.get("last_name")?,
        company: c.get("company")?,
        status: c.get("status")?,
    })
}

const PRODUCT_COLS: &[&str] = &["id", "name", "module", "config_options"];
const PRODUCT_SELECT: &str = "SELECT id, name, module, config_options FROM products";

fn product_values(p: &Product, id: i64) -> Result<Vec<V>> {
    Ok(vec![
        V::I(id),
        V::T(p.name.clone()),
        V::T(p.module.clone()),
        V::T(json("product config_options", &p.config_options)?),
    ])
}

fn product_from_row(row: &SqliteRow) -> Result<Product> {
    let c = Cols::new(row, "products")?;
    Ok(Product {
        id: c.id,
        name: c.get("name")?,
        module: c.get("module")?,
        config_options: c.json("config_options")?,
    })
}

const SERVER_COLS: &[&str] = &[
    "id",
    "name",
    "module",
    "hostname",
    "ip_address",
    "port",
    "secure",
    "tls_verify",
    "username",
    "password",
    "access_hash",
    "disabled",
    "secrets_sealed",
];
const SERVER_SELECT: &str = "SELECT id, name, module, hostname, ip_address, port, secure, \
     tls_verify, username, password, access_hash, disabled, secrets_sealed FROM servers";

/// A server's row, its secrets sealed with `key` (the plain text is never bound).
fn server_values(s: &Server, key: &SecretKey) -> Result<Vec<V>> {
    Ok(vec![
        V::I(s.id),
        V::T(s.name.clone()),
        V::T(s.module.clone()),
        V::T(s.hostname.clone()),
        V::T(s.ip_address.clone()),
        V::NI(s.port.map(i64::from)),
        V::B(s.secure),
        V::B(s.tls_verify),
        V::T(s.username.clone()),
        V::T(key.seal(s.id, "password", s.password.expose())?),
        V::T(key.seal(s.id, "access_hash", s.access_hash.expose())?),
        V::B(s.disabled),
        V::B(true),
    ])
}

/// A server from its row, its secrets opened with `key` (a row not sealed yet holds them in
/// plain text: only between the migration to schema 4 and the end of the next open).
fn server_from_row(row: &SqliteRow, key: &SecretKey) -> Result<Server> {
    let c = Cols::new(row, "servers")?;
    let port: Option<i64> = c.get("port")?;
    let port = port
        .map(|p| u16::try_from(p).map_err(|_| c.bad("port", format!("{p} is not a port number"))))
        .transpose()?;
    let name: String = c.get("name")?;
    let sealed: bool = c.get("secrets_sealed")?;
    let open = |field: &str| -> Result<String> {
        let stored: String = c.get(field)?;
        if sealed {
            key.open(c.id, &name, field, &stored)
        } else {
            Ok(stored)
        }
    };
    Ok(Server {
        id: c.id,
        module: c.get("module")?,
        hostname: c.get("hostname")?,
        ip_address: c.get("ip_address")?,
        port,
        secure: c.get("secure")?,
        tls_verify: c.get("tls_verify")?,
        username: c.get("username")?,
        password: Secret::new(open("password")?),
        access_hash: Secret::new(open("access_hash")?),
        disabled: c.get("disabled")?,
        name,
    })
}

const SERVICE_COLS: &[&str] = &[
    "id",
    "client_id",
    "product_id",
    "server_id",
    "domain",
    "username",
    "dedicated_ip",
    "regdate",
    "status",
    "billing_cycle",
    "amount",
    "next_due_date",
    "termination_date",
    "custom_fields",
    "version",
];
const SERVICE_SELECT: &str = "SELECT s.id, s.client_id, s.product_id, s.server_id, s.domain, \
     s.username, s.dedicated_ip, s.regdate, s.status, s.billing_cycle, s.amount, \
     s.next_due_date, s.termination_date, s.custom_fields, s.version FROM services s";

/// Values of a service row in [`SERVICE_COLS`] order, with the given id, client, product and
/// version (the service's own are ignored).
fn service_values(
    s: &Service,
    id: ServiceId,
    client_id: ClientId,
    product_id: i64,
    version: i64,
) -> Result<Vec<V>> {
    Ok(vec![
        V::I(id),
        V::I(client_id),
        V::I(product_id),
        V::NI(s.server_id),
        V::T(s.domain.clone()),
        V::T(s.username.clone()),
        V::T(s.dedicated_ip.clone()),
        V::NT(opt_date(s.regdate)),
        V::T(s.status.as_str().to_string()),
        V::T(s.billing_cycle.clone()),
        V::T(s.amount.clone()),
        V::NT(opt_date(s.next_due_date)),
        V::NT(opt_date(s.termination_date)),
        V::T(json("service custom_fields", &s.custom_fields)?),
        V::I(version),
    ])
}

/// All columns of the selected services as one JSON array, ordered by id.
/// `{where}` is replaced by the selection's condition on `services`.
const SERVICES_JSON_SELECT: &str = "SELECT json_group_array(json_array(s.id, s.client_id, \
     s.product_id, s.server_id, s.domain, s.username, s.dedicated_ip, s.regdate, s.status, \
     s.billing_cycle, s.amount, s.next_due_date, s.termination_date, s.custom_fields, s.version)) \
     FROM (SELECT * FROM services WHERE {where} ORDER BY id) s";

/// One service as [`SERVICES_JSON_SELECT`] gives it.
#[derive(serde::Deserialize)]
struct ServiceTuple(
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

fn services_from_json(text: &str) -> Result<Vec<Service>> {
    let mut rows: Vec<ServiceTuple> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("services: unreadable row values: {e}")))?;
    // SQLite aggregates in the subquery's order in practice; sorting makes it a guarantee.
    rows.sort_by_key(|r| r.0);
    let bad = |id: i64, col: &str, e: &dyn Display| {
        StoreError::Corrupt(format!("services.id={id} {col}: {e}"))
    };
    let date = |id: i64, col: &str, v: Option<String>| -> Result<Option<Date>> {
        v.map(|s| parse_date(&s).map_err(|e| bad(id, col, &e)))
            .transpose()
    };
    rows.into_iter()
        .map(|r| {
            let id = r.0;
            Ok(Service {
                id,
                client_id: r.1,
                product_id: r.2,
                server_id: r.3,
                domain: r.4,
                username: r.5,
                dedicated_ip: r.6,
                regdate: date(id, "regdate", r.7)?,
                status: ServiceStatus::from_str(&r.8).map_err(|e| bad(id, "status", &e))?,
                billing_cycle: r.9,
                amount: r.10,
                next_due_date: date(id, "next_due_date", r.11)?,
                termination_date: date(id, "termination_date", r.12)?,
                custom_fields: serde_json::from_str(&r.13)
                    .map_err(|e| bad(id, "custom_fields", &format!("invalid JSON: {e}")))?,
                version: r.14,
            })
        })
        .collect()
}

fn service_from_row(row: &SqliteRow) -> Result<Service> {
    let c = Cols::new(row, "services")?;
    let status: String = c.get("status")?;
    Ok(Service {
        id: c.id,
        client_id: c.get("client_id")?,
        product_id: c.get("product_id")?,
        server_id: c.get("server_id")?,
        domain: c.get("domain")?,
        username: c.get("username")?,
        dedicated_ip: c.get("dedicated_ip")?,
        regdate: c.date("regdate")?,
        status: ServiceStatus::from_str(&status).map_err(|e| c.bad("status", e))?,
        billing_cycle: c.get("billing_cycle")?,
        amount: c.get("amount")?,
        next_due_date: c.date("next_due_date")?,
        termination_date: c.date("termination_date")?,
        custom_fields: c.json("custom_fields")?,
        version: c.get("version")?,
    })
}

const AUDIT_COLS: &[&str] = &[
    "at",
    "actor",
    "action",
    "server_id",
    "run_id",
    "service_id",
    "client_id",
    "before_json",
    "after_json",
    "note",
];

fn audit_values(e: &NewAuditEvent, at: &str) -> Vec<V> {
    vec![
        V::T(at.to_string()),
        V::T(e.actor.clone()),
        V::T(e.action.clone()),
        V::NI(e.server_id),
        V::NI(e.run_id),
        V::NI(e.service_id),
        V::NI(e.client_id),
        V::NT(e.before.clone()),
        V::NT(e.after.clone()),
        V::NT(e.note.clone()),
    ]
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditEvent> {
    let c = Cols::new(row, "audit_events")?;
    Ok(AuditEvent {
        id: c.id,
        at: c.ts("at")?,
        actor: c.get("actor")?,
        action: c.get("action")?,
        server_id: c.get("server_id")?,
        run_id: c.get("run_id")?,
        service_id: c.get("service_id")?,
        client_id: c.get("client_id")?,
        before: c.get("before_json")?,
        after: c.get("after_json")?,
        note: c.get("note")?,
    })
}

fn listing_status(c: &Cols<'_>) -> Result<ListingStatus> {
    let s: String = c.get("listing_status")?;
    match s.as_str() {
        "complete" => Ok(ListingStatus::Complete),
        "incomplete" => Ok(ListingStatus::Incomplete),
        "failed" => Ok(ListingStatus::Failed),
        other => Err(c.bad(
            "listing_status",
            format!("unknown listing status {other:?}"),
        )),
    }
}

const RUN_SELECT: &str = "SELECT id, server_id, started_at, finished_at, listing_status, error, \
     accounts, skipped, analysis_json, counts_json, service_versions, applied_at FROM sync_runs";
const RUN_SUMMARY_SELECT: &str = "SELECT id, server_id, started_at, finished_at, \
     listing_status, error, accounts_count, counts_json, applied_at FROM sync_runs";

fn run_from_row(row: &SqliteRow) -> Result<Run> {
    let c = Cols::new(row, "sync_runs")?;
    Ok(Run {
        id: c.id,
        server_id: c.get("server_id")?,
        started_at: c.ts("started_at")?,
        finished_at: c.ts("finished_at")?,
        listing_status: listing_status(&c)?,
        error: c.get("error")?,
        accounts: c.json("accounts")?,
        skipped: c.json("skipped")?,
        analysis_json: c.get("analysis_json")?,
        counts_json: c.get("counts_json")?,
        service_versions: c.json("service_versions")?,
        applied_at: c.opt_ts("applied_at")?,
    })
}

fn run_summary_from_row(row: &SqliteRow) -> Result<RunSummary> {
    let c = Cols::new(row, "sync_runs")?;
    Ok(RunSummary {
        id: c.id,
        server_id: c.get("server_id")?,
        started_at: c.ts("started_at")?,
        finished_at: c.ts("finished_at")?,
        listing_status: listing_status(&c)?,
        error: c.get("error")?,
        accounts: c.get("accounts_count")?,
        counts_json: c.get("counts_json")?,
        applied_at: c.opt_ts("applied_at")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Bulk helpers

/// Inserts `rows` (each in `cols` order) in multi-row statements; with `upsert`, a row whose
/// `id` exists replaces that row's other columns.
async fn insert_rows(
    conn: &mut SqliteConnection,
    table: &str,
    cols: &[&str],
    upsert: bool,
    rows: Vec<Vec<V>>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let per_stmt = (MAX_BINDS / cols.len()).clamp(1, MAX_ROWS_PER_STATEMENT);
    let tuple = format!("({})", vec!["?"; cols.len()].join(", "));
    let tail = if upsert {
        let sets: Vec<String> = cols
            .iter()
            .filter(|c| **c != "id")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(" ON CONFLICT (id) DO UPDATE SET {}", sets.join(", "))
    } else {
        String::new()
    };
    let sql_for = |n: usize| {
        let mut s = format!("INSERT INTO {table} ({}) VALUES ", cols.join(", "));
        s.reserve((tuple.len() + 2) * n + tail.len());
        for i in 0..n {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&tuple);
        }
        s.push_str(&tail);
        s
    };
    let full_sql = sql_for(per_stmt);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<V>> = rows.by_ref().take(per_stmt).collect();
        let full = chunk.len() == per_stmt;
        let partial_sql;
        let sql = if full {
            full_sql.as_str()
        } else {
            partial_sql = sql_for(chunk.len());
            partial_sql.as_str()
        };
        // Only the full-size shape is worth keeping prepared.
        let mut q = sqlx::query(sql).persistent(full);
        for row in chunk {
            q = bind_row(q, row);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `SELECT id FROM table WHERE id IN (…)`, chunked; returns the ids that exist.
async fn existing_ids(
    conn: &mut SqliteConnection,
    table: &str,
    ids: &HashSet<i64>,
) -> Result<HashSet<i64>> {
    let mut found = HashSet::with_capacity(ids.len());
    let ids: Vec<i64> = ids.iter().copied().collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id FROM {table} WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql).persistent(chunk.len() == IN_CHUNK);
        for id in chunk {
            q = q.bind(*id);
        }
        found.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

/// Current versions of the given services, chunked.
async fn service_versions(
    conn: &mut SqliteConnection,
    ids: &HashSet<i64>,
) -> Result<HashMap<ServiceId, i64>> {
    let mut found = HashMap::with_capacity(ids.len());
    let ids: Vec<i64> = ids.iter().copied().collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, version FROM services WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(&sql).persistent(chunk.len() == IN_CHUNK);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let c = Cols::new(&row, "services")?;
            found.insert(c.id, c.get::<i64>("version")?);
        }
    }
    Ok(found)
}

async fn next_id(conn: &mut SqliteConnection, table: &str) -> Result<i64> {
    let max: Option<i64> = sqlx::query_scalar(&format!("SELECT MAX(id) FROM {table}"))
        .fetch_one(&mut *conn)
        .await?;
    Ok(max.unwrap_or(0).max(0) + 1)
}

fn check_unique_ids(section: &str, ids: impl Iterator<Item = i64>) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            return Err(StoreError::Invalid(format!(
                "{section}[{i}].id: duplicate id {id}"
            )));
        }
    }
    Ok(())
}

/// Splits document rows into unchanged ones (counted) and rows to write (counted as inserted
/// or updated).
fn rows_to_write<T: PartialEq>(
    doc: impl Iterator<Item = (i64, T)>,
    stored: &HashMap<i64, T>,
    counts: &mut ImportCounts,
) -> Vec<T> {
    let mut out = Vec::new();
    for (id, row) in doc {
        match stored.get(&id) {
            Some(s) if *s == row => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                out.push(row);
            }
            None => {
                counts.inserted += 1;
                out.push(row);
            }
        }
    }
    out
}

async fn import_in(
    conn: &mut SqliteConnection,
    r: &Records,
    identifiers: &IdentifierFields,
    key: &SecretKey,
) -> Result<ImportCounts> {
    let mut counts = ImportCounts::default();

    // Clients.
    let stored: HashMap<i64, Client> = sqlx::query(CLIENT_SELECT)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| client_from_row(row).map(|c| (c.id, c)))
        .collect::<Result<_>>()?;
    let mut client_ids: HashSet<i64> = stored.keys().copied().collect();
    client_ids.extend(r.clients.iter().map(|c| c.id));
    let write = rows_to_write(
        r.clients.iter().map(|c| (c.id, c.clone())),
        &stored,
        &mut counts,
    );
    drop(stored);
    let rows = write.iter().map(|c| client_values(c, c.id)).collect();
    insert_rows(conn, "clients", CLIENT_COLS, true, rows).await?;

    // Products.
    let stored: HashMap<i64, Product> = sqlx::query(PRODUCT_SELECT)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| product_from_row(row).map(|p| (p.id, p)))
        .collect::<Result<_>>()?;
    let mut product_ids: HashSet<i64> = stored.keys().copied().collect();
    product_ids.extend(r.products.iter().map(|p| p.id));
    let write = rows_to_write(
        r.products.iter().map(|p| (p.id, p.clone())),
        &stored,
        &mut counts,
    );
    drop(stored);
    let rows = write
        .iter()
        .map(|p| product_values(p, p.id))
        .collect::<Result<_>>()?;
    insert_rows(conn, "products", PRODUCT_COLS, true, rows).await?;

    // Servers: empty secrets keep the stored ones; names stay unique.
    let stored: HashMap<i64, Server> = sqlx::query(SERVER_SELECT)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| server_from_row(row, key).map(|s| (s.id, s)))
        .collect::<Result<_>>()?;
    let doc_ids: HashSet<i64> = r.servers.iter().map(|s| s.id).collect();
    // `web1` and `WEB1 ` are one name to a person: compared trimmed, ASCII case folded (as
    // SQL `lower(trim(…))` does in `save_server`).
    let fold = |n: &str| n.trim().to_ascii_lowercase();
    let mut names: HashMap<String, i64> = stored
        .values()
        .filter(|s| !doc_ids.contains(&s.id))
        .map(|s| (fold(&s.name), s.id))
        .collect();
    for (i, s) in r.servers.iter().enumerate() {
        if let Some(other) = names.insert(fold(&s.name), s.id) {
            return Err(StoreError::Invalid(format!(
                "servers[{i}].name: {:?} is already the name of server {other}",
                s.name
            )));
        }
    }
    let mut server_ids: HashSet<i64> = stored.keys().copied().collect();
    server_ids.extend(doc_ids);
    // Every server's module after this import, for the unique identifier check.
    let mut modules: HashMap<ServerId, String> =
        stored.values().map(|s| (s.id, s.module.clone())).collect();
    modules.extend(r.servers.iter().map(|s| (s.id, s.module.clone())));
    let merged = r.servers.iter().map(|s| {
        let mut s = s.clone();
        if let Some(old) = stored.get(&s.id) {
            if s.password.is_empty() {
                s.password = old.password.clone();
            }
            if s.access_hash.is_empty() {
                s.access_hash = old.access_hash.clone();
            }
        }
        (s.id, s)
    });
    let write = rows_to_write(merged, &stored, &mut counts);
    drop(stored);
    let rows = write
        .iter()
        .map(|s| server_values(s, key))
        .collect::<Result<_>>()?;
    insert_rows(conn, "servers", SERVER_COLS, true, rows).await?;

    // Services: references must exist; the version moves only on a real change.
    for (i, s) in r.services.iter().enumerate() {
        if !client_ids.contains(&s.client_id) {
            return Err(StoreError::Invalid(format!(
                "services[{i}].client_id: client {} does not exist",
                s.client_id
            )));
        }
        if !product_ids.contains(&s.product_id) {
            return Err(StoreError::Invalid(format!(
                "services[{i}].product_id: product {} does not exist",
                s.product_id
            )));
        }
        if let Some(server_id) = s.server_id {
            if !server_ids.contains(&server_id) {
                return Err(StoreError::Invalid(format!(
                    "services[{i}].server_id: server {server_id} does not exist"
                )));
            }
        }
    }
    let stored: HashMap<i64, Service> = sqlx::query(SERVICE_SELECT)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| service_from_row(row).map(|s| (s.id, s)))
        .collect::<Result<_>>()?;
    let doc = r.services.iter().map(|s| {
        let mut s = s.clone();
        s.version = stored.get(&s.id).map_or(0, |old| old.version);
        (s.id, s)
    });
    let write = rows_to_write(doc, &stored, &mut counts);
    if !identifiers.is_empty() && !write.is_empty() {
        let index: HashMap<ServiceId, usize> = r
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let written: Vec<usize> = write
            .iter()
            .filter_map(|s| index.get(&s.id).copied())
            .collect();
        let doc_ids: HashSet<ServiceId> = index.keys().copied().collect();
        identifiers::check_import(
            &r.services,
            &written,
            &stored,
            &doc_ids,
            &modules,
            identifiers,
        )?;
    }
    drop(stored);
    let rows = write
        .iter()
        .map(|s| service_values(s, s.id, s.client_id, s.product_id, s.version + 1))
        .collect::<Result<_>>()?;
    insert_rows(conn, "services", SERVICE_COLS, true, rows).await?;

    Ok(counts)
}

/// Where a change set's references point, resolved before anything is written.
struct Resolved {
    created: Vec<Option<i64>>,
    /// Client id of each `CreateService` / `UpdateService` op (for audit events).
    service_client: Vec<Option<ClientId>>,
    clients: Vec<Vec<V>>,
    products: Vec<Vec<V>>,
    services: Vec<Vec<V>>,
}

fn invalid(msg: String) -> StoreError {
    StoreError::Invalid(msg)
}

async fn apply_in(conn: &mut SqliteConnection, cs: &ChangeSet) -> Result<Applied> {
    if let Some(held) = &cs.under_lock {
        leases::check_held(conn, held).await?;
    }
    let ops = &cs.ops;
    let wants = |f: fn(&Op) -> bool| ops.iter().any(f);
    let mut next_client = if wants(|o| matches!(o, Op::CreateClient(_))) {
        next_id(conn, "clients").await?
    } else {
        0
    };
    let mut next_product = if wants(|o| matches!(o, Op::CreateProduct(_))) {
        next_id(conn, "products").await?
    } else {
        0
    };
    let mut next_service = if wants(|o| matches!(o, Op::CreateService { .. })) {
        next_id(conn, "services").await?
    } else {
        0
    };

    // Resolve ids and references (pure), collecting the existing rows referred to.
    let mut r = Resolved {
        created: vec![None; ops.len()],
        service_client: vec![None; ops.len()],
        clients: Vec::new(),
        products: Vec::new(),
        services: Vec::new(),
    };
    let mut ref_clients: HashMap<i64, usize> = HashMap::new();
    let mut ref_products: HashMap<i64, usize> = HashMap::new();
    let mut ref_servers: HashMap<i64, usize> = HashMap::new();
    let mut updates: Vec<(usize, i64, &Service)> = Vec::new();
    for (idx, op) in ops.iter().enumerate() {
        match op {
            Op::CreateClient(c) => {
                let id = next_client;
                next_client += 1;
                r.created[idx] = Some(id);
                r.clients.push(client_values(c, id));
            }
            Op::CreateProduct(p) => {
                let id = next_product;
                next_product += 1;
                r.created[idx] = Some(id);
                r.products.push(product_values(p, id)?);
            }
            Op::CreateService {
                client,
                product_created_by,
                service,
            } => {
                let client_id = match client {
                    ClientRef::Existing(id) => {
                        ref_clients.entry(*id).or_insert(idx);
                        *id
                    }
                    ClientRef::CreatedBy(i) => match (ops.get(*i), r.created.get(*i)) {
                        (Some(Op::CreateClient(_)), Some(Some(id))) if *i < idx => *id,
                        _ => {
                            return Err(invalid(format!(
                                "ops[{idx}]: client reference ops[{i}] is not a client created \
                                 earlier in this change set"
                            )))
                        }
                    },
                };
                let product_id = match product_created_by {
                    None => {
                        ref_products.entry(service.product_id).or_insert(idx);
                        service.product_id
                    }
                    Some(i) => match (ops.get(*i), r.created.get(*i)) {
                        (Some(Op::CreateProduct(_)), Some(Some(id))) if *i < idx => *id,
                        _ => {
                            return Err(invalid(format!(
                                "ops[{idx}]: product reference ops[{i}] is not a product \
                                 created earlier in this change set"
                            )))
                        }
                    },
                };
                if let Some(server_id) = service.server_id {
                    ref_servers.entry(server_id).or_insert(idx);
                }
                let id = next_service;
                next_service += 1;
                r.created[idx] = Some(id);
                r.service_client[idx] = Some(client_id);
                r.services
                    .push(service_values(service, id, client_id, product_id, 1)?);
            }
            Op::UpdateService {
                expected_version,
                service,
            } => {
                ref_clients.entry(service.client_id).or_insert(idx);
                ref_products.entry(service.product_id).or_insert(idx);
                if let Some(server_id) = service.server_id {
                    ref_servers.entry(server_id).or_insert(idx);
                }
                r.service_client[idx] = Some(service.client_id);
                updates.push((idx, *expected_version, service));
            }
        }
    }
    if let Some((i, (op_idx, _))) = cs
        .audit
        .iter()
        .enumerate()
        .find(|(_, (op_idx, _))| op_idx.is_some_and(|o| o >= ops.len()))
    {
        return Err(invalid(format!(
            "audit[{i}]: op index {} is out of range ({} ops)",
            op_idx.unwrap_or_default(),
            ops.len()
        )));
    }

    // Referenced rows must exist (clear errors instead of a foreign key failure).
    for (table, what, refs) in [
        ("clients", "client", &ref_clients),
        ("products", "product", &ref_products),
        ("servers", "server", &ref_servers),
    ] {
        let ids: HashSet<i64> = refs.keys().copied().collect();
        let found = existing_ids(conn, table, &ids).await?;
        if let Some((id, idx)) = refs
            .iter()
            .filter(|(id, _)| !found.contains(id))
            .min_by_key(|(_, idx)| **idx)
        {
            return Err(invalid(format!("ops[{idx}]: {what} {id} does not exist")));
        }
    }

    // Imports racing another writer: no second live service under one key.
    identifiers::check_creates(conn, cs).await?;

    // Optimistic checks, in op order (a second update of one service sees the first).
    let ids: HashSet<i64> = updates.iter().map(|(_, _, s)| s.id).collect();
    let mut versions = service_versions(conn, &ids).await?;
    for (_, expected, s) in &updates {
        match versions.get_mut(&s.id) {
            None => return Err(StoreError::NotFound(format!("service {}", s.id))),
            Some(found) if *found != *expected => {
                return Err(StoreError::VersionConflict {
                    service_id: s.id,
                    expected: *expected,
                    found: *found,
                })
            }
            Some(found) => *found += 1,
        }
    }

    // Writes.
    insert_rows(conn, "clients", CLIENT_COLS, false, r.clients).await?;
    insert_rows(conn, "products", PRODUCT_COLS, false, r.products).await?;
    insert_rows(conn, "services", SERVICE_COLS, false, r.services).await?;
    // Every updated service exists and has been checked (this transaction holds the write
    // lock), so the updates are one multi-row upsert; a service updated twice in this set is
    // written once, with its last values and final version.
    let last: HashMap<ServiceId, usize> = updates
        .iter()
        .enumerate()
        .map(|(n, (_, _, s))| (s.id, n))
        .collect();
    let mut rows = Vec::with_capacity(last.len());
    for (n, (_, _, s)) in updates.iter().enumerate() {
        if last.get(&s.id) == Some(&n) {
            let version = versions.get(&s.id).copied().unwrap_or_default();
            rows.push(service_values(s, s.id, s.client_id, s.product_id, version)?);
        }
    }
    insert_rows(conn, "services", SERVICE_COLS, true, rows).await?;

    let at = now_ts()?;
    let audit_rows = cs
        .audit
        .iter()
        .map(|(op_idx, e)| {
            let mut e = e.clone();
            if let Some(i) = *op_idx {
                match &ops[i] {
                    Op::CreateClient(_) => e.client_id = r.created[i],
                    Op::CreateService { .. } => {
                        e.service_id = r.created[i];
                        e.client_id = r.service_client[i];
                    }
                    Op::UpdateService { service, .. } => {
                        e.service_id = e.service_id.or(Some(service.id));
                        e.client_id = e.client_id.or(r.service_client[i]);
                    }
                    Op::CreateProduct(_) => {}
                }
            }
            audit_values(&e, &at)
        })
        .collect();
    insert_rows(conn, "audit_events", AUDIT_COLS, false, audit_rows).await?;

    if let Some(run_id) = cs.mark_run_applied {
        mark_applied(conn, run_id, &at).await?;
    }
    Ok(Applied {
        created_ids: r.created,
    })
}

/// Writes one audit event (time: now) on `conn`, e.g. inside the transaction of its write.
async fn insert_audit(conn: &mut SqliteConnection, event: &NewAuditEvent) -> Result<()> {
    insert_rows(
        conn,
        "audit_events",
        AUDIT_COLS,
        false,
        vec![audit_values(event, &now_ts()?)],
    )
    .await
}

async fn mark_applied(conn: &mut SqliteConnection, run_id: RunId, at: &str) -> Result<()> {
    let done = sqlx::query("UPDATE sync_runs SET applied_at = ? WHERE id = ?")
        .bind(at)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let applied: Option<Option<String>> =
        sqlx::query_scalar("SELECT applied_at FROM sync_runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?;
    match applied {
        None => Err(StoreError::NotFound(format!("run {run_id}"))),
        // The row exists but was not updated: cannot happen inside the transaction.
        Some(_) => Err(StoreError::Corrupt(format!(
            "sync_runs.id={run_id}: applied_at not updated"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Web admin: users, sessions, API tokens, audit queries

const USER_SELECT: &str =
    "SELECT id, username, password_hash, role, disabled, created_at FROM admin_users";

fn role(c: &Cols<'_>) -> Result<Role> {
    let s: String = c.get("role")?;
    Role::parse(&s).ok_or_else(|| c.bad("role", format!("unknown role {s:?}")))
}

fn user_from_row(row: &SqliteRow) -> Result<AdminUser> {
    let c = Cols::new(row, "admin_users")?;
    Ok(AdminUser {
        id: c.id,
        username: c.get("username")?,
        password_hash: c.get("password_hash")?,
        role: role(&c)?,
        disabled: c.get("disabled")?,
        created_at: c.ts("created_at")?,
    })
}

const API_TOKEN_COLUMNS: &str = "id, name, token_hash, role, created_at, last_used_at";

fn api_token_from_row(row: &SqliteRow) -> Result<ApiToken> {
    let c = Cols::new(row, "api_tokens")?;
    Ok(ApiToken {
        id: c.id,
        name: c.get("name")?,
        token_hash: c.get("token_hash")?,
        role: role(&c)?,
        created_at: c.ts("created_at")?,
        last_used_at: c.opt_ts("last_used_at")?,
    })
}

const AUDIT_SELECT: &str = "SELECT id, at, actor, action, server_id, run_id, service_id, \
     client_id, before_json, after_json, note FROM audit_events";

enum AuditBind {
    I(i64),
    T(String),
}

/// `select` followed by the `WHERE` clause of `filter` (filters combine with AND), and the
/// values to bind in order.
fn audit_where(select: &str, filter: &AuditFilter) -> (String, Vec<AuditBind>) {
    let mut sql = String::from(select);
    let mut binds = Vec::new();
    let conds = [
        ("server_id", filter.server_id.map(AuditBind::I)),
        ("run_id", filter.run_id.map(AuditBind::I)),
        ("service_id", filter.service_id.map(AuditBind::I)),
        ("actor", filter.actor.clone().map(AuditBind::T)),
    ];
    for (col, v) in conds {
        if let Some(v) = v {
            sql.push_str(if binds.is_empty() { " WHERE " } else { " AND " });
            sql.push_str(col);
            sql.push_str(" = ?");
            binds.push(v);
        }
    }
    (sql, binds)
}

fn bind_audit<'q>(mut q: Q<'q>, binds: Vec<AuditBind>) -> Q<'q> {
    for b in binds {
        q = match b {
            AuditBind::I(v) => q.bind(v),
            AuditBind::T(v) => q.bind(v),
        };
    }
    q
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl Store for SqliteStore {
    async fn import_records(
        &self,
        records: &Records,
        identifiers: &IdentifierFields,
        audit: AuditFor<'_, ImportCounts>,
    ) -> Result<ImportCounts> {
        check_unique_ids("clients", records.clients.iter().map(|c| c.id))?;
        check_unique_ids("products", records.products.iter().map(|p| p.id))?;
        check_unique_ids("servers", records.servers.iter().map(|s| s.id))?;
        check_unique_ids("services", records.services.iter().map(|s| s.id))?;
        let mut tx = self.begin_write().await?;
        let counts = import_in(&mut tx, records, identifiers, &self.key()).await?;
        insert_audit(&mut tx, &audit(&counts)).await?;
        tx.commit().await?;
        tracing::debug!(
            inserted = counts.inserted,
            updated = counts.updated,
            unchanged = counts.unchanged,
            "records imported"
        );
        Ok(counts)
    }

    async fn export_records(&self) -> Result<Records> {
        // One read transaction: a consistent snapshot.
        let mut tx = self.pool.begin().await?;
        let clients = sqlx::query(&format!("{CLIENT_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(client_from_row)
            .collect::<Result<_>>()?;
        let products = sqlx::query(&format!("{PRODUCT_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(product_from_row)
            .collect::<Result<_>>()?;
        let servers = sqlx::query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| server_from_row(row, &self.key()))
            .collect::<Result<_>>()?;
        let services = sqlx::query(&format!("{SERVICE_SELECT} ORDER BY s.id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(service_from_row)
            .collect::<Result<_>>()?;
        tx.commit().await?;
        Ok(Records {
            clients,
            products,
            servers,
            services,
        })
    }

    async fn clients(&self) -> Result<Vec<Client>> {
        // One JSON array row, as for services: far faster than decoding rows one by one.
        let text: Option<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, email, first_name, last_name, company, status)) \
             FROM (SELECT * FROM clients ORDER BY id)",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut rows: Vec<(i64, String, String, String, String, String)> =
            serde_json::from_str(text.as_deref().unwrap_or("[]"))
                .map_err(|e| StoreError::Corrupt(format!("clients: unreadable row values: {e}")))?;
        rows.sort_by_key(|r| r.0);
        Ok(rows
            .into_iter()
            .map(
                |(id, email, first_name, last_name, company, status)| Client {
                    id,
                    email,
                    first_name,
                    last_name,
                    company,
                    status,
                },
            )
            .collect())
    }

    async fn products(&self) -> Result<Vec<Product>> {
        sqlx::query(&format!("{PRODUCT_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(product_from_row)
            .collect()
    }

    async fn servers(&self) -> Result<Vec<Server>> {
        sqlx::query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| server_from_row(row, &self.key()))
            .collect()
    }

    async fn server(&self, name_or_id: &str) -> Result<Server> {
        let by_name = sqlx::query(&format!("{SERVER_SELECT} WHERE name = ?"))
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = by_name {
            return server_from_row(&row, &self.key());
        }
        if let Ok(id) = name_or_id.trim().parse::<ServerId>() {
            let by_id = sqlx::query(&format!("{SERVER_SELECT} WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = by_id {
                return server_from_row(&row, &self.key());
            }
        }
        Err(StoreError::NotFound(format!("server {name_or_id:?}")))
    }

    async fn server_by_id(&self, id: ServerId) -> Result<Server> {
        let row = sqlx::query(&format!("{SERVER_SELECT} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("server {id}")))?;
        server_from_row(&row, &self.key())
    }

    async fn services(&self, server_id: Option<ServerId>) -> Result<Vec<Service>> {
        match server_id {
            Some(id) => self.services_where("server_id = ?", &[id], &[]).await,
            None => self.services_where("1 = 1", &[], &[]).await,
        }
    }

    async fn service(&self, id: ServiceId) -> Result<Service> {
        let row = sqlx::query(&format!("{SERVICE_SELECT} WHERE s.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("service {id}")))?;
        service_from_row(&row)
    }

    async fn live_services_of_module(
        &self,
        module: &str,
        except_server: ServerId,
    ) -> Result<Vec<Service>> {
        self.services_where(
            "status IN ('Pending', 'Active', 'Suspended') AND server_id IN \
             (SELECT id FROM servers WHERE module = ? AND id <> ?)",
            &[except_server],
            &[module],
        )
        .await
    }

    async fn insert_run(&self, run: &NewRun) -> Result<RunId> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM servers WHERE id = ?")
            .bind(run.server_id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("server {}", run.server_id)));
        }
        let accounts_count = i64::try_from(run.accounts.len())
            .map_err(|_| StoreError::Invalid("too many accounts".into()))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sync_runs (server_id, started_at, finished_at, listing_status, error, \
             accounts_count, accounts, skipped, analysis_json, counts_json, service_versions, \
             applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
        )
        .bind(run.server_id)
        .bind(fmt_ts(run.started_at)?)
        .bind(fmt_ts(run.finished_at)?)
        .bind(run.listing_status.as_str())
        .bind(run.error.as_deref())
        .bind(accounts_count)
        .bind(json("run accounts", &run.accounts)?)
        .bind(json("run skipped", &run.skipped)?)
        .bind(run.analysis_json.as_deref())
        .bind(run.counts_json.as_str())
        .bind(json("run service_versions", &run.service_versions)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn run(&self, id: RunId) -> Result<Run> {
        let row = sqlx::query(&format!("{RUN_SELECT} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run {id}")))?;
        run_from_row(&row)
    }

    async fn latest_run(&self, server_id: ServerId) -> Result<Option<Run>> {
        let row = sqlx::query(&format!(
            "{RUN_SELECT} WHERE server_id = ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(server_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(&self, server_id: ServerId, limit: i64) -> Result<Vec<RunSummary>> {
        let limit = if limit <= 0 { i64::MAX } else { limit };
        sqlx::query(&format!(
            "{RUN_SUMMARY_SELECT} WHERE server_id = ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(server_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_summary_from_row)
        .collect()
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, event).await
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<Applied> {
        let mut tx = self.begin_write().await?;
        // On error the transaction is dropped, which rolls it back: nothing is written.
        let applied = apply_in(&mut tx, changes).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn audit_events(
        &self,
        server_id: Option<ServerId>,
        run_id: Option<RunId>,
        service_id: Option<ServiceId>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        self.audit_query(&AuditFilter {
            server_id,
            run_id,
            service_id,
            limit,
            ..AuditFilter::default()
        })
        .await
    }

    async fn lock_server(
        &self,
        server_id: ServerId,
        holder: &LockHolder,
        ttl: Duration,
    ) -> Result<ServerLock> {
        leases::lock(&self.pool, server_id, holder, ttl).await
    }

    async fn renew_lock(
        &self,
        server_id: ServerId,
        holder_id: &str,
        ttl: Duration,
    ) -> Result<OffsetDateTime> {
        leases::renew(&self.pool, server_id, holder_id, ttl).await
    }

    async fn unlock_server(&self, server_id: ServerId, holder_id: &str) -> Result<()> {
        leases::unlock(&self.pool, server_id, holder_id).await
    }

    async fn locks(&self) -> Result<Vec<ServerLock>> {
        leases::all(&self.pool).await
    }

    async fn release_lock(
        &self,
        server_id: ServerId,
        audit: AuditFor<'_, ServerLock>,
    ) -> Result<Option<ServerLock>> {
        leases::release(&self.pool, server_id, audit).await
    }

    async fn save_server(
        &self,
        server: &Server,
        audit: AuditFor<'_, ServerId>,
    ) -> Result<ServerId> {
        if server.name.trim().is_empty() {
            return Err(StoreError::Invalid("server name is empty".into()));
        }
        let key = self.key();
        let mut tx = self.begin_write().await?;
        let mut row = server.clone();
        let inserted = row.id == 0;
        if inserted {
            row.id = next_id(&mut tx, "servers").await?;
        } else {
            let old = sqlx::query(&format!("{SERVER_SELECT} WHERE id = ?"))
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("server {}", row.id)))?;
            let old = server_from_row(&old, &key)?;
            // Secrets are write-only: an empty one means "unchanged".
            if row.password.is_empty() {
                row.password = old.password;
            }
            if row.access_hash.is_empty() {
                row.access_hash = old.access_hash;
            }
        }
        let other: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM servers WHERE lower(trim(name)) = lower(trim(?)) AND id <> ?",
        )
        .bind(&row.name)
        .bind(row.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = other {
            return Err(StoreError::Invalid(format!(
                "server name {:?} is already used by server {other}",
                row.name
            )));
        }
        insert_rows(
            &mut tx,
            "servers",
            SERVER_COLS,
            true,
            vec![server_values(&row, &key)?],
        )
        .await?;
        insert_audit(&mut tx, &audit(&row.id)).await?;
        tx.commit().await?;
        tracing::debug!(server_id = row.id, inserted, "server saved");
        Ok(row.id)
    }

    async fn rotate_secret_key(
        &self,
        new_key: &SecretKey,
        audit: AuditFor<'_, usize>,
    ) -> Result<usize> {
        self.rotate_key(new_key, audit).await
    }

    async fn save_product(
        &self,
        product: &Product,
        audit: AuditFor<'_, ProductId>,
    ) -> Result<ProductId> {
        let mut tx = self.begin_write().await?;
        let id = if product.id == 0 {
            next_id(&mut tx, "products").await?
        } else {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM products WHERE id = ?")
                .bind(product.id)
                .fetch_optional(&mut *tx)
                .await?;
            found.ok_or_else(|| StoreError::NotFound(format!("product {}", product.id)))?
        };
        let row = product_values(product, id)?;
        insert_rows(&mut tx, "products", PRODUCT_COLS, true, vec![row]).await?;
        insert_audit(&mut tx, &audit(&id)).await?;
        tx.commit().await?;
        tracing::debug!(product_id = id, inserted = product.id == 0, "product saved");
        Ok(id)
    }

    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let (mut sql, binds) = audit_where(AUDIT_SELECT, filter);
        sql.push_str(" ORDER BY id DESC LIMIT ? OFFSET ?");
        let limit = if filter.limit <= 0 {
            i64::MAX
        } else {
            filter.limit
        };
        bind_audit(sqlx::query(&sql), binds)
            .bind(limit)
            .bind(filter.offset.max(0))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn audit_count(&self, filter: &AuditFilter) -> Result<i64> {
        let (sql, binds) = audit_where("SELECT COUNT(*) FROM audit_events", filter);
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for b in binds {
            q = match b {
                AuditBind::I(v) => q.bind(v),
                AuditBind::T(v) => q.bind(v),
            };
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    async fn users(&self) -> Result<Vec<AdminUser>> {
        sqlx::query(&format!("{USER_SELECT} ORDER BY username, id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<AdminUser>> {
        sqlx::query(&format!("{USER_SELECT} WHERE username = ?"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<AdminUser> {
        if username.trim().is_empty() {
            return Err(StoreError::Invalid("username is empty".into()));
        }
        if password_hash.is_empty() {
            return Err(StoreError::Invalid("password hash is empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM admin_users WHERE username = ?")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Invalid(format!(
                "username {username:?} is already taken"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO admin_users (username, password_hash, role, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?) \
             RETURNING id, username, password_hash, role, disabled, created_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(false)
        .bind(now_ts()?)
        .fetch_one(&mut *tx)
        .await?;
        let user = user_from_row(&row)?;
        insert_audit(&mut tx, &audit(&user)).await?;
        tx.commit().await?;
        tracing::debug!(
            user_id = user.id,
            role = role.as_str(),
            "admin user created"
        );
        Ok(user)
    }

    async fn offer_setup_token(&self, token_hash: &str) -> Result<SetupOffer> {
        setup::offer(&self.pool, token_hash).await
    }

    async fn setup_token_valid(&self, token_hash: &str) -> Result<bool> {
        setup::valid(&self.pool, token_hash).await
    }

    async fn create_first_admin(
        &self,
        token_hash: &str,
        username: &str,
        password_hash: &str,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<Option<AdminUser>> {
        setup::first_admin(&self.pool, token_hash, username, password_hash, audit).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let now = now_ts()?;
        let mut tx = self.begin_write().await?;
        // Sign-ins are rare: a good time to drop the sessions that expired meanwhile.
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM admin_users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if user.is_none() {
            return Err(StoreError::NotFound(format!("admin user {user_id}")));
        }
        let clash: Option<String> =
            sqlx::query_scalar("SELECT token_hash FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if clash.is_some() {
            return Err(StoreError::Invalid(
                "session token is already in use".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(fmt_ts(expires_at)?)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.role, u.disabled, u.created_at, \
             s.csrf_token, s.expires_at FROM sessions s \
             JOIN admin_users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        // Errors name the user, never the token hash.
        let bad = |col: &str, e: &dyn Display| {
            StoreError::Corrupt(format!("sessions (user_id={}) {col}: {e}", user.id))
        };
        let csrf_token: String = row
            .try_get("csrf_token")
            .map_err(|e| bad("csrf_token", &e))?;
        let expires: String = row
            .try_get("expires_at")
            .map_err(|e| bad("expires_at", &e))?;
        let expires_at = OffsetDateTime::parse(&expires, &Rfc3339)
            .map_err(|e| bad("expires_at", &format!("invalid timestamp {expires:?}: {e}")))?;
        if expires_at < OffsetDateTime::now_utc() {
            sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
            return Ok(None);
        }
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(Session {
            token_hash: token_hash.to_string(),
            user,
            csrf_token,
            expires_at,
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        audit: AuditFor<'_, ApiToken>,
    ) -> Result<ApiToken> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("API token name is empty".into()));
        }
        if token_hash.is_empty() {
            return Err(StoreError::Invalid("API token hash is empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Invalid(format!(
                "API token name {name:?} is already taken"
            )));
        }
        let clash: Option<i64> =
            sqlx::query_scalar("SELECT id FROM api_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if clash.is_some() {
            return Err(StoreError::Invalid(
                "API token is already in use (same hash)".into(),
            ));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO api_tokens (name, token_hash, role, created_at, last_used_at) \
             VALUES (?, ?, ?, ?, NULL) RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(now_ts()?)
        .fetch_one(&mut *tx)
        .await?;
        let token = api_token_from_row(&row)?;
        insert_audit(&mut tx, &audit(&token)).await?;
        tx.commit().await?;
        tracing::debug!(
            token_id = token.id,
            role = role.as_str(),
            "API token created"
        );
        Ok(token)
    }

    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        // One statement: records the use and returns the token as it now is.
        sqlx::query(&format!(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? \
             RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(now_ts()?)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(api_token_from_row)
        .transpose()
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        sqlx::query(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY name, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(api_token_from_row)
        .collect()
    }
}
