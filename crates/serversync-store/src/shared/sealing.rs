//! Shared by both backends: server secrets at rest (see [`crate::secrets`]): rows of older
//! databases sealed on open, the key checked against the stored secrets on open, and key
//! rotation in one transaction.

use std::sync::Arc;

use super::audit::insert_audit;
use super::rows::{server_from_row, SERVER_SELECT};
use super::{after_sealing, begin_write, query, query_as, BackendStore, Tx};
use crate::error::DbResult;
use crate::secrets::SecretKey;
use crate::{AuditFor, Result};

impl BackendStore {
    /// The key secrets are sealed with now.
    pub(super) fn key(&self) -> Arc<SecretKey> {
        // A poisoned lock still holds a whole key (it is only ever replaced whole).
        match self.key.read() {
            Ok(k) => Arc::clone(&k),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// A write transaction on this store's pool ([`super::begin_write`]).
    pub(super) async fn begin_write(&self) -> Result<Tx> {
        begin_write(&self.pool).await
    }

    /// Encrypts the secrets of rows written before secrets were sealed (schema 4), in one
    /// transaction, then lets the backend drop copies of the plain text ([`super::after_sealing`]).
    pub(super) async fn seal_plain_secrets(&self) -> Result<()> {
        let key = self.key();
        let mut tx = self.begin_write().await?;
        let rows: Vec<(i64, String, String)> =
            query_as("SELECT id, password, access_hash FROM servers WHERE secrets_sealed = ?")
                .bind(false)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        if rows.is_empty() {
            return Ok(());
        }
        for (id, password, access_hash) in &rows {
            query(
                "UPDATE servers SET password = ?, access_hash = ?, secrets_sealed = ? WHERE id = ?",
            )
            .bind(key.seal(*id, "password", password)?)
            .bind(key.seal(*id, "access_hash", access_hash)?)
            .bind(true)
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        after_sealing(&self.pool).await?;
        tracing::info!(
            servers = rows.len(),
            key_id = key.id(),
            "server secrets stored in plain text were encrypted"
        );
        Ok(())
    }

    /// Fails early, naming the server, when the key does not open a stored secret.
    pub(super) async fn check_secrets(&self) -> Result<()> {
        let rows = query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .db()?;
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
        let rows = query(&format!("{SERVER_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await
            .db()?;
        let mut count = 0;
        for row in &rows {
            let s = server_from_row(row, &old_key)?;
            if s.password.is_empty() && s.access_hash.is_empty() {
                continue;
            }
            query(
                "UPDATE servers SET password = ?, access_hash = ?, secrets_sealed = ? WHERE id = ?",
            )
            .bind(new_key.seal(s.id, "password", s.password.expose())?)
            .bind(new_key.seal(s.id, "access_hash", s.access_hash.expose())?)
            .bind(true)
            .bind(s.id)
            .execute(&mut *tx)
            .await
            .db()?;
            count += 1;
        }
        insert_audit(&mut tx, &audit(&count)).await?;
        tx.commit().await.db()?;
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
