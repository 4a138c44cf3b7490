//! serversync-app: the application functions the CLI and the web layer share.
//!
//! Data flows one way: module → remote accounts → analysis (with the store's services) → run
//! stored → plan → apply (one store transaction) → audit. Nothing here prints or parses
//! command lines; callers render the returned values.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use serversync_core::analysis::{
    analyse, Analysis, AnalysisInput, BillingRecord, Counts, ItemView,
};
use serversync_core::model::{Client, Product, RunId, Server, ServerId, Service, ServiceId};
use serversync_core::module::{Listing, ServerParams};
use serversync_core::plan::Guards;
use serversync_modules::{
    ListingProgress, Module, ModuleError, ModuleOptions, ModuleRegistry, RegistryError,
};
use serversync_store::{
    ImportCounts, ListingStatus, NewRun, PreparedAccounts, Run, Store, StoreError,
};
use time::OffsetDateTime;

mod apply;
pub mod auth;
pub mod auto_apply;
pub mod connection;
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
pub(crate) async fn blocking<T, F>(what: &str, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("{what} stopped unexpectedly: {e}")))
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
    /// runs and the newest complete one are always kept).
    pub keep_runs: usize,
}

/// The outcome of [`App::analyse_server`].
#[derive(Debug, Clone)]
pub struct AnalyseOutcome {
    pub run_id: RunId,
    pub server: Server,
    /// The analysis document of CONTRACT.md (with `run_id`) as compact JSON text, for
    /// `--json` and the API.
    pub document_json: String,
    pub counts: Counts,
    pub complete: bool,
    /// Accounts the listing returned.
    pub accounts: usize,
}

impl AnalyseOutcome {
    /// The analysis document as a JSON value.
    pub fn document(&self) -> Value {
        serde_json::from_str(&self.document_json).unwrap_or(Value::Null)
    }

    /// Items that are drift (every category but `in_sync`).
    pub fn drift(&self) -> usize {
        self.counts.drift()
    }
}

/// Counts as the JSON object of the analysis document.
pub fn counts_json(c: &Counts) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// Package (by product) and client e-mail (by client) of services, to make
/// [`BillingRecord`]s.
pub(crate) struct RecordMaps {
    package: HashMap<i64, Option<String>>,
    email: Arc<HashMap<i64, String>>,
}

impl RecordMaps {
    /// Client e-mails by client id (a fleet scan builds this once for every server).
    pub(crate) fn emails(clients: &[Client]) -> Arc<HashMap<i64, String>> {
        Arc::new(clients.iter().map(|c| (c.id, c.email.clone())).collect())
    }

    pub(crate) fn new(
        products: &[Product],
        email: Arc<HashMap<i64, String>>,
        product_field: &str,
    ) -> Self {
        RecordMaps {
            package: products
                .iter()
                .map(|p| (p.id, p.config_option(product_field).map(str::to_string)))
                .collect(),
            email,
        }
    }

    pub(crate) fn record(&self, s: Service) -> BillingRecord {
        BillingRecord {
            package: self.package.get(&s.product_id).cloned().flatten(),
            client_email: self.email.get(&s.client_id).cloned(),
            service: s,
        }
    }
}

/// Everything loaded from the store that one analysis of a server needs.
pub(crate) struct Billing {
    pub services: Vec<BillingRecord>,
    pub other_live: Vec<BillingRecord>,
    /// Every server's name, to name the server of a `moved` item's service.
    pub server_names: HashMap<ServerId, String>,
    pub products: Vec<Product>,
    /// Shared: a fleet scan reads them once for every server.
    pub clients: Arc<Vec<Client>>,
}

impl Billing {
    /// The analysis input of `server`'s `listing` against this billing.
    pub(crate) fn input<'a>(
        &'a self,
        meta: &'a serversync_core::module::MetaData,
        server: &'a Server,
        listing: &'a Listing,
    ) -> AnalysisInput<'a> {
        AnalysisInput {
            meta,
            server_ip: &server.ip_address,
            accounts: &listing.accounts,
            listing_complete: listing.is_complete(),
            services: &self.services,
            other_live: &self.other_live,
        }
    }
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

    pub(crate) async fn load_billing(
        &self,
        server: &Server,
        product_field: &str,
    ) -> Result<Billing> {
        // The reads are independent: side by side on the pool's connections (each decodes
        // on its own thread), the services of a big server no longer wait for its clients.
        let store = &self.store;
        let (services, (others, products, clients), server_names) = tokio::try_join!(
            store.services(Some(server.id)),
            async {
                Ok::<_, StoreError>(match &self.fleet {
                    // A fleet scan finds the other servers' services after the listing
                    // (`FleetIndex::narrow`): loading them whole for each of 500 servers
                    // would read the whole fleet's billing 500 times.
                    Some(f) => (Vec::new(), f.products.clone(), f.clients.clone()),
                    None => {
                        let (others, products, clients) = tokio::try_join!(
                            store.live_services_of_module(&server.module, server.id),
                            store.products(),
                            store.clients(),
                        )?;
                        (others, products, Arc::new(clients))
                    }
                })
            },
            async {
                Ok::<_, StoreError>(match &self.fleet {
                    Some(f) => f.server_names.clone(),
                    None => store
                        .servers()
                        .await?
                        .into_iter()
                        .map(|s| (s.id, s.name))
                        .collect(),
                })
            },
        )?;
        let emails = match &self.fleet {
            Some(f) => Arc::clone(&f.emails),
            None => RecordMaps::emails(&clients),
        };
        let records = RecordMaps::new(&products, emails, product_field);
        let services = services.into_iter().map(|s| records.record(s)).collect();
        let other_live = others.into_iter().map(|s| records.record(s)).collect();
        Ok(Billing {
            services,
            other_live,
            server_names,
            products,
            clients,
        })
    }

    /// Lists a server's accounts, analyses them against billing, stores the run and returns
    /// the analysis document. A failed listing is stored as a failed run (never applicable)
    /// and returned as [`AppError::Listing`].
    pub async fn analyse_server(
        &self,
        name_or_id: &str,
        progress: &dyn ListingProgress,
    ) -> Result<AnalyseOutcome> {
        self.analyse_server_with(name_or_id, progress, &Cancel::new())
            .await
    }

    /// [`App::analyse_server`] that `cancel` stops while it lists and analyses
    /// ([`AppError::Interrupted`], no run stored); once the run is being stored it finishes.
    /// The server's lease is held throughout and released after the run was stored.
    pub async fn analyse_server_with(
        &self,
        name_or_id: &str,
        progress: &dyn ListingProgress,
        cancel: &Cancel,
    ) -> Result<AnalyseOutcome> {
        self.analyse_server_within(name_or_id, progress, cancel, None)
            .await
    }

    /// [`App::analyse_server_with`] whose listing must end within `listing_deadline` too
    /// (a scan's per-server deadline): a listing past it fails like any failed listing — a
    /// failed run is stored and alerted ([`AppError::Listing`] with
    /// [`serversync_modules::ModuleError::Deadline`]).
    pub async fn analyse_server_within(
        &self,
        name_or_id: &str,
        progress: &dyn ListingProgress,
        cancel: &Cancel,
        listing_deadline: Option<std::time::Duration>,
    ) -> Result<AnalyseOutcome> {
        let server = self.store.server(name_or_id).await?;
        let module = self.module_for(&server)?;
        let lease = self.take_lease(&server).await?;
        let out = self
            .analyse_locked(
                &server,
                module.as_ref(),
                progress,
                &lease,
                cancel,
                listing_deadline,
            )
            .await;
        let released = lease.release().await;
        let out = out?;
        released?;
        Ok(out)
    }

    async fn analyse_locked(
        &self,
        server: &Server,
        module: &dyn Module,
        progress: &dyn ListingProgress,
        lease: &Lease,
        cancel: &Cancel,
        listing_deadline: Option<std::time::Duration>,
    ) -> Result<AnalyseOutcome> {
        let started_at = OffsetDateTime::now_utc();
        let started_wall = std::time::Instant::now();
        let params = ServerParams::from_server(server);
        let meta = module.meta();
        // Billing is read while the panel answers, in a task of its own: decoding 100,000
        // services and parsing the listing's pages are both CPU work, which one task would
        // do in turn. Until the run is stored nothing is written, so a cancel or a lost lease
        // stops it (and the billing task: `AbortOnDrop`).
        let billing_task = {
            let (app, server, field) = (self.clone(), server.clone(), meta.product_field.clone());
            AbortOnDrop(tokio::spawn(async move {
                app.load_billing(&server, &field).await
            }))
        };
        let (listing, billing) = lease
            .unless_stopped(cancel, "the analysis", async {
                let listing = self
                    .registry
                    .list_accounts_within(module, &params, progress, listing_deadline)
                    .await;
                Ok((listing, billing_task.join().await))
            })
            .await?;
        let listing: Listing = match listing {
            Ok(l) => l,
            Err(source) => {
                self.metrics.listing_failed(
                    &server.name,
                    &server.module,
                    started_wall.elapsed(),
                    &source,
                );
                let err = AppError::Listing {
                    server: server.name.clone(),
                    source,
                };
                let failed_run = self
                    .store
                    .insert_run(&NewRun {
                        server_id: server.id,
                        started_at,
                        finished_at: OffsetDateTime::now_utc(),
                        listing_status: ListingStatus::Failed,
                        error: Some(err.to_string()),
                        accounts: Vec::new(),
                        skipped: Vec::new(),
                        analysis_json: None,
                        counts_json: "{}".into(),
                        service_versions: Vec::new(),
                        misses: None,
                    })
                    .await?;
                self.announce(notify::StoredRun {
                    server_id: server.id,
                    server: server.name.clone(),
                    run_id: failed_run,
                    failed: Some(err.to_string()),
                    complete: false,
                    accounts: 0,
                    counts: Counts::default(),
                });
                self.prune_runs_of(server).await;
                return Err(err);
            }
        };
        let mut billing = billing?;
        // Read under the lease: the count the document shows is the one the run stores.
        let doc_misses = self.doc_misses(server, listing.is_complete()).await?;
        // A listing that shrank at once is said up front: applies refuse its terminations.
        let shrink_warning = match listing.is_complete() {
            true => self
                .listing_shrink(server.id, listing.accounts.len(), None)
                .await?
                .map(|s| {
                    format!(
                        "{}: no termination is offered without force",
                        s.describe(self.guards.max_shrink_share)
                    )
                }),
            false => None,
        };
        if let Some(fleet) = &self.fleet {
            fleet
                .narrow(self, server, meta, &listing, &mut billing)
                .await?;
        }
        let t_listed = std::time::Instant::now();
        // The analysis is CPU work (seconds for a big server): off the async workers. Beside
        // it, on a thread of its own, the run's remote list is serialised and compressed as
        // the run stores it (`PreparedAccounts`, ~0.1 s for 100,000 accounts), so the insert
        // only writes. It owns what it reads and hands it back, so that the document the
        // caller gets is written while the run is stored: the two are independent (the
        // run's id is set in the document after).
        let (meta_owned, server_owned) = (meta.clone(), server.clone());
        let (analysed, listing, stored) = blocking("the analysis", move || {
            let (analysed, stored) = std::thread::scope(|sc| {
                let prepared = sc.spawn(|| PreparedAccounts::of(&listing.accounts));
                let input = billing.input(&meta_owned, &server_owned, &listing);
                let mut analysis = analyse(&input);
                name_moved_from(&mut analysis, &billing);
                analysis.warnings.extend(shrink_warning);
                let update = misses::miss_update(&analysis, &input);
                let stored =
                    stored_document_json(&server_owned, &listing, &analysis, &input, &doc_misses);
                let versions: Vec<(ServiceId, i64)> = billing
                    .services
                    .iter()
                    .chain(&billing.other_live)
                    .map(|r| (r.service.id, r.service.version))
                    .collect();
                let prepared = prepared.join().map_err(|_| {
                    AppError::Internal("preparing the run's remote list stopped".into())
                });
                let analysed = Analysed {
                    meta: meta_owned,
                    server: server_owned,
                    billing,
                    analysis,
                    misses: doc_misses,
                };
                let stored = stored.and_then(|s| Ok((s, versions, update, prepared??)));
                (analysed, stored)
            });
            (analysed, listing, stored)
        })
        .await?;
        let (stored, service_versions, miss_update, prepared) = stored?;
        let complete = listing.is_complete();
        let accounts = listing.accounts.len();
        let counts = analysed.analysis.counts.clone();
        let t_analysed = std::time::Instant::now();
        let new_run = NewRun {
            server_id: server.id,
            started_at,
            finished_at: OffsetDateTime::now_utc(),
            listing_status: if complete {
                ListingStatus::Complete
            } else {
                ListingStatus::Incomplete
            },
            error: None,
            // The remote list is `prepared`.
            accounts: Vec::new(),
            skipped: listing.skipped.clone(),
            counts_json: counts_json(&counts).to_string(),
            analysis_json: Some(stored),
            service_versions,
            misses: miss_update,
        };
        if cancel.is_cancelled() {
            return Err(AppError::Interrupted(format!(
                "interrupted before anything was written: the analysis of server {} was cancelled",
                server.name
            )));
        }
        // The point of no return: the run is stored whatever happens meanwhile.
        let (run_id, doc) = tokio::join!(
            self.store.insert_run_prepared(&new_run, prepared),
            blocking("the analysis document", move || {
                let doc = analysed.document_json(&listing);
                // Freeing 100,000 accounts, services and items takes tens of milliseconds
                // that nobody waits for.
                drop_aside((analysed, listing));
                doc
            })
        );
        let run_id = run_id?;
        let mut doc = doc??;
        self.metrics.scan_done(
            &server.name,
            &server.module,
            started_wall.elapsed(),
            accounts,
            &counts,
        );
        tracing::info!(
            server = %server.name,
            accounts,
            listing_ms = (t_listed - started_wall).as_millis() as u64,
            analysis_ms = (t_analysed - t_listed).as_millis() as u64,
            store_run_and_document_ms = t_analysed.elapsed().as_millis() as u64,
            "analysed"
        );
        self.announce(notify::StoredRun {
            server_id: server.id,
            server: server.name.clone(),
            run_id,
            failed: None,
            complete,
            accounts,
            counts: counts.clone(),
        });
        self.prune_runs_of(server).await;
        set_run_id(&mut doc, run_id);
        Ok(AnalyseOutcome {
            run_id,
            server: server.clone(),
            document_json: doc,
            counts,
            complete,
            accounts,
        })
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

/// An analysis with everything its document reads, owned (to write the document on a
/// blocking thread while the run is stored).
struct Analysed {
    meta: serversync_core::module::MetaData,
    server: Server,
    billing: Billing,
    analysis: Analysis,
    /// The miss counts its `not_on_server` items show.
    misses: misses::DocMisses,
}

impl Analysed {
    /// [`analysis_document_json`] of this analysis of `listing`, `run_id` null.
    fn document_json(&self, listing: &Listing) -> Result<String> {
        let input = self.billing.input(&self.meta, &self.server, listing);
        let doc = document(
            None,
            &self.server,
            &listing.skipped,
            &self.analysis,
            &input,
            Some(&self.misses),
        );
        doc_text(&self.server, &doc)
    }
}

/// Names the server in each `moved` item's note ("billing has this service on web2
/// (server 2)"): core knows the other servers by id only.
fn name_moved_from(analysis: &mut Analysis, billing: &Billing) {
    use serversync_core::analysis::{moved_note, BillingRef, Category};
    for it in analysis
        .items
        .iter_mut()
        .filter(|it| it.category == Category::Moved)
    {
        let Some(BillingRef::OtherServer(oi)) = it.billing else {
            continue;
        };
        let Some(from) = billing.other_live.get(oi).and_then(|r| r.service.server_id) else {
            continue;
        };
        let Some(name) = billing.server_names.get(&from) else {
            continue;
        };
        let plain = moved_note(Some(from), None);
        if let Some(n) = it.notes.iter_mut().find(|n| **n == plain) {
            *n = moved_note(Some(from), Some(name));
        }
    }
}

/// The analysis document of CONTRACT.md.
pub fn analysis_document(
    run_id: Option<RunId>,
    server: &Server,
    listing: &Listing,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
) -> Value {
    serde_json::to_value(document(
        run_id,
        server,
        &listing.skipped,
        analysis,
        input,
        None,
    ))
    .unwrap_or(Value::Null)
}

/// [`analysis_document`] as compact JSON text, serialised straight from the analysis (no
/// intermediate `Value` tree: for 100,000 items that tree costs more than the analysis).
pub fn analysis_document_json(
    run_id: Option<RunId>,
    server: &Server,
    listing: &Listing,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
) -> Result<String> {
    let doc = document(run_id, server, &listing.skipped, analysis, input, None);
    doc_text(server, &doc)
}

/// A document as compact JSON text.
fn doc_text(server: &Server, doc: &Doc<'_>) -> Result<String> {
    doc_text_split(doc, SPLIT_ITEMS).map_err(|e| {
        AppError::Invalid(format!(
            "server {}: the analysis document could not be written: {e}",
            server.name
        ))
    })
}

/// Items from which a document's items are written on two threads ([`doc_text_split`]).
const SPLIT_ITEMS: usize = 5_000;

/// `doc` as compact JSON text; with `split_from` items or more, the second half of the
/// items is written on another thread and joined to the first: the same text as in one go
/// (serde_json's compact form separates array elements by a bare comma), in about half the
/// time (100,000 items are ~0.15 s of serialising).
fn doc_text_split(doc: &Doc<'_>, split_from: usize) -> serde_json::Result<String> {
    if doc.items.len() < split_from.max(2) || doc.in_sync_rows.is_some() {
        return serde_json::to_string(doc);
    }
    let (first, second) = doc.items.split_at(doc.items.len() / 2);
    let write = |items: &[ItemView<'_>], out: &mut Vec<u8>, lead: bool| {
        for (i, it) in items.iter().enumerate() {
            if lead || i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, it)?;
        }
        Ok::<_, serde_json::Error>(())
    };
    let (mut out, rest) = std::thread::scope(|sc| {
        let rest = sc.spawn(|| {
            let mut out = Vec::new();
            write(second, &mut out, true).map(|()| out)
        });
        // The head: the document without items ends in `"items":[]}`.
        let head = Doc {
            run_id: doc.run_id,
            server: doc.server.clone(),
            listing: doc.listing.clone(),
            unique_identifier: doc.unique_identifier.clone(),
            counts: doc.counts,
            live_services: doc.live_services,
            warnings: doc.warnings,
            items: Vec::new(),
            in_sync_rows: None,
        };
        let mut out = serde_json::to_vec(&head)?;
        debug_assert!(out.ends_with(b"[]}"));
        out.truncate(out.len().saturating_sub(2));
        write(first, &mut out, false)?;
        let rest = rest.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok::<_, serde_json::Error>((out, rest?))
    })?;
    out.extend_from_slice(&rest);
    out.extend_from_slice(b"]}");
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

#[derive(Serialize)]
struct Doc<'a> {
    // `run_id` must stay the first field: `set_run_id` relies on it.
    run_id: Option<RunId>,
    server: Value,
    listing: Value,
    unique_identifier: Value,
    counts: &'a Counts,
    live_services: usize,
    warnings: &'a [String],
    items: Vec<ItemView<'a>>,
    /// Only in the stored form ([`stored_document_json`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sync_rows: Option<Vec<run_doc::RowOut<'a>>>,
}

/// The document of `analysis` of the listing `input.accounts` + `skipped`.
fn document<'a>(
    run_id: Option<RunId>,
    server: &Server,
    skipped: &[serversync_core::module::SkippedRecord],
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    misses: Option<&misses::DocMisses>,
) -> Doc<'a> {
    let items = analysis
        .items
        .iter()
        .map(|item| ItemView {
            item,
            input,
            misses: misses.and_then(|m| m.of(item, input)),
        })
        .collect();
    document_with(run_id, server, skipped, analysis, input, items)
}

/// The document's head around `items` (all of them, or the stored form's drift items).
fn document_with<'a>(
    run_id: Option<RunId>,
    server: &Server,
    skipped: &[serversync_core::module::SkippedRecord],
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    items: Vec<ItemView<'a>>,
) -> Doc<'a> {
    Doc {
        run_id,
        server: json!({"id": server.id, "name": server.name, "module": server.module}),
        listing: json!({
            "complete": skipped.is_empty(),
            "accounts": input.accounts.len(),
            "error": Value::Null,
            "skipped": skipped,
        }),
        unique_identifier: json!({
            "field": input.meta.unique_identifier_field.as_meta(),
            "display_name": input.meta.unique_identifier_display_name,
        }),
        counts: &analysis.counts,
        live_services: analysis.live_services,
        warnings: &analysis.warnings,
        items,
        in_sync_rows: None,
    }
}

/// The analysis document in the form a run stores it (`run_doc`): the head as in
/// [`analysis_document_json`], the items with drift whole and plain `in_sync` items as
/// compact rows (`not_on_server` items with their miss counts); `run_id` null.
pub fn stored_document_json<'a>(
    server: &Server,
    listing: &Listing,
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    misses: &misses::DocMisses,
) -> Result<String> {
    let split = run_doc::stored_items(analysis, input, misses);
    // The head only: building every item's view for `document` would be thrown away here.
    let doc = Doc {
        in_sync_rows: Some(split.in_sync_rows),
        ..document_with(None, server, &listing.skipped, analysis, input, split.items)
    };
    serde_json::to_string(&doc).map_err(|e| {
        AppError::Invalid(format!(
            "server {}: the stored analysis could not be written: {e}",
            server.name
        ))
    })
}

/// Sets `run_id` in a document made by [`analysis_document_json`] with `run_id` null, in
/// place (the document of a big server is tens of megabytes: no second copy).
fn set_run_id(doc: &mut String, run_id: RunId) {
    const NULL_ID: &str = "{\"run_id\":null";
    if doc.starts_with(NULL_ID) {
        doc.replace_range(..NULL_ID.len(), &format!("{{\"run_id\":{run_id}"));
    }
}

/// Drops `value` on a thread of its own: freeing a big analysis is work nobody waits for.
/// (Dropped here when no thread can be started.)
fn drop_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}

pub use serversync_core::plan::{ImportDefaults, Selection, Selector};

#[cfg(test)]
mod tests {
    use super::*;
    use serversync_core::module::RemoteAccount;

    fn account(user: &str) -> RemoteAccount {
        serde_json::from_value(json!({"email": format!("{user}@mail.test"),
            "username": user, "domain": format!("{user}.test"),
            "uniqueIdentifier": format!("{user}.test"), "product": "basic",
            "primaryip": "192.0.2.1", "created": "2024-01-31 10:00:00", "status": "Active"}))
        .unwrap()
    }

    #[test]
    fn a_document_written_on_two_threads_is_the_one_written_at_once() {
        let module = ModuleRegistry::builtin(ModuleOptions::default())
            .get("cpanel")
            .unwrap();
        let meta = module.meta().clone();
        for n in [0, 1, 2, 3, 8] {
            let accounts: Vec<RemoteAccount> =
                (0..n).map(|i| account(&format!("user{i}"))).collect();
            let input = AnalysisInput {
                meta: &meta,
                server_ip: "192.0.2.1",
                accounts: &accounts,
                listing_complete: true,
                services: &[],
                other_live: &[],
            };
            let analysis = analyse(&input);
            let warnings = vec!["a warning".to_string()];
            let doc = Doc {
                run_id: None,
                server: json!({"id": 1, "name": "web1"}),
                listing: json!({"complete": true}),
                unique_identifier: json!({"field": "domain"}),
                counts: &analysis.counts,
                live_services: 0,
                warnings: &warnings,
                items: analysis
                    .items
                    .iter()
                    .map(|item| ItemView {
                        item,
                        input: &input,
                        misses: None,
                    })
                    .collect(),
                in_sync_rows: None,
            };
            let whole = serde_json::to_string(&doc).unwrap();
            assert_eq!(doc_text_split(&doc, 1).unwrap(), whole, "{n} items");
            let v: Value = serde_json::from_str(&whole).unwrap();
            assert_eq!(v["items"].as_array().map(Vec::len), Some(n));
            let mut text = whole.clone();
            set_run_id(&mut text, 42);
            assert_eq!(
                text,
                whole.replacen("{\"run_id\":null", "{\"run_id\":42", 1)
            );
        }
    }
}
