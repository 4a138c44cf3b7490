//! The fleet index of one scan pass: the live services of every server, by the hash of
//! their unique identifier's key, per module.
//!
//! An analysis needs the live services of the *other* servers of its module only for the
//! `moved` category, and only those whose key equals a listed account's. Loading them whole
//! for each server (`live_services_of_module`) reads the whole fleet's billing once per
//! server: 500 servers × 500,000 services. The pass instead indexes them once (24 bytes a
//! service), and after each listing reads by id just the few services whose key hash
//! matches — the analysis then compares the exact keys, so a hash collision costs one read
//! and changes nothing.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serversync_core::analysis::{billing_identifier, identifier_key};
use serversync_core::model::{Product, Server, ServerId, ServiceId};
use serversync_core::module::{Listing, MetaData, UniqueIdField};
use serversync_store::StoreError;

use crate::{App, Billing, RecordMaps, Result};

/// See the module docs. Built by [`FleetIndex::build`] at the start of a pass.
pub(crate) struct FleetIndex {
    /// Every product, read once for the pass.
    pub(crate) products: Vec<Product>,
    /// Every client's e-mail by id, read once for the pass (500 servers × every client was
    /// the pass's cost): all an analysis reads of the clients.
    pub(crate) emails: std::sync::Arc<HashMap<i64, String>>,
    /// Every server's name by id (for "moved from web2" notes), read once for the pass.
    pub(crate) server_names: HashMap<ServerId, String>,
    modules: HashMap<String, ModuleIndex>,
}

/// One module's live services: (key hash, service, server), sorted.
struct ModuleIndex {
    field: UniqueIdField,
    entries: Vec<(u64, ServiceId, ServerId)>,
}

fn hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl FleetIndex {
    /// Indexes the live services of every server (enabled or not) of `modules`. A module the
    /// registry does not know is left out (its servers fail to scan anyway).
    pub(crate) async fn build(app: &App, modules: &[String]) -> Result<Self> {
        let products = app.store.products().await?;
        let emails = std::sync::Arc::new(app.store.client_emails().await?);
        let servers = app.store.servers().await?;
        let mut out = HashMap::new();
        for module in modules {
            let Ok(m) = app.registry.get(module) else {
                continue;
            };
            let field = m.meta().unique_identifier_field.clone();
            let mut entries = Vec::new();
            // Server by server: never the whole fleet's services in memory at once.
            for srv in servers.iter().filter(|s| &s.module == module) {
                for svc in app.store.services(Some(srv.id)).await? {
                    if !svc.status.is_live() {
                        continue;
                    }
                    if let Some(k) = identifier_key(&field, billing_identifier(&field, &svc)) {
                        entries.push((hash(&k), svc.id, srv.id));
                    }
                }
            }
            entries.sort_unstable();
            entries.shrink_to_fit();
            out.insert(module.clone(), ModuleIndex { field, entries });
        }
        Ok(FleetIndex {
            products,
            emails,
            server_names: servers.iter().map(|s| (s.id, s.name.clone())).collect(),
            modules: out,
        })
    }

    /// Fills `billing.other_live` of `server` after its listing: the live services of the
    /// module's other servers whose key hash equals a listed account's, read by id (as they
    /// are now; one deleted meanwhile is left out).
    pub(crate) async fn narrow(
        &self,
        app: &App,
        server: &Server,
        meta: &MetaData,
        listing: &Listing,
        billing: &mut Billing,
    ) -> Result<()> {
        let Some(m) = self.modules.get(&server.module) else {
            return Ok(());
        };
        let mut ids = Vec::new();
        for a in &listing.accounts {
            let Some(k) = identifier_key(&m.field, &a.unique_identifier) else {
                continue;
            };
            let h = hash(&k);
            let start = m.entries.partition_point(|e| e.0 < h);
            for e in m.entries[start..].iter().take_while(|e| e.0 == h) {
                if e.2 != server.id {
                    ids.push(e.1);
                }
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        let maps = RecordMaps::new(
            &billing.products,
            std::sync::Arc::clone(&self.emails),
            &meta.product_field,
        );
        for id in ids {
            match app.store.service(id).await {
                Ok(s) if s.status.is_live() && s.server_id.is_some_and(|sid| sid != server.id) => {
                    billing.other_live.push(maps.record(s));
                }
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
