//! The store's capabilities: one small trait per kind of data, in the spirit of lldap's
//! backend handlers, and [`Store`], every one of them at once (what the application holds as
//! `Arc<dyn Store>`). Both backends ([`crate::sqlite::SqliteStore`],
//! [`crate::postgres::PgStore`]) implement every trait with the same statements
//! (`src/shared/`), and the contract suite (`serversync-store-tests`) runs on both.
//!
//! Every method returns [`StoreError`]; the kinds a caller decides on are listed per method
//! ([`crate::StoreErrorKind`]). A failed read is an error, never an empty list.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serversync_core::model::{
    Client, ClientId, Product, ProductId, RunId, Server, ServerId, Service, ServiceId,
};
use time::OffsetDateTime;

use crate::deliveries::Deliveries;
use crate::jobs::Jobs;
use crate::misses::Misses;
use crate::secrets::SecretKey;
#[allow(unused_imports)] // named in the doc links
use crate::StoreError;
use crate::{
    AdminUser, ApiToken, Applied, AuditEvent, AuditFilter, AuditFor, ChangeSet, IdentifierFields,
    ImportCounts, LockHolder, NewAuditEvent, NewRun, PreparedAccounts, PreparedAnalysis, Records,
    Result, Role, Run, RunSelections, RunSummary, ServerLock, Session, SetupOffer,
};

/// Billing records: clients, products, servers (with their sealed secrets) and services, the
/// records document's import and export, and the atomic change sets an apply writes.
#[async_trait]
pub trait BillingRecords: Send + Sync {
    /// Upserts a whole records document in one transaction, keeping the ids of the file.
    /// Rows equal to the stored ones are left alone (loading twice changes nothing; a
    /// service's version only moves when it changed). Server secrets that are empty in the
    /// document keep their stored value. Refused whole with [`StoreError::Invalid`] naming
    /// the first bad value (`services[3].client_id: client 5 does not exist`, a duplicate id
    /// within a section, a server name used twice); a service's own `version` is ignored.
    /// Rows created later by the database get ids above every imported one.
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
    /// Everything, each section ordered by id, read in one transaction (a consistent
    /// snapshot), for `records export`. Servers come with their secrets opened; the caller
    /// drops them.
    async fn export_records(&self) -> Result<Records>;

    /// Every client, ordered by id.
    async fn clients(&self) -> Result<Vec<Client>>;
    /// Every client's e-mail by client id (an empty e-mail included, as stored): what an
    /// analysis reads of the clients (a service's client e-mail), without reading their
    /// other columns. Holds exactly the `(id, email)` of [`BillingRecords::clients`].
    async fn client_emails(&self) -> Result<HashMap<ClientId, String>>;
    /// Every product, ordered by id.
    async fn products(&self) -> Result<Vec<Product>>;
    /// Every server, ordered by id, secrets opened.
    async fn servers(&self) -> Result<Vec<Server>>;
    /// A server by exact name, or by id when `name_or_id` is a number that names no server;
    /// `NotFound("server \"web9\"")` otherwise.
    async fn server(&self, name_or_id: &str) -> Result<Server>;
    /// The server with this id; `NotFound("server 9")` when there is none.
    async fn server_by_id(&self, id: ServerId) -> Result<Server>;

    /// All services, or those of one server, ordered by id.
    async fn services(&self, server_id: Option<ServerId>) -> Result<Vec<Service>>;
    /// The service with this id; `NotFound("service 9")` when there is none.
    async fn service(&self, id: ServiceId) -> Result<Service>;
    /// How many live (`Active`, `Suspended`, `Pending`) services each server has, as
    /// `(server id, count)` ordered by server id, from one counting query; servers without
    /// any are absent.
    async fn live_service_counts(&self) -> Result<Vec<(ServerId, i64)>>;
    /// Live (`Active`, `Suspended`, `Pending`) services of the servers of `module` other than
    /// `except_server`, ordered by id.
    async fn live_services_of_module(
        &self,
        module: &str,
        except_server: ServerId,
    ) -> Result<Vec<Service>>;

    /// Applies a change set atomically: every op, every audit event and the run mark, or none.
    /// Created rows get their ids from the database (returned in [`Applied::created_ids`]).
    ///
    /// Errors (and then nothing is written): [`StoreError::VersionConflict`] when an
    /// `UpdateService` finds another version, [`StoreError::NotFound`] when its service is
    /// gone, [`StoreError::Invalid`] for a bad `CreatedBy`/`product_created_by`/audit op index
    /// or a referenced client, product or server that does not exist,
    /// [`StoreError::LockLost`] when `under_lock` is not held by its holder,
    /// [`StoreError::IdentifierTaken`] (every clash listed) per
    /// [`ChangeSet::identifier_fields`].
    async fn apply(&self, changes: &ChangeSet) -> Result<Applied>;

    /// Inserts a server (when `server.id` is 0; the database assigns the id, which is
    /// returned) or updates every field of it.
    /// Empty `password`/`access_hash` keep the stored secrets (secrets are write-only; on insert
    /// they are stored empty). Errors: `NotFound("server 9")` for an unknown id, then
    /// `Invalid("server name \"web1\" is already used by server 3")`, `Invalid` for a blank
    /// name. Writes `audit(&id)` in the same transaction.
    async fn save_server(&self, server: &Server, audit: AuditFor<'_, ServerId>)
        -> Result<ServerId>;
    /// Inserts a product (when `product.id` is 0; the id comes from the database) or updates
    /// it; returns its id. `NotFound("product 9")` for an unknown id. Writes `audit(&id)` in
    /// the same transaction.
    async fn save_product(
        &self,
        product: &Product,
        audit: AuditFor<'_, ProductId>,
    ) -> Result<ProductId>;
    /// Re-encrypts every server secret with `new_key` in one transaction (all or nothing),
    /// then seals with `new_key` from here on; returns how many servers hold a secret.
    /// Writes `audit(&count)` in the same transaction. The caller keeps `new_key` in its
    /// file: after this, the old key opens nothing. [`StoreError::Secret`] when a stored
    /// secret does not open with the current key (nothing is written).
    async fn rotate_secret_key(
        &self,
        new_key: &SecretKey,
        audit: AuditFor<'_, usize>,
    ) -> Result<usize>;
}

/// Sync runs: what a listing saw and what its analysis found, kept for review and apply.
#[async_trait]
pub trait Runs: Send + Sync {
    /// Stores a run and returns the id the database gave it; `NotFound("server 9")` when
    /// its server does not exist.
    async fn insert_run(&self, run: &NewRun) -> Result<RunId>;
    /// [`Runs::insert_run`] of a run whose remote list was prepared ahead
    /// ([`PreparedAccounts::of`], e.g. beside the analysis), and its analysis document too
    /// when `analysis` is given ([`PreparedAnalysis::of`], where the document was written;
    /// with `None`, `run.analysis_json` is stored as `insert_run` stores it): stored exactly
    /// as `run` with that list and document would be, byte for byte, and refused alike
    /// (`Invalid` naming a document with a NUL character that this backend cannot hold,
    /// `NotFound` for an unknown server). `Invalid` too when `run.accounts` is not empty, or
    /// when `analysis` is given and `run.analysis_json` is not `None`: a run holds one list
    /// and one document.
    async fn insert_run_prepared(
        &self,
        run: &NewRun,
        accounts: PreparedAccounts,
        analysis: Option<PreparedAnalysis>,
    ) -> Result<RunId>;
    /// The run with this id, with its remote list; `NotFound("run 9")` when there is none.
    async fn run(&self, id: RunId) -> Result<Run>;
    /// The newest (most recently stored) run of a server, if any.
    async fn latest_run(&self, server_id: ServerId) -> Result<Option<Run>>;
    /// Runs of a server, newest first; `limit` ≤ 0 means all.
    async fn runs(&self, server_id: ServerId, limit: i64) -> Result<Vec<RunSummary>>;
    /// The newest `per_server` runs of every server (`per_server` ≤ 0: none), from one
    /// query, ordered by server id and then newest first: what a fleet's servers page shows
    /// without one query per server.
    async fn recent_runs(&self, per_server: i64) -> Result<Vec<RunSummary>>;
    /// Retention: deletes the runs of a server older than its newest `keep`, except every
    /// run that was applied (`applied_at` set: the audit log points at it) and the newest
    /// `keep_complete` complete runs (at least one, whatever it is given: what the next
    /// apply reads; the shrink guard compares a listing with the last few); returns how
    /// many runs were deleted. Their selections go with them.
    async fn prune_runs(
        &self,
        server_id: ServerId,
        keep: usize,
        keep_complete: usize,
    ) -> Result<u64>;
}

/// The audit log: who did what to which record. Writes that change records add their own
/// events in their transaction; this trait reads the log and adds lone events.
#[async_trait]
pub trait Audit: Send + Sync {
    /// Records one audit event on its own, at the database's "now" (an apply that refused
    /// every item writes only its refusals).
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()>;
    /// Audit events matching `filter` (filters combine with AND), newest first (by id);
    /// `limit` ≤ 0 = all, then `offset` rows skipped (a negative offset counts as 0).
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>>;
    /// How many audit events match `filter` (limit and offset ignored).
    async fn audit_count(&self, filter: &AuditFilter) -> Result<i64>;
    /// [`Audit::audit_query`] by server, run and service (`None` = any), newest first;
    /// `limit` ≤ 0 means all.
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
}

/// Per-server leases: one analysis or apply per server at a time, across processes and hosts
/// sharing the database ([`crate::lease`]).
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the per-server lease for `ttl` from now, and returns it. A lease that ran out is
    /// taken over at once; so is one whose holder is a process of this machine that no
    /// longer exists ([`crate::ProcessId::is_gone`]). Otherwise [`StoreError::Busy`] with the
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
}

/// Administrator accounts of the web page, and the first-run setup token that creates the
/// first one.
#[async_trait]
pub trait Users: Send + Sync {
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
    /// exactly one gets [`SetupOffer::Created`]). `Invalid` for an empty hash.
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
}

/// Signed-in browser sessions (only the SHA-256 hex hash of a cookie's token is stored).
#[async_trait]
pub trait Sessions: Send + Sync {
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

    /// Failed sign-ins in a row for a throttle `key` (every instance's), counting only a run
    /// whose last failure is at most `memory` old; 0 when there is none.
    async fn sign_in_failures(&self, key: &str, memory: Duration) -> Result<u32>;
    /// Counts one more failed sign-in for `key` (a run older than `memory` starts again at
    /// 1) and returns the new count; rows older than `memory` are dropped on the way, so the
    /// table holds only keys that failed recently.
    async fn record_sign_in_failure(&self, key: &str, memory: Duration) -> Result<u32>;
    /// A successful sign-in: forgets `key`'s failures.
    async fn clear_sign_in_failures(&self, key: &str) -> Result<()>;
}

/// API (Bearer) tokens; only their SHA-256 hex hash is stored.
#[async_trait]
pub trait Tokens: Send + Sync {
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

/// Everything serversync reads and writes: every capability at once. Implemented for every
/// type that has them all (a blanket impl), so a store is used as `Arc<dyn Store>` and its
/// methods are called without naming the capability traits.
pub trait Store:
    BillingRecords
    + Runs
    + Audit
    + Leases
    + Users
    + Sessions
    + Tokens
    + RunSelections
    + Jobs
    + Misses
    + Deliveries
{
}

impl<T> Store for T where
    T: BillingRecords
        + Runs
        + Audit
        + Leases
        + Users
        + Sessions
        + Tokens
        + RunSelections
        + Jobs
        + Misses
        + Deliveries
{
}
