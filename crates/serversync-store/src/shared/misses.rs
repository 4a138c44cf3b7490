//! Shared by both backends: the miss counter's statements ([`crate::misses`]). Written inside
//! the run's transaction ([`record`]), read per server.

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};

use super::bulk::insert_rows_then;
use super::rows::V;
use super::{query, query_as, BackendStore, DbConn};
use crate::error::DbResult;
use crate::misses::{Misses, ServiceMisses};
use crate::{ListingStatus, NewRun, Result, StoreError};

/// Inside the transaction that stored `run` as `run_id`: after a complete listing with an
/// update, its missing services count one more and the server's other services are reset;
/// anything else (a failed or incomplete listing, no update) writes nothing.
pub(super) async fn record(conn: &mut DbConn, run: &NewRun, run_id: RunId) -> Result<()> {
    let Some(update) = &run.misses else {
        return Ok(());
    };
    if run.listing_status != ListingStatus::Complete {
        return Ok(());
    }
    // One statement per batch of the missed services: a service already counted on this
    // server counts one more; one counted on its previous server (before a move) keeps one
    // row, this server's, starting at 1. Sorted and unique: one statement may not touch a
    // row twice (PostgreSQL refuses it).
    let mut missing = update.missing.clone();
    missing.sort_unstable();
    missing.dedup();
    let rows = missing
        .into_iter()
        .map(|id| vec![V::I(id), V::I(run.server_id), V::I(1), V::I(run_id)])
        .collect();
    insert_rows_then(
        conn,
        "service_misses",
        &["service_id", "server_id", "misses", "last_run_id"],
        Some(
            " ON CONFLICT (service_id) DO UPDATE SET misses = CASE \
             WHEN service_misses.server_id = excluded.server_id \
             THEN service_misses.misses + 1 ELSE 1 END, \
             server_id = excluded.server_id, last_run_id = excluded.last_run_id",
        ),
        rows,
    )
    .await?;
    // Every other service of the server is back at 0: no row. Run ids are never reused
    // (AUTOINCREMENT, identities), so only the rows just written carry this one.
    query("DELETE FROM service_misses WHERE server_id = ? AND last_run_id <> ?")
        .bind(run.server_id)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

#[async_trait]
impl Misses for BackendStore {
    async fn service_misses(&self, server_id: ServerId) -> Result<Vec<ServiceMisses>> {
        let rows: Vec<(i64, i64, i64)> = query_as(
            "SELECT m.service_id, m.misses, m.last_run_id FROM service_misses m \
             JOIN services s ON s.id = m.service_id \
             WHERE m.server_id = ? AND s.server_id = ? \
             AND s.status IN ('Pending', 'Active', 'Suspended') ORDER BY m.service_id",
        )
        .bind(server_id)
        .bind(server_id)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.into_iter()
            .map(|(service_id, misses, last_run_id)| {
                Ok(ServiceMisses {
                    service_id,
                    misses: u32::try_from(misses).map_err(|_| {
                        StoreError::Corrupt(format!(
                            "service_misses.misses of service {service_id}: {misses} is out of range"
                        ))
                    })?,
                    last_run_id,
                })
            })
            .collect()
    }
}
