//! Reads and small writes the pages need that are not part of a sync: the clients, a
//! server's run summaries, and the ticks a user keeps on a run's pages. The web layer calls
//! these instead of the store.

use serversync_core::model::{Client, Product, ProductId, RunId, ServerId};
use serversync_store::{RunSummary, StoreError};

use crate::{App, AppError, Result};

impl App {
    /// Every client, by id.
    pub async fn clients(&self) -> Result<Vec<Client>> {
        Ok(self.store.clients().await?)
    }

    /// The product `id`; [`StoreError::NotFound`] naming it when there is none.
    pub async fn product(&self, id: ProductId) -> Result<Product> {
        self.store
            .products()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| AppError::Store(StoreError::NotFound(format!("product {id}"))))
    }

    /// The newest `limit` runs of `server_id`, newest first.
    pub async fn server_runs(&self, server_id: ServerId, limit: i64) -> Result<Vec<RunSummary>> {
        Ok(self.store.runs(server_id, limit).await?)
    }

    /// The keys (`{index}:{action}`) `user_id` keeps ticked on run `run_id`, sorted.
    pub async fn run_selection(&self, run_id: RunId, user_id: i64) -> Result<Vec<String>> {
        Ok(self.store.run_selection(run_id, user_id).await?)
    }

    /// Adds `ticked` and removes `unticked` from the kept selection of `user_id` on
    /// `run_id` in one transaction, and returns the whole selection after it, sorted.
    pub async fn update_run_selection(
        &self,
        run_id: RunId,
        user_id: i64,
        ticked: &[String],
        unticked: &[String],
    ) -> Result<Vec<String>> {
        self.store
            .update_run_selection(run_id, user_id, ticked, unticked)
            .await?;
        self.run_selection(run_id, user_id).await
    }

    /// Forgets the kept selection of `user_id` on `run_id` (after an apply).
    pub async fn clear_run_selection(&self, run_id: RunId, user_id: i64) -> Result<()> {
        Ok(self.store.clear_run_selection(run_id, user_id).await?)
    }
}
