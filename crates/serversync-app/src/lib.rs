//! serversync-app: the application functions the CLI and the web layer share.
//!
//! Data flows one way: module → remote accounts → analysis (with the store's services) → run
//! stored → plan → apply (one store transaction) → audit. Nothing here prints or parses
//! command lines; callers render the returned values.

use std::sync::Arc;

use serde_json::Value;
use serversync_core::model::{RunId, Server, ServerId};
use serversync_core::plan::Guards;
use serversync_modules::{Module, ModuleError, ModuleOptions, ModuleRegistry, RegistryError};
use serversync_store::{ImportCounts, Run, Store, StoreError};

mod analyse;
mod apply;
pub mod auth;
pub mod auto_apply;
pub mod connection;
mod document;
pub mod edits;
pub mod fleet;
pub mod items;
pub mod jobs;
mod lease;
mod locks;
pub mod metrics;
pub mod misses;
pub mod notify;
pub mod overview;
mod reads;
pub mod records;
pub mod retention;
mod run_doc;
pub mod scan;
pub mod scheduler;
pub mod secrets;
pub mod servers_edit;
mod shrink;
pub use shrink::SHRINK_MEMORY;
pub mod states;

pub use apply::{
    ApplyReport, ApplyRequest, Chosen, ItemOutcome, ItemRef, ItemResult, REFUSED_EVENT,
};
pub use lease::{Cancel, Lease, DEFAULT_LEASE_TTL};
pub use locks::LockView;

/// Errors of the application layer; each message is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Listing a server failed; names the server and the cause.
    #[error("server {server}: listing failed: {source}")]
    Listing {
        server: String,
        #[source]
        source: ModuleError,
    },
    /// A records document broke the rules; names the path of the first bad value.
    #[error("invalid records document: {0}")]
    Records(String),
    /// The server's module is unknown or unusable.
    #[error("server {server}: {source}")]
    UnknownModule {
        server: String,
        #[source]
        source: RegistryError,
    },
    /// A module named on its own (`modules check NAME`) is unknown or unusable.
    #[error(transparent)]
    Module(#[from] RegistryError),
    /// Another analysis or apply holds the server's lease: who, and until when.
    #[error(
        "server {server} is busy: {holder} holds its lock until {until} (an analysis or apply \
         is running; a lock whose process ended is taken over at once, any other runs out \
         when its holder stops renewing it; `serversync locks release {server}` removes it by \
         hand)"
    )]
    Busy {
        server: String,
        holder: String,
        until: String,
    },
    /// The lease of the server was lost while the work ran (it ran out and was taken over,
    /// or was released by hand); the work was stopped before writing.
    #[error("server {0}: the lock was lost while the work ran (it ran out and was taken over, or was released by hand); nothing was written: try again")]
    LockLost(String),
    /// The work was interrupted before its write started; the message says what stopped.
    #[error("{0}")]
    Interrupted(String),
    /// The run cannot be applied (failed or incomplete listing, other server, …).
    #[error("{0}")]
    NotApplicable(String),
    /// Any other bad input, with what and where.
    #[error("{0}")]
    Invalid(String),
    /// A failure inside serversync itself (a blocking task panicked): the text is for the
    /// log; the web layer shows clients only a request id.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Runs CPU-heavy work (an analysis, argon2) on Tokio's blocking pool so that it does not
/// hold an async worker: a big server's analysis takes seconds, a password hash ~50 ms.
/// A panic in `f` is an [`AppError::Internal`] naming `what`.
pub(crate) async fn blocking<T, F>(what: &'static str, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    blocking_now(what, f).await
}

/// [`blocking`], started at this call rather than when first awaited: `f` runs from now
/// on beside whatever the caller does next (and to its end even if the future is dropped).
pub(crate) fn blocking_now<T, F>(
    what: &'static str,
    f: F,
) -> impl std::future::Future<Output = Result<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = tokio::task::spawn_blocking(f);
    async move {
        task.await
            .map_err(|e| AppError::Internal(format!("{what} stopped unexpectedly: {e}")))
    }
}

/// A spawned task that is aborted when dropped unjoined (a cancelled analysis stops its
/// billing read).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<Result<T>> {
    /// The task's result (a panicked task as [`AppError::Internal`]).
    async fn join(mut self) -> Result<T> {
        (&mut self.0)
            .await
            .map_err(|e| AppError::Internal(format!("reading the billing records stopped: {e}")))?
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Result alias of the application layer.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The application: a store, module settings, guards and import defaults.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    /// The modules of this process (built once; shared HTTP clients).
    pub registry: Arc<ModuleRegistry>,
    pub guards: Guards,
    /// Who acts, for the audit log (`cli:<user>`, `web:<admin>`, `api:<token>`).
    pub actor: String,
    /// Lifetime of a server lease ([`DEFAULT_LEASE_TTL`]); renewed every third of it while
    /// the work runs, so a holder that stops blocks its server at most this long.
    pub lease_ttl: std::time::Duration,
    /// Random per `App::new`: makes lease holders unique (a lease taken over by another
    /// process with the same pid and actor must not be released by the first).
    instance: String,
    /// Set during a fleet scan: the other servers' services are found through this index
    /// instead of being loaded whole for every server ([`scan::FleetIndex`]).
    pub(crate) fleet: Option<Arc<scan::FleetIndex>>,
    /// This process's metrics (`/metrics`), shared by every clone of the app.
    pub metrics: Arc<metrics::Metrics>,
    /// Each server's `gone_after` threshold of the miss counter ([`misses::GoneAfter`]).
    pub gone_after: misses::GoneAfter,
    /// What scheduled scans apply by themselves ([`auto_apply`]; nothing by default).
    pub auto_apply: auto_apply::AutoApplyPolicy,
    /// Where stored runs' alerts are queued ([`notify::Notifier`]); `None`: no alerts.
    pub notifier: Option<notify::Notifier>,
    /// Runs kept per server after each stored run ([`retention::DEFAULT_KEEP_RUNS`]; applied
    /// runs and the newest six complete ones are always kept).
    pub keep_runs: usize,
}

impl App {
    /// An app on `store` with the built-in modules, default module options and guards.
    pub fn new(store: Arc<dyn Store>, actor: impl Into<String>) -> Self {
        Self::with_registry(
            store,
            Arc::new(ModuleRegistry::builtin(ModuleOptions::default())),
            actor,
        )
    }

    /// An app on `store` with the modules of `registry`.
    pub fn with_registry(
        store: Arc<dyn Store>,
        registry: Arc<ModuleRegistry>,
        actor: impl Into<String>,
    ) -> Self {
        App {
            store,
            registry,
            guards: Guards::default(),
            actor: actor.into(),
            lease_ttl: DEFAULT_LEASE_TTL,
            instance: auth::new_token("")[..12].to_string(),
            fleet: None,
            metrics: Arc::new(metrics::Metrics::default()),
            gone_after: misses::GoneAfter::default(),
            auto_apply: auto_apply::AutoApplyPolicy::default(),
            notifier: None,
            keep_runs: retention::DEFAULT_KEEP_RUNS,
        }
    }

    /// The same app acting as `actor` (for the audit log).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// The module of a server.
    pub fn module_for(&self, server: &Server) -> Result<Arc<dyn Module>> {
        self.registry
            .get(&server.module)
            .map_err(|source| AppError::UnknownModule {
                server: server.name.clone(),
                source,
            })
    }

    /// Every registered module (usable or not) with its kind and meta data.
    pub fn modules(&self) -> Vec<serversync_modules::ModuleInfo> {
        self.registry.modules()
    }

    /// Names of the usable modules, in the order a server form offers them.
    pub fn module_names(&self) -> Vec<String> {
        self.registry.names()
    }

    /// The product field (`configoption1..24`) of `module`, `configoption1` when the module
    /// is unknown.
    pub fn product_field_of(&self, module: &str) -> String {
        self.registry
            .get(module)
            .map(|m| m.meta().product_field.clone())
            .unwrap_or_else(|_| "configoption1".into())
    }

    /// Loads a records document (CONTRACT.md) into the store: refused whole on the first bad
    /// value, with its path; references between records are checked against the document
    /// and the store; loading the same file twice changes nothing.
    pub async fn import_records(&self, bytes: &[u8]) -> Result<ImportCounts> {
        let names = self.registry.names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let records = records::parse_records(bytes, &names)?;
        // The store checks references against the document and itself, in its transaction,
        // and names the path of a dangling one (`services[2].client_id: client 5 does not exist`)
        // or of a live service whose key another live service took meanwhile; the audit event
        // is written in the same transaction.
        let audit = |counts: &ImportCounts| serversync_store::NewAuditEvent {
            actor: self.actor.clone(),
            action: "records_import".into(),
            note: Some(format!(
                "{} inserted, {} updated, {} unchanged",
                counts.inserted, counts.updated, counts.unchanged
            )),
            ..Default::default()
        };
        match self
            .store
            .import_records(&records, &self.identifier_fields(), &audit)
            .await
        {
            Err(StoreError::Invalid(msg)) => Err(AppError::Records(msg)),
            other => Ok(other?),
        }
    }

    /// The unique identifier field of every usable module, by name (for the store's re-check
    /// that an import never adds a second live service under one key).
    pub fn identifier_fields(&self) -> serversync_store::IdentifierFields {
        self.registry
            .names()
            .into_iter()
            .filter_map(|n| {
                let field = self
                    .registry
                    .get(&n)
                    .ok()?
                    .meta()
                    .unique_identifier_field
                    .clone();
                Some((n, field))
            })
            .collect()
    }

    /// The store as a records document, secrets left out.
    pub async fn export_records(&self) -> Result<Value> {
        Ok(records::records_json(&self.store.export_records().await?))
    }

    /// The stored run `run` of a server, or its latest run.
    pub async fn run_for(&self, server: &Server, run: Option<RunId>) -> Result<Run> {
        match run {
            Some(id) => {
                let r = self.store.run(id).await?;
                if r.server_id != server.id {
                    // Named for people, with the id for scripts; a server that cannot be
                    // read is still named by its id.
                    let owner = match self.store.server_by_id(r.server_id).await {
                        Ok(o) => format!("{} (#{})", o.name, o.id),
                        Err(_) => format!("#{}", r.server_id),
                    };
                    return Err(AppError::NotApplicable(format!(
                        "run {id} belongs to server {owner}, not to {} (#{})",
                        server.name, server.id
                    )));
                }
                Ok(r)
            }
            None => self.store.latest_run(server.id).await?.ok_or_else(|| {
                AppError::NotApplicable(format!(
                    "server {} has no sync run yet: run `serversync analyse {}` first",
                    server.name, server.name
                ))
            }),
        }
    }

    /// Applies a selection of a stored run. See [`App::apply_with`].
    pub async fn apply(&self, req: &ApplyRequest) -> Result<ApplyReport> {
        self.apply_with(req, Cancel::new()).await
    }

    /// Applies a selection of a stored run (`apply::apply`): a dry run takes no lease; a
    /// real apply holds the server's lease until its transaction ended. `cancel` stops it
    /// only before its write starts ([`AppError::Interrupted`]: nothing was written); after
    /// that the apply completes and the report says what was written.
    ///
    /// Runs in its own task, so that a caller that goes away (a closed HTTP connection) does
    /// not cut a transaction short or leave the server's lease held.
    pub async fn apply_with(&self, req: &ApplyRequest, cancel: Cancel) -> Result<ApplyReport> {
        let (app, req) = (self.clone(), req.clone());
        tokio::spawn(async move { apply::apply(&app, &req, &cancel).await })
            .await
            .map_err(|e| AppError::Invalid(format!("the apply stopped unexpectedly: {e}")))?
    }

    /// The server by name or id.
    pub async fn server(&self, name_or_id: &str) -> Result<Server> {
        Ok(self.store.server(name_or_id).await?)
    }

    /// Servers, for listings.
    pub async fn servers(&self) -> Result<Vec<Server>> {
        Ok(self.store.servers().await?)
    }

    pub async fn server_id(&self, name_or_id: &str) -> Result<ServerId> {
        Ok(self.store.server(name_or_id).await?.id)
    }
}

pub use analyse::{counts_json, AnalyseOutcome};
pub(crate) use analyse::{Billing, RecordMaps};
pub use document::{analysis_document, analysis_document_json, stored_document_json, DocumentText};
pub use serversync_core::plan::{ImportDefaults, Selection, Selector};
