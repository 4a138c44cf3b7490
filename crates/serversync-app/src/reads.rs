//! Reads and small writes the pages need that are not part of a sync: the clients, a
//! server's run summaries, and the ticks a user keeps on a run's pages. The web layer calls
//! these instead of the store.

use std::collections::HashMap;

use serversync_core::model::{
    Client, Product, ProductId, RunId, Server, ServerId, Service, ServiceId,
};
use serversync_store::{
    AdminUser, ApiToken, AuditEvent, AuditFilter, Records, RunSummary, StoreError,
};

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

    /// A server by id.
    pub async fn server_by_id(&self, id: ServerId) -> Result<Server> {
        Ok(self.store.server_by_id(id).await?)
    }

    /// A service by id.
    pub async fn service(&self, id: ServiceId) -> Result<Service> {
        Ok(self.store.service(id).await?)
    }

    /// The services of server `server_id` (every service when `None`).
    pub async fn services_by_server_id(&self, server_id: Option<ServerId>) -> Result<Vec<Service>> {
        Ok(self.store.services(server_id).await?)
    }

    /// Live (Active, Suspended, Pending) services per server id, from one counting query
    /// for every server (servers without any are absent).
    pub async fn live_services_by_server(&self) -> Result<HashMap<ServerId, usize>> {
        Ok(self
            .store
            .live_service_counts()
            .await?
            .into_iter()
            .map(|(id, n)| (id, usize::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// How many audit events match `filter` in all, and its page of them.
    pub async fn audit_events_page(&self, filter: &AuditFilter) -> Result<(i64, Vec<AuditEvent>)> {
        let total = self.store.audit_count(filter).await?;
        let events = self.store.audit_query(filter).await?;
        Ok((total, events))
    }

    /// Every administrator of the web page.
    pub async fn users(&self) -> Result<Vec<AdminUser>> {
        Ok(self.store.users().await?)
    }

    /// Every API token (names and roles; the tokens themselves are not stored).
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        Ok(self.store.api_tokens().await?)
    }

    /// The whole store as records (secrets included: for checks, never for output).
    pub async fn records(&self) -> Result<Records> {
        Ok(self.store.export_records().await?)
    }
}
