//! Building an apply's change set (DESIGN.md §4): per planned action its store operations,
//! audit events and result line, each refused action with its reason.

use std::collections::HashMap;

use serde_json::json;
use serversync_core::analysis::{Action, Analysis, AnalysisInput, Category};
use serversync_core::changes::service_changes;
use serversync_core::model::{Client, Product, RunId, Server, ServerId, ServiceId};
use serversync_core::module::MetaData;
use serversync_core::plan::{self, ClientIndex, Plan, ProductMatch};
use serversync_store::{ChangeSet, ClientRef, NewAuditEvent, Op};
use time::Date;

use super::helpers::{import_after_json, push_update, Pick};
use super::{ApplyRequest, Chosen, ItemOutcome, ItemResult};
use crate::App;

/// Everything a change set is built from.
pub(super) struct Ctx<'a> {
    pub(super) app: &'a App,
    pub(super) req: &'a ApplyRequest,
    pub(super) server: &'a Server,
    pub(super) run_id: RunId,
    pub(super) meta: &'a MetaData,
    pub(super) input: &'a AnalysisInput<'a>,
    pub(super) analysis: &'a Analysis,
    pub(super) plan: &'a Plan,
    /// Version of each service at analysis time.
    pub(super) versions: HashMap<ServiceId, i64>,
    pub(super) today: Date,
    pub(super) clients: ClientIndex<'a>,
    pub(super) module_products: &'a [Product],
    pub(super) violations: &'a [String],
    pub(super) block_terminations: bool,
    pub(super) move_violation: Option<&'a str>,
    pub(super) block_moves: bool,
    /// Moves refused because the account is still listed on the service's current server.
    pub(super) still_listed: &'a HashMap<ServiceId, String>,
    pub(super) product_names: &'a HashMap<i64, String>,
    pub(super) server_names: &'a HashMap<ServerId, String>,
    pub(super) forced: &'a [String],
    /// The stored miss counts of the server's services (shown on terminations).
    pub(super) misses: &'a HashMap<ServiceId, serversync_core::misses::MissCount>,
}

/// A change set and the results it gives, per planned action.
pub(super) struct Built {
    pub(super) cs: ChangeSet,
    pub(super) results: Vec<ItemResult>,
    /// (op creating a service, index in `results`), to report created ids.
    pub(super) op_result: Vec<(usize, usize)>,
    /// Op creating a service → its plan action.
    pub(super) op_action: HashMap<usize, usize>,
}

impl Ctx<'_> {
    /// The change set of every planned action, those in `excluded` refused with their reason.
    pub(super) fn build(&self, excluded: &HashMap<usize, String>) -> Built {
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
