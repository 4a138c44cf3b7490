//! What an apply reports, per selected item: outcome, notes, the fields written, and for
//! imports the client and product used; and how a refusal is recorded in the audit log.

use serde::{Deserialize, Serialize};
use serversync_core::analysis::Action;
use serversync_core::changes::FieldChange;
use serversync_core::model::{RunId, ServiceId};

/// What happened to one selected item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    Applied,
    /// Dry run: would be applied.
    WouldApply,
    Refused,
}

/// One selected item's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    pub action: Action,
    /// The unique identifier or service id the item was selected by.
    pub target: String,
    pub service_id: Option<ServiceId>,
    /// The billing service's domain (for people: terminate and move targets are service
    /// ids); absent when the item has no service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_domain: Option<String>,
    pub outcome: ItemOutcome,
    /// Why it was refused, or notes on what was done (e.g. `created client 12`).
    pub notes: Vec<String>,
    /// Every billing field the action writes, `before → after` (empty when refused).
    pub changes: Vec<FieldChange>,
    /// For an import: the client it uses or creates.
    pub client: Option<Chosen>,
    /// For an import: the product it uses or creates.
    pub product: Option<Chosen>,
}

/// A client or product an import uses (`id` set) or creates (`created`, no id before the
/// write). `name` is the client's e-mail or the product's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    pub id: Option<i64>,
    pub name: String,
    pub created: bool,
}

impl std::fmt::Display for Chosen {
    /// `#3 ann@mail.test` or `new: ann@mail.test`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.created, self.id) {
            (false, Some(id)) => write!(f, "#{id} {}", self.name),
            _ => write!(f, "new: {}", self.name),
        }
    }
}

/// The audit action recording that a selected item was refused by a real apply (its `note` is
/// the reason, its `after` an [`ItemRef`]).
pub const REFUSED_EVENT: &str = "refused";

/// Which item of a run an audit event concerns, stored as the `after` of a
/// [`REFUSED_EVENT`]: read back by [`crate::states`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub action: Action,
    /// The unique identifier (import, sync, reactivate) or service id (terminate, move).
    pub target: String,
}

/// The result of an apply.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub run_id: RunId,
    pub server: String,
    pub dry_run: bool,
    pub forced: Vec<String>,
    pub results: Vec<ItemResult>,
}

impl ApplyReport {
    pub fn count(&self, outcome: ItemOutcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }
}
