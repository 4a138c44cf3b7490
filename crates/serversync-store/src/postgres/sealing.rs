//! Server secrets of the PostgreSQL store at rest (see [`crate::secrets`]): rows of older
//! databases sealed on open, the key checked against the stored secrets on open, and key
//! rotation in one transaction.

use std::sync::Arc;

use super::{insert_audit, server_from_row, PgStore, SERVER_SELECT};
use crate::secrets::SecretKey;
use crate::{AuditFor, Result};

impl PgStore {
    /// Encrypts the secrets of rows written before secrets were sealed (schema 4), in one
    /// transaction.
    pub(super) async fn seal_plain_secrets(&self) -> Result<()> {
        let key = self.key();
        let mut tx = self.begin_write().await?;
        let rows: Vec<(i64, String, String)> = super::sql::query_as(
            "SELECT id, password, access_hash FROM servers WHERE secrets_sealed = FALSE",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for (id, password, access_hash) in &rows {
            super::sql::query(
                "UPDATE servers SET password = ?, access_hash = ?, secrets_sealed = TRUE WHERE id = ?",
            )
            .bind(key.seal(*id, "password", password)?)
            .bind(key.seal(*id, "access_hash", access_hash)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(
            servers = rows.len(),
            key_id = key.id(),
            "server secrets stored in plain text were encrypted"
        );
        Ok(())
    }

    /// Fails early, naming the server, when the key does not open a stored secret.
    pub(super) async fn check_secrets(&self) -> Result<()> {
        let rows = super::sql::query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        let key = self.key();
        for row in &rows {
            server_from_row(row, &key)?;
        }
        Ok(())
    }

    /// [`Store::rotate_secret_key`]: every secret opened with the current key and sealed with
    /// `new_key` in one transaction, then `new_key` becomes the current key.
    pub(super) async fn rotate_key(
        &self,
        new_key: &SecretKey,
        audit: AuditFor<'_, usize>,
    ) -> Result<usize> {
        let old_key = self.key();
        let mut tx = self.begin_write().await?;
        let rows = super::sql::query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?;
        let mut count = 0;
        for row in &rows {
            let s = server_from_row(row, &old_key)?;
            if s.password.is_empty() && s.access_hash.is_empty() {
                continue;
            }
            super::sql::query(
                "UPDATE servers SET password = ?, access_hash = ?, secrets_sealed = TRUE WHERE id = ?",
            )
            .bind(new_key.seal(s.id, "password", s.password.expose())?)
            .bind(new_key.seal(s.id, "access_hash", s.access_hash.expose())?)
            .bind(s.id)
            .execute(&mut *tx)
            .await?;
            count += 1;
        }
        insert_audit(&mut tx, &audit(&count)).await?;
        tx.commit().await?;
        match self.key.write() {
            Ok(mut k) => *k = Arc::new(new_key.clone()),
            Err(p) => *p.into_inner() = Arc::new(new_key.clone()),
        }
        tracing::info!(
            servers = count,
            old_key = old_key.id(),
            new_key = new_key.id(),
            "server secrets re-encrypted"
        );
        Ok(count)
    }
}
