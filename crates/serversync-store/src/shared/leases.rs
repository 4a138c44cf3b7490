//! Shared by both backends: server leases (see [`crate::lease`]) — take, renew, release,
//! list, release by hand. Every change is one write transaction ([`super::begin_write`]) or
//! one conditional statement, so exactly one of several concurrent takers, of any process,
//! wins; expiry is judged by the backend's clock ([`super::clock`]).

use std::time::Duration;

use async_trait::async_trait;
use serversync_core::model::ServerId;
use time::OffsetDateTime;

use super::bulk::insert_rows;
use super::rows::{audit_values, fmt_ts, Cols, AUDIT_COLS};
use super::{begin_write, clock, query, query_scalar, BackendStore, DbConn, DbPool, DbRow};
use crate::error::DbResult;
use crate::lease::{LockHolder, ProcessId, ServerLock};
use crate::{AuditFor, HeldLock, Leases, Result, StoreError};

const LOCK_SELECT: &str = "SELECT server_id, holder, actor, host, machine, pid, pid_start, \
     taken_at, expires_at FROM server_locks";

fn lock_from_row(row: &DbRow) -> Result<ServerLock> {
    let server_id: i64 = sqlx::Row::try_get(row, "server_id")
        .map_err(|e| StoreError::Corrupt(format!("server_locks.server_id: {e}")))?;
    // `Cols` names table, key and column in errors; the key here is the server id.
    let c = Cols {
        row,
        table: "server_locks",
        id: server_id,
    };
    let machine: Option<String> = c.get("machine")?;
    let pid: Option<i64> = c.get("pid")?;
    let start: Option<i64> = c.get("pid_start")?;
    let process = match (machine, pid, start) {
        (Some(machine), Some(pid), Some(start)) => Some(ProcessId {
            machine,
            pid: u32::try_from(pid).map_err(|_| c.bad("pid", format!("{pid} is no pid")))?,
            start_ticks: u64::try_from(start)
                .map_err(|_| c.bad("pid_start", format!("{start} is no start time")))?,
        }),
        _ => None,
    };
    Ok(ServerLock {
        server_id,
        holder: LockHolder {
            id: c.get("holder")?,
            actor: c.get("actor")?,
            host: c.get("host")?,
            process,
        },
        taken_at: c.ts("taken_at")?,
        expires_at: c.ts("expires_at")?,
        took_over: false,
    })
}

fn expiry(now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime> {
    time::Duration::try_from(ttl)
        .ok()
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| StoreError::Invalid(format!("lease time {ttl:?} is out of range")))
}

async fn current(conn: &mut DbConn, server_id: ServerId) -> Result<Option<ServerLock>> {
    query(&format!("{LOCK_SELECT} WHERE server_id = ?"))
        .bind(server_id)
        .fetch_optional(&mut *conn)
        .await
        .db()?
        .as_ref()
        .map(lock_from_row)
        .transpose()
}

async fn lock(
    pool: &DbPool,
    server_id: ServerId,
    holder: &LockHolder,
    ttl: Duration,
) -> Result<ServerLock> {
    let mut tx = begin_write(pool).await?;
    // As stored (whole microseconds), so the lease returned equals the one read back.
    let now = fmt_ts(clock(&mut tx).await?)?.0;
    let mut lease = ServerLock {
        server_id,
        holder: holder.clone(),
        taken_at: now,
        expires_at: expiry(now, ttl)?,
        took_over: false,
    };
    if let Some(old) = current(&mut tx, server_id).await? {
        let dead = old.holder.process.as_ref().is_some_and(ProcessId::is_gone);
        if !dead && !old.expired_at(now) {
            return Err(StoreError::Busy(Box::new(old)));
        }
        lease.took_over = true;
        tracing::warn!(
            server_id,
            holder = %old.holder.describe(),
            reason = if dead { "its process no longer exists" } else { "it ran out" },
            "taking over a server lock"
        );
    }
    let p = holder.process.as_ref();
    query(
        "INSERT INTO server_locks (server_id, holder, actor, host, machine, pid, pid_start, \
         taken_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (server_id) DO UPDATE SET holder = excluded.holder, \
         actor = excluded.actor, host = excluded.host, machine = excluded.machine, \
         pid = excluded.pid, pid_start = excluded.pid_start, taken_at = excluded.taken_at, \
         expires_at = excluded.expires_at",
    )
    .bind(server_id)
    .bind(&holder.id)
    .bind(&holder.actor)
    .bind(&holder.host)
    .bind(p.map(|p| p.machine.as_str()))
    .bind(p.map(|p| i64::from(p.pid)))
    .bind(p.and_then(|p| i64::try_from(p.start_ticks).ok()))
    .bind(fmt_ts(lease.taken_at)?)
    .bind(fmt_ts(lease.expires_at)?)
    .execute(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(lease)
}

async fn renew(
    pool: &DbPool,
    server_id: ServerId,
    holder_id: &str,
    ttl: Duration,
) -> Result<OffsetDateTime> {
    let mut conn = pool.acquire().await.db()?;
    let expires = fmt_ts(expiry(clock(&mut conn).await?, ttl)?)?;
    let done = query("UPDATE server_locks SET expires_at = ? WHERE server_id = ? AND holder = ?")
        .bind(expires)
        .bind(server_id)
        .bind(holder_id)
        .execute(&mut *conn)
        .await
        .db()?;
    if done.rows_affected() == 1 {
        Ok(expires.0)
    } else {
        Err(StoreError::LockLost(server_id))
    }
}

async fn unlock(pool: &DbPool, server_id: ServerId, holder_id: &str) -> Result<()> {
    query("DELETE FROM server_locks WHERE server_id = ? AND holder = ?")
        .bind(server_id)
        .bind(holder_id)
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

async fn all(pool: &DbPool) -> Result<Vec<ServerLock>> {
    query(&format!("{LOCK_SELECT} ORDER BY server_id"))
        .fetch_all(pool)
        .await
        .db()?
        .iter()
        .map(lock_from_row)
        .collect()
}

async fn release(
    pool: &DbPool,
    server_id: ServerId,
    audit: AuditFor<'_, ServerLock>,
) -> Result<Option<ServerLock>> {
    let mut tx = begin_write(pool).await?;
    let Some(old) = current(&mut tx, server_id).await? else {
        return Ok(None);
    };
    query("DELETE FROM server_locks WHERE server_id = ?")
        .bind(server_id)
        .execute(&mut *tx)
        .await
        .db()?;
    let at = fmt_ts(clock(&mut tx).await?)?;
    insert_rows(
        &mut tx,
        "audit_events",
        AUDIT_COLS,
        false,
        vec![audit_values(&audit(&old), at)?],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(Some(old))
}

/// Inside a write transaction: fails with [`StoreError::LockLost`] unless `held` is held by
/// its holder (expired or not: nobody took it, and this transaction now keeps others out).
pub(super) async fn check_held(conn: &mut DbConn, held: &HeldLock) -> Result<()> {
    let holder: Option<String> =
        query_scalar("SELECT holder FROM server_locks WHERE server_id = ?")
            .bind(held.server_id)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
    if holder.as_deref() == Some(held.holder_id.as_str()) {
        Ok(())
    } else {
        Err(StoreError::LockLost(held.server_id))
    }
}

#[async_trait]
impl Leases for BackendStore {
    async fn lock_server(
        &self,
        server_id: ServerId,
        holder: &LockHolder,
        ttl: Duration,
    ) -> Result<ServerLock> {
        lock(&self.pool, server_id, holder, ttl).await
    }

    async fn renew_lock(
        &self,
        server_id: ServerId,
        holder_id: &str,
        ttl: Duration,
    ) -> Result<OffsetDateTime> {
        renew(&self.pool, server_id, holder_id, ttl).await
    }

    async fn unlock_server(&self, server_id: ServerId, holder_id: &str) -> Result<()> {
        unlock(&self.pool, server_id, holder_id).await
    }

    async fn locks(&self) -> Result<Vec<ServerLock>> {
        all(&self.pool).await
    }

    async fn release_lock(
        &self,
        server_id: ServerId,
        audit: AuditFor<'_, ServerLock>,
    ) -> Result<Option<ServerLock>> {
        release(&self.pool, server_id, audit).await
    }
}
