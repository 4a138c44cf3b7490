//! Shared by both backends: the miss counter's statements ([`crate::misses`]). Written inside
//! the run's transaction ([`record`]), read per server.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId, ServiceId};
use sqlx::QueryBuilder;

use super::bulk::insert_rows;
use super::rows::V;
use super::{query, query_as, BackendStore, Db, DbConn};
use crate::error::DbResult;
use crate::misses::{Misses, ServiceMisses};
use crate::{ListingStatus, NewRun, Result, StoreError};

/// Service ids per `DELETE … WHERE service_id IN (…)`.
const IN_CHUNK: usize = 500;

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
    let previous: HashMap<ServiceId, i64> =
        query_as::<(i64, i64)>("SELECT service_id, misses FROM service_misses WHERE server_id = ?")
            .bind(run.server_id)
            .fetch_all(&mut *conn)
            .await
            .db()?
            .into_iter()
            .collect();
    query("DELETE FROM service_misses WHERE server_id = ?")
        .bind(run.server_id)
        .execute(&mut *conn)
        .await
        .db()?;
    // A service counted on its previous server and moved here keeps one row: this one.
    for chunk in update.missing.chunks(IN_CHUNK) {
        let mut qb: QueryBuilder<'_, Db> =
            QueryBuilder::new("DELETE FROM service_misses WHERE service_id IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *conn).await.db()?;
    }
    let unique: HashSet<ServiceId> = update.missing.iter().copied().collect();
    let rows = unique
        .into_iter()
        .map(|id| {
            let n = previous.get(&id).copied().unwrap_or(0).saturating_add(1);
            vec![V::I(id), V::I(run.server_id), V::I(n), V::I(run_id)]
        })
        .collect();
    insert_rows(
        conn,
        "service_misses",
        &["service_id", "server_id", "misses", "last_run_id"],
        false,
        rows,
    )
    .await
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
