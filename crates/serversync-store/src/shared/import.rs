//! Shared by both backends: a records document's import (whole, in the caller's write
//! transaction), keeping the document's ids.

use std::collections::{HashMap, HashSet};

use serversync_core::model::{Client, Product, Server, ServerId, Service, ServiceId};

use super::bulk::insert_rows;
use super::identifiers;
use super::rows::{
    client_from_row, client_values, product_from_row, product_values, server_from_row,
    server_values, service_from_row, service_values, CLIENT_COLS, CLIENT_SELECT, PRODUCT_COLS,
    PRODUCT_SELECT, SERVER_COLS, SERVER_SELECT, SERVICE_COLS, SERVICE_SELECT,
};
use super::{identity_past_ids, query, DbConn};
use crate::error::DbResult;
use crate::secrets::SecretKey;
use crate::{IdentifierFields, ImportCounts, Records, Result, StoreError};

pub(super) fn check_unique_ids(section: &str, ids: impl Iterator<Item = i64>) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            return Err(StoreError::Invalid(format!(
                "{section}[{i}].id: duplicate id {id}"
            )));
        }
    }
    Ok(())
}

/// Splits document rows into unchanged ones (counted) and rows to write (counted as inserted
/// or updated).
fn rows_to_write<T: PartialEq>(
    doc: impl Iterator<Item = (i64, T)>,
    stored: &HashMap<i64, T>,
    counts: &mut ImportCounts,
) -> Vec<T> {
    let mut out = Vec::new();
    for (id, row) in doc {
        match stored.get(&id) {
            Some(s) if *s == row => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                out.push(row);
            }
            None => {
                counts.inserted += 1;
                out.push(row);
            }
        }
    }
    out
}

pub(super) async fn import_in(
    conn: &mut DbConn,
    r: &Records,
    identifiers: &IdentifierFields,
    key: &SecretKey,
) -> Result<ImportCounts> {
    let mut counts = ImportCounts::default();

    // Clients.
    let stored: HashMap<i64, Client> = query(CLIENT_SELECT)
        .fetch_all(&mut *conn)
        .await
        .db()?
        .iter()
        .map(|row| client_from_row(row).map(|c| (c.id, c)))
        .collect::<Result<_>>()?;
    let mut client_ids: HashSet<i64> = stored.keys().copied().collect();
    client_ids.extend(r.clients.iter().map(|c| c.id));
    let write = rows_to_write(
        r.clients.iter().map(|c| (c.id, c.clone())),
        &stored,
        &mut counts,
    );
    drop(stored);
    let rows = write.iter().map(|c| client_values(c, c.id)).collect();
    insert_rows(conn, "clients", CLIENT_COLS, true, rows).await?;
    identity_past_ids(conn, "clients").await?;

    // Products.
    let stored: HashMap<i64, Product> = query(PRODUCT_SELECT)
        .fetch_all(&mut *conn)
        .await
        .db()?
        .iter()
        .map(|row| product_from_row(row).map(|p| (p.id, p)))
        .collect::<Result<_>>()?;
    let mut product_ids: HashSet<i64> = stored.keys().copied().collect();
    product_ids.extend(r.products.iter().map(|p| p.id));
    let write = rows_to_write(
        r.products.iter().map(|p| (p.id, p.clone())),
        &stored,
        &mut counts,
    );
    drop(stored);
    let rows = write
        .iter()
        .map(|p| product_values(p, p.id))
        .collect::<Result<_>>()?;
    insert_rows(conn, "products", PRODUCT_COLS, true, rows).await?;
    identity_past_ids(conn, "products").await?;

    // Servers: empty secrets keep the stored ones; names stay unique.
    let stored: HashMap<i64, Server> = query(SERVER_SELECT)
        .fetch_all(&mut *conn)
        .await
        .db()?
        .iter()
        .map(|row| server_from_row(row, key).map(|s| (s.id, s)))
        .collect::<Result<_>>()?;
    let doc_ids: HashSet<i64> = r.servers.iter().map(|s| s.id).collect();
    // `web1` and `WEB1 ` are one name to a person: compared trimmed, ASCII case folded (as
    // SQL `lower(trim(…))` does in `save_server`).
    let fold = |n: &str| n.trim().to_ascii_lowercase();
    let mut names: HashMap<String, i64> = stored
        .values()
        .filter(|s| !doc_ids.contains(&s.id))
        .map(|s| (fold(&s.name), s.id))
        .collect();
    for (i, s) in r.servers.iter().enumerate() {
        if let Some(other) = names.insert(fold(&s.name), s.id) {
            return Err(StoreError::Invalid(format!(
                "servers[{i}].name: {:?} is already the name of server {other}",
                s.name
            )));
        }
    }
    let mut server_ids: HashSet<i64> = stored.keys().copied().collect();
    server_ids.extend(doc_ids);
    // Every server's module after this import, for the unique identifier check.
    let mut modules: HashMap<ServerId, String> =
        stored.values().map(|s| (s.id, s.module.clone())).collect();
    modules.extend(r.servers.iter().map(|s| (s.id, s.module.clone())));
    let merged = r.servers.iter().map(|s| {
        let mut s = s.clone();
        if let Some(old) = stored.get(&s.id) {
            if s.password.is_empty() {
                s.password = old.password.clone();
            }
            if s.access_hash.is_empty() {
                s.access_hash = old.access_hash.clone();
            }
        }
        (s.id, s)
    });
    let write = rows_to_write(merged, &stored, &mut counts);
    drop(stored);
    let rows = write
        .iter()
        .map(|s| server_values(s, key))
        .collect::<Result<_>>()?;
    insert_rows(conn, "servers", SERVER_COLS, true, rows).await?;
    identity_past_ids(conn, "servers").await?;

    // Services: references must exist; the version moves only on a real change.
    for (i, s) in r.services.iter().enumerate() {
        if !client_ids.contains(&s.client_id) {
            return Err(StoreError::Invalid(format!(
                "services[{i}].client_id: client {} does not exist",
                s.client_id
            )));
        }
        if !product_ids.contains(&s.product_id) {
            return Err(StoreError::Invalid(format!(
                "services[{i}].product_id: product {} does not exist",
                s.product_id
            )));
        }
        if let Some(server_id) = s.server_id {
            if !server_ids.contains(&server_id) {
                return Err(StoreError::Invalid(format!(
                    "services[{i}].server_id: server {server_id} does not exist"
                )));
            }
        }
    }
    let stored: HashMap<i64, Service> = query(SERVICE_SELECT)
        .fetch_all(&mut *conn)
        .await
        .db()?
        .iter()
        .map(|row| service_from_row(row).map(|s| (s.id, s)))
        .collect::<Result<_>>()?;
    let doc = r.services.iter().map(|s| {
        let mut s = s.clone();
        s.version = stored.get(&s.id).map_or(0, |old| old.version);
        (s.id, s)
    });
    let write = rows_to_write(doc, &stored, &mut counts);
    if !identifiers.is_empty() && !write.is_empty() {
        let index: HashMap<ServiceId, usize> = r
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let written: Vec<usize> = write
            .iter()
            .filter_map(|s| index.get(&s.id).copied())
            .collect();
        let doc_ids: HashSet<ServiceId> = index.keys().copied().collect();
        identifiers::check_import(
            &r.services,
            &written,
            &stored,
            &doc_ids,
            &modules,
            identifiers,
        )?;
    }
    drop(stored);
    let rows = write
        .iter()
        .map(|s| service_values(s, s.id, s.client_id, s.product_id, s.version + 1))
        .collect::<Result<_>>()?;
    insert_rows(conn, "services", SERVICE_COLS, true, rows).await?;
    identity_past_ids(conn, "services").await?;

    Ok(counts)
}
