//! Applying a plan (DESIGN.md §4): from the remote list stored with the run (no second
//! fetch), with a version check per touched service, the guards, and one store transaction
//! with an audit event per change.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use serversync_core::analysis::{analyse, Action, Category};
use serversync_core::model::{Client, RunId, ServiceId};
use serversync_core::module::Listing;
use serversync_core::plan::{self, ClientIndex, ImportDefaults, ProductMatch, Selection};
use serversync_store::{ChangeSet, ClientRef, ListingStatus, NewAuditEvent, Op};
use time::OffsetDateTime;

use crate::records::service_json;
use crate::{App, AppError, Result};

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

/// What happened to one selected item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    Applied,
    /// Dry run: would be applied.
    WouldApply,
    Refused,
}

/// One selected item's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    pub action: Action,
    /// The unique identifier or service id the item was selected by.
    pub target: String,
    pub service_id: Option<ServiceId>,
    pub outcome: ItemOutcome,
    /// Why it was refused, or notes on what was done (e.g. `created client 12`).
    pub notes: Vec<String>,
}

/// The result of an apply.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub run_id: RunId,
    pub server: String,
    pub dry_run: bool,
    pub forced: Vec<String>,
    pub results: Vec<ItemResult>,
}

impl ApplyReport {
    pub fn count(&self, outcome: ItemOutcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// Applies `req`. Errors (not refusals): an unknown server or run, a failed run, a run whose
/// listing was incomplete without `force`, a store failure (then nothing was written).
pub(crate) async fn apply(app: &App, req: &ApplyRequest) -> Result<ApplyReport> {
    let server = app.store.server(&req.server).await?;
    let holder = app.lock_holder();
    app.lock(&server, &holder).await?;
    let out = apply_locked(app, req, &server).await;
    let unlocked = app.store.unlock_server(server.id, &holder).await;
    let out = out?;
    unlocked?;
    Ok(out)
}

async fn apply_locked(
    app: &App,
    req: &ApplyRequest,
    server: &serversync_core::model::Server,
) -> Result<ApplyReport> {
    req.defaults
        .validate()
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let run = app.run_for(server, req.run).await?;
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
                "run {} of server {} cannot be applied: its listing was incomplete ({} records skipped); use --force to apply it anyway",
                run.id,
                server.name,
                run.skipped.len()
            )))
        }
        ListingStatus::Incomplete => forced.push(format!("applied a run with an incomplete listing ({} records skipped)", run.skipped.len())),
        ListingStatus::Complete => {}
    }

    let module = app.module_for(server)?;
    let meta = module.meta();
    let billing = app.load_billing(server, &meta.product_field).await?;
    let listing = Listing {
        accounts: run.accounts.clone(),
        skipped: run.skipped.clone(),
    };
    let input = billing.input(meta, server, &listing);
    let analysis = analyse(&input);
    let mut plan = plan::select(&analysis, &input, &req.selection);
    let versions: HashMap<ServiceId, i64> = run.service_versions.iter().copied().collect();
    let today = OffsetDateTime::now_utc().date();
    let field = &meta.unique_identifier_field;

    let mut results: Vec<ItemResult> = plan
        .refused
        .drain(..)
        .map(|r| ItemResult {
            action: r.action,
            target: r.target,
            service_id: None,
            outcome: ItemOutcome::Refused,
            notes: vec![r.reason],
        })
        .collect();

    let violations =
        plan::termination_guard_violations(&analysis, listing.accounts.len(), &plan, &app.guards);
    let block_terminations = !violations.is_empty() && !req.force;
    if !violations.is_empty() && req.force {
        forced.extend(violations.iter().cloned());
    }

    if let Some(id) = req.defaults.unassigned_client {
        if !billing.clients.iter().any(|c| c.id == id) {
            return Err(AppError::Invalid(format!(
                "the client for accounts without e-mail (client {id}) does not exist"
            )));
        }
    }
    let clients_index = ClientIndex::new(&billing.clients);
    let module_products: Vec<_> = billing
        .products
        .iter()
        .filter(|p| p.module == server.module)
        .cloned()
        .collect();
    let mut cs = ChangeSet::default();
    let mut new_client_op: HashMap<String, usize> = HashMap::new();
    let mut new_product_op: HashMap<String, usize> = HashMap::new();
    // Result index for each op that creates a row, to report created ids.
    let mut op_result: Vec<(usize, usize)> = Vec::new();
    let event = |action: &str| NewAuditEvent {
        actor: app.actor.clone(),
        action: action.into(),
        server_id: Some(server.id),
        run_id: Some(run.id),
        ..Default::default()
    };

    for p in &plan.actions {
        let item = &analysis.items[p.item];
        let remote = item.remote_account(&input);
        let rec = item.billing_record(&input);
        let target = match p.action {
            Action::Import | Action::Sync => remote
                .map(|r| r.unique_identifier.clone())
                .unwrap_or_default(),
            _ => rec.map(|r| r.service.id.to_string()).unwrap_or_default(),
        };
        let mut result = ItemResult {
            action: p.action,
            target,
            service_id: rec.map(|r| r.service.id),
            outcome: if req.dry_run {
                ItemOutcome::WouldApply
            } else {
                ItemOutcome::Applied
            },
            notes: Vec::new(),
        };
        let refuse = |mut r: ItemResult, why: String| {
            r.outcome = ItemOutcome::Refused;
            r.notes = vec![why];
            r
        };
        if let Some(rec) = rec {
            let id = rec.service.id;
            match versions.get(&id) {
                Some(v) if *v == rec.service.version => {}
                _ => {
                    results.push(refuse(
                        result,
                        format!(
                            "service {id} changed since run {} was analysed: analyse again",
                            run.id
                        ),
                    ));
                    continue;
                }
            }
        }
        if p.action == Action::Terminate && block_terminations {
            results.push(refuse(
                result,
                format!(
                    "blocked: {} (use --force to override)",
                    violations.join("; ")
                ),
            ));
            continue;
        }
        match p.action {
            Action::Import => {
                let Some(remote) = remote else { continue };
                // Decide the client and the product first and write ops only for an item that
                // will be imported: a refused item leaves nothing behind.
                let client = match remote.email.as_deref() {
                    Some(email) => match clients_index.lookup(email) {
                        [one] => Pick::Existing(one.id),
                        [] => Pick::New(email.trim().to_string()),
                        several => {
                            let ids: Vec<_> = several.iter().map(|c| c.id).collect();
                            results.push(refuse(
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
                            results.push(refuse(
                                result,
                                "the account has no usable e-mail (placeholder, empty or invalid): choose a client for accounts without e-mail".into(),
                            ));
                            continue;
                        }
                    },
                };
                let product = match plan::product_for(&module_products, &meta.product_field, remote)
                {
                    ProductMatch::One(p) => Pick::Existing(p.id),
                    ProductMatch::None
                        if req.defaults.create_missing_products
                            && !remote.product.trim().is_empty() =>
                    {
                        Pick::New(remote.product.trim().to_string())
                    }
                    ProductMatch::None => {
                        results.push(refuse(
                            result,
                            format!(
                                "no product for package {:?}: map a product's {} to it, or create missing products (--create-missing-products)",
                                remote.product, meta.product_field
                            ),
                        ));
                        continue;
                    }
                    ProductMatch::Several(ids) => {
                        results.push(refuse(
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
                                cs.ops.push(Op::CreateClient(Client {
                                    id: 0,
                                    email: email.clone(),
                                    first_name: String::new(),
                                    last_name: String::new(),
                                    company: String::new(),
                                    status: "Active".into(),
                                }));
                                let i = cs.ops.len() - 1;
                                cs.audit.push((
                                    Some(i),
                                    NewAuditEvent {
                                        after: Some(json!({"email": email}).to_string()),
                                        ..event("create_client")
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
                                cs.ops
                                    .push(Op::CreateProduct(serversync_core::model::Product {
                                        id: 0,
                                        name: pkg.clone(),
                                        module: server.module.clone(),
                                        config_options: [(meta.product_field.clone(), pkg.clone())]
                                            .into(),
                                    }));
                                let i = cs.ops.len() - 1;
                                cs.audit.push((
                                    Some(i),
                                    NewAuditEvent {
                                        after: Some(
                                            json!({"name": pkg, "module": server.module})
                                                .to_string(),
                                        ),
                                        ..event("create_product")
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
                    plan::imported_service(remote, server, field, &req.defaults, today);
                service.product_id = product_id;
                result.notes.extend(warning);
                let after = import_after_json(&service, &client, product_created_by.is_some());
                cs.ops.push(Op::CreateService {
                    client,
                    product_created_by,
                    service: service.clone(),
                });
                let i = cs.ops.len() - 1;
                cs.audit.push((
                    Some(i),
                    NewAuditEvent {
                        after: Some(after),
                        ..event("import")
                    },
                ));
                op_result.push((i, results.len()));
            }
            Action::Sync => {
                let (Some(remote), Some(rec)) = (remote, rec) else {
                    continue;
                };
                let product = match plan::product_for(&module_products, &meta.product_field, remote)
                {
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
                    push_update(&mut cs, &event("sync"), &rec.service, after);
                }
                if item.category == Category::TerminatedInBilling {
                    result.notes.push("reactivated".into());
                }
            }
            Action::Terminate => {
                let Some(rec) = rec else { continue };
                push_update(
                    &mut cs,
                    &event("terminate"),
                    &rec.service,
                    plan::terminated_service(&rec.service, today),
                );
            }
            Action::Move => {
                let Some(rec) = rec else { continue };
                push_update(
                    &mut cs,
                    &event("move"),
                    &rec.service,
                    plan::moved_service(&rec.service, server),
                );
                result.notes.push(format!(
                    "moved from server {}",
                    rec.service
                        .server_id
                        .map_or("none".into(), |s| s.to_string())
                ));
            }
        }
        results.push(result);
    }

    if !forced.is_empty() && (!cs.ops.is_empty()) {
        cs.audit.push((
            None,
            NewAuditEvent {
                note: Some(forced.join("; ")),
                ..event("force")
            },
        ));
    }
    if !req.dry_run && !cs.ops.is_empty() {
        cs.mark_run_applied = Some(run.id);
        let applied = app.store.apply(&cs).await?;
        for (op, ri) in op_result {
            if let Some(Some(id)) = applied.created_ids.get(op) {
                results[ri].service_id = Some(*id);
            }
        }
    }
    Ok(ApplyReport {
        run_id: run.id,
        server: server.name.clone(),
        dry_run: req.dry_run,
        forced,
        results,
    })
}

/// The `after` of an import event: the new service without the ids the store assigns on
/// insert (the event's own `service_id` and `client_id` carry them).
fn import_after_json(
    service: &serversync_core::model::Service,
    client: &ClientRef,
    new_product: bool,
) -> String {
    let mut v = service_json(service);
    if let serde_json::Value::Object(m) = &mut v {
        m.remove("id");
        m.insert("version".into(), json!(1));
        match client {
            ClientRef::Existing(id) => {
                m.insert("client_id".into(), json!(id));
            }
            ClientRef::CreatedBy(_) => {
                m.remove("client_id");
            }
        }
        if new_product {
            m.remove("product_id");
        }
    }
    v.to_string()
}

/// A client or product an import uses: an existing one, or one it creates.
enum Pick {
    Existing(i64),
    New(String),
}

fn push_update(
    cs: &mut ChangeSet,
    ev: &NewAuditEvent,
    before: &serversync_core::model::Service,
    after: serversync_core::model::Service,
) {
    let mut ev = ev.clone();
    ev.service_id = Some(before.id);
    ev.client_id = Some(before.client_id);
    ev.before = Some(service_json(before).to_string());
    // The store bumps the version on write; the audit shows the version written.
    let mut shown = after.clone();
    shown.version = before.version + 1;
    ev.after = Some(service_json(&shown).to_string());
    cs.ops.push(Op::UpdateService {
        expected_version: before.version,
        service: after,
    });
    cs.audit.push((None, ev));
}
