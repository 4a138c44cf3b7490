//! The miss counter in the application (issue 11): the per-server `gone_after` threshold,
//! the counts an analysis puts on its `not_on_server` items, and what a complete listing
//! tells the store ([`serversync_store::MissUpdate`], stored with the run).

use std::collections::HashMap;

use serversync_core::analysis::{Analysis, AnalysisInput, Category, Item};
use serversync_core::misses::{MissCount, DEFAULT_GONE_AFTER};
use serversync_core::model::{Server, ServiceId};
use serversync_store::MissUpdate;

use crate::{App, Result};

/// The `gone_after` threshold of every server: a default and overrides by server name
/// (`[guards] gone_after`, `[scan.servers.NAME] gone_after`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoneAfter {
    /// Complete listings in a row without an account after which its service is gone
    /// (default [`DEFAULT_GONE_AFTER`]; 0 is read as 1).
    pub default: u32,
    /// Thresholds of particular servers, by name.
    pub servers: HashMap<String, u32>,
}

impl Default for GoneAfter {
    fn default() -> Self {
        GoneAfter {
            default: DEFAULT_GONE_AFTER,
            servers: HashMap::new(),
        }
    }
}

impl GoneAfter {
    /// The threshold of the server named `name` (at least 1).
    pub fn of(&self, name: &str) -> u32 {
        self.servers
            .get(name)
            .copied()
            .unwrap_or(self.default)
            .max(1)
    }
}

/// The counts an analysis document shows: the stored count of each service, plus one for
/// this listing when it is complete (an incomplete listing neither counts nor resets).
#[derive(Clone, Debug, Default)]
pub struct DocMisses {
    /// Stored counts before this listing, by service id (absent = 0).
    pub stored: HashMap<ServiceId, u32>,
    /// Whether this listing counts (it is complete).
    pub counts: bool,
    /// The server's threshold.
    pub gone_after: u32,
}

impl DocMisses {
    /// The count of `item`: `Some` for `not_on_server` items only.
    pub fn of(&self, item: &Item, input: &AnalysisInput<'_>) -> Option<MissCount> {
        if item.category != Category::NotOnServer {
            return None;
        }
        let id = item.service_id(input)?;
        let stored = self.stored.get(&id).copied().unwrap_or(0);
        let misses = if self.counts {
            stored.saturating_add(1)
        } else {
            stored
        };
        Some(MissCount::new(misses, self.gone_after))
    }
}

/// What a complete listing's analysis tells the store: the services of its `not_on_server`
/// items count one more, every other one of the server is reset. `None` for an incomplete
/// listing (nothing changes).
pub fn miss_update(analysis: &Analysis, input: &AnalysisInput<'_>) -> Option<MissUpdate> {
    input.listing_complete.then(|| MissUpdate {
        missing: analysis
            .items
            .iter()
            .filter(|it| it.category == Category::NotOnServer)
            .filter_map(|it| it.service_id(input))
            .collect(),
    })
}

impl App {
    /// The `gone_after` threshold of `server` ([`GoneAfter::of`]).
    pub fn gone_after(&self, server: &Server) -> u32 {
        self.gone_after.of(&server.name)
    }

    /// The stored counts of `server`'s live services (after its latest complete listing),
    /// by service id; services without a count are at 0.
    ///
    /// Errors: the store's, as [`crate::AppError::Store`].
    pub async fn miss_counts(&self, server: &Server) -> Result<HashMap<ServiceId, MissCount>> {
        let gone_after = self.gone_after(server);
        Ok(self
            .store
            .service_misses(server.id)
            .await?
            .into_iter()
            .map(|m| (m.service_id, MissCount::new(m.misses, gone_after)))
            .collect())
    }

    /// The counts an analysis of `server` about to be stored shows ([`DocMisses`]).
    pub(crate) async fn doc_misses(&self, server: &Server, complete: bool) -> Result<DocMisses> {
        Ok(DocMisses {
            stored: self
                .miss_counts(server)
                .await?
                .into_iter()
                .map(|(id, m)| (id, m.misses))
                .collect(),
            counts: complete,
            gone_after: self.gone_after(server),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_after_per_server_overrides_the_default() {
        let g = GoneAfter {
            default: 3,
            servers: HashMap::from([("web1".to_string(), 5), ("web2".to_string(), 0)]),
        };
        assert_eq!((g.of("web1"), g.of("web2"), g.of("web3")), (5, 1, 3));
    }
}
