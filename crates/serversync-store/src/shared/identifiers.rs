//! Shared by both backends: the unique-identifier re-checks of writes that create live services (issue 6 kind 5): an
//! apply's import and a records import both check, inside their write transaction, that no
//! other live service of the server has the new service's key, normalised exactly as the
//! analysis does (serversync-core `identifier_key`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serversync_core::analysis::identifier_key;
use serversync_core::model::{ServerId, Service, ServiceId};
use serversync_core::module::UniqueIdField;
use serversync_core::normalize::strip_www;

use super::{json_doc, json_rows, query_scalar, DbConn};

use crate::error::DbResult;
use crate::{ChangeSet, IdentifierClash, IdentifierFields, Op, Result, StoreError};

/// The raw unique identifier of a service for `field`.
fn raw_identifier<'s>(
    field: &UniqueIdField,
    domain: &'s str,
    username: &'s str,
    custom: &'s std::collections::BTreeMap<String, String>,
) -> &'s str {
    match field {
        UniqueIdField::Domain => domain,
        UniqueIdField::Username => username,
        UniqueIdField::CustomField(name) => custom.get(name).map_or("", String::as_str),
    }
}

fn key_of(field: &UniqueIdField, s: &Service) -> Option<String> {
    identifier_key(
        field,
        raw_identifier(field, &s.domain, &s.username, &s.custom_fields),
    )
}

/// Where a service's identifier lives in a records document, for error paths.
fn field_path(field: &UniqueIdField) -> String {
    match field {
        UniqueIdField::Domain => "domain".into(),
        UniqueIdField::Username => "username".into(),
        UniqueIdField::CustomField(name) => format!("custom_fields.{name}"),
    }
}

/// Keys of the live services of `server_id` (read in the caller's transaction), each with
/// the lowest service id that has it; for domains also the `www.`-less form of a billing
/// `www.` domain (the analysis' fallback match), after the exact keys.
async fn live_keys(
    conn: &mut DbConn,
    server_id: ServerId,
    field: &UniqueIdField,
) -> Result<HashMap<String, ServiceId>> {
    // One JSON array row (see `json_rows`).
    let text: Option<String> = query_scalar(&json_rows(
        &format!(
            "s.id, s.domain, s.username, {}",
            json_doc("s.custom_fields")
        ),
        "SELECT id, domain, username, custom_fields FROM services WHERE server_id = ? \
         AND status IN ('Pending', 'Active', 'Suspended') ORDER BY id",
    ))
    .bind(server_id)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    let rows: Vec<(i64, String, String, BTreeMap<String, String>)> =
        serde_json::from_str(text.as_deref().unwrap_or("[]")).map_err(|e| {
            StoreError::Corrupt(format!("services of server {server_id}: unreadable: {e}"))
        })?;
    let mut keys: HashMap<String, ServiceId> = HashMap::with_capacity(rows.len().min(1 << 20));
    let mut www = Vec::new();
    for (id, domain, username, custom) in rows {
        let Some(k) = identifier_key(field, raw_identifier(field, &domain, &username, &custom))
        else {
            continue;
        };
        if *field == UniqueIdField::Domain {
            if let Some(stripped) = strip_www(&k) {
                www.push((stripped.to_string(), id));
            }
        }
        let e = keys.entry(k).or_insert(id);
        *e = (*e).min(id);
    }
    for (k, id) in www {
        keys.entry(k).or_insert(id);
    }
    Ok(keys)
}

/// Refuses a change set whose `CreateService` ops would add a live service under a key a live
/// service of the same server already has ([`ChangeSet::identifier_fields`]). Runs inside the
/// apply's write transaction, before anything is written.
pub(super) async fn check_creates(conn: &mut DbConn, cs: &ChangeSet) -> Result<()> {
    if cs.identifier_fields.is_empty() {
        return Ok(());
    }
    let creates: Vec<(usize, ServerId, &Service)> = cs
        .ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::CreateService { service, .. } if service.status.is_live() => {
                service.server_id.map(|s| (i, s, service))
            }
            _ => None,
        })
        .collect();
    let mut servers: Vec<ServerId> = creates.iter().map(|(_, s, _)| *s).collect();
    servers.sort_unstable();
    servers.dedup();
    let mut clashes = Vec::new();
    for server_id in servers {
        let module: Option<String> = query_scalar("SELECT module FROM servers WHERE id = ?")
            .bind(server_id)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
        let Some(field) = module.and_then(|m| cs.identifier_fields.get(&m)) else {
            continue;
        };
        let keys = live_keys(conn, server_id, field).await?;
        for (op, _, service) in creates.iter().filter(|(_, s, _)| *s == server_id) {
            if let Some(key) = key_of(field, service) {
                if let Some(&service_id) = keys.get(&key) {
                    clashes.push(IdentifierClash {
                        op: *op,
                        key,
                        service_id,
                    });
                }
            }
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        clashes.sort_by_key(|c| c.op);
        Err(StoreError::IdentifierTaken(clashes))
    }
}

/// The records-import check: a service the document writes (`written`, by document index)
/// that is live must not share its key with a stored live service of its server that the
/// document does not contain. `stored` are the stored services, `doc_ids` the document's
/// service ids, `modules` every server's module after the import.
pub(super) fn check_import(
    doc: &[Service],
    written: &[usize],
    stored: &HashMap<ServiceId, Service>,
    doc_ids: &HashSet<ServiceId>,
    modules: &HashMap<ServerId, String>,
    fields: &IdentifierFields,
) -> Result<()> {
    let field_of = |server_id: ServerId| modules.get(&server_id).and_then(|m| fields.get(m));
    let servers: HashSet<ServerId> = written
        .iter()
        .filter_map(|&i| doc.get(i))
        .filter(|s| s.status.is_live())
        .filter_map(|s| s.server_id)
        .filter(|id| field_of(*id).is_some())
        .collect();
    if servers.is_empty() {
        return Ok(());
    }
    // Keys of the stored live services outside the document, per server.
    let mut outside: HashMap<(ServerId, String), ServiceId> = HashMap::new();
    for s in stored.values() {
        let Some(server_id) = s.server_id.filter(|id| servers.contains(id)) else {
            continue;
        };
        if !s.status.is_live() || doc_ids.contains(&s.id) {
            continue;
        }
        if let Some(key) = field_of(server_id).and_then(|f| key_of(f, s)) {
            let e = outside.entry((server_id, key)).or_insert(s.id);
            *e = (*e).min(s.id);
        }
    }
    for &i in written {
        let Some(s) = doc.get(i).filter(|s| s.status.is_live()) else {
            continue;
        };
        let Some((server_id, field)) = s.server_id.and_then(|id| field_of(id).map(|f| (id, f)))
        else {
            continue;
        };
        let Some(key) = key_of(field, s) else {
            continue;
        };
        if let Some(other) = outside.get(&(server_id, key.clone())) {
            return Err(StoreError::Invalid(format!(
                "services[{i}].{}: server {server_id} already has live service {other} with \
                 the unique identifier {key:?}, which this document does not contain \
                 (imported meanwhile?): include that service in the document or leave this \
                 one out",
                field_path(field)
            )));
        }
    }
    Ok(())
}
