//! Shared by both backends: [`Deliveries`], the `alert_deliveries` and `alert_claims` tables.

use async_trait::async_trait;

use super::rows::Cols;
use super::values::fmt_ts;
use super::{clock, query, query_as, query_scalar, BackendStore, DbRow};
use crate::deliveries::{Channel, Deliveries, Delivery, NewDelivery, MAX_DELIVERY_TEXT};
use crate::error::DbResult;
use crate::{Result, StoreError};

const SELECT: &str = "SELECT id, event_id, kind, channel, server_id, target, attempt, status, \
                      error, delivered, at FROM alert_deliveries";

/// `s` cut to [`MAX_DELIVERY_TEXT`] characters.
fn bounded(s: &str) -> String {
    s.chars().take(MAX_DELIVERY_TEXT).collect()
}

fn delivery_from_row(row: &DbRow) -> Result<Delivery> {
    let c = Cols::new(row, "alert_deliveries")?;
    let channel: String = c.get("channel")?;
    let channel = match channel.as_str() {
        "webhook" => Channel::Webhook,
        "email" => Channel::Email,
        other => return Err(c.bad("channel", format!("unknown channel {other:?}"))),
    };
    let attempt: i64 = c.get("attempt")?;
    let status: Option<i64> = c.get("status")?;
    Ok(Delivery {
        id: c.id,
        at: c.ts("at")?,
        event_id: c.get("event_id")?,
        kind: c.get("kind")?,
        channel,
        server_id: c.get("server_id")?,
        target: c.get("target")?,
        attempt: u32::try_from(attempt).map_err(|e| c.bad("attempt", e))?,
        status: status
            .map(u16::try_from)
            .transpose()
            .map_err(|e| c.bad("status", e))?,
        error: c.get("error")?,
        delivered: c.get("delivered")?,
    })
}

#[async_trait]
impl Deliveries for BackendStore {
    async fn record_delivery(&self, d: &NewDelivery) -> Result<i64> {
        if d.event_id.trim().is_empty() || d.target.trim().is_empty() {
            return Err(StoreError::Invalid(
                "delivery: event id and target must not be empty".into(),
            ));
        }
        let mut conn = self.pool.acquire().await.db()?;
        let now = fmt_ts(clock(&mut conn).await?)?;
        let id: i64 = query_scalar(
            "INSERT INTO alert_deliveries (event_id, kind, channel, server_id, target, attempt, \
             status, error, delivered, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(bounded(&d.event_id))
        .bind(bounded(&d.kind))
        .bind(d.channel.as_str())
        .bind(d.server_id)
        .bind(bounded(&d.target))
        .bind(i64::from(d.attempt))
        .bind(d.status.map(i64::from))
        .bind(d.error.as_deref().map(bounded))
        .bind(d.delivered)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .db()?;
        Ok(id)
    }

    async fn recent_deliveries(&self, limit: i64) -> Result<Vec<Delivery>> {
        let sql = if limit > 0 {
            format!("{SELECT} ORDER BY id DESC LIMIT {limit}")
        } else {
            format!("{SELECT} ORDER BY id DESC")
        };
        let rows: Vec<DbRow> = query(&sql).fetch_all(&self.pool).await.db()?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn event_delivered(&self, event_id: &str, channel: Channel) -> Result<bool> {
        let n: (i64,) = query_as(
            "SELECT COUNT(*) FROM alert_deliveries WHERE event_id = ? AND channel = ? \
             AND delivered",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(n.0 > 0)
    }

    async fn claim_event(
        &self,
        event_id: &str,
        channel: Channel,
        holder: &str,
        stale_after: std::time::Duration,
    ) -> Result<bool> {
        if event_id.trim().is_empty() {
            return Err(StoreError::Invalid(
                "event claim: the event id must not be empty".into(),
            ));
        }
        let mut conn = self.pool.acquire().await.db()?;
        let now = clock(&mut conn).await?;
        let stale = time::Duration::try_from(stale_after).unwrap_or(time::Duration::MAX);
        let stale_before = fmt_ts(now.checked_sub(stale).unwrap_or(now))?;
        // A standing claim is taken over only when stale and undelivered; two instances
        // taking it over at once: the second sees the first's fresh claim (row lock on
        // PostgreSQL, one writer on SQLite) and loses.
        let done = query(
            "INSERT INTO alert_claims (event_id, channel, holder, claimed_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (event_id, channel) DO UPDATE \
             SET holder = excluded.holder, claimed_at = excluded.claimed_at \
             WHERE alert_claims.claimed_at < ? AND NOT EXISTS (SELECT 1 FROM alert_deliveries d \
             WHERE d.event_id = alert_claims.event_id AND d.channel = alert_claims.channel \
             AND d.delivered)",
        )
        .bind(bounded(event_id))
        .bind(channel.as_str())
        .bind(bounded(holder))
        .bind(fmt_ts(now)?)
        .bind(stale_before)
        .execute(&mut *conn)
        .await
        .db()?;
        Ok(done.rows_affected() == 1)
    }
}
