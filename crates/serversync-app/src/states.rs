//! The state of each item of a stored run (issue 9, item 1): `open`, `applied` (with its
//! audit events), `refused` (with the reason) or `stale` (a service it touches changed since
//! the analysis). Derived from the audit events every real apply writes (they name the run,
//! the service and the action) and the services' current versions: nothing else is stored.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serversync_core::analysis::{billing_identifier, identifier_key, Action};
use serversync_core::model::{RunId, Service, ServiceId, ServiceStatus};
use serversync_core::module::UniqueIdField;
use serversync_store::AuditEvent;

use crate::apply::{ItemRef, REFUSED_EVENT};
use std::sync::Arc;

use crate::items::{CachedStates, RunCache, RunView, StoredItem};

/// How many runs' item states are kept.
const CACHED_STATES: usize = 6;
use crate::{App, AppError, Result};

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Nothing was applied to it; it can be selected.
    Open,
    /// An apply of this run wrote it; it cannot be selected again.
    Applied,
    /// The last apply of this run that selected it refused it.
    Refused,
    /// A service it touches changed since the analysis: analyse again.
    Stale,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Open => "open",
            ItemState::Applied => "applied",
            ItemState::Refused => "refused",
            ItemState::Stale => "stale",
        }
    }

    /// Whether its actions may be ticked (`open` and `refused` items).
    pub fn selectable(self) -> bool {
        matches!(self, ItemState::Open | ItemState::Refused)
    }
}

/// An item's state with its details (the API item fields `state`, `state_action`,
/// `audit_event_ids`, `state_reason`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStatus {
    pub state: ItemState,
    /// The action applied or refused.
    #[serde(rename = "state_action", skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The audit events of the applied action, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit_event_ids: Vec<i64>,
    /// Why it was refused, or which service changed.
    #[serde(rename = "state_reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ItemStatus {
    fn open() -> Self {
        ItemStatus {
            state: ItemState::Open,
            action: None,
            audit_event_ids: Vec::new(),
            reason: None,
        }
    }
}

/// The fields of an import event's `after` (a service without its id) that carry its key.
#[derive(Deserialize)]
struct ImportedDoc {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    custom_fields: BTreeMap<String, String>,
}

impl ImportedDoc {
    fn key(self, field: &UniqueIdField) -> Option<String> {
        let s = Service {
            id: 0,
            client_id: 0,
            product_id: 0,
            server_id: None,
            domain: self.domain,
            username: self.username,
            dedicated_ip: String::new(),
            regdate: None,
            status: ServiceStatus::Pending,
            billing_cycle: String::new(),
            amount: String::new(),
            next_due_date: None,
            termination_date: None,
            custom_fields: self.custom_fields,
            version: 0,
        };
        identifier_key(field, billing_identifier(field, &s))
    }
}

fn parse_action(s: &str) -> Option<Action> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// One event about an item: what it did to which target.
struct Touch<'e> {
    event: &'e AuditEvent,
    action: Action,
    refused: bool,
}

/// The billing records a run's items are checked against: the current version of every
/// service (one missing was deleted), and the live services of the run's server by
/// identifier key (an account to import whose key one of them now has is stale).
#[derive(Debug, Default)]
pub struct Current {
    pub versions: HashMap<ServiceId, i64>,
    pub live_keys: HashMap<String, ServiceId>,
}

/// The state of every item of `view` (same order), from the run's audit `events` (any
/// order) and the `current` records. `field` is the run's unique identifier field. An event
/// that names no item it can be matched to is ignored.
pub fn item_states(
    view: &RunView,
    events: &[AuditEvent],
    current: &Current,
    field: &UniqueIdField,
) -> Vec<ItemStatus> {
    let mut by_service: HashMap<ServiceId, Vec<Touch<'_>>> = HashMap::new();
    let mut by_key: HashMap<String, Vec<Touch<'_>>> = HashMap::new();
    for e in events.iter().filter(|e| e.run_id == Some(view.run_id)) {
        if e.action == REFUSED_EVENT {
            let Some(r) = e
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str::<ItemRef>(a).ok())
            else {
                continue;
            };
            let t = Touch {
                event: e,
                action: r.action,
                refused: true,
            };
            match (r.action, e.service_id) {
                (Action::Import, _) => {
                    if let Some(k) = identifier_key(field, &r.target) {
                        by_key.entry(k).or_default().push(t);
                    }
                }
                (_, Some(id)) => by_service.entry(id).or_default().push(t),
                _ => {}
            }
            continue;
        }
        let Some(action) = parse_action(&e.action) else {
            continue;
        };
        let t = Touch {
            event: e,
            action,
            refused: false,
        };
        if action == Action::Import {
            let key = e
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str::<ImportedDoc>(a).ok())
                .and_then(|d| d.key(field));
            if let Some(k) = key {
                by_key.entry(k).or_default().push(t);
            }
        } else if let Some(id) = e.service_id {
            by_service.entry(id).or_default().push(t);
        }
    }
    view.items
        .iter()
        .map(|it| state_of(it, field, &by_service, &by_key, current))
        .collect()
}

fn state_of(
    it: &StoredItem,
    field: &UniqueIdField,
    by_service: &HashMap<ServiceId, Vec<Touch<'_>>>,
    by_key: &HashMap<String, Vec<Touch<'_>>>,
    current: &Current,
) -> ItemStatus {
    let versions = &current.versions;
    let offers = |a: Action| it.actions.contains(&a);
    let service_id = it.service_id.or(it.billing.as_ref().map(|b| b.service_id));
    let import_key = offers(Action::Import)
        .then(|| {
            it.unique_identifier
                .as_deref()
                .and_then(|u| identifier_key(field, u))
        })
        .flatten();
    let touches: Vec<&Touch<'_>> = if offers(Action::Import) {
        import_key
            .as_ref()
            .and_then(|k| by_key.get(k))
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    } else {
        service_id
            .and_then(|id| by_service.get(&id))
            .map(|v| v.iter().filter(|t| offers(t.action)).collect())
            .unwrap_or_default()
    };
    let applied: Vec<&&Touch<'_>> = touches.iter().filter(|t| !t.refused).collect();
    if let Some(first) = applied.first() {
        let mut ids: Vec<i64> = applied.iter().map(|t| t.event.id).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        return ItemStatus {
            state: ItemState::Applied,
            action: Some(first.action),
            audit_event_ids: ids,
            reason: None,
        };
    }
    if let (Some(id), Some(b)) = (service_id, it.billing.as_ref()) {
        // Runs stored before versions were kept read 0: never called stale.
        if b.version > 0 && versions.get(&id) != Some(&b.version) {
            return ItemStatus {
                state: ItemState::Stale,
                action: None,
                audit_event_ids: Vec::new(),
                reason: Some(match versions.get(&id) {
                    Some(_) => format!("service {id} changed since this run was analysed"),
                    None => format!("service {id} was deleted since this run was analysed"),
                }),
            };
        }
    }
    if let Some(id) = import_key.as_ref().and_then(|k| current.live_keys.get(k)) {
        return ItemStatus {
            state: ItemState::Stale,
            action: None,
            audit_event_ids: Vec::new(),
            reason: Some(format!(
                "live service {id} with this unique identifier was added since this run was analysed"
            )),
        };
    }
    let newest_refusal = touches
        .iter()
        .filter(|t| t.refused)
        .max_by_key(|t| t.event.id);
    match newest_refusal {
        Some(t) => ItemStatus {
            state: ItemState::Refused,
            action: Some(t.action),
            audit_event_ids: vec![t.event.id],
            reason: t.event.note.clone(),
        },
        None => ItemStatus::open(),
    }
}

/// How long cached item states are trusted without recomputing, even when no audit event
/// was added (bounds how long a write that bypassed serversync goes unnoticed).
const STATES_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl App {
    /// The state of every item of a stored run (see [`item_states`]), from `cache` when no
    /// audit event was written since they were computed (and within [`STATES_TTL`]); else
    /// read from the run's audit events and the current services (one read of every service:
    /// this keeps page views of a 100,000-item run cheap).
    pub async fn run_item_states(
        &self,
        cache: &RunCache,
        view: &RunView,
    ) -> Result<Arc<Vec<ItemStatus>>> {
        let newest = self.data_version().await?;
        if let Ok(states) = cache.states.lock() {
            if let Some(c) = states.iter().find(|c| {
                c.run_id == view.run_id && c.newest_event == newest && c.at.elapsed() < STATES_TTL
            }) {
                return Ok(c.states.clone());
            }
        }
        let states = Arc::new(self.compute_item_states(view).await?);
        if let Ok(mut cached) = cache.states.lock() {
            cached.retain(|c| c.run_id != view.run_id);
            cached.push(CachedStates {
                run_id: view.run_id,
                newest_event: newest,
                at: std::time::Instant::now(),
                states: states.clone(),
            });
            if cached.len() > CACHED_STATES {
                cached.remove(0);
            }
        }
        Ok(states)
    }

    /// [`App::run_item_states`] without the cache.
    pub async fn compute_item_states(&self, view: &RunView) -> Result<Vec<ItemStatus>> {
        let field: UniqueIdField = view.uid_field.parse().map_err(|e| {
            AppError::Invalid(format!(
                "run {}: stored unique identifier field: {e}",
                view.run_id
            ))
        })?;
        let events = self
            .store
            .audit_events(None, Some(view.run_id), None, 0)
            .await?;
        let mut current = Current::default();
        for s in self.store.services(None).await? {
            current.versions.insert(s.id, s.version);
            if s.server_id == Some(view.server_id) && s.status.is_live() {
                if let Some(k) = identifier_key(&field, billing_identifier(&field, &s)) {
                    current.live_keys.insert(k, s.id);
                }
            }
        }
        Ok(item_states(view, &events, &current, &field))
    }
}

/// An error when item `index` of `view` may not be selected (its state is applied or stale):
/// `item 3 (carol.test) is applied: it cannot be selected again`.
pub fn check_selectable(view: &RunView, index: usize, states: &[ItemStatus]) -> Result<()> {
    match states.get(index) {
        Some(s) if !s.state.selectable() => {
            let what = view
                .items
                .get(index)
                .and_then(|it| it.unique_identifier.clone())
                .unwrap_or_default();
            Err(AppError::Invalid(match s.state {
                ItemState::Stale => format!(
                    "item {index} ({what}) is stale: a service it touches changed since run {} was analysed; sync the server again",
                    view.run_id
                ),
                _ => format!("item {index} ({what}) is applied: it cannot be selected again"),
            }))
        }
        _ => Ok(()),
    }
}

/// Whether any item of the run is stale (the page then offers to sync the server again).
pub fn any_stale(states: &[ItemStatus]) -> bool {
    states.iter().any(|s| s.state == ItemState::Stale)
}

/// The audit page of an item's events (`/audit?run=7&service=1000`).
pub fn audit_href(run: RunId, service_id: Option<ServiceId>) -> String {
    match service_id {
        Some(s) => format!("/audit?run={run}&service={s}"),
        None => format!("/audit?run={run}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::BillingSide;
    use serversync_core::analysis::{Category, Counts};
    use serversync_store::ListingStatus;
    use time::OffsetDateTime;

    fn item(
        category: Category,
        uid: &str,
        service: Option<(i64, i64)>,
        action: Option<Action>,
    ) -> StoredItem {
        StoredItem {
            category,
            unique_identifier: Some(uid.into()),
            service_id: service.map(|s| s.0),
            remote: None,
            billing: service.map(|(id, version)| BillingSide {
                service_id: id,
                client_id: 1,
                product_id: 10,
                domain: uid.into(),
                username: "u".into(),
                dedicated_ip: String::new(),
                regdate: None,
                status: ServiceStatus::Active,
                server_id: Some(100),
                version,
                client_email: None,
            }),
            diffs: Vec::new(),
            actions: action.into_iter().collect(),
            notes: Vec::new(),
            related_service_ids: Vec::new(),
            misses: None,
            gone_after: None,
            gone: None,
        }
    }

    fn event(id: i64, run: i64, action: &str, service: Option<i64>) -> AuditEvent {
        AuditEvent {
            id,
            at: OffsetDateTime::UNIX_EPOCH,
            actor: "cli:test".into(),
            action: action.into(),
            server_id: Some(100),
            run_id: Some(run),
            service_id: service,
            client_id: None,
            before: None,
            after: None,
            note: None,
        }
    }

    #[test]
    fn states_from_events_and_versions() {
        let view = RunView {
            run_id: 7,
            server_id: 100,
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            listing_status: ListingStatus::Complete,
            error: None,
            applied_at: None,
            accounts: 0,
            complete: true,
            skipped: Vec::new(),
            uid_field: "domain".into(),
            uid_display_name: "Domain".into(),
            counts: Counts::default(),
            live_services: 0,
            warnings: Vec::new(),
            items: vec![
                item(
                    Category::OutOfSync,
                    "a.test",
                    Some((1, 1)),
                    Some(Action::Sync),
                ),
                item(
                    Category::NotInBilling,
                    "new.test",
                    None,
                    Some(Action::Import),
                ),
                item(
                    Category::NotOnServer,
                    "gone.test",
                    Some((2, 1)),
                    Some(Action::Terminate),
                ),
                item(
                    Category::OutOfSync,
                    "c.test",
                    Some((3, 1)),
                    Some(Action::Sync),
                ),
                item(Category::InSync, "d.test", Some((4, 1)), None),
                item(
                    Category::NotOnServer,
                    "moved.test",
                    Some((5, 1)),
                    Some(Action::Terminate),
                ),
                item(
                    Category::NotInBilling,
                    "taken.test",
                    None,
                    Some(Action::Import),
                ),
            ],
        };
        let mut import = event(11, 7, "import", Some(900));
        import.after = Some(r#"{"domain":"New.TEST.","username":"n"}"#.into());
        let mut refused = event(12, 7, REFUSED_EVENT, Some(3));
        refused.after = Some(r#"{"action":"sync","target":"c.test"}"#.into());
        refused.note = Some("service 3 changed since run 7 was analysed".into());
        let events = vec![
            event(10, 7, "sync", Some(1)),
            import,
            refused,
            // Another run's event, and a move of service 5 (this run offers it no move).
            event(13, 8, "sync", Some(4)),
            event(14, 8, "move", Some(5)),
        ];
        let current = Current {
            versions: [(1, 2), (2, 5), (3, 1), (4, 1), (5, 2), (900, 1), (901, 1)].into(),
            // new.test was imported by this run (applied wins); taken.test by someone else.
            live_keys: [
                ("new.test".to_string(), 900),
                ("taken.test".to_string(), 901),
            ]
            .into(),
        };
        let s = item_states(&view, &events, &current, &UniqueIdField::Domain);
        let states: Vec<_> = s.iter().map(|x| x.state).collect();
        assert_eq!(
            states,
            vec![
                ItemState::Applied,
                ItemState::Applied,
                ItemState::Stale,
                ItemState::Refused,
                ItemState::Open,
                ItemState::Stale,
                ItemState::Stale,
            ]
        );
        assert_eq!(
            s[6].reason.as_deref(),
            Some("live service 901 with this unique identifier was added since this run was analysed")
        );
        assert_eq!(s[0].action, Some(Action::Sync));
        assert_eq!(s[0].audit_event_ids, vec![10]);
        assert_eq!(s[1].audit_event_ids, vec![11]);
        assert_eq!(
            s[2].reason.as_deref(),
            Some("service 2 changed since this run was analysed")
        );
        assert_eq!(
            s[3].reason.as_deref(),
            Some("service 3 changed since run 7 was analysed")
        );
        assert!(!ItemState::Applied.selectable() && !ItemState::Stale.selectable());
        assert!(any_stale(&s));
        // Deleted service: stale with that reason.
        let s = item_states(&view, &[], &Current::default(), &UniqueIdField::Domain);
        assert_eq!(
            s[0].reason.as_deref(),
            Some("service 1 was deleted since this run was analysed")
        );
        let json =
            serde_json::to_value(&item_states(&view, &events, &current, &UniqueIdField::Domain)[0])
                .unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"state": "applied", "state_action": "sync", "audit_event_ids": [10]})
        );
    }
}
