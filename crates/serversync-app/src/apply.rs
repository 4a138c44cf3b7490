//! Applying a plan (DESIGN.md §4): from the remote list stored with the run (no second
//! fetch), with a version check per touched service, the guards, and one store transaction
//! with an audit event per change.

use std::collections::HashMap;

use serversync_core::analysis::{analyse, Action};
use serversync_core::model::{Product, RunId, Server};
use serversync_core::module::Listing;
use serversync_core::plan::{self, ClientIndex, ImportDefaults, Selection};
use serversync_store::{IdentifierFields, ListingStatus, StoreError};
use time::OffsetDateTime;

use crate::lease::{Cancel, Lease};

mod build;
mod guards;
mod helpers;
mod report;
use crate::{App, AppError, Result};
use build::Ctx;
use guards::{already_applied, refusal_events, still_listed};
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
    let (run, (billing, clients), misses) = stoppable(lease, cancel, server, async {
        let run = app.run_for(server, req.run).await?;
        let billing = app
            .load_billing_with_clients(server, &meta.product_field)
            .await?;
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
        if !clients.iter().any(|c| c.id == id) {
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
        clients: ClientIndex::new(&clients),
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
