//! Retention of stored runs (issue 11): after each stored run a server keeps its newest
//! [`App::keep_runs`] runs, every applied run (the audit log points at it) and its newest
//! [`SHRINK_MEMORY`] + 1 complete runs (what apply and the shrink guard read: with a small
//! `keep` and failed listings between them, pruning them would end the guard early); the
//! store's
//! [`serversync_store::Runs::prune_runs`] deletes the rest.

use serde::Serialize;
use serversync_core::model::Server;

use crate::{App, Result, SHRINK_MEMORY};

/// Runs kept per server unless configured (`[runs] keep`): two days of hourly scans.
pub const DEFAULT_KEEP_RUNS: usize = 50;

/// Complete runs always kept per server: the newest, and the [`SHRINK_MEMORY`] before it
/// that the shrink guard compares it with (when it is applied or auto-applied after it was
/// stored).
const KEEP_COMPLETE: usize = SHRINK_MEMORY + 1;

/// What [`App::prune_all_runs`] deleted on one server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub server: String,
    /// Runs deleted.
    pub deleted: u64,
}

impl App {
    /// Prunes `server`'s runs after one was stored. A failure is logged, not returned: the
    /// run is stored and its analysis stands; the next run prunes again.
    pub(crate) async fn prune_runs_of(&self, server: &Server) {
        match self
            .store
            .prune_runs(server.id, self.keep_runs, KEEP_COMPLETE)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(server = %server.name, deleted = n, keep = self.keep_runs,
                "pruned old runs"),
            Err(e) => tracing::warn!(server = %server.name, error = %e,
                "pruning old runs failed"),
        }
    }

    /// Prunes the runs of every server now (`serversync runs prune`), to
    /// [`App::keep_runs`] each; servers in name order.
    pub async fn prune_all_runs(&self) -> Result<Vec<Pruned>> {
        let mut servers = self.store.servers().await?;
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(servers.len());
        for s in servers {
            let deleted = self
                .store
                .prune_runs(s.id, self.keep_runs, KEEP_COMPLETE)
                .await?;
            out.push(Pruned {
                server: s.name,
                deleted,
            });
        }
        Ok(out)
    }
}
