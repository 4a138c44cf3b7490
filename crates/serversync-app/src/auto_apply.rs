//! `auto_apply` (issue 11): after a *scheduled* scan, a server's list of safe actions is
//! applied through the same guarded apply as a manual one ([`crate::App::apply`]), audited
//! with the scheduler's actor. Nothing else is ever applied without a person.
//!
//! The list is configured per server (`[scan.servers.NAME] auto_apply`) or for every server
//! (`[scan] auto_apply`), as action names:
//! - `"sync"`: every `out_of_sync` item; `"sync:FIELD"` (`status`, `ip` or `primary_ip`,
//!   `product`, `username`, `domain`, `created`, `unique_identifier`): only items whose every
//!   difference is in one of the listed fields (`["sync:status", "sync:ip"]` syncs an item that
//!   differs in status and IP, never one whose product differs too);
//! - `"terminate"`: `not_on_server` services that are *gone* (missing from `gone_after`
//!   complete listings in a row, [`serversync_core::misses`]) — never from an incomplete
//!   listing, and never from a shrunken one (the apply's shrink guard is not overridden).
//!
//! Imports, moves and reactivations need a person: they are refused in the list.

use std::collections::{BTreeSet, HashMap};

use serversync_core::analysis::{Action, Category, Field};
use serversync_core::model::Server;
use serversync_core::plan::{Selection, Selector};

use crate::items::StoredItem;
use crate::{AnalyseOutcome, App, AppError, ApplyReport, ApplyRequest, ItemOutcome, Result};

/// What `auto_apply` may do on one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoApply {
    /// Sync `out_of_sync` items: `None` = not at all; `Some(empty)` = any field; else only
    /// items whose every difference is in these fields.
    pub sync: Option<BTreeSet<Field>>,
    /// Terminate gone services.
    pub terminate: bool,
}

impl AutoApply {
    /// Parses a configured list (`["sync:status", "sync:ip", "terminate"]`); the error names
    /// the first entry that is not a safe action.
    pub fn parse(entries: &[String]) -> Result<AutoApply> {
        let mut out = AutoApply::default();
        let mut any_field = false;
        for e in entries {
            let e = e.trim();
            match e.split_once(':') {
                None if e == "sync" => {
                    any_field = true;
                    out.sync.get_or_insert_with(BTreeSet::new);
                }
                None if e == "terminate" => out.terminate = true,
                Some(("sync", field)) => {
                    let f = field_named(field.trim()).ok_or_else(|| {
                        AppError::Invalid(format!(
                            "{:?} names no field that sync writes (status, ip, \
                             product, username, domain, created, unique_identifier)",
                            shown(e)
                        ))
                    })?;
                    out.sync.get_or_insert_with(BTreeSet::new).insert(f);
                }
                _ => {
                    return Err(AppError::Invalid(format!(
                        "{:?} is not a safe action (sync, sync:FIELD or terminate; \
                         imports, moves and reactivations need a person)",
                        shown(e)
                    )))
                }
            }
        }
        if any_field {
            out.sync = Some(BTreeSet::new());
        }
        Ok(out)
    }

    /// Whether nothing is applied.
    pub fn is_empty(&self) -> bool {
        self.sync.is_none() && !self.terminate
    }

    /// The selection of `items` this allows: syncs by unique identifier, terminations of
    /// gone services by service id; `None` when it selects nothing.
    pub fn selection(&self, items: &[StoredItem]) -> Option<Selection> {
        let mut sync = Vec::new();
        let mut terminate = Vec::new();
        for it in items {
            match it.category {
                Category::OutOfSync if it.actions.contains(&Action::Sync) => {
                    let Some(fields) = &self.sync else { continue };
                    let fits = fields.is_empty()
                        || it
                            .diffs
                            .iter()
                            .filter(|d| d.field != Field::Email)
                            .all(|d| fields.contains(&d.field));
                    if fits {
                        sync.extend(it.target(Action::Sync));
                    }
                }
                Category::NotOnServer
                    if self.terminate
                        && it.actions.contains(&Action::Terminate)
                        && it.gone == Some(true) =>
                {
                    terminate.extend(it.target(Action::Terminate));
                }
                _ => {}
            }
        }
        let selection = Selection {
            sync: (!sync.is_empty()).then_some(Selector::Only(sync)),
            terminate: (!terminate.is_empty()).then_some(Selector::Only(terminate)),
            ..Selection::default()
        };
        (!selection.is_empty()).then_some(selection)
    }
}

/// A configured entry for an error message: at most 60 characters (Debug-escaped by the
/// caller).
fn shown(e: &str) -> String {
    e.chars().take(60).collect()
}

fn field_named(name: &str) -> Option<Field> {
    Some(match name {
        "status" => Field::Status,
        "ip" | "primary_ip" => Field::PrimaryIp,
        "product" => Field::Product,
        "username" => Field::Username,
        "domain" => Field::Domain,
        "created" => Field::Created,
        "unique_identifier" => Field::UniqueIdentifier,
        _ => return None,
    })
}

/// `auto_apply` of every server: a default and lists of particular servers, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoApplyPolicy {
    pub default: AutoApply,
    pub servers: HashMap<String, AutoApply>,
}

impl AutoApplyPolicy {
    /// The list of the server named `name`.
    pub fn of(&self, name: &str) -> &AutoApply {
        self.servers.get(name).unwrap_or(&self.default)
    }
}

#[derive(serde::Deserialize)]
struct ItemsOnly {
    #[serde(default)]
    items: Vec<StoredItem>,
}

impl App {
    /// After the scheduled scan `scan` of `server`: applies what `auto_apply` allows of its
    /// run, as a real (guarded, unforced) apply audited with this app's actor. `Ok(None)`
    /// when the list is empty, the listing was incomplete, or nothing qualifies.
    ///
    /// Errors: those of [`App::apply`] (the server busy, a store failure, …).
    pub async fn auto_apply_after_scan(
        &self,
        server: &Server,
        scan: &AnalyseOutcome,
    ) -> Result<Option<ApplyReport>> {
        let policy = self.auto_apply.of(&server.name);
        if policy.is_empty() || !scan.complete {
            return Ok(None);
        }
        let doc: ItemsOnly = scan.document_json.read().map_err(|e| {
            AppError::Internal(format!(
                "auto_apply: the run's document did not read back: {e}"
            ))
        })?;
        let Some(selection) = policy.selection(&doc.items) else {
            return Ok(None);
        };
        let mut req = ApplyRequest {
            server: server.name.clone(),
            run: Some(scan.run_id),
            selection,
            dry_run: true,
            force: false,
            defaults: Default::default(),
        };
        // A dry run first: when the guards refuse every chosen item (a shrunken listing, a
        // share limit), the same refusal would otherwise be written to the audit log again
        // on every scan for as long as the cause lasts. Then nothing is applied nor audited.
        let dry = self.apply(&req).await?;
        if dry
            .results
            .iter()
            .all(|r| r.outcome == ItemOutcome::Refused)
        {
            tracing::info!(server = %server.name, run = scan.run_id, refused = dry.results.len(),
                "auto_apply: every chosen item is refused; nothing applied");
            return Ok(Some(dry));
        }
        req.dry_run = false;
        self.apply(&req).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn safe_actions_parse_and_others_are_refused() {
        let a = AutoApply::parse(&list(&["sync:status", "sync:ip", "terminate"])).unwrap();
        assert_eq!(
            a.sync,
            Some(BTreeSet::from([Field::Status, Field::PrimaryIp]))
        );
        assert!(a.terminate);
        assert_eq!(
            AutoApply::parse(&list(&["sync", "sync:status"]))
                .unwrap()
                .sync,
            Some(BTreeSet::new()),
            "plain sync means any field"
        );
        assert!(AutoApply::parse(&[]).unwrap().is_empty());
        for bad in ["import", "move", "sync:email", "terminate:all", ""] {
            assert!(
                matches!(AutoApply::parse(&list(&[bad])), Err(AppError::Invalid(_))),
                "{bad}"
            );
        }
        // The entry is named once; the caller says which setting held it.
        let e = AutoApply::parse(&list(&["sync:status", "import"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"import\" is not a safe action (sync, sync:FIELD or terminate; imports, moves \
             and reactivations need a person)"
        );
        let e = AutoApply::parse(&list(&["sync:email"])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("\"sync:email\" names no field that sync writes ("),
            "{e}"
        );
    }
}
