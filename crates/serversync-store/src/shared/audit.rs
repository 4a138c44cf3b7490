//! Shared by both backends: the audit log — lone events, filtered reads and counts, and the
//! event a write adds inside its own transaction.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::bulk::insert_rows;
use super::rows::{audit_from_row, audit_values, fmt_ts, AUDIT_COLS};
use super::{clock, BackendStore, Db, DbConn};
use crate::error::DbResult;
use crate::{Audit, AuditEvent, AuditFilter, NewAuditEvent, Result};

const AUDIT_SELECT: &str = "SELECT id, at, actor, action, server_id, run_id, service_id, \
     client_id, before_json, after_json, note FROM audit_events";

/// `select` followed by the `WHERE` clause of `filter` (filters combine with AND), its values
/// bound.
fn filtered<'a>(select: &str, filter: &'a AuditFilter) -> QueryBuilder<'a, Db> {
    let mut qb = QueryBuilder::new(select);
    let mut first = true;
    let mut and = |qb: &mut QueryBuilder<'a, Db>, col: &str| {
        qb.push(if first { " WHERE " } else { " AND " });
        qb.push(col);
        qb.push(" = ");
        first = false;
    };
    for (col, v) in [
        ("server_id", filter.server_id),
        ("run_id", filter.run_id),
        ("service_id", filter.service_id),
    ] {
        if let Some(v) = v {
            and(&mut qb, col);
            qb.push_bind(v);
        }
    }
    if let Some(actor) = &filter.actor {
        and(&mut qb, "actor");
        qb.push_bind(actor.as_str());
    }
    qb
}

/// Writes one audit event on `conn`, e.g. inside the transaction of its write, stamped by
/// the backend's clock ([`super::clock`]: on PostgreSQL the database server's, as for
/// leases, so events of every instance order by one clock).
pub(super) async fn insert_audit(conn: &mut DbConn, event: &NewAuditEvent) -> Result<()> {
    let at = fmt_ts(clock(&mut *conn).await?)?;
    insert_rows(
        conn,
        "audit_events",
        AUDIT_COLS,
        false,
        vec![audit_values(event, at)?],
    )
    .await
}

#[async_trait]
impl Audit for BackendStore {
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await.db()?;
        insert_audit(&mut conn, event).await
    }

    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let limit = if filter.limit <= 0 {
            i64::MAX
        } else {
            filter.limit
        };
        let mut qb = filtered(AUDIT_SELECT, filter);
        qb.push(" ORDER BY id DESC LIMIT ");
        qb.push_bind(limit);
        qb.push(" OFFSET ");
        qb.push_bind(filter.offset.max(0));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .db()?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn audit_count(&self, filter: &AuditFilter) -> Result<i64> {
        let mut qb = filtered("SELECT COUNT(*) FROM audit_events", filter);
        qb.build_query_scalar().fetch_one(&self.pool).await.db()
    }
}
