//! Shared by both backends: applying a change set — every op, its audit events and the run
//! mark in the caller's write transaction, or nothing.

use std::collections::{HashMap, HashSet};

use serversync_core::model::{Client, Product, RunId, Service, ServiceId};

use super::bulk::{existing_ids, insert_returning_ids, insert_rows, service_versions};
use super::rows::{
    audit_values, client_values, fmt_ts, product_values, service_values, AUDIT_COLS, CLIENT_COLS,
    PRODUCT_COLS, SERVICE_COLS, V,
};
use super::{clock, identifiers, leases, query, query_scalar, DbConn, Ts};
use crate::error::DbResult;
use crate::{Applied, ChangeSet, ClientRef, Op, Result, StoreError};

/// A service to create, its references resolved to an existing row or an earlier op.
struct NewService<'a> {
    op: usize,
    client: Target,
    product: Target,
    service: &'a Service,
}

/// What a created service refers to: an existing row's id, or the row `ops[i]` creates.
#[derive(Clone, Copy)]
enum Target {
    Existing(i64),
    CreatedBy(usize),
}

impl Target {
    fn id(self, created: &[Option<i64>]) -> i64 {
        match self {
            Target::Existing(id) => id,
            // Checked when resolving: `ops[i]` is an earlier create, so its id is known.
            Target::CreatedBy(i) => created.get(i).copied().flatten().unwrap_or_default(),
        }
    }
}

fn invalid(msg: String) -> StoreError {
    StoreError::Invalid(msg)
}

/// `row` without its first value (the `id`, which the database assigns).
fn without_id(mut row: Vec<V>) -> Vec<V> {
    row.remove(0);
    row
}

/// Applies `cs` in the caller's write transaction (see [`crate::BillingRecords::apply`]).
/// Created rows get their ids from the database.
pub(super) async fn apply_in(conn: &mut DbConn, cs: &ChangeSet) -> Result<Applied> {
    if let Some(held) = &cs.under_lock {
        leases::check_held(conn, held).await?;
    }
    let ops = &cs.ops;
    let mut created: Vec<Option<i64>> = vec![None; ops.len()];
    // Client id of each `CreateService` / `UpdateService` op (for audit events).
    let mut service_client: Vec<Option<Target>> = vec![None; ops.len()];
    let mut new_clients: Vec<(usize, &Client)> = Vec::new();
    let mut new_products: Vec<(usize, &Product)> = Vec::new();
    let mut new_services: Vec<NewService<'_>> = Vec::new();
    let mut ref_clients: HashMap<i64, usize> = HashMap::new();
    let mut ref_products: HashMap<i64, usize> = HashMap::new();
    let mut ref_servers: HashMap<i64, usize> = HashMap::new();
    let mut updates: Vec<(usize, i64, &Service)> = Vec::new();
    // Resolve references (pure), collecting the existing rows referred to.
    for (idx, op) in ops.iter().enumerate() {
        match op {
            Op::CreateClient(c) => new_clients.push((idx, c)),
            Op::CreateProduct(p) => new_products.push((idx, p)),
            Op::CreateService {
                client,
                product_created_by,
                service,
            } => {
                let client = match client {
                    ClientRef::Existing(id) => {
                        ref_clients.entry(*id).or_insert(idx);
                        Target::Existing(*id)
                    }
                    ClientRef::CreatedBy(i) => match ops.get(*i) {
                        Some(Op::CreateClient(_)) if *i < idx => Target::CreatedBy(*i),
                        _ => {
                            return Err(invalid(format!(
                                "ops[{idx}]: client reference ops[{i}] is not a client created \
                                 earlier in this change set"
                            )))
                        }
                    },
                };
                let product = match product_created_by {
                    None => {
                        ref_products.entry(service.product_id).or_insert(idx);
                        Target::Existing(service.product_id)
                    }
                    Some(i) => match ops.get(*i) {
                        Some(Op::CreateProduct(_)) if *i < idx => Target::CreatedBy(*i),
                        _ => {
                            return Err(invalid(format!(
                                "ops[{idx}]: product reference ops[{i}] is not a product \
                                 created earlier in this change set"
                            )))
                        }
                    },
                };
                if let Some(server_id) = service.server_id {
                    ref_servers.entry(server_id).or_insert(idx);
                }
                service_client[idx] = Some(client);
                new_services.push(NewService {
                    op: idx,
                    client,
                    product,
                    service,
                });
            }
            Op::UpdateService {
                expected_version,
                service,
            } => {
                ref_clients.entry(service.client_id).or_insert(idx);
                ref_products.entry(service.product_id).or_insert(idx);
                if let Some(server_id) = service.server_id {
                    ref_servers.entry(server_id).or_insert(idx);
                }
                service_client[idx] = Some(Target::Existing(service.client_id));
                updates.push((idx, *expected_version, service));
            }
        }
    }
    if let Some((i, (op_idx, _))) = cs
        .audit
        .iter()
        .enumerate()
        .find(|(_, (op_idx, _))| op_idx.is_some_and(|o| o >= ops.len()))
    {
        return Err(invalid(format!(
            "audit[{i}]: op index {} is out of range ({} ops)",
            op_idx.unwrap_or_default(),
            ops.len()
        )));
    }

    // Referenced rows must exist (clear errors instead of a foreign key failure).
    for (table, what, refs) in [
        ("clients", "client", &ref_clients),
        ("products", "product", &ref_products),
        ("servers", "server", &ref_servers),
    ] {
        let ids: HashSet<i64> = refs.keys().copied().collect();
        let found = existing_ids(conn, table, &ids).await?;
        if let Some((id, idx)) = refs
            .iter()
            .filter(|(id, _)| !found.contains(id))
            .min_by_key(|(_, idx)| **idx)
        {
            return Err(invalid(format!("ops[{idx}]: {what} {id} does not exist")));
        }
    }

    // Imports racing another writer: no second live service under one key.
    identifiers::check_creates(conn, cs).await?;

    // Optimistic checks, in op order (a second update of one service sees the first).
    let ids: HashSet<i64> = updates.iter().map(|(_, _, s)| s.id).collect();
    let mut versions = service_versions(conn, &ids).await?;
    for (_, expected, s) in &updates {
        match versions.get_mut(&s.id) {
            None => return Err(StoreError::NotFound(format!("service {}", s.id))),
            Some(found) if *found != *expected => {
                return Err(StoreError::VersionConflict {
                    service_id: s.id,
                    expected: *expected,
                    found: *found,
                })
            }
            Some(found) => *found += 1,
        }
    }

    // Writes: created rows first, each table's ids from the database before the rows that
    // refer to them.
    let rows = new_clients
        .iter()
        .map(|(_, c)| without_id(client_values(c, 0)))
        .collect();
    let ids = insert_returning_ids(conn, "clients", &CLIENT_COLS[1..], rows).await?;
    for ((op, _), id) in new_clients.iter().zip(ids) {
        created[*op] = Some(id);
    }
    let rows = new_products
        .iter()
        .map(|(_, p)| product_values(p, 0).map(without_id))
        .collect::<Result<_>>()?;
    let ids = insert_returning_ids(conn, "products", &PRODUCT_COLS[1..], rows).await?;
    for ((op, _), id) in new_products.iter().zip(ids) {
        created[*op] = Some(id);
    }
    let rows = new_services
        .iter()
        .map(|n| {
            let client_id = n.client.id(&created);
            let product_id = n.product.id(&created);
            service_values(n.service, 0, client_id, product_id, 1).map(without_id)
        })
        .collect::<Result<_>>()?;
    let ids = insert_returning_ids(conn, "services", &SERVICE_COLS[1..], rows).await?;
    for (n, id) in new_services.iter().zip(ids) {
        created[n.op] = Some(id);
    }
    // Every updated service exists and has been checked (this transaction holds the write
    // lock), so the updates are one multi-row upsert; a service updated twice in this set is
    // written once, with its last values and final version.
    let last: HashMap<ServiceId, usize> = updates
        .iter()
        .enumerate()
        .map(|(n, (_, _, s))| (s.id, n))
        .collect();
    let mut rows = Vec::with_capacity(last.len());
    for (n, (_, _, s)) in updates.iter().enumerate() {
        if last.get(&s.id) == Some(&n) {
            let version = versions.get(&s.id).copied().unwrap_or_default();
            rows.push(service_values(s, s.id, s.client_id, s.product_id, version)?);
        }
    }
    insert_rows(conn, "services", SERVICE_COLS, true, rows).await?;

    // The backend's clock (the database server's on PostgreSQL), as for audit events.
    let at = fmt_ts(clock(&mut *conn).await?)?;
    let audit_rows = cs
        .audit
        .iter()
        .map(|(op_idx, e)| {
            let mut e = e.clone();
            if let Some(i) = *op_idx {
                match &ops[i] {
                    Op::CreateClient(_) => e.client_id = created[i],
                    Op::CreateService { .. } => {
                        e.service_id = created[i];
                        e.client_id = service_client[i].map(|t| t.id(&created));
                    }
                    Op::UpdateService { service, .. } => {
                        e.service_id = e.service_id.or(Some(service.id));
                        e.client_id = e.client_id.or(service_client[i].map(|t| t.id(&created)));
                    }
                    Op::CreateProduct(_) => {}
                }
            }
            audit_values(&e, at)
        })
        .collect::<Result<_>>()?;
    insert_rows(conn, "audit_events", AUDIT_COLS, false, audit_rows).await?;

    if let Some(run_id) = cs.mark_run_applied {
        mark_applied(conn, run_id, at).await?;
    }
    Ok(Applied {
        created_ids: created,
    })
}

pub(super) async fn mark_applied(conn: &mut DbConn, run_id: RunId, at: Ts) -> Result<()> {
    let done = query("UPDATE sync_runs SET applied_at = ? WHERE id = ?")
        .bind(at)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .db()?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let applied: Option<Option<Ts>> = query_scalar("SELECT applied_at FROM sync_runs WHERE id = ?")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    match applied {
        None => Err(StoreError::NotFound(format!("run {run_id}"))),
        // The row exists but was not updated: cannot happen inside the transaction.
        Some(_) => Err(StoreError::Corrupt(format!(
            "sync_runs.id={run_id}: applied_at not updated"
        ))),
    }
}
