//! Shared by both backends: administrators (and the first-run setup token), browser sessions
//! and API tokens.

use std::fmt::Display;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use super::audit::insert_audit;
use super::rows::{
    api_token_from_row, fmt_ts, now_ts, user_from_row, API_TOKEN_COLUMNS, USER_SELECT,
};
use super::{clock, query, query_scalar, setup, BackendStore, Ts};
use crate::error::DbResult;
use crate::{
    AdminUser, ApiToken, AuditFor, Result, Role, Session, Sessions, SetupOffer, StoreError, Tokens,
    Users,
};

#[async_trait]
impl Users for BackendStore {
    async fn users(&self) -> Result<Vec<AdminUser>> {
        query(&format!("{USER_SELECT} ORDER BY username, id"))
            .fetch_all(&self.pool)
            .await
            .db()?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<AdminUser>> {
        query(&format!("{USER_SELECT} WHERE username = ?"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .db()?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<AdminUser> {
        if username.trim().is_empty() {
            return Err(StoreError::Invalid("username is empty".into()));
        }
        if password_hash.is_empty() {
            return Err(StoreError::Invalid("password hash is empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let taken: Option<i64> = query_scalar("SELECT id FROM admin_users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if taken.is_some() {
            return Err(StoreError::Invalid(format!(
                "username {username:?} is already taken"
            )));
        }
        let row = query(
            "INSERT INTO admin_users (username, password_hash, role, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?) \
             RETURNING id, username, password_hash, role, disabled, created_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(false)
        .bind(now_ts()?)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let user = user_from_row(&row)?;
        insert_audit(&mut tx, &audit(&user)).await?;
        tx.commit().await.db()?;
        tracing::debug!(
            user_id = user.id,
            role = role.as_str(),
            "admin user created"
        );
        Ok(user)
    }

    async fn offer_setup_token(&self, token_hash: &str) -> Result<SetupOffer> {
        setup::offer(&self.pool, token_hash).await
    }

    async fn setup_token_valid(&self, token_hash: &str) -> Result<bool> {
        setup::valid(&self.pool, token_hash).await
    }

    async fn create_first_admin(
        &self,
        token_hash: &str,
        username: &str,
        password_hash: &str,
        audit: AuditFor<'_, AdminUser>,
    ) -> Result<Option<AdminUser>> {
        setup::first_admin(&self.pool, token_hash, username, password_hash, audit).await
    }
}

#[async_trait]
impl Sessions for BackendStore {
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let now = now_ts()?;
        let mut tx = self.begin_write().await?;
        // Sign-ins are rare: a good time to drop the sessions that expired meanwhile.
        query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        let user: Option<i64> = query_scalar("SELECT id FROM admin_users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if user.is_none() {
            return Err(StoreError::NotFound(format!("admin user {user_id}")));
        }
        let clash: Option<String> =
            query_scalar("SELECT token_hash FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        if clash.is_some() {
            return Err(StoreError::Invalid(
                "session token is already in use".into(),
            ));
        }
        query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(fmt_ts(expires_at)?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = query(
            "SELECT u.id, u.username, u.password_hash, u.role, u.disabled, u.created_at, \
             s.csrf_token, s.expires_at FROM sessions s \
             JOIN admin_users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        // Errors name the user, never the token hash.
        let bad = |col: &str, e: &dyn Display| {
            StoreError::Corrupt(format!("sessions (user_id={}) {col}: {e}", user.id))
        };
        let csrf_token: String = row
            .try_get("csrf_token")
            .map_err(|e| bad("csrf_token", &e))?;
        let expires_at = row
            .try_get::<Ts, _>("expires_at")
            .map_err(|e| bad("expires_at", &e))?
            .0;
        if expires_at < OffsetDateTime::now_utc() {
            query("DELETE FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .db()?;
            return Ok(None);
        }
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(Session {
            token_hash: token_hash.to_string(),
            user,
            csrf_token,
            expires_at,
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn sign_in_failures(&self, key: &str, memory: Duration) -> Result<u32> {
        let mut conn = self.pool.acquire().await.db()?;
        let since = fmt_ts(before(clock(&mut conn).await?, memory)?)?;
        let n: Option<i64> =
            query_scalar("SELECT failures FROM sign_in_failures WHERE key = ? AND last_at >= ?")
                .bind(key)
                .bind(since)
                .fetch_optional(&mut *conn)
                .await
                .db()?;
        Ok(n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    async fn record_sign_in_failure(&self, key: &str, memory: Duration) -> Result<u32> {
        let mut conn = self.pool.acquire().await.db()?;
        let now = clock(&mut conn).await?;
        let since = before(now, memory)?;
        query("DELETE FROM sign_in_failures WHERE last_at < ? AND key <> ?")
            .bind(fmt_ts(since)?)
            .bind(key)
            .execute(&mut *conn)
            .await
            .db()?;
        // One statement: concurrent failures on several instances each count.
        let n: i64 = query_scalar(
            "INSERT INTO sign_in_failures (key, failures, last_at) VALUES (?, 1, ?) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE \
             WHEN sign_in_failures.last_at < ? THEN 1 ELSE sign_in_failures.failures + 1 END, \
             last_at = excluded.last_at RETURNING failures",
        )
        .bind(key)
        .bind(fmt_ts(now)?)
        .bind(fmt_ts(since)?)
        .fetch_one(&mut *conn)
        .await
        .db()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn clear_sign_in_failures(&self, key: &str) -> Result<()> {
        query("DELETE FROM sign_in_failures WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }
}

/// `now` less `memory`, refused when out of range.
fn before(now: OffsetDateTime, memory: Duration) -> Result<OffsetDateTime> {
    time::Duration::try_from(memory)
        .ok()
        .and_then(|d| now.checked_sub(d))
        .ok_or_else(|| StoreError::Invalid(format!("sign-in memory {memory:?} is out of range")))
}

#[async_trait]
impl Tokens for BackendStore {
    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        audit: AuditFor<'_, ApiToken>,
    ) -> Result<ApiToken> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("API token name is empty".into()));
        }
        if token_hash.is_empty() {
            return Err(StoreError::Invalid("API token hash is empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let taken: Option<i64> = query_scalar("SELECT id FROM api_tokens WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if taken.is_some() {
            return Err(StoreError::Invalid(format!(
                "API token name {name:?} is already taken"
            )));
        }
        let clash: Option<i64> = query_scalar("SELECT id FROM api_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if clash.is_some() {
            return Err(StoreError::Invalid(
                "API token is already in use (same hash)".into(),
            ));
        }
        let row = query(&format!(
            "INSERT INTO api_tokens (name, token_hash, role, created_at, last_used_at) \
             VALUES (?, ?, ?, ?, NULL) RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(now_ts()?)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let token = api_token_from_row(&row)?;
        insert_audit(&mut tx, &audit(&token)).await?;
        tx.commit().await.db()?;
        tracing::debug!(
            token_id = token.id,
            role = role.as_str(),
            "API token created"
        );
        Ok(token)
    }

    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        // One statement: records the use and returns the token as it now is.
        query(&format!(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? \
             RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(now_ts()?)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .db()?
        .as_ref()
        .map(api_token_from_row)
        .transpose()
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        query(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY name, id"
        ))
        .fetch_all(&self.pool)
        .await
        .db()?
        .iter()
        .map(api_token_from_row)
        .collect()
    }
}
