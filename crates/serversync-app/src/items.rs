//! Reading a stored run's analysis for people and API clients: items with paging, category
//! and text filters, a small cache of parsed runs, and turning selected items into a plan
//! selection.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serversync_core::analysis::{Action, Category, Counts, Field};
use serversync_core::model::{RunId, ServerId, ServiceStatus};
use serversync_core::module::{RemoteAccount, SkippedRecord};
use serversync_core::plan::{Selection, Selector};
use serversync_store::{ListingStatus, Run};
use time::OffsetDateTime;

use crate::{App, AppError, Result};

/// The billing side of an item, as stored in the analysis document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingSide {
    pub service_id: i64,
    pub client_id: i64,
    pub product_id: i64,
    pub domain: String,
    pub username: String,
    pub dedicated_ip: String,
    pub regdate: Option<String>,
    pub status: ServiceStatus,
    pub server_id: Option<i64>,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub client_email: Option<String>,
}

/// One differing field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffDoc {
    pub field: Field,
    pub remote: String,
    pub billing: String,
}

/// One item of a stored analysis (CONTRACT.md "Analysis document" `items[]`), read back into
/// the typed values core wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    pub category: Category,
    pub unique_identifier: Option<String>,
    pub service_id: Option<i64>,
    pub remote: Option<RemoteAccount>,
    pub billing: Option<BillingSide>,
    pub diffs: Vec<DiffDoc>,
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
    #[serde(default)]
    pub related_service_ids: Vec<i64>,
    /// `not_on_server` only: complete listings in a row without the account (this one
    /// included), the server's `gone_after` and whether the service is gone
    /// ([`serversync_core::misses`]); absent in documents stored before issue 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misses: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_after: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<bool>,
}

impl StoredItem {
    /// The item's miss count, when its document has one ("missing in 1 of 3 listings").
    pub fn miss_count(&self) -> Option<serversync_core::misses::MissCount> {
        Some(serversync_core::misses::MissCount::new(
            self.misses?,
            self.gone_after?,
        ))
    }

    /// Whether the differing `field` is among the diffs.
    pub fn differs(&self, field: Field) -> bool {
        self.diffs.iter().any(|d| d.field == field)
    }

    /// The diff of `field`, if it differs.
    pub fn diff(&self, field: Field) -> Option<&DiffDoc> {
        self.diffs.iter().find(|d| d.field == field)
    }

    /// The target an action on this item is selected by: the unique identifier for
    /// import/sync/reactivate, the service id for terminate/move.
    pub fn target(&self, action: Action) -> Option<String> {
        match action {
            Action::Import | Action::Sync | Action::Reactivate => self.unique_identifier.clone(),
            Action::Terminate | Action::Move => self.service_id.map(|i| i.to_string()),
        }
    }

    fn matches(&self, needle: &str) -> bool {
        let hit = |s: &str| s.to_lowercase().contains(needle);
        self.unique_identifier.as_deref().is_some_and(hit)
            || self.remote.as_ref().is_some_and(|r| {
                hit(&r.username)
                    || hit(&r.domain)
                    || hit(&r.product)
                    || r.email.as_deref().is_some_and(hit)
                    || hit(&r.primary_ip)
            })
            || self.billing.as_ref().is_some_and(|b| {
                hit(&b.username)
                    || hit(&b.domain)
                    || b.service_id.to_string() == needle
                    || b.client_email.as_deref().is_some_and(hit)
            })
    }
}

#[derive(Deserialize)]
struct Doc {
    listing: ListingDoc,
    unique_identifier: UidDoc,
    counts: Counts,
    #[serde(default)]
    live_services: usize,
    #[serde(default)]
    warnings: Vec<String>,
    items: Vec<StoredItem>,
    /// Plain `in_sync` items of a compact run (`run_doc`); absent in runs stored before.
    #[serde(default)]
    in_sync_rows: Vec<crate::run_doc::RowIn>,
}

#[derive(Deserialize)]
struct ListingDoc {
    complete: bool,
    accounts: usize,
    #[serde(default)]
    skipped: Vec<SkippedRecord>,
}

#[derive(Deserialize)]
struct UidDoc {
    field: String,
    display_name: String,
}

/// A stored run, parsed for reading.
#[derive(Debug)]
pub struct RunView {
    pub run_id: RunId,
    pub server_id: ServerId,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub listing_status: ListingStatus,
    pub error: Option<String>,
    pub applied_at: Option<OffsetDateTime>,
    pub accounts: usize,
    pub complete: bool,
    pub skipped: Vec<SkippedRecord>,
    pub uid_field: String,
    pub uid_display_name: String,
    pub counts: Counts,
    pub live_services: usize,
    pub warnings: Vec<String>,
    pub items: Vec<StoredItem>,
}

impl RunView {
    fn from_run(run: Run) -> Result<RunView> {
        // What core wrote no longer reads back: the database is damaged, not the request.
        let corrupt = |e: String| {
            AppError::Store(serversync_store::StoreError::Corrupt(format!(
                "runs.id={} analysis_json: stored analysis unreadable: {e}",
                run.id
            )))
        };
        let mut d: Doc = match &run.analysis_json {
            Some(j) => serde_json::from_str(j).map_err(|e| corrupt(e.to_string()))?,
            // A failed listing has no analysis: an empty view of it.
            None => Doc {
                listing: ListingDoc {
                    complete: false,
                    accounts: 0,
                    skipped: run.skipped.clone(),
                },
                unique_identifier: UidDoc {
                    field: "domain".into(),
                    display_name: "Domain".into(),
                },
                counts: Counts::default(),
                live_services: 0,
                warnings: Vec::new(),
                items: Vec::new(),
                in_sync_rows: Vec::new(),
            },
        };
        let rows = std::mem::take(&mut d.in_sync_rows);
        let items = crate::run_doc::expand(std::mem::take(&mut d.items), rows, &run.accounts)
            .map_err(corrupt)?;
        Ok(RunView {
            run_id: run.id,
            server_id: run.server_id,
            started_at: run.started_at,
            finished_at: run.finished_at,
            listing_status: run.listing_status,
            error: run.error,
            applied_at: run.applied_at,
            accounts: d.listing.accounts,
            complete: d.listing.complete,
            skipped: d.listing.skipped,
            uid_field: d.unique_identifier.field,
            uid_display_name: d.unique_identifier.display_name,
            counts: d.counts,
            live_services: d.live_services,
            warnings: d.warnings,
            items,
        })
    }

    /// Items matching `q`, paged.
    pub fn query(&self, q: &ItemQuery) -> ItemPage<'_> {
        let needle = q
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let per_page = q.per_page.clamp(1, 1000);
        let page = q.page.max(1);
        let skip = (page - 1).saturating_mul(per_page);
        let mut total = 0usize;
        let mut items = Vec::with_capacity(per_page);
        for (i, it) in self.items.iter().enumerate() {
            if q.category.is_some_and(|c| c != it.category) {
                continue;
            }
            if needle.as_deref().is_some_and(|n| !it.matches(n)) {
                continue;
            }
            if total >= skip && items.len() < per_page {
                items.push((i, it));
            }
            total += 1;
        }
        ItemPage {
            total,
            page,
            per_page,
            items,
        }
    }

    /// Indexes of every item of `category` that offers `action`.
    pub fn offering(&self, category: Category, action: Action) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, it)| it.category == category && it.actions.contains(&action))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Filters and paging of [`RunView::query`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ItemQuery {
    /// One category; `None` = all.
    pub category: Option<Category>,
    /// Case-insensitive text found in the identifier, username, domain, product, e-mail, IP
    /// or service id.
    pub search: Option<String>,
    /// 1-based.
    pub page: usize,
    pub per_page: usize,
}

/// One page of items: `(index in the run, item)`.
#[derive(Debug)]
pub struct ItemPage<'a> {
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    pub items: Vec<(usize, &'a StoredItem)>,
}

impl ItemPage<'_> {
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page).max(1)
    }
}

/// A selected action on an item of a run (by the item's index in the run).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ItemChoice {
    pub item: usize,
    pub action: Action,
}

/// Turns chosen items into a plan selection; a choice of an item that does not offer the
/// action, an unknown item, or an item whose state (`states`, by index) is not selectable
/// (applied, stale) is an error naming it.
pub fn selection_from_choices(
    view: &RunView,
    choices: &[ItemChoice],
    states: &[crate::states::ItemStatus],
) -> Result<Selection> {
    let mut sel = Selection::default();
    for c in choices {
        let it = view.items.get(c.item).ok_or_else(|| {
            AppError::Invalid(format!("run {} has no item {}", view.run_id, c.item))
        })?;
        crate::states::check_selectable(view, c.item, states)?;
        if !it.actions.contains(&c.action) {
            return Err(AppError::Invalid(format!(
                "item {} ({} {}) does not offer {}",
                c.item,
                it.category.as_str(),
                it.unique_identifier.as_deref().unwrap_or(""),
                c.action.as_str()
            )));
        }
        let target = it.target(c.action).ok_or_else(|| {
            AppError::Invalid(format!(
                "item {} has no target for {}",
                c.item,
                c.action.as_str()
            ))
        })?;
        let slot = sel.slot(c.action);
        match slot {
            Some(Selector::Only(v)) => {
                if !v.contains(&target) {
                    v.push(target)
                }
            }
            _ => *slot = Some(Selector::Only(vec![target])),
        }
    }
    Ok(sel)
}

/// The most recently read runs, parsed (a 100,000-item run is parsed once, not per page),
/// and their item states.
#[derive(Default)]
pub struct RunCache {
    runs: Mutex<Vec<CachedRun>>,
    pub(crate) states: Mutex<Vec<CachedStates>>,
}

/// A parsed run and the data version ([`App::data_version`]) it was read at.
struct CachedRun {
    version: Option<i64>,
    view: Arc<RunView>,
}

/// The item states of a run as computed at `at`, when the newest audit event was
/// `newest_event` (every write serversync makes is audited, so an unchanged newest event
/// means unchanged records).
pub(crate) struct CachedStates {
    pub run_id: RunId,
    pub newest_event: Option<i64>,
    pub at: std::time::Instant,
    pub states: Arc<Vec<crate::states::ItemStatus>>,
}

/// How many parsed runs are kept.
const CACHED_RUNS: usize = 6;

impl RunCache {
    /// The cached view of run `id` if it was read at data version `version`.
    fn get(&self, id: RunId, version: Option<i64>) -> Option<Arc<RunView>> {
        let mut runs = self.runs.lock().ok()?;
        let pos = runs.iter().position(|r| r.view.run_id == id)?;
        let r = runs.remove(pos);
        if r.version != version {
            // Written since (by this instance or another one): read it again.
            return None;
        }
        let view = r.view.clone();
        runs.push(r);
        Some(view)
    }

    fn put(&self, view: Arc<RunView>, version: Option<i64>) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.retain(|r| r.view.run_id != view.run_id);
            runs.push(CachedRun { version, view });
            if runs.len() > CACHED_RUNS {
                runs.remove(0);
            }
        }
    }

    /// Forgets a run (e.g. after it was applied: `applied_at` changed). Only a shortcut:
    /// a run applied by another instance is found stale by its data version.
    pub fn forget(&self, id: RunId) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.retain(|r| r.view.run_id != id);
        }
        if let Ok(mut states) = self.states.lock() {
            states.retain(|s| s.run_id != id);
        }
    }
}

impl App {
    /// The version of the stored data: the id of the newest audit event (`None` while
    /// there is none). Every write serversync makes on any instance is audited in its
    /// transaction, so an unchanged version means unchanged records and runs' apply marks;
    /// one cheap query (the newest row of an index).
    pub async fn data_version(&self) -> Result<Option<i64>> {
        Ok(self
            .store
            .audit_events(None, None, None, 1)
            .await?
            .first()
            .map(|e| e.id))
    }

    /// A stored run, parsed (from `cache` when it was parsed at the current
    /// [`App::data_version`]).
    pub async fn run_view(&self, cache: &RunCache, run_id: RunId) -> Result<Arc<RunView>> {
        let version = self.data_version().await?;
        if let Some(v) = cache.get(run_id, version) {
            return Ok(v);
        }
        let run = self.store.run(run_id).await?;
        let view = Arc::new(
            tokio::task::spawn_blocking(move || RunView::from_run(run))
                .await
                .map_err(|e| AppError::Internal(format!("reading run {run_id}: {e}")))??,
        );
        cache.put(view.clone(), version);
        Ok(view)
    }
}

/// The categories in display order with their counts.
pub fn category_counts(c: &Counts) -> Vec<(&'static str, usize)> {
    Category::ALL
        .iter()
        .map(|k| (k.as_str(), c.get(*k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(category: Category, uid: &str) -> StoredItem {
        StoredItem {
            category,
            unique_identifier: Some(uid.into()),
            service_id: None,
            remote: None,
            billing: None,
            diffs: Vec::new(),
            actions: Vec::new(),
            notes: Vec::new(),
            related_service_ids: Vec::new(),
            misses: None,
            gone_after: None,
            gone: None,
        }
    }

    fn view(items: Vec<StoredItem>) -> RunView {
        RunView {
            run_id: 1,
            server_id: 1,
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            listing_status: ListingStatus::Complete,
            error: None,
            applied_at: None,
            accounts: items.len(),
            complete: true,
            skipped: Vec::new(),
            uid_field: "domain".into(),
            uid_display_name: "Domain".into(),
            counts: Counts::default(),
            live_services: 0,
            warnings: Vec::new(),
            items,
        }
    }

    #[test]
    fn paging_and_filters() {
        let v = view(
            (0..25)
                .map(|i| {
                    item(
                        if i % 5 == 0 {
                            Category::OutOfSync
                        } else {
                            Category::InSync
                        },
                        &format!("d{i}.test"),
                    )
                })
                .collect(),
        );
        let q = |category: Option<Category>, search: Option<&str>, page: usize| ItemQuery {
            category,
            search: search.map(str::to_string),
            page,
            per_page: 10,
        };
        let p = v.query(&q(None, None, 3));
        assert_eq!((p.total, p.page, p.items.len()), (25, 3, 5));
        assert_eq!(p.items[0].0, 20);
        let p = v.query(&q(Some(Category::OutOfSync), None, 1));
        assert_eq!(
            (p.total, p.items.iter().map(|x| x.0).collect::<Vec<_>>()),
            (5, vec![0, 5, 10, 15, 20])
        );
        let p = v.query(&q(None, Some("D1"), 1));
        assert_eq!(p.total, 11); // d1, d10..d19
                                 // Past the end: an empty page (API clients page until empty), no overflow.
        let p = v.query(&q(None, None, usize::MAX));
        assert_eq!((p.total, p.items.len()), (25, 0));
    }
}
