//! Shared by both backends: [`RunSelections`], the `run_selections` table.

use async_trait::async_trait;

use super::{query, query_scalar, BackendStore};
use crate::error::DbResult;
use crate::selections::{RunSelections, MAX_SELECTION_KEYS};
use crate::{Result, RunId, StoreError};

/// Longest key accepted (`{index}:{action}` is far shorter).
const MAX_KEY_LEN: usize = 64;

#[async_trait]
impl RunSelections for BackendStore {
    async fn run_selection(&self, run_id: RunId, user_id: i64) -> Result<Vec<String>> {
        Ok(query_scalar(
            "SELECT item_key FROM run_selections WHERE run_id = ? AND user_id = ? ORDER BY item_key",
        )
        .bind(run_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await.db()?)
    }

    async fn update_run_selection(
        &self,
        run_id: RunId,
        user_id: i64,
        ticked: &[String],
        unticked: &[String],
    ) -> Result<()> {
        if let Some(k) = ticked
            .iter()
            .chain(unticked)
            .find(|k| k.is_empty() || k.len() > MAX_KEY_LEN)
        {
            return Err(StoreError::Invalid(format!(
                "run selection: item key of {} bytes (1 to {MAX_KEY_LEN} allowed)",
                k.len()
            )));
        }
        let mut tx = self.begin_write().await?;
        let run: Option<i64> = query_scalar("SELECT id FROM sync_runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if run.is_none() {
            return Err(StoreError::NotFound(format!("run {run_id}")));
        }
        let user: Option<i64> = query_scalar("SELECT id FROM admin_users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if user.is_none() {
            return Err(StoreError::NotFound(format!("admin user {user_id}")));
        }
        for k in unticked {
            query("DELETE FROM run_selections WHERE run_id = ? AND user_id = ? AND item_key = ?")
                .bind(run_id)
                .bind(user_id)
                .bind(k)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        for k in ticked {
            query(
                "INSERT INTO run_selections (run_id, user_id, item_key) VALUES (?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(user_id)
            .bind(k)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let n: i64 =
            query_scalar("SELECT COUNT(*) FROM run_selections WHERE run_id = ? AND user_id = ?")
                .bind(run_id)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await
                .db()?;
        if usize::try_from(n).unwrap_or(usize::MAX) > MAX_SELECTION_KEYS {
            // Dropping `tx` rolls the whole update back.
            return Err(StoreError::Invalid(format!(
                "run selection: {n} items ticked, at most {MAX_SELECTION_KEYS} are kept"
            )));
        }
        tx.commit().await.db()?;
        Ok(())
    }

    async fn clear_run_selection(&self, run_id: RunId, user_id: i64) -> Result<()> {
        query("DELETE FROM run_selections WHERE run_id = ? AND user_id = ?")
            .bind(run_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }
}
