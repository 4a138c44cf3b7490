//! `serversync locks list` / `locks release SERVER`: the server leases as they are stored,
//! and their removal by hand for the rare stuck case (audited as `lock_release`).

use serde::Serialize;
use serde_json::json;
use serversync_store::{NewAuditEvent, ServerLock};
use time::OffsetDateTime;

use crate::{App, Result};

/// One stored lease, for listings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockView {
    pub server_id: i64,
    /// The server's name (`None` when the server no longer exists).
    pub server: Option<String>,
    /// Who holds it: `cli:alice (pid 4242 on web-admin-1)`.
    pub holder: String,
    /// The holder's unique id (`<instance>:<pid>@<host>`).
    pub holder_id: String,
    /// `2026-11-30 14:05:09 UTC`.
    pub taken_at: String,
    pub expires_at: String,
    /// The lease ran out (the next analysis or apply takes it over).
    pub expired: bool,
}

fn lock_json(l: &ServerLock) -> serde_json::Value {
    json!({
        "holder": l.holder.id,
        "actor": l.holder.actor,
        "host": l.holder.host,
        "pid": l.holder.process.as_ref().map(|p| p.pid),
        "taken_at": serversync_store::show_time(l.taken_at),
        "expires_at": serversync_store::show_time(l.expires_at),
    })
}

impl App {
    /// Every stored server lease, by server id.
    pub async fn locks(&self) -> Result<Vec<LockView>> {
        let servers = self.store.servers().await?;
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .locks()
            .await?
            .into_iter()
            .map(|l| LockView {
                server_id: l.server_id,
                server: servers
                    .iter()
                    .find(|s| s.id == l.server_id)
                    .map(|s| s.name.clone()),
                holder: l.holder.describe(),
                holder_id: l.holder.id.clone(),
                taken_at: serversync_store::show_time(l.taken_at),
                expires_at: serversync_store::show_time(l.expires_at),
                expired: l.expired_at(now),
            })
            .collect())
    }

    /// Removes a server's lease whoever holds it, audited as `lock_release` (with the holder
    /// removed as `before`) in the same transaction. `None` when the server had none. The
    /// holder, if it still runs, finds out at its next renewal or write and stops without
    /// writing.
    pub async fn release_lock(&self, server: &str) -> Result<Option<ServerLock>> {
        let server = self.store.server(server).await?;
        let audit = |l: &ServerLock| NewAuditEvent {
            actor: self.actor.clone(),
            action: "lock_release".into(),
            server_id: Some(l.server_id),
            before: Some(lock_json(l).to_string()),
            note: Some(format!(
                "removed the lock of server {} held by {}",
                server.name,
                l.holder.describe()
            )),
            ..Default::default()
        };
        Ok(self.store.release_lock(server.id, &audit).await?)
    }
}
