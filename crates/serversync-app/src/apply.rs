//! Applying a plan (DESIGN.md §4): from the remote list stored with the run (no second
//! fetch), with a version check per touched service, the guards, and one store transaction
//! with an audit event per change.

use std::collections::HashMap;

use serde_json::json;
use serversync_core::analysis::{analyse, Action, Analysis, AnalysisInput, Category};
use serversync_core::changes::service_changes;
use serversync_core::model::{Client, Product, RunId, Server, ServerId, ServiceId};
use serversync_core::module::{Listing, MetaData};
use serversync_core::plan::{self, ClientIndex, ImportDefaults, Plan, ProductMatch, Selection};
use serversync_store::{
    ChangeSet, ClientRef, IdentifierFields, ListingStatus, NewAuditEvent, Op, StoreError,
};
use time::{Date, OffsetDateTime};

use crate::lease::{Cancel, Lease};

mod guards;
mod helpers;
mod report;
use crate::{App, AppError, Result};
use guards::{already_applied, refusal_events, still_listed};
use helpers::{import_after_json, push_update, Pick};
pub use report::{ApplyReport, Chosen, ItemOutcome, ItemRef, ItemResult, REFUSED_EVENT};

/// What to apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyRequest {
    /// Server name or id.
    pub server: String,
    /// A run of that server; `None` = its latest run.
    pub run: Option<RunId>,
    pub selection: Selection,
    /// Report what would change; write nothing.
    pub dry_run: bool,
    /// Override the guards (audited).
    pub force: bool,
    pub defaults: ImportDefaults,
}

/// Applies `req`. Errors (not refusals): an unknown server or run, a failed run, a run whose
/// listing was incomplete without `force`, a store failure (then nothing was written), an
/// interruption before the write ([`AppError::Interrupted`], nothing written).
///
/// A dry run (a review) only reads: it takes no lease, so it never blocks an apply or an
/// analysis. A real apply holds the server's lease from before reading the run until after
/// its transaction ended; `cancel` stops it only before the write starts — once the store
/// transaction runs, the apply finishes and reports what it wrote.
pub(crate) async fn apply(app: &App, req: &ApplyRequest, cancel: &Cancel) -> Result<ApplyReport> {
    let server = app.store.server(&req.server).await?;
    if req.dry_run {
        return apply_locked(app, req, &server, None, cancel).await;
    }
    let lease = app.take_lease(&server).await?;
    let out = apply_locked(app, req, &server, Some(&lease), cancel).await;
    let released = lease.release().await;
    let out = out?;
    released?;
    Ok(out)
}

/// Runs read-only preparation, stopped by `cancel` (and by a lost lease, when there is one).
async fn stoppable<T>(
    lease: Option<&Lease>,
    cancel: &Cancel,
    server: &Server,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match lease {
        Some(l) => l.unless_stopped(cancel, "the apply", fut).await,
        None => tokio::select! {
            r = fut => r,
            () = cancel.cancelled() => Err(AppError::Interrupted(format!(
                "interrupted: the review of server {} was cancelled (it writes nothing)",
                server.name
            ))),
        },
    }
}

/// How often an apply is rebuilt without the imports that found their key taken meanwhile
/// (each round only removes items, so this bounds a pathological stream of racing writers).
const CLASH_ROUNDS: usize = 5;

async fn apply_locked(
    app: &App,
    req: &ApplyRequest,
    server: &Server,
    lease: Option<&Lease>,
    cancel: &Cancel,
) -> Result<ApplyReport> {
    req.defaults
        .validate()
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let module = app.module_for(server)?;
    let meta = module.meta();
    let (run, billing, misses) = stoppable(lease, cancel, server, async {
        let run = app.run_for(server, req.run).await?;
        let billing = app.load_billing(server, &meta.product_field).await?;
        let misses = app.miss_counts(server).await?;
        Ok((run, billing, misses))
    })
    .await?;
    let mut forced = Vec::new();
    match run.listing_status {
        ListingStatus::Failed => {
            return Err(AppError::NotApplicable(format!(
                "run {} of server {} cannot be applied: its listing failed ({})",
                run.id,
                server.name,
                run.error.as_deref().unwrap_or("no cause recorded")
            )))
        }
        ListingStatus::Incomplete if !req.force => {
            return Err(AppError::NotApplicable(format!(
                "run {} of server {} cannot be applied: its listing was incomplete ({} records skipped); override the guards to apply it anyway",
                run.id,
                server.name,
                run.skipped.len()
            )))
        }
        ListingStatus::Incomplete => forced.push(format!("applied a run with an incomplete listing ({} records skipped)", run.skipped.len())),
        ListingStatus::Complete => {}
    }
    if let Some(id) = req.defaults.unassigned_client {
        if !billing.clients.iter().any(|c| c.id == id) {
            return Err(AppError::Invalid(format!(
                "the client for accounts without e-mail (client {id}) does not exist"
            )));
        }
    }

    let listing = Listing {
        accounts: run.accounts.clone(),
        skipped: run.skipped.clone(),
    };
    // The analysis is CPU work (seconds for a big server): off the async workers. It takes
    // the billing and the listing along and hands them back; the input is cheap to rebuild.
    let (meta_owned, server_owned) = (meta.clone(), server.clone());
    let (billing, listing, analysis) = crate::blocking("the analysis", move || {
        let analysis = analyse(&billing.input(&meta_owned, &server_owned, &listing));
        (billing, listing, analysis)
    })
    .await?;
    let input = billing.input(meta, server, &listing);
    let mut plan = plan::select(&analysis, &input, &req.selection);
    let run_events = if plan.refused.is_empty() {
        Vec::new()
    } else {
        app.store.audit_events(None, Some(run.id), None, 0).await?
    };
    let refused: Vec<ItemResult> = plan
        .refused
        .drain(..)
        .map(|r| ItemResult {
            action: r.action,
            service_id: None,
            service_domain: None,
            outcome: ItemOutcome::Refused,
            notes: vec![
                already_applied(&run_events, &analysis, &input, &r, run.id).unwrap_or(r.reason)
            ],
            target: r.target,
            changes: Vec::new(),
            client: None,
            product: None,
        })
        .collect();
    let mut violations =
        plan::termination_guard_violations(&analysis, listing.accounts.len(), &plan, &app.guards);
    // A listing that shrank at once (1000 → 10) is a broken panel, not customers leaving: no
    // termination from it unless forced (issue 11).
    if plan.count(Action::Terminate) > 0 && run.listing_status == ListingStatus::Complete {
        let shrink = stoppable(
            lease,
            cancel,
            server,
            app.listing_shrink(server.id, listing.accounts.len(), Some(run.id)),
        )
        .await?;
        violations.extend(shrink.map(|s| s.describe(app.guards.max_shrink_share)));
    }
    let block_terminations = !violations.is_empty() && !req.force;
    if !violations.is_empty() && req.force {
        forced.extend(violations.iter().cloned());
    }
    let move_violation = plan::move_guard_violation(&analysis, &plan, &app.guards);
    let block_moves = move_violation.is_some() && !req.force;
    if req.force {
        forced.extend(move_violation.iter().cloned());
    }
    let still_listed = stoppable(
        lease,
        cancel,
        server,
        still_listed(app, &analysis, &input, &plan, &meta.unique_identifier_field),
    )
    .await?;
    let product_names: HashMap<i64, String> = billing
        .products
        .iter()
        .map(|p| (p.id, p.name.clone()))
        .collect();
    // Read with the billing records (one servers read per apply).
    let server_names = &billing.server_names;
    let module_products: Vec<Product> = billing
        .products
        .iter()
        .filter(|p| p.module == server.module)
        .cloned()
        .collect();
    let ctx = Ctx {
        app,
        req,
        server,
        run_id: run.id,
        meta,
        input: &input,
        analysis: &analysis,
        plan: &plan,
        versions: run.service_versions.iter().copied().collect(),
        today: OffsetDateTime::now_utc().date(),
        clients: ClientIndex::new(&billing.clients),
        module_products: &module_products,
        violations: &violations,
        block_terminations,
        move_violation: move_violation.as_deref(),
        block_moves,
        still_listed: &still_listed,
        product_names: &product_names,
        server_names,
        forced: &forced,
        misses: &misses,
    };

    // Imports whose key a live service took meanwhile, with the reason (by plan action).
    let mut excluded: HashMap<usize, String> = HashMap::new();
    let mut built = ctx.build(&excluded);
    // Whether the change set (with the refusals' events) was written.
    let mut written = false;
    if !req.dry_run && !built.cs.ops.is_empty() {
        if cancel.is_cancelled() {
            return Err(AppError::Interrupted(format!(
                "interrupted before anything was written: the apply of server {} was cancelled",
                server.name
            )));
        }
        // The point of no return: from here the apply runs to its end, cancelled or not.
        let mut rounds = 0;
        loop {
            built.cs.mark_run_applied = Some(run.id);
            built.cs.under_lock = lease.map(Lease::held);
            built.cs.identifier_fields = IdentifierFields::from([(
                server.module.clone(),
                meta.unique_identifier_field.clone(),
            )]);
            // The refusals are recorded in the same transaction as the changes.
            built.cs.audit.extend(
                refusal_events(&ctx, &built.results)?
                    .into_iter()
                    .map(|e| (None, e)),
            );
            match app.store.apply(&built.cs).await {
                Ok(applied) => {
                    written = true;
                    for (op, ri) in &built.op_result {
                        if let Some(Some(id)) = applied.created_ids.get(*op) {
                            built.results[*ri].service_id = Some(*id);
                        }
                    }
                    break;
                }
                Err(StoreError::IdentifierTaken(clashes)) if rounds < CLASH_ROUNDS => {
                    rounds += 1;
                    for c in clashes {
                        if let Some(&a) = built.op_action.get(&c.op) {
                            excluded.insert(
                                a,
                                format!(
                                    "a live service (id {}) with the unique identifier {:?} was \
                                     added to this server since run {} was analysed: analyse again",
                                    c.service_id, c.key, run.id
                                ),
                            );
                        }
                    }
                    built = ctx.build(&excluded);
                    if built.cs.ops.is_empty() {
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if !req.dry_run && !written {
        // Nothing else was written: an error recording them is the apply's whole outcome.
        for e in refusal_events(&ctx, &built.results)? {
            app.store.append_audit(&e).await?;
        }
    }
    let mut results = refused;
    results.extend(built.results);
    Ok(ApplyReport {
        run_id: run.id,
        server: server.name.clone(),
        dry_run: req.dry_run,
        forced,
        results,
    })
}

/// Everything a change set is built from.
struct Ctx<'a> {
    app: &'a App,
    req: &'a ApplyRequest,
    server: &'a Server,
    run_id: RunId,
    meta: &'a MetaData,
    input: &'a AnalysisInput<'a>,
    analysis: &'a Analysis,
    plan: &'a Plan,
    /// Version of each service at analysis time.
    versions: HashMap<ServiceId, i64>,
    today: Date,
    clients: ClientIndex<'a>,
    module_products: &'a [Product],
    violations: &'a [String],
    block_terminations: bool,
    move_violation: Option<&'a str>,
    block_moves: bool,
    /// Moves refused because the account is still listed on the service's current server.
    still_listed: &'a HashMap<ServiceId, String>,
    product_names: &'a HashMap<i64, String>,
    server_names: &'a HashMap<ServerId, String>,
    forced: &'a [String],
    /// The stored miss counts of the server's services (shown on terminations).
    misses: &'a HashMap<ServiceId, serversync_core::misses::MissCount>,
}

/// A change set and the results it gives, per planned action.
struct Built {
    cs: ChangeSet,
    results: Vec<ItemResult>,
    /// (op creating a service, index in `results`), to report created ids.
    op_result: Vec<(usize, usize)>,
    /// Op creating a service → its plan action.
    op_action: HashMap<usize, usize>,
}

impl Ctx<'_> {
    /// The change set of every planned action, those in `excluded` refused with their reason.
    fn build(&self, excluded: &HashMap<usize, String>) -> Built {
        let (req, server, meta, input) = (self.req, self.server, self.meta, self.input);
        let field = &meta.unique_identifier_field;
        let mut b = Built {
            cs: ChangeSet::default(),
            results: Vec::new(),
            op_result: Vec::new(),
            op_action: HashMap::new(),
        };
        let mut new_client_op: HashMap<String, usize> = HashMap::new();
        let mut new_product_op: HashMap<String, usize> = HashMap::new();
        for (ai, p) in self.plan.actions.iter().enumerate() {
            let item = &self.analysis.items[p.item];
            let remote = item.remote_account(input);
            let rec = item.billing_record(input);
            let target = match p.action {
                Action::Import | Action::Sync | Action::Reactivate => remote
                    .map(|r| r.unique_identifier.clone())
                    .unwrap_or_default(),
                _ => rec.map(|r| r.service.id.to_string()).unwrap_or_default(),
            };
            let mut result = ItemResult {
                action: p.action,
                target,
                service_id: rec.map(|r| r.service.id),
                service_domain: rec
                    .map(|r| r.service.domain.clone())
                    .filter(|d| !d.is_empty()),
                outcome: if req.dry_run {
                    ItemOutcome::WouldApply
                } else {
                    ItemOutcome::Applied
                },
                notes: Vec::new(),
                changes: Vec::new(),
                client: None,
                product: None,
            };
            let refuse = |mut r: ItemResult, why: String| {
                r.outcome = ItemOutcome::Refused;
                r.notes = vec![why];
                r
            };
            if let Some(why) = excluded.get(&ai) {
                b.results.push(refuse(result, why.clone()));
                continue;
            }
            if let Some(rec) = rec {
                let id = rec.service.id;
                match self.versions.get(&id) {
                    Some(v) if *v == rec.service.version => {}
                    _ => {
                        b.results.push(refuse(
                            result,
                            format!(
                                "service {id} changed since run {} was analysed: analyse again",
                                self.run_id
                            ),
                        ));
                        continue;
                    }
                }
            }
            // A manual apply may terminate after one listing (as WHMCS's tool does); the
            // review says how many listings missed the account.
            let missed = (p.action == Action::Terminate)
                .then(|| rec.and_then(|r| self.misses.get(&r.service.id)))
                .flatten()
                .map(|m| m.describe());
            if p.action == Action::Terminate && self.block_terminations {
                let mut r = refuse(
                    result,
                    format!(
                        "blocked: {} (override the guards to go ahead)",
                        self.violations.join("; ")
                    ),
                );
                r.notes.extend(missed);
                b.results.push(r);
                continue;
            }
            if p.action == Action::Move {
                if let Some(why) = rec.and_then(|r| self.still_listed.get(&r.service.id)) {
                    b.results.push(refuse(result, why.clone()));
                    continue;
                }
                if let (true, Some(v)) = (self.block_moves, self.move_violation) {
                    b.results.push(refuse(
                        result,
                        format!("blocked: {v} (use --force to override)"),
                    ));
                    continue;
                }
            }
            match p.action {
                Action::Import => {
                    let Some(remote) = remote else { continue };
                    // Decide the client and the product first and write ops only for an item that
                    // will be imported: a refused item leaves nothing behind.
                    let client = match remote.email.as_deref() {
                        Some(email) => match self.clients.lookup(email) {
                            [one] => Pick::Existing(one.id),
                            [] => Pick::New(email.trim().to_string()),
                            several => {
                                let ids: Vec<_> = several.iter().map(|c| c.id).collect();
                                b.results.push(refuse(
                                    result,
                                    format!(
                                        "{} clients have the e-mail {email} (ids {ids:?}): resolve the ambiguity first",
                                        ids.len()
                                    ),
                                ));
                                continue;
                            }
                        },
                        None => match req.defaults.unassigned_client {
                            Some(id) => {
                                result
                                    .notes
                                    .push(format!("no usable e-mail: assigned to client {id}"));
                                Pick::Existing(id)
                            }
                            None => {
                                b.results.push(refuse(
                                    result,
                                    "the account has no usable e-mail (placeholder, empty or invalid): choose a client for accounts without e-mail".into(),
                                ));
                                continue;
                            }
                        },
                    };
                    let product = match plan::product_for(
                        self.module_products,
                        &meta.product_field,
                        remote,
                    ) {
                        ProductMatch::One(p) => Pick::Existing(p.id),
                        ProductMatch::None
                            if req.defaults.create_missing_products
                                && !remote.product.trim().is_empty() =>
                        {
                            Pick::New(remote.product.trim().to_string())
                        }
                        ProductMatch::None => {
                            b.results.push(refuse(
                                result,
                                format!(
                                    "no product for package {:?}: map a product's {} to it, or create missing products (--create-missing-products)",
                                    remote.product, meta.product_field
                                ),
                            ));
                            continue;
                        }
                        ProductMatch::Several(ids) => {
                            b.results.push(refuse(
                                result,
                                format!(
                                    "{} products map to package {:?} (ids {ids:?})",
                                    ids.len(),
                                    remote.product
                                ),
                            ));
                            continue;
                        }
                    };
                    result.client = Some(match &client {
                        Pick::Existing(id) => Chosen {
                            id: Some(*id),
                            name: self.client_email(*id),
                            created: false,
                        },
                        Pick::New(email) => Chosen {
                            id: None,
                            name: email.clone(),
                            created: true,
                        },
                    });
                    result.product = Some(match &product {
                        Pick::Existing(id) => Chosen {
                            id: Some(*id),
                            name: self.product_name(*id),
                            created: false,
                        },
                        Pick::New(pkg) => Chosen {
                            id: None,
                            name: pkg.clone(),
                            created: true,
                        },
                    });
                    let client = match client {
                        Pick::Existing(id) => ClientRef::Existing(id),
                        Pick::New(email) => {
                            let key = email.to_lowercase();
                            let idx = match new_client_op.get(&key) {
                                Some(i) => {
                                    result.notes.push(format!("to the new client {email}"));
                                    *i
                                }
                                None => {
                                    b.cs.ops.push(Op::CreateClient(Client {
                                        id: 0,
                                        email: email.clone(),
                                        first_name: String::new(),
                                        last_name: String::new(),
                                        company: String::new(),
                                        status: "Active".into(),
                                    }));
                                    let i = b.cs.ops.len() - 1;
                                    b.cs.audit.push((
                                        Some(i),
                                        NewAuditEvent {
                                            after: Some(json!({"email": email}).to_string()),
                                            ..self.event("create_client")
                                        },
                                    ));
                                    new_client_op.insert(key, i);
                                    result.notes.push(format!("creates client {email}"));
                                    i
                                }
                            };
                            ClientRef::CreatedBy(idx)
                        }
                    };
                    let (product_id, product_created_by) = match product {
                        Pick::Existing(id) => (id, None),
                        Pick::New(pkg) => {
                            let key = pkg.to_lowercase();
                            let idx = match new_product_op.get(&key) {
                                Some(i) => {
                                    result.notes.push(format!("with the new product {pkg}"));
                                    *i
                                }
                                None => {
                                    b.cs.ops.push(Op::CreateProduct(
                                        serversync_core::model::Product {
                                            id: 0,
                                            name: pkg.clone(),
                                            module: server.module.clone(),
                                            config_options: [(
                                                meta.product_field.clone(),
                                                pkg.clone(),
                                            )]
                                            .into(),
                                        },
                                    ));
                                    let i = b.cs.ops.len() - 1;
                                    b.cs.audit.push((
                                        Some(i),
                                        NewAuditEvent {
                                            after: Some(
                                                json!({"name": pkg, "module": server.module})
                                                    .to_string(),
                                            ),
                                            ..self.event("create_product")
                                        },
                                    ));
                                    new_product_op.insert(key, i);
                                    result.notes.push(format!("creates product {pkg}"));
                                    i
                                }
                            };
                            (0, Some(idx))
                        }
                    };
                    let (mut service, warning) =
                        plan::imported_service(remote, server, field, &req.defaults, self.today);
                    service.product_id = product_id;
                    result.notes.extend(warning);
                    let new_product = result
                        .product
                        .as_ref()
                        .filter(|p| p.created)
                        .map(|p| p.name.clone());
                    result.changes = service_changes(
                        None,
                        &service,
                        self.uid_custom_field(),
                        &|id| match (&new_product, id) {
                            (Some(name), 0) => name.clone(),
                            _ => self.product_name(id),
                        },
                        &|id| self.server_name(id),
                    );
                    let after = import_after_json(&service, &client, product_created_by.is_some());
                    b.cs.ops.push(Op::CreateService {
                        client,
                        product_created_by,
                        service: service.clone(),
                    });
                    let i = b.cs.ops.len() - 1;
                    b.cs.audit.push((
                        Some(i),
                        NewAuditEvent {
                            after: Some(after),
                            ..self.event("import")
                        },
                    ));
                    b.op_result.push((i, b.results.len()));
                    b.op_action.insert(i, ai);
                }
                Action::Sync | Action::Reactivate => {
                    let (Some(remote), Some(rec)) = (remote, rec) else {
                        continue;
                    };
                    let product = match plan::product_for(
                        self.module_products,
                        &meta.product_field,
                        remote,
                    ) {
                        ProductMatch::One(p) => Ok(p),
                        ProductMatch::None => {
                            Err(format!("no product for package {:?}", remote.product))
                        }
                        ProductMatch::Several(ids) => Err(format!(
                            "{} products map to package {:?}",
                            ids.len(),
                            remote.product
                        )),
                    };
                    let (after, notes) =
                        plan::synced_service(item, &rec.service, remote, server, field, product);
                    result.notes.extend(notes);
                    if after == rec.service {
                        result.notes.push("nothing to write".into());
                    } else {
                        result.changes = self.changes(&rec.service, &after);
                        push_update(
                            &mut b.cs,
                            &self.event(p.action.as_str()),
                            &rec.service,
                            after,
                        );
                    }
                    if item.category == Category::TerminatedInBilling {
                        result.notes.push("reactivated".into());
                    }
                }
                Action::Terminate => {
                    let Some(rec) = rec else { continue };
                    result.notes.extend(missed);
                    let after = plan::terminated_service(&rec.service, self.today);
                    result.changes = self.changes(&rec.service, &after);
                    push_update(&mut b.cs, &self.event("terminate"), &rec.service, after);
                }
                Action::Move => {
                    let Some(rec) = rec else { continue };
                    let after = plan::moved_service(&rec.service, server);
                    result.changes = self.changes(&rec.service, &after);
                    push_update(&mut b.cs, &self.event("move"), &rec.service, after);
                    // Named with its id: names can change, ids are what the audit log keeps.
                    result.notes.push(match rec.service.server_id {
                        Some(from) => format!("moved from {}", self.server_label(from)),
                        None => "moved from no server".into(),
                    });
                }
            }
            b.results.push(result);
        }
        if !self.forced.is_empty() && !b.cs.ops.is_empty() {
            b.cs.audit.push((
                None,
                NewAuditEvent {
                    note: Some(self.forced.join("; ")),
                    ..self.event("force")
                },
            ));
        }
        b
    }
}
