//! Reads behind the JSON API, with typed arguments: the server overview, a server's run
//! history, the audit log, the records lists, and the checks of item paging and of an
//! apply's selection. The web crate parses queries and bodies into these (its DTOs) and
//! shapes the answers; nothing here knows HTTP or JSON.

use serversync_core::analysis::Category;
use serversync_core::model::{Product, RunId, Server, Service, ServiceId};
use serversync_core::plan::{ImportDefaults, Selection, Selector};
use serversync_store::{AuditEvent, AuditFilter, RunSummary};

use crate::items::{selection_from_choices, ItemChoice, ItemQuery, RunView};
use crate::{App, AppError, ApplyRequest, Result};

/// Default and largest page sizes of item listings.
pub const ITEMS_PER_PAGE: usize = 100;
pub const MAX_ITEMS_PER_PAGE: usize = 1000;
/// Default and largest page sizes of the audit log.
pub const AUDIT_LIMIT: i64 = 100;
pub const MAX_AUDIT_LIMIT: i64 = 1000;
/// Default and largest numbers of runs in a server's history.
pub const RUN_HISTORY_LIMIT: i64 = 20;
pub const MAX_RUN_HISTORY_LIMIT: i64 = 1000;

/// A history's `limit` (a server's runs or sync jobs): default [`RUN_HISTORY_LIMIT`],
/// `Invalid` outside 1..=[`MAX_RUN_HISTORY_LIMIT`].
pub(crate) fn history_limit(limit: Option<i64>) -> Result<i64> {
    let limit = limit.unwrap_or(RUN_HISTORY_LIMIT);
    if !(1..=MAX_RUN_HISTORY_LIMIT).contains(&limit) {
        return Err(AppError::Invalid(format!(
            "limit: must be between 1 and {MAX_RUN_HISTORY_LIMIT}, got {limit}"
        )));
    }
    Ok(limit)
}

/// Checks the paging of an item listing (`page` ≥ 1, default 1; `per_page` 1..=1000,
/// default 100). Errors name the field (`page: …`, `per_page: …`).
pub fn item_query(
    category: Option<Category>,
    search: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
) -> Result<ItemQuery> {
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(AppError::Invalid("page: pages start at 1".into()));
    }
    let per_page = per_page.unwrap_or(ITEMS_PER_PAGE);
    if per_page == 0 || per_page > MAX_ITEMS_PER_PAGE {
        return Err(AppError::Invalid(format!(
            "per_page: must be between 1 and {MAX_ITEMS_PER_PAGE}, got {per_page}"
        )));
    }
    Ok(ItemQuery {
        category,
        search: search.filter(|s| !s.trim().is_empty()),
        page,
        per_page,
    })
}

/// Filters of the audit log (all optional; `server` is a name or id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub server: Option<String>,
    pub run: Option<RunId>,
    pub service: Option<ServiceId>,
    /// Exact actor, e.g. `api:deploy`.
    pub actor: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    /// ≥ 0, default 0.
    pub offset: Option<i64>,
}

/// A page of the audit log and how many events match in all.
#[derive(Clone, Debug)]
pub struct AuditPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub events: Vec<AuditEvent>,
}

/// Where a server's billing stands and what its last run found.
#[derive(Clone, Debug)]
pub struct ServerOverview {
    pub server: Server,
    pub live_services: usize,
    pub last_run: Option<RunSummary>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl App {
    /// Every server with its live services count and its latest run.
    pub async fn server_overview(&self) -> Result<Vec<ServerOverview>> {
        // A fixed number of reads for the whole fleet, not one per server ([`App::fleet`]).
        Ok(self
            .fleet(1)
            .await?
            .into_iter()
            .map(|f| ServerOverview {
                server: f.server,
                live_services: f.live_services,
                last_run: f.runs.into_iter().next(),
            })
            .collect())
    }

    /// A server's runs, newest first (`limit` default 20, 1..=1000).
    pub async fn run_history(&self, server: &str, limit: Option<i64>) -> Result<Vec<RunSummary>> {
        let limit = history_limit(limit)?;
        let server = self.store.server(server).await?;
        Ok(self.store.runs(server.id, limit).await?)
    }

    /// The audit log, filtered and paged (`limit` default 100, at most 1000).
    pub async fn audit_page(&self, q: &AuditQuery) -> Result<AuditPage> {
        let server_id = match non_empty(q.server.as_deref()) {
            Some(s) => Some(self.store.server(s).await?.id),
            None => None,
        };
        let limit = q.limit.unwrap_or(AUDIT_LIMIT);
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit: must be between 1 and {MAX_AUDIT_LIMIT}, got {limit}"
            )));
        }
        let offset = q.offset.unwrap_or(0);
        if offset < 0 {
            return Err(AppError::Invalid(format!(
                "offset: must not be negative, got {offset}"
            )));
        }
        let filter = AuditFilter {
            server_id,
            run_id: q.run,
            service_id: q.service,
            actor: non_empty(q.actor.as_deref()).map(str::to_string),
            limit,
            offset,
        };
        let total = self.store.audit_count(&filter).await?;
        let events = self.store.audit_query(&filter).await?;
        Ok(AuditPage {
            total,
            limit,
            offset,
            events,
        })
    }

    /// Every product, by id.
    pub async fn products(&self) -> Result<Vec<Product>> {
        Ok(self.store.products().await?)
    }

    /// Services (of one server, by name or id, when given).
    pub async fn services_of(&self, server: Option<&str>) -> Result<Vec<Service>> {
        let server_id = match non_empty(server) {
            Some(s) => Some(self.store.server(s).await?.id),
            None => None,
        };
        Ok(self.store.services(server_id).await?)
    }

    /// The server a run belongs to.
    pub async fn run_server(&self, view: &RunView) -> Result<Server> {
        Ok(self.store.server_by_id(view.server_id).await?)
    }
}

/// What an API client selected to apply, already typed: per action `All` or targets
/// (unique identifiers; service ids for `terminate` and `move`), single items by index,
/// the flags and the import defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyInput {
    pub import: Option<Selector>,
    pub sync: Option<Selector>,
    pub reactivate: Option<Selector>,
    pub terminate: Option<Selector>,
    pub moves: Option<Selector>,
    pub items: Vec<ItemChoice>,
    pub dry_run: bool,
    pub force: bool,
    pub defaults: ImportDefaults,
}

fn merge(slot: &mut Option<Selector>, add: Option<Selector>) {
    match (slot.as_mut(), add) {
        (_, None) => {}
        (None, Some(a)) => *slot = Some(a),
        (Some(Selector::All), Some(_)) => {}
        (Some(Selector::Only(_)), Some(Selector::All)) => *slot = Some(Selector::All),
        (Some(Selector::Only(v)), Some(Selector::Only(more))) => {
            for t in more {
                if !v.contains(&t) {
                    v.push(t);
                }
            }
        }
    }
}

/// The [`ApplyRequest`] of `input` on run `view` (of `server`): the chosen items (checked
/// against `states`, by index: applied and stale items are refused) merged with the
/// per-action selectors. Errors: an item that cannot be chosen (`items: …`), or nothing
/// selected (`body: nothing selected …`).
pub fn apply_request(
    view: &RunView,
    server: &Server,
    input: ApplyInput,
    states: &[crate::states::ItemStatus],
) -> Result<ApplyRequest> {
    let mut selection = if input.items.is_empty() {
        Selection::default()
    } else {
        selection_from_choices(view, &input.items, states)
            .map_err(|e| AppError::Invalid(format!("items: {e}")))?
    };
    merge(&mut selection.import, input.import);
    merge(&mut selection.sync, input.sync);
    merge(&mut selection.reactivate, input.reactivate);
    merge(&mut selection.terminate, input.terminate);
    merge(&mut selection.moves, input.moves);
    if selection.is_empty() {
        return Err(AppError::Invalid(
            "body: nothing selected (give import, sync, reactivate, terminate, move or items)"
                .into(),
        ));
    }
    Ok(ApplyRequest {
        server: server.name.clone(),
        run: Some(view.run_id),
        selection,
        dry_run: input.dry_run,
        force: input.force,
        defaults: input.defaults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_paging_is_checked_and_named() {
        let q = item_query(None, Some("  ".into()), None, None).unwrap();
        assert_eq!((q.page, q.per_page, q.search), (1, ITEMS_PER_PAGE, None));
        let err = |r: Result<ItemQuery>| r.unwrap_err().to_string();
        assert_eq!(
            err(item_query(None, None, Some(0), None)),
            "page: pages start at 1"
        );
        assert_eq!(
            err(item_query(None, None, None, Some(1001))),
            "per_page: must be between 1 and 1000, got 1001"
        );
        let q = item_query(Some(Category::Moved), Some("a".into()), Some(3), Some(7)).unwrap();
        assert_eq!(
            (q.category, q.search.as_deref(), q.page, q.per_page),
            (Some(Category::Moved), Some("a"), 3, 7)
        );
    }

    #[test]
    fn selectors_merge_without_duplicates() {
        let mut slot = Some(Selector::Only(vec!["a".into()]));
        merge(
            &mut slot,
            Some(Selector::Only(vec!["a".into(), "b".into()])),
        );
        assert_eq!(slot, Some(Selector::Only(vec!["a".into(), "b".into()])));
        merge(&mut slot, Some(Selector::All));
        assert_eq!(slot, Some(Selector::All));
        merge(&mut slot, Some(Selector::Only(vec!["c".into()])));
        assert_eq!(slot, Some(Selector::All));
    }
}
