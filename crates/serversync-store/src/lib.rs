//! serversync-store: where billing records, sync runs and audit events live.
//!
//! The store is a set of small capability traits ([`BillingRecords`], [`Runs`], [`Audit`],
//! [`Leases`], [`Jobs`], [`Users`], [`Sessions`], [`Tokens`], [`RunSelections`],
//! [`Deliveries`]) and [`Store`], all of
//! them at once. [`sqlite::SqliteStore`] is the embedded default and [`postgres::PgStore`] the
//! PostgreSQL backend; both run the same statements (`src/shared/`, compiled once per
//! backend) and keep per backend only what differs (connection setup, migrations, the write
//! lock, the clock, the JSON aggregate). Errors are [`StoreError`]: the database driver's
//! error is its `source`, never its message.

use std::collections::HashMap;
use std::sync::Arc;

use serversync_core::model::{
    Client, ClientId, Product, RunId, Server, ServerId, Service, ServiceId,
};
use serversync_core::module::{RemoteAccount, SkippedRecord, UniqueIdField};
use time::OffsetDateTime;

mod capabilities;
mod compact;
pub mod deliveries;
mod error;
pub mod jobs;
pub mod lease;
pub mod location;
pub mod misses;
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

pub use capabilities::{Audit, BillingRecords, Leases, Runs, Sessions, Store, Tokens, Users};
pub use compact::{PreparedAccounts, PreparedAnalysis};
pub use deliveries::{Channel, Deliveries, Delivery, NewDelivery};
pub use error::{show_time, BackendError, StoreError, StoreErrorKind};
pub use jobs::{JobEnd, JobId, JobStart, JobState, Jobs, SyncJob, JOB_STOPPED, KEPT_FINISHED_JOBS};
pub use lease::{HeldLock, LockHolder, ProcessId, ServerLock};
pub use misses::{MissUpdate, Misses, ServiceMisses};

/// Every capability trait, for code that calls a concrete store's methods
/// (`use serversync_store::prelude::*;`); `Arc<dyn Store>` needs no import.
pub mod prelude {
    pub use crate::{
        Audit, BillingRecords, Deliveries, Jobs, Leases, Misses, RunSelections, Runs, Sessions,
        Store, Tokens, Users,
    };
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
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
    /// text; `None` for a failed listing, and when the document is passed to
    /// [`Runs::insert_run_prepared`] already prepared ([`PreparedAnalysis`]).
    pub analysis_json: Option<String>,
    /// Item counts per category, as JSON text (`{"in_sync": 1, ...}`).
    pub counts_json: String,
    /// Version of every service of the server at analysis time.
    pub service_versions: Vec<(ServiceId, i64)>,
    /// The miss counter after this listing ([`misses`]); stored only with a complete
    /// listing, `None` leaves the counts alone.
    pub misses: Option<MissUpdate>,
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
