//! Shared by both backends: the first-run setup token: one row, created insert-if-absent while no
//! administrator exists, consumed in the transaction that creates the first administrator.

use super::bulk::insert_rows;
use super::rows::{audit_values, now_ts, user_from_row, Cols, AUDIT_COLS};
use super::{begin_write, query, query_scalar, DbPool};
use crate::error::DbResult;
use crate::{AdminUser, AuditFor, Result, Role, SetupOffer, StoreError};

pub(super) async fn offer(pool: &DbPool, token_hash: &str) -> Result<SetupOffer> {
    if token_hash.is_empty() {
        return Err(StoreError::Invalid("setup token hash is empty".into()));
    }
    let mut tx = begin_write(pool).await?;
    let users: i64 = query_scalar("SELECT COUNT(*) FROM admin_users")
        .fetch_one(&mut *tx)
        .await
        .db()?;
    if users > 0 {
        // A token left from before the first administrator was added by hand is useless.
        query("DELETE FROM setup_token")
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        return Ok(SetupOffer::NotNeeded);
    }
    let existing = query("SELECT id, created_at FROM setup_token WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    if let Some(row) = existing {
        let created_at = Cols::new(&row, "setup_token")?.ts("created_at")?;
        return Ok(SetupOffer::Exists { created_at });
    }
    query("INSERT INTO setup_token (id, token_hash, created_at) VALUES (1, ?, ?)")
        .bind(token_hash)
        .bind(now_ts()?)
        .execute(&mut *tx)
        .await
        .db()?;
    tx.commit().await.db()?;
    Ok(SetupOffer::Created)
}

pub(super) async fn valid(pool: &DbPool, token_hash: &str) -> Result<bool> {
    if token_hash.is_empty() {
        return Ok(false);
    }
    query_scalar(
        "SELECT EXISTS (SELECT 1 FROM setup_token WHERE id = 1 AND token_hash = ?) \
         AND NOT EXISTS (SELECT 1 FROM admin_users)",
    )
    .bind(token_hash)
    .fetch_one(pool)
    .await
    .db()
}

pub(super) async fn first_admin(
    pool: &DbPool,
    token_hash: &str,
    username: &str,
    password_hash: &str,
    audit: AuditFor<'_, AdminUser>,
) -> Result<Option<AdminUser>> {
    if username.trim().is_empty() {
        return Err(StoreError::Invalid("username is empty".into()));
    }
    if password_hash.is_empty() {
        return Err(StoreError::Invalid("password hash is empty".into()));
    }
    if token_hash.is_empty() {
        return Ok(None);
    }
    let mut tx = begin_write(pool).await?;
    // The token is consumed by the delete: of two concurrent posts only one deletes the row.
    let consumed = query(
        "DELETE FROM setup_token WHERE id = 1 AND token_hash = ? \
         AND NOT EXISTS (SELECT 1 FROM admin_users)",
    )
    .bind(token_hash)
    .execute(&mut *tx)
    .await
    .db()?;
    if consumed.rows_affected() != 1 {
        return Ok(None);
    }
    let now = now_ts()?;
    let row = query(
        "INSERT INTO admin_users (username, password_hash, role, disabled, created_at) \
         VALUES (?, ?, ?, ?, ?) \
         RETURNING id, username, password_hash, role, disabled, created_at",
    )
    .bind(username)
    .bind(password_hash)
    .bind(Role::Admin.as_str())
    .bind(false)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .db()?;
    let user = user_from_row(&row)?;
    insert_rows(
        &mut tx,
        "audit_events",
        AUDIT_COLS,
        false,
        vec![audit_values(&audit(&user), now)?],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(Some(user))
}
