//! Apply-time checks that need the store: a move whose account the service's current server
//! still lists, and the audit record of refused items.

use std::collections::{HashMap, HashSet};

use serversync_core::analysis::{
    billing_identifier, identifier_key, Action, Analysis, AnalysisInput,
};
use serversync_core::model::{RunId, ServerId, ServiceId};
use serversync_core::module::UniqueIdField;
use serversync_core::plan::{Plan, Refusal};
use serversync_store::{AuditEvent, ListingStatus, NewAuditEvent};

use super::{Ctx, ItemOutcome, ItemRef, ItemResult, REFUSED_EVENT};
use crate::{App, AppError, Result};

/// Moves whose account the service's current server still listed at its latest complete run
/// (by service id, with the reason): such a move would leave the account billed on neither
/// or both. A server with no complete run refuses nothing here.
pub(super) async fn still_listed(
    app: &App,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
    plan: &Plan,
    field: &UniqueIdField,
) -> Result<HashMap<ServiceId, String>> {
    let mut by_server: HashMap<ServerId, Vec<(ServiceId, String)>> = HashMap::new();
    for p in plan.actions.iter().filter(|p| p.action == Action::Move) {
        let Some(rec) = analysis.items[p.item].billing_record(input) else {
            continue;
        };
        let (Some(from), Some(key)) = (
            rec.service.server_id,
            identifier_key(field, billing_identifier(field, &rec.service)),
        ) else {
            continue;
        };
        by_server
            .entry(from)
            .or_default()
            .push((rec.service.id, key));
    }
    let mut out = HashMap::new();
    for (server_id, services) in by_server {
        let runs = app.store.runs(server_id, 0).await?;
        let Some(latest) = runs
            .iter()
            .find(|r| r.listing_status == ListingStatus::Complete)
        else {
            continue;
        };
        let run = app.store.run(latest.id).await?;
        // Named for people, with the id for scripts (a server that cannot be read by its id).
        let current = match app.store.server_by_id(server_id).await {
            Ok(s) => format!("{} (server {})", s.name, s.id),
            Err(_) => format!("server {server_id}"),
        };
        let listed: HashSet<String> = run
            .accounts
            .iter()
            .filter_map(|a| identifier_key(field, &a.unique_identifier))
            .collect();
        for (id, key) in services {
            if listed.contains(&key) {
                out.insert(
                    id,
                    format!(
                        "the account is still listed on the service's current server {current} at run {}: terminate it there or analyse that server again first",
                        run.id
                    ),
                );
            }
        }
    }
    Ok(out)
}

/// One [`REFUSED_EVENT`] per refused planned item of a real apply, so the run page can show
/// the item as refused with its reason.
pub(super) fn refusal_events(ctx: &Ctx<'_>, results: &[ItemResult]) -> Result<Vec<NewAuditEvent>> {
    results
        .iter()
        .filter(|r| r.outcome == ItemOutcome::Refused)
        .map(|r| {
            let item = ItemRef {
                action: r.action,
                target: r.target.clone(),
            };
            let after = serde_json::to_string(&item)
                .map_err(|e| AppError::Invalid(format!("recording a refusal: {e}")))?;
            Ok(NewAuditEvent {
                service_id: r.service_id,
                after: Some(after),
                note: r.notes.first().cloned(),
                ..ctx.event(REFUSED_EVENT)
            })
        })
        .collect()
}

/// The reason for a target refused because it offers nothing (`… is in_sync: nothing to
/// sync`) when an apply of this run already wrote it: `domain ann.test was already applied
/// (sync) from run 7: audit event 12`. `None` when no event of the run names it.
pub(crate) fn already_applied(
    run_events: &[AuditEvent],
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
    refusal: &Refusal,
    run_id: RunId,
) -> Option<String> {
    let field = &input.meta.unique_identifier_field;
    let service_id = match refusal.action {
        Action::Import | Action::Sync | Action::Reactivate => {
            let key = identifier_key(field, &refusal.target)?;
            analysis
                .items
                .iter()
                .find(|it| it.key == key)
                .and_then(|it| it.service_id(input))?
        }
        Action::Terminate | Action::Move => refusal.target.trim().parse().ok()?,
    };
    let event = run_events.iter().find(|e| {
        e.run_id == Some(run_id)
            && e.service_id == Some(service_id)
            && e.action == refusal.action.as_str()
    })?;
    Some(format!(
        "{} was already applied ({}) from run {run_id}: audit event {}",
        refusal.target,
        refusal.action.as_str(),
        event.id
    ))
}
