//! serversync-store: where billing records, sync runs and audit events live.
//!
//! [`Store`] is the capability trait; [`sqlite::SqliteStore`] is the embedded default and
//! [`postgres::PgStore`] the PostgreSQL implementation of the same trait. SQL is kept portable: plain
//! `INSERT`/`UPDATE`/`SELECT`, `BIGINT` ids, text dates `YYYY-MM-DD`, JSON as text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serversync_core::model::{
    Client, ClientId, Product, ProductId, RunId, Server, ServerId, Service, ServiceId,
};
use serversync_core::module::{RemoteAccount, SkippedRecord, UniqueIdField};
use time::OffsetDateTime;

pub mod lease;
pub mod location;
pub mod postgres;
pub mod secrets;
pub mod selections;
pub mod sqlite;

/// Opens the store named by a database URL (CONTRACT.md "Database"), creating and migrating
/// its schema: `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:` ([`sqlite::SqliteStore`]);
/// `postgres://…` or `postgresql://…` ([`postgres::PgStore`]; TLS by `sslmode=`). Error messages never show a URL's password. Server
/// secrets are encrypted with `key` ([`secrets`]; [`secrets::load_key`] finds it).
pub async fn open(url: &str, key: secrets::SecretKey) -> Result<Arc<dyn Store>> {
    let url = url.trim();
    let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("sqlite") => {
            // Accept any case of the scheme; the SQLite options parser wants `sqlite:`.
            let rest = &url["sqlite:".len()..];
            Ok(Arc::new(
                sqlite::SqliteStore::open(&format!("sqlite:{rest}"), key).await?,
            ))
        }
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PgStore::open(url, key).await?)),
        Some(other) => Err(StoreError::Invalid(format!(
            "unsupported database URL {} (scheme {other:?}); use sqlite://PATH or \
             postgres://HOST/DB",
            redact_url(url)
        ))),
        None => Err(StoreError::Invalid(format!(
            "database URL {} has no scheme; use sqlite://PATH or postgres://HOST/DB",
            redact_url(url)
        ))),
    }
}

/// [`open`] with the key [`secrets::load_key`] finds for `url` with no key file given: the
/// file beside an SQLite database (created when missing), or a temporary key in memory —
/// what the CLI does without `--secret-key-file`.
pub async fn open_with_default_key(url: &str) -> Result<Arc<dyn Store>> {
    let (key, _) = secrets::load_key(url, None)?;
    open(url, key).await
}

/// A URL fit for messages, built from the form the `url` crate parses: the user name,
/// password, query string (which may carry a password, `?password=…`) and fragment are
/// left out. `postgres://u:p@db:5432/x?sslmode=require` → `postgres://db:5432/x?…`.
///
/// Everything up to the *last* `@` after `//` is taken as user information even when it
/// holds `/`, `?` or `#` (a password that was not percent-encoded), so such a password is
/// never mistaken for a host, path or query (SQLite URLs excepted: they have no user
/// information); a URL that still does not parse shows only its scheme (`postgres://…`).
pub fn redact_url(raw: &str) -> String {
    let raw = raw.trim();
    let Some(colon) = raw.find(':') else {
        return "…".into();
    };
    let scheme = &raw[..colon];
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return "…".into();
    }
    let rest = &raw[colon + 1..];
    let (hier, had_query) = match rest.strip_prefix("//") {
        Some(after) => {
            // The authority of a URL whose password was not encoded ends at its last `@`.
            // SQLite URLs have no authority (all of it is a file path, where `@` may be part
            // of a name, and `?password=…` of the query).
            let after = match after.rfind('@') {
                Some(at) if !scheme.eq_ignore_ascii_case("sqlite") => &after[at + 1..],
                _ => after,
            };
            (format!("//{after}"), after.contains(['?', '#']))
        }
        None => (rest.to_string(), rest.contains(['?', '#'])),
    };
    let Ok(mut u) = url::Url::parse(&format!("{scheme}:{hier}")) else {
        return format!("{scheme}://…");
    };
    let had_query = had_query || u.query().is_some() || u.fragment().is_some();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.set_query(None);
    u.set_fragment(None);
    let mut shown = u.to_string();
    if had_query {
        shown.push_str("?…");
    }
    shown
}

/// The database driver's own error, kept as the `source` of [`StoreError::Unavailable`],
/// [`StoreError::Conflict`], [`StoreError::Migration`] and [`StoreError::Backend`]: for the
/// log (and the CLI's chain of causes), never part of the error's own message, so a web
/// answer built from the message shows no SQL or driver text.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a [`StoreError`] is, independent of the database behind the store:
/// what a caller decides on (retry, 404, 409, 400, 503, 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// A row that must exist does not.
    NotFound,
    /// The write lost against another one (a changed version, a taken unique identifier, a
    /// lost lease, a database constraint): nothing was written; read again and retry.
    Conflict,
    /// A server's lease is held by someone else.
    Busy,
    /// The input is refused (names the value).
    Invalid,
    /// The database cannot be reached, or stayed busy past the timeout: try again later.
    Unavailable,
    /// Anything else (a corrupt stored value, a secret that cannot be opened, a driver error).
    Other,
}

/// Errors of the store. The message never holds a URL's password nor the driver's text
/// (that is the [`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connect failed, the pool timed out, TLS failed) or
    /// stayed locked past the busy timeout.
    #[error("the database is unavailable (cannot connect, or busy past the timeout)")]
    Unavailable {
        #[source]
        source: BackendError,
    },
    /// A write the database refused by a constraint (unique, foreign key, check) that the
    /// store did not turn into a more precise error; nothing of its transaction was written.
    #[error("the database refused the write (a constraint failed)")]
    Conflict {
        #[source]
        source: BackendError,
    },
    /// The embedded migrations could not be applied (or the database holds a migration
    /// this build does not know, or one whose checksum differs).
    #[error("the database schema could not be migrated")]
    Migration {
        #[source]
        source: BackendError,
    },
    /// Any other error of the database driver.
    #[error("database error")]
    Backend {
        #[source]
        source: BackendError,
    },
    /// A row that must exist does not (`what` names it, e.g. `service 1000`).
    #[error("{0} not found")]
    NotFound(String),
    /// A billing record changed since it was read (optimistic check failed).
    #[error("service {service_id} changed since the analysis (version {expected} expected, {found} found)")]
    VersionConflict {
        service_id: ServiceId,
        expected: i64,
        found: i64,
    },
    /// A stored value could not be read back (names table, row and column).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Another analysis or apply holds this server's lease (who, and until when).
    #[error(
        "server {} is busy: {} holds its lock until {} (taken at {})",
        .0.server_id,
        .0.holder.describe(),
        show_time(.0.expires_at),
        show_time(.0.taken_at)
    )]
    Busy(Box<ServerLock>),
    /// The lease this work ran under is no longer its holder's (it ran out and was taken
    /// over, or was released by hand); nothing was written by the call that found out.
    #[error(
        "the lock of server {0} was lost (it ran out and was taken over, or was released by hand)"
    )]
    LockLost(ServerId),
    /// Services a change set would create are already live on their server under the same
    /// unique identifier key (written meanwhile by someone else); nothing was written.
    #[error("{}", clashes_message(.0))]
    IdentifierTaken(Vec<IdentifierClash>),
    /// Bad input (e.g. an unsupported database URL).
    #[error("{0}")]
    Invalid(String),
    /// A server secret cannot be encrypted or decrypted, or the key file is missing or bad
    /// (names the server, the field and the key file; never the secret).
    #[error("{0}")]
    Secret(String),
}

impl StoreError {
    /// The kind of this error (what a caller decides on).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound(_) => StoreErrorKind::NotFound,
            StoreError::Conflict { .. }
            | StoreError::VersionConflict { .. }
            | StoreError::LockLost(_)
            | StoreError::IdentifierTaken(_) => StoreErrorKind::Conflict,
            StoreError::Busy(_) => StoreErrorKind::Busy,
            StoreError::Invalid(_) => StoreErrorKind::Invalid,
            StoreError::Unavailable { .. } => StoreErrorKind::Unavailable,
            StoreError::Migration { .. }
            | StoreError::Backend { .. }
            | StoreError::Corrupt(_)
            | StoreError::Secret(_) => StoreErrorKind::Other,
        }
    }
}

/// SQLite result codes (primary code, the low byte) and PostgreSQL SQLSTATEs that mean "busy
/// or unreachable, try again": SQLITE_BUSY, SQLITE_LOCKED; PG class 08 (connection), 53
/// (insufficient resources), 57P0x (shutdown), 40001 / 40P01 (serialization, deadlock),
/// 55P03 (lock not available).
fn unavailable_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        return code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P0")
        || matches!(code, "40001" | "40P01" | "55P03")
}

/// The driver's errors, sorted into kinds by what they mean (the driver's error is kept as
/// the source). For the backends of this crate; callers never see `sqlx` types.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        let unavailable = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                unavailable_code(
                    &c,
                    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
                )
            }),
            _ => false,
        };
        let constraint = match &e {
            sqlx::Error::Database(db) => matches!(
                db.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation
            ),
            _ => false,
        };
        let source: BackendError = Box::new(e);
        if unavailable {
            StoreError::Unavailable { source }
        } else if constraint {
            StoreError::Conflict { source }
        } else {
            StoreError::Backend { source }
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration {
            source: Box::new(e),
        }
    }
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `2026-11-30 14:05:09 UTC`: times in messages, to the second.
pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn clashes_message(c: &[IdentifierClash]) -> String {
    let shown: Vec<String> = c
        .iter()
        .take(3)
        .map(|c| format!("ops[{}] {:?} (live service {})", c.op, c.key, c.service_id))
        .collect();
    let more = c.len().saturating_sub(3);
    format!(
        "{} service(s) to create already have a live service with their unique identifier on \
         their server: {}{}",
        c.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

pub use lease::{HeldLock, LockHolder, ProcessId, ServerLock};
pub use selections::RunSelections;

/// The audit event of a write, made from what the write produced (the saved id, the created
/// user, the import's counts, the removed lock) and stored in the same transaction.
pub type AuditFor<'a, T> = &'a (dyn Fn(&T) -> NewAuditEvent + Send + Sync);

/// The unique identifier field (`ListAccountsUniqueIdentifierField`) of each module, by module
/// name: which service field ties a service to a remote account, so that the store can refuse
/// a second live service of one server with the same key ([`ChangeSet::identifier_fields`],
/// [`Store::import_records`]). Servers of modules not named here are not checked.
pub type IdentifierFields = HashMap<String, UniqueIdField>;

/// A service a change set would create whose key a live service of its server already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifierClash {
    /// Index of the `CreateService` op in [`ChangeSet::ops`].
    pub op: usize,
    /// The normalised key (serversync-core `identifier_key`), e.g. `ann.test`.
    pub key: String,
    /// The live service that has it.
    pub service_id: ServiceId,
}

/// What [`Store::offer_setup_token`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupOffer {
    /// The token was stored: its link is the one to print.
    Created,
    /// Another token was stored first (by another process, at `created_at`); it stays the
    /// only valid one.
    Exists { created_at: OffsetDateTime },
    /// An administrator exists: no setup link is needed.
    NotNeeded,
}

/// Outcome of a listing as stored with a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListingStatus {
    /// The server answered with a full list.
    Complete,
    /// The server answered but records were skipped (see `skipped`).
    Incomplete,
    /// The listing failed; `error` says why. Such a run can never be applied.
    Failed,
}

impl ListingStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ListingStatus::Complete => "complete",
            ListingStatus::Incomplete => "incomplete",
            ListingStatus::Failed => "failed",
        }
    }
}

/// A new sync run to store.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub server_id: ServerId,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub listing_status: ListingStatus,
    /// Why the listing failed (never contains secrets).
    pub error: Option<String>,
    /// The remote list seen (empty for a failed listing).
    pub accounts: Vec<RemoteAccount>,
    pub skipped: Vec<SkippedRecord>,
    /// The analysis document (CONTRACT.md "Analysis document" without `run_id`), as JSON
    /// text; `None` for a failed listing.
    pub analysis_json: Option<String>,
    /// Item counts per category, as JSON text (`{"in_sync": 1, ...}`).
    pub counts_json: String,
    /// Version of every service of the server at analysis time.
    pub service_versions: Vec<(ServiceId, i64)>,
}

/// A stored sync run.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: RunId,
    pub server_id: ServerId,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub listing_status: ListingStatus,
    pub error: Option<String>,
    pub accounts: Vec<RemoteAccount>,
    pub skipped: Vec<SkippedRecord>,
    pub analysis_json: Option<String>,
    pub counts_json: String,
    pub service_versions: Vec<(ServiceId, i64)>,
    /// When a plan of this run was last applied.
    pub applied_at: Option<OffsetDateTime>,
}

/// Summary of a run for listings (no remote list).
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub id: RunId,
    pub server_id: ServerId,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub listing_status: ListingStatus,
    pub error: Option<String>,
    pub accounts: i64,
    pub counts_json: String,
    pub applied_at: Option<OffsetDateTime>,
}

/// One audit event: who did what to which record, with before/after values as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: OffsetDateTime,
    /// `cli:<os user>`, `web:<admin>`, `api:<token name>`.
    pub actor: String,
    /// `import`, `sync`, `terminate`, `move`, `create_client`, `records_import`, `force`, …
    pub action: String,
    pub server_id: Option<ServerId>,
    pub run_id: Option<RunId>,
    pub service_id: Option<ServiceId>,
    pub client_id: Option<ClientId>,
    /// JSON text or `None`.
    pub before: Option<String>,
    pub after: Option<String>,
    pub note: Option<String>,
}

/// An audit event to write (id and time are assigned by the store).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: String,
    pub server_id: Option<ServerId>,
    pub run_id: Option<RunId>,
    pub service_id: Option<ServiceId>,
    pub client_id: Option<ClientId>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub note: Option<String>,
}

/// A reference to a client inside one [`ChangeSet`]: an existing one, or one created earlier
/// in the same change set (index into [`ChangeSet::ops`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRef {
    Existing(ClientId),
    /// The client created by `ops[i]` (which must be a [`Op::CreateClient`]).
    CreatedBy(usize),
}

/// One billing change.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Create a client (its `id` is ignored and assigned by the store).
    CreateClient(Client),
    /// Create a product (its `id` is ignored and assigned by the store).
    CreateProduct(Product),
    /// Create a service for a client (`id` and `client_id` ignored; version starts at 1).
    /// `product` refers to an existing product, or the product created by `ops[i]`.
    CreateService {
        client: ClientRef,
        product_created_by: Option<usize>,
        service: Service,
    },
    /// Replace a service's fields, checking `expected_version` first; bumps the version.
    UpdateService {
        expected_version: i64,
        service: Service,
    },
}

/// A set of billing changes applied atomically with their audit events.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pub ops: Vec<Op>,
    /// Audit events; `service_id`/`client_id` of an event tied to `ops[i]` are filled in by
    /// the store from the created row when `op_index` is `Some(i)`.
    pub audit: Vec<(Option<usize>, NewAuditEvent)>,
    /// Mark this run as applied (at the time of this apply), in the same transaction. A run
    /// may be applied more than once (each apply re-checks service versions); the whole change
    /// set fails with [`StoreError::NotFound`] if the run does not exist.
    pub mark_run_applied: Option<RunId>,
    /// Unique identifier fields by module: a `CreateService` of a live service on a server of
    /// one of these modules fails the whole change set with [`StoreError::IdentifierTaken`]
    /// when, inside the write transaction, a live service of that server has the same key
    /// (normalised as the analysis does; for domains also a billing `www.` form of it), so
    /// that an import racing another writer never leaves two live services for one account.
    pub identifier_fields: IdentifierFields,
    /// The lease this change set is written under: checked in the write transaction, so a
    /// lost lease ([`StoreError::LockLost`]) writes nothing.
    pub under_lock: Option<HeldLock>,
}

/// What applying a [`ChangeSet`] created: the id of the row created by each op (`None` for
/// updates), in op order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub created_ids: Vec<Option<i64>>,
}

/// The records document's content (CONTRACT.md), as domain types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Records {
    pub clients: Vec<Client>,
    pub products: Vec<Product>,
    pub servers: Vec<Server>,
    pub services: Vec<Service>,
}

/// What a records import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// An administrator's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// May look and apply, and manage servers, products and users.
    Admin,
    /// May look, never change anything.
    ReadOnly,
}

impl Role {
    /// `admin` or `readonly`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ReadOnly => "readonly",
        }
    }

    /// Parses `admin` / `readonly` (also `read-only`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "readonly" | "read-only" => Some(Role::ReadOnly),
            _ => None,
        }
    }
}

/// An administrator account of the web page.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    /// Argon2 PHC string; never shown, never logged.
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for AdminUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A signed-in browser session. The cookie carries a random token; only its SHA-256 hash
/// (hex) is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user: AdminUser,
    /// The CSRF token every form of this session must carry.
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// An API token (Bearer). Only its SHA-256 hash (hex) is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub token_hash: String,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// Filters of the audit log; `None` = any. Newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub server_id: Option<ServerId>,
    pub run_id: Option<RunId>,
    pub service_id: Option<ServiceId>,
    /// Exact actor, e.g. `web:admin`.
    pub actor: Option<String>,
    /// At most this many (≤ 0 = all).
    pub limit: i64,
    /// Skip this many (for paging).
    pub offset: i64,
}

/// The store capability: everything serversync reads and writes (the run selections of the
/// pages in [`RunSelections`]).
#[async_trait]
pub trait Store: RunSelections + Send + Sync {
    /// Upserts a whole records document in one transaction, keeping the ids of the file.
    /// Rows equal to the stored ones are left alone (loading twice changes nothing; a
    /// service's version only moves when it changed). Server secrets that are empty in the
    /// document keep their stored value. Refused whole with [`StoreError::Invalid`] naming
    /// the first bad value (`services[3].client_id: client 5 does not exist`, a duplicate id
    /// within a section, a server name used twice); a service's own `version` is ignored.
    ///
    /// A service the document inserts or changes that is live on a server whose module is in
    /// `identifiers` is refused (`services[3].domain: server 100 already has live service 5001
    /// with the unique identifier "ann.test" …`) when a stored live service of that server
    /// which the document does not contain has the same key: checked inside the transaction,
    /// so an import racing an apply never leaves two live services for one account. Services
    /// of the document itself may share a key (billing duplicates are the analysis' business).
    ///
    /// The audit event `audit(&counts)` is written in the same transaction.
    async fn import_records(
        &self,
        records: &Records,
        identifiers: &IdentifierFields,
        audit: AuditFor<'_, ImportCounts>,
    ) -> Result<ImportCounts>;
    /// Everything, for `records export` (servers come with their secrets; the caller drops them).
    async fn export_records(&self) -> Result<Records>;

    async fn clients(&self) -> Result<Vec<Client>>;

    async fn products(&self) -> Result<Vec<Product>>;

    async fn servers(&self) -> Result<Vec<Server>>;
    /// A server by name, or by id when `name_or_id` is a number that names no server.
    async fn server(&self, name_or_id: &str) -> Result<Server>;
    async fn server_by_id(&self, id: ServerId) -> Result<Server>;

    /// All services, or those of one server, ordered by id.
    async fn services(&self, server_id: Option<ServerId>) -> Result<Vec<Service>>;
    async fn service(&self, id: ServiceId) -> Result<Service>;
    /// Live (`Active`, `Suspended`, `Pending`) services of the servers of `module` other than
    /// `except_server`.
    async fn live_services_of_module(
        &self,
        module: &str,
        except_server: ServerId,
    ) -> Result<Vec<Service>>;

    async fn insert_run(&self, run: &NewRun) -> Result<RunId>;
    async fn run(&self, id: RunId) -> Result<Run>;
    /// The newest (most recently stored) run of a server, if any.
    async fn latest_run(&self, server_id: ServerId) -> Result<Option<Run>>;
    /// Runs of a server, newest first; `limit` ≤ 0 means all.
    async fn runs(&self, server_id: ServerId, limit: i64) -> Result<Vec<RunSummary>>;

    /// Applies a change set atomically: every op, every audit event and the run mark, or none.
    ///
    /// Errors (and then nothing is written): [`StoreError::VersionConflict`] when an
    /// `UpdateService` finds another version, [`StoreError::NotFound`] when its service is
    /// gone, [`StoreError::Invalid`] for a bad `CreatedBy`/`product_created_by`/audit op index
    /// or a referenced client, product or server that does not exist,
    /// [`StoreError::LockLost`] when `under_lock` is not held by its holder,
    /// [`StoreError::IdentifierTaken`] (every clash listed) per
    /// [`ChangeSet::identifier_fields`].
    async fn apply(&self, changes: &ChangeSet) -> Result<Applied>;
    /// Records one audit event on its own (an apply that refused every item writes only
    /// its refusals).
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()>;
    /// Audit events, newest first, optionally filtered (filters combine with AND); `limit` ≤ 0
    /// means all.
    async fn audit_events(
        &self,
        server_id: Option<ServerId>,
        run_id: Option<RunId>,
        service_id: Option<ServiceId>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>>;

    /// Takes the per-server lease (one analysis or apply per server at a time, across
    /// processes and hosts sharing the database) for `ttl` from now, and returns it. A lease
    /// that ran out is taken over at once; so is one whose holder is a process of this machine
    /// that no longer exists ([`ProcessId::is_gone`]). Otherwise [`StoreError::Busy`] with the
    /// current holder and expiry. Not re-entrant (the same holder again is also `Busy`).
    /// Atomic: exactly one of several concurrent takers wins.
    async fn lock_server(
        &self,
        server_id: ServerId,
        holder: &LockHolder,
        ttl: Duration,
    ) -> Result<ServerLock>;
    /// Moves the expiry of `holder_id`'s lease of `server_id` to `ttl` from now and returns
    /// it (also when it had run out but nobody took it). [`StoreError::LockLost`] when the
    /// lease is not (or no longer) that holder's.
    async fn renew_lock(
        &self,
        server_id: ServerId,
        holder_id: &str,
        ttl: Duration,
    ) -> Result<OffsetDateTime>;
    /// Releases the lease if `holder_id` holds it; otherwise does nothing (a lease taken
    /// over by someone else stays theirs).
    async fn unlock_server(&self, server_id: ServerId, holder_id: &str) -> Result<()>;
    /// Every stored lease (expired ones included), by server id.
    async fn locks(&self) -> Result<Vec<ServerLock>>;
    /// Removes `server_id`'s lease whoever holds it (by hand, for the rare stuck case) and
    /// writes `audit(&removed)` in the same transaction; `None` (and no event) when there was
    /// none.
    async fn release_lock(
        &self,
        server_id: ServerId,
        audit: AuditFor<'_, ServerLock>,
    ) -> Result<Option<ServerLock>>;
    /// Inserts a server (when `server.id` is 0; the new id is returned — `MAX(id) + 1`, like
    /// [`Store::apply`] assigns them) or updates every field of it.
    /// Empty `password`/`access_hash` keep the stored secrets (secrets are write-only; on insert
    /// they are stored empty). Errors: `NotFound("server 9")` for an unknown id, then
    /// `Invalid("server name \"web1\" is already used by server 3")`, `Invalid` for a blank
    /// name. Writes `audit(&id)` in the same transaction.
    async fn save_server(&self, server: &Server, audit: AuditFor<'_, ServerId>)
        -> Result<ServerId>;
    /// Re-encrypts every server secret with `new_key` in one transaction (all or nothing),
    /// then seals with `new_key` from here on; returns how many servers hold a secret.
    /// Writes `audit(&count)` in the same transaction. The caller keeps `new_key` in its
    /// file: after this, the old key opens nothing.
    async fn rotate_secret_key(
        &self,
        new_key: &secrets::SecretKey,
        audit: AuditFor<'_, usize>,
    ) -> Result<usize>;
    /// Inserts a product (when `product.id` is 0; new id `MAX(id) + 1`) or updates it; returns
    /// its id. `NotFound("product 9")` for an unknown id. Writes `audit(&id)` in the same
    /// transaction.
    async fn save_product(
        &self,
        product: &Product,
        audit: AuditFor<'_, ProductId>,
    ) -> Result<ProductId>;

    /// Audit events matching `filter` (filters combine with AND), newest first (by id);
    /// `limit` ≤ 0 = all, then `offset` rows skipped (a negative offset counts as 0).
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>>;
    /// How many audit events match `filter` (limit and offset ignored).
    async fn audit_count(&self, filter: &AuditFilter) -> Result<i64>;

    /// Administrator accounts (disabled ones included), ordered by username.
    async fn users(&self) -> Result<Vec<AdminUser>>;
    /// The administrator with exactly this username (case-sensitive), disabled or not.
    async fn user_by_name(&self, username: &str) -> Result<Option<AdminUser>>;
    /// Creates an administrator (enabled) and writes `audit(&user)` in the same transaction;
    /// `Invalid` when the username is taken (exact, case-sensitive comparison) or blank, or
    /// the hash is empty.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<AdminUser>;
    /// First-run setup: stores `token_hash` as the one setup token, insert-if-absent and only
    /// while no administrator exists, atomically (of two processes on one empty database
    /// exactly one gets [`SetupOffer::Created`]).
    async fn offer_setup_token(&self, token_hash: &str) -> Result<SetupOffer>;
    /// Whether `token_hash` is the stored setup token and no administrator exists yet.
    async fn setup_token_valid(&self, token_hash: &str) -> Result<bool>;
    /// Creates the first administrator with the setup token, in one transaction: the token
    /// must be the stored one and no administrator may exist (else `Ok(None)`, nothing
    /// written); the user is inserted (role admin), the token deleted and `audit(&user)`
    /// written. Exactly one first administrator can be created this way, whatever runs
    /// concurrently. `Invalid` for a blank username or empty hash (the token stays valid).
    async fn create_first_admin(
        &self,
        token_hash: &str,
        username: &str,
        password_hash: &str,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<Option<AdminUser>>;

    /// Stores a session for `user_id` (token given as its SHA-256 hex hash), and drops every
    /// expired session. `NotFound("admin user 7")` for an unknown user; `Invalid` if the
    /// token hash is already stored.
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The live session with this token hash: `None` when unknown, expired (`expires_at` <
    /// now; the row is then deleted), or its user is disabled.
    async fn session(&self, token_hash: &str) -> Result<Option<Session>>;
    /// Ends a session; deleting an unknown one is not an error.
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    /// Stores an API token (given as its SHA-256 hex hash) and writes `audit(&token)` in the
    /// same transaction; `Invalid` when the name or the hash is taken, or either is blank.
    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        audit: AuditFor<'_, ApiToken>,
    ) -> Result<ApiToken>;
    /// The API token with this hash, or `None`. Records its use: `last_used_at` is set to
    /// now (one write per call), and the returned token carries that new value.
    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// All API tokens, ordered by name.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;
}

#[cfg(test)]
mod error_tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn driver_errors_are_sorted_into_kinds_with_the_driver_text_only_in_the_source() {
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), StoreErrorKind::Unavailable);
        assert_eq!(
            e.to_string(),
            "the database is unavailable (cannot connect, or busy past the timeout)"
        );
        let source = e.source().expect("driver error kept as source").to_string();
        assert!(source.contains("timed out"), "{source}");

        let e = StoreError::from(sqlx::Error::ColumnNotFound("secret_col".into()));
        assert_eq!(e.kind(), StoreErrorKind::Other);
        assert_eq!(e.to_string(), "database error");
        assert!(e.source().unwrap().to_string().contains("secret_col"));
    }

    #[test]
    fn busy_and_unreachable_codes_of_both_databases() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517 = 5 | 2 << 8), SQLITE_LOCKED.
        for c in ["5", "517", "6"] {
            assert!(unavailable_code(c, true), "{c}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CONSTRAINT.
        for c in ["2067", "19"] {
            assert!(!unavailable_code(c, true), "{c}");
        }
        for c in ["08006", "57P01", "40001", "40P01", "55P03", "53300"] {
            assert!(unavailable_code(c, false), "{c}");
        }
        // unique_violation, syntax error, and an SQLite code read as a SQLSTATE.
        for c in ["23505", "42601", "5"] {
            assert!(!unavailable_code(c, false), "{c}");
        }
    }

    #[tokio::test]
    async fn a_unique_violation_is_a_conflict() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&pool)
            .await
            .unwrap();
        let e = StoreError::from(
            sqlx::query("INSERT INTO t VALUES ('a')")
                .execute(&pool)
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), StoreErrorKind::Conflict);
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        assert!(!e.to_string().contains("UNIQUE"), "{e}");
    }
}
