//! Analysing one server (DESIGN.md §3): its listing and its billing read side by side, the
//! analysis off the async workers, the run stored with its miss counts, its alerts queued,
//! and the analysis document returned.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use serversync_core::analysis::{analyse, Analysis, AnalysisInput, BillingRecord, Counts};
use serversync_core::model::{Client, Product, RunId, Server, ServerId, Service, ServiceId};
use serversync_core::module::{Listing, ServerParams};
use serversync_modules::{ListingProgress, Module};
use serversync_store::{ListingStatus, NewRun, PreparedAccounts, PreparedAnalysis, StoreError};
use time::OffsetDateTime;

use crate::document::{
    doc_text, document, drop_aside, set_run_id, stored_document_json, DocumentText,
};
use crate::{
    blocking, blocking_now, misses, notify, AbortOnDrop, App, AppError, Cancel, Lease, Result,
};

/// The outcome of [`App::analyse_server`].
#[derive(Debug, Clone)]
pub struct AnalyseOutcome {
    pub run_id: RunId,
    pub server: Server,
    /// The analysis document of CONTRACT.md (with `run_id`) as compact JSON text, for
    /// `--json` and the API (in pieces: print it with `Display` or
    /// [`DocumentText::write_to`]).
    pub document_json: DocumentText,
    pub counts: Counts,
    pub complete: bool,
    /// Accounts the listing returned.
    pub accounts: usize,
}

impl AnalyseOutcome {
    /// The analysis document as a JSON value.
    pub fn document(&self) -> Value {
        self.document_json.read().unwrap_or(Value::Null)
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

/// What [`App::load_billing_reading`] reads of the clients.
#[derive(Clone, Copy, Debug)]
enum ClientsRead {
    /// Their e-mails by id only (an analysis).
    Emails,
    /// Every client whole, the e-mails taken from them (an apply).
    Whole,
}

/// Everything loaded from the store that one analysis of a server needs.
pub(crate) struct Billing {
    pub services: Vec<BillingRecord>,
    pub other_live: Vec<BillingRecord>,
    /// Every server's name, to name the server of a `moved` item's service.
    pub server_names: HashMap<ServerId, String>,
    pub products: Vec<Product>,
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
    /// The billing an analysis of `server` reads. Of the clients only their e-mails are read
    /// ([`serversync_store::BillingRecords::client_emails`]: two columns, not six, for
    /// 100,000 clients); an apply, which needs them whole, calls
    /// [`App::load_billing_with_clients`].
    pub(crate) async fn load_billing(
        &self,
        server: &Server,
        product_field: &str,
    ) -> Result<Billing> {
        Ok(self
            .load_billing_reading(server, product_field, ClientsRead::Emails)
            .await?
            .0)
    }

    /// [`App::load_billing`] and every client, whole (an apply looks clients up by e-mail
    /// and checks that a chosen one exists); their e-mails are taken from them, not read
    /// again.
    pub(crate) async fn load_billing_with_clients(
        &self,
        server: &Server,
        product_field: &str,
    ) -> Result<(Billing, Arc<Vec<Client>>)> {
        let (billing, clients) = self
            .load_billing_reading(server, product_field, ClientsRead::Whole)
            .await?;
        // `Whole` always reads them: without them an apply would create clients that exist.
        let clients = clients
            .ok_or_else(|| AppError::Internal("the clients were not read for an apply".into()))?;
        Ok((billing, clients))
    }

    /// The billing of `server`, reading of the clients what `clients` says; the clients
    /// come back when they were read whole. A fleet scan's index (`self.fleet`) holds
    /// the products, client e-mails and server names read once for every server.
    async fn load_billing_reading(
        &self,
        server: &Server,
        product_field: &str,
        clients: ClientsRead,
    ) -> Result<(Billing, Option<Arc<Vec<Client>>>)> {
        // The reads are independent: side by side on the pool's connections (each decodes
        // on its own thread), the services of a big server no longer wait for its clients.
        let store = &self.store;
        let (services, (others, products, clients, emails), server_names) = tokio::try_join!(
            store.services(Some(server.id)),
            async {
                Ok::<_, StoreError>(match &self.fleet {
                    // A fleet scan finds the other servers' services after the listing
                    // (`FleetIndex::narrow`): loading them whole for each of 500 servers
                    // would read the whole fleet's billing 500 times.
                    Some(f) => (
                        Vec::new(),
                        f.products.clone(),
                        // An apply never runs with a fleet index; read them should one do.
                        match clients {
                            ClientsRead::Whole => Some(Arc::new(store.clients().await?)),
                            ClientsRead::Emails => None,
                        },
                        Arc::clone(&f.emails),
                    ),
                    None => {
                        let (others, products, (clients, emails)) = tokio::try_join!(
                            store.live_services_of_module(&server.module, server.id),
                            store.products(),
                            async {
                                Ok::<_, StoreError>(match clients {
                                    ClientsRead::Whole => {
                                        let clients = store.clients().await?;
                                        let emails = RecordMaps::emails(&clients);
                                        (Some(Arc::new(clients)), emails)
                                    }
                                    ClientsRead::Emails => {
                                        (None, Arc::new(store.client_emails().await?))
                                    }
                                })
                            },
                        )?;
                        (others, products, clients, emails)
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
        let records = RecordMaps::new(&products, emails, product_field);
        let services = services.into_iter().map(|s| records.record(s)).collect();
        let other_live = others.into_iter().map(|s| records.record(s)).collect();
        Ok((
            Billing {
                services,
                other_live,
                server_names,
                products,
            },
            clients,
        ))
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

    pub(crate) async fn analyse_locked(
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
        let listing = Arc::new(listing);
        // From now on, beside the analysis, the run's remote list is serialised and
        // compressed as the run stores it (`PreparedAccounts`, ~0.05 s for 100,000
        // accounts), so that the insert only writes.
        let prepared = {
            let listing = Arc::clone(&listing);
            blocking_now("preparing the run's remote list", move || {
                PreparedAccounts::of(&listing.accounts)
            })
        };
        // The analysis is CPU work (seconds for a big server): off the async workers.
        let (meta_owned, server_owned, listing_owned) =
            (meta.clone(), server.clone(), Arc::clone(&listing));
        let (analysed, miss_update, service_versions) = blocking("the analysis", move || {
            let input = billing.input(&meta_owned, &server_owned, &listing_owned);
            let mut analysis = analyse(&input);
            name_moved_from(&mut analysis, &billing);
            analysis.warnings.extend(shrink_warning);
            let update = misses::miss_update(&analysis, &input);
            let versions: Vec<(ServiceId, i64)> = billing
                .services
                .iter()
                .chain(&billing.other_live)
                .map(|r| (r.service.id, r.service.version))
                .collect();
            let analysed = Analysed {
                meta: meta_owned,
                server: server_owned,
                billing,
                analysis,
                misses: doc_misses,
                listing: listing_owned,
            };
            (Arc::new(analysed), update, versions)
        })
        .await?;
        // The document the caller gets is written from now on, beside the stored document
        // and the insert: the two are independent (the run's id is set in it after).
        let printed = {
            let analysed = Arc::clone(&analysed);
            blocking_now("the analysis document", move || analysed.document_json())
        };
        // The stored document is checked and compressed as the run stores it where it is
        // written (`PreparedAnalysis`, taking the text: no copy), so that the insert only
        // writes.
        let stored = {
            let analysed = Arc::clone(&analysed);
            blocking("the stored analysis", move || {
                Ok::<_, AppError>(PreparedAnalysis::of(analysed.stored_json()?)?)
            })
            .await??
        };
        let prepared = prepared.await??;
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
            // The document is `stored`.
            analysis_json: None,
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
        let run_id = self
            .store
            .insert_run_prepared(&new_run, prepared, Some(stored))
            .await;
        let doc = printed.await;
        // Freeing 100,000 accounts, services and items takes tens of milliseconds that
        // nobody waits for.
        drop_aside((analysed, listing));
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
    /// The listing analysed.
    listing: Arc<Listing>,
}

impl Analysed {
    /// The stored document of this analysis ([`stored_document_json`]).
    fn stored_json(&self) -> Result<String> {
        let input = self.billing.input(&self.meta, &self.server, &self.listing);
        stored_document_json(
            &self.server,
            &self.listing,
            &self.analysis,
            &input,
            &self.misses,
        )
    }

    /// [`analysis_document_json`](crate::analysis_document_json) of this analysis, `run_id`
    /// null.
    fn document_json(&self) -> Result<DocumentText> {
        let listing = &self.listing;
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
