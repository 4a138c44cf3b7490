//! What the API answers with. Each type is the wire shape (CONTRACT.md "JSON API") and is
//! built from the application layer's typed values; the OpenAPI schemas are derived from
//! these types, so a changed field changes the document.

use serde::Serialize;
use serde_json::Value;
use serversync_app::items::{BillingSide, DiffDoc, RunView, StoredItem};
use serversync_app::jobs::{JobSnapshot, JobStatus};
use serversync_app::overview::ServerOverview;
use serversync_app::states::{ItemState, ItemStatus};
use serversync_app::{ApplyReport, Chosen, ItemOutcome, ItemResult};
use serversync_core::analysis::{Action, Category, Counts, Field};
use serversync_core::changes::{FieldChange, ServiceField};
use serversync_core::model::{Server, ServiceStatus};
use serversync_core::module::{format_created, RemoteAccount, RemoteStatus, SkippedRecord};
use serversync_store::RunSummary;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::schema;

/// A time as RFC 3339 (`2024-01-31T13:15:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Every error: one line naming the cause (and the field, for bad input). Internal failures
/// say only `internal error, request id X` (the log has the rest under that id).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: String,
}

/// Items per category.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Counts)]
pub struct CountsDto {
    pub in_sync: usize,
    pub out_of_sync: usize,
    pub duplicate: usize,
    pub terminated_in_billing: usize,
    pub moved: usize,
    pub not_in_billing: usize,
    pub conflict: usize,
    pub not_on_server: usize,
    pub pending_not_on_server: usize,
}

impl From<&Counts> for CountsDto {
    fn from(c: &Counts) -> Self {
        CountsDto {
            in_sync: c.in_sync,
            out_of_sync: c.out_of_sync,
            duplicate: c.duplicate,
            terminated_in_billing: c.terminated_in_billing,
            moved: c.moved,
            not_in_billing: c.not_in_billing,
            conflict: c.conflict,
            not_on_server: c.not_on_server,
            pending_not_on_server: c.pending_not_on_server,
        }
    }
}

/// A stored run in listings.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = RunSummary)]
pub struct RunSummaryDto {
    pub id: i64,
    pub server_id: i64,
    #[schema(schema_with = schema::listing_status)]
    pub listing_status: &'static str,
    /// Why the listing failed.
    pub error: Option<String>,
    pub accounts: i64,
    /// Items per category (`{}` for a failed listing).
    #[schema(value_type = CountsDto)]
    pub counts: Value,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: String,
    #[schema(format = DateTime)]
    pub applied_at: Option<String>,
}

impl From<&RunSummary> for RunSummaryDto {
    fn from(r: &RunSummary) -> Self {
        RunSummaryDto {
            id: r.id,
            server_id: r.server_id,
            listing_status: r.listing_status.as_str(),
            error: r.error.clone(),
            accounts: r.accounts,
            // Stored by the analysis as JSON text; a failed listing stores `{}`.
            counts: serde_json::from_str(&r.counts_json)
                .unwrap_or_else(|_| Value::Object(Default::default())),
            started_at: rfc3339(r.started_at),
            finished_at: rfc3339(r.finished_at),
            applied_at: r.applied_at.map(rfc3339),
        }
    }
}

/// A records-document server entry, secrets left out, with its live services count and
/// last run.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Server)]
pub struct ServerDto {
    pub id: i64,
    pub name: String,
    pub module: String,
    pub hostname: String,
    pub ip_address: String,
    pub port: Option<u16>,
    pub secure: bool,
    pub tls_verify: bool,
    pub username: String,
    pub disabled: bool,
    /// Whether a password is stored (it is never sent).
    pub password_set: bool,
    /// Whether an access hash (API token) is stored (never sent).
    pub access_hash_set: bool,
    /// Active, Suspended and Pending services of this server.
    pub live_services: usize,
    pub last_run: Option<RunSummaryDto>,
}

impl From<&ServerOverview> for ServerDto {
    fn from(o: &ServerOverview) -> Self {
        let s = &o.server;
        ServerDto {
            id: s.id,
            name: s.name.clone(),
            module: s.module.clone(),
            hostname: s.hostname.clone(),
            ip_address: s.ip_address.clone(),
            port: s.port,
            secure: s.secure,
            tls_verify: s.tls_verify,
            username: s.username.clone(),
            disabled: s.disabled,
            password_set: !s.password.is_empty(),
            access_hash_set: !s.access_hash.is_empty(),
            live_services: o.live_services,
            last_run: o.last_run.as_ref().map(Into::into),
        }
    }
}

/// A sync job's progress.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Job)]
pub struct JobDto {
    pub id: u64,
    pub server_id: i64,
    pub server_name: String,
    /// Accounts received so far.
    pub received: u64,
    /// Accounts announced by the panel, when known.
    pub total: Option<u64>,
    #[schema(schema_with = schema::job_state)]
    pub state: &'static str,
    /// When done: the stored run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// When failed: names the server and the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&JobSnapshot> for JobDto {
    fn from(j: &JobSnapshot) -> Self {
        let (state, run_id, error) = match &j.status {
            JobStatus::Running => ("running", None, None),
            JobStatus::Done { run_id } => ("done", Some(*run_id), None),
            JobStatus::Failed { error } => ("failed", None, Some(error.clone())),
        };
        JobDto {
            id: j.id,
            server_id: j.server_id,
            server_name: j.server_name.clone(),
            received: j.received,
            total: j.total,
            state,
            run_id,
            error,
        }
    }
}

/// The server a run belongs to.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServerRef {
    pub id: i64,
    pub name: String,
    pub module: String,
}

/// A remote record that broke the contract, with its reason.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = SkippedRecord)]
pub struct SkippedDto {
    /// Position in the panel's list (0-based).
    pub index: usize,
    /// Whatever identifies the record (username or domain), if anything does.
    pub identifier: Option<String>,
    pub reason: String,
}

impl From<&SkippedRecord> for SkippedDto {
    fn from(s: &SkippedRecord) -> Self {
        SkippedDto {
            index: s.index,
            identifier: s.identifier.clone(),
            reason: s.reason.clone(),
        }
    }
}

/// How the run's listing went.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListingDto {
    pub complete: bool,
    pub accounts: usize,
    pub error: Option<String>,
    pub skipped: Vec<SkippedDto>,
}

/// The field accounts are matched by.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UniqueIdentifierDto {
    pub field: String,
    pub display_name: String,
}

/// One run in full, without its items (see `/api/runs/{id}/items`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunDto {
    pub id: i64,
    pub server: ServerRef,
    #[schema(schema_with = schema::listing_status)]
    pub listing_status: &'static str,
    pub listing: ListingDto,
    pub unique_identifier: UniqueIdentifierDto,
    pub counts: CountsDto,
    /// Number of items.
    pub items: usize,
    pub live_services: usize,
    pub warnings: Vec<String>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: String,
    #[schema(format = DateTime)]
    pub applied_at: Option<String>,
}

impl RunDto {
    /// Run `view` of `server`.
    pub fn new(view: &RunView, server: &Server) -> Self {
        RunDto {
            id: view.run_id,
            server: ServerRef {
                id: server.id,
                name: server.name.clone(),
                module: server.module.clone(),
            },
            listing_status: view.listing_status.as_str(),
            listing: ListingDto {
                complete: view.complete,
                accounts: view.accounts,
                error: view.error.clone(),
                skipped: view.skipped.iter().map(Into::into).collect(),
            },
            unique_identifier: UniqueIdentifierDto {
                field: view.uid_field.clone(),
                display_name: view.uid_display_name.clone(),
            },
            counts: (&view.counts).into(),
            items: view.items.len(),
            live_services: view.live_services,
            warnings: view.warnings.clone(),
            started_at: rfc3339(view.started_at),
            finished_at: rfc3339(view.finished_at),
            applied_at: view.applied_at.map(rfc3339),
        }
    }
}

/// The remote account as the module listed it (wire form).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RemoteDto {
    pub email: Option<String>,
    pub username: String,
    pub domain: String,
    #[serde(rename = "uniqueIdentifier")]
    pub unique_identifier: String,
    pub product: String,
    #[serde(rename = "primaryip")]
    pub primary_ip: String,
    /// `Y-m-d H:i:s`, null when the panel gives none.
    pub created: Option<String>,
    #[schema(schema_with = schema::remote_status)]
    pub status: RemoteStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl From<&RemoteAccount> for RemoteDto {
    fn from(r: &RemoteAccount) -> Self {
        RemoteDto {
            email: r.email.clone(),
            username: r.username.clone(),
            domain: r.domain.clone(),
            unique_identifier: r.unique_identifier.clone(),
            product: r.product.clone(),
            primary_ip: r.primary_ip.clone(),
            created: r.created.map(format_created),
            status: r.status,
            owner: r.owner.clone(),
            status_detail: r.status_detail.clone(),
            notes: r.notes.clone(),
        }
    }
}

/// The billing side of an item.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BillingDto {
    pub service_id: i64,
    pub client_id: i64,
    pub product_id: i64,
    pub domain: String,
    pub username: String,
    pub dedicated_ip: String,
    #[schema(format = Date)]
    pub regdate: Option<String>,
    #[schema(schema_with = schema::service_status)]
    pub status: ServiceStatus,
    pub server_id: Option<i64>,
    pub version: i64,
    pub client_email: Option<String>,
}

impl From<&BillingSide> for BillingDto {
    fn from(b: &BillingSide) -> Self {
        BillingDto {
            service_id: b.service_id,
            client_id: b.client_id,
            product_id: b.product_id,
            domain: b.domain.clone(),
            username: b.username.clone(),
            dedicated_ip: b.dedicated_ip.clone(),
            regdate: b.regdate.clone(),
            status: b.status,
            server_id: b.server_id,
            version: b.version,
            client_email: b.client_email.clone(),
        }
    }
}

/// One differing field.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DiffDto {
    #[schema(schema_with = schema::diff_field)]
    pub field: Field,
    pub remote: String,
    pub billing: String,
}

impl From<&DiffDoc> for DiffDto {
    fn from(d: &DiffDoc) -> Self {
        DiffDto {
            field: d.field,
            remote: d.remote.clone(),
            billing: d.billing.clone(),
        }
    }
}

/// An item of the analysis document (CONTRACT.md) with its index in the run and its state.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Item)]
pub struct ItemDto {
    pub index: usize,
    #[schema(schema_with = schema::category)]
    pub category: Category,
    pub unique_identifier: Option<String>,
    pub service_id: Option<i64>,
    pub remote: Option<RemoteDto>,
    pub billing: Option<BillingDto>,
    pub diffs: Vec<DiffDto>,
    #[schema(schema_with = schema::actions)]
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
    pub related_service_ids: Vec<i64>,
    /// `not_on_server` only: complete listings in a row without the account, this one
    /// included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misses: Option<u32>,
    /// `not_on_server` only: the server's threshold of misses after which the service is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gone_after: Option<u32>,
    /// `not_on_server` only: whether `misses` reached `gone_after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gone: Option<bool>,
    #[schema(schema_with = schema::item_state)]
    pub state: ItemState,
    /// The action applied or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::action_opt)]
    pub state_action: Option<Action>,
    /// The audit events of the applied action, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit_event_ids: Vec<i64>,
    /// Why it was refused, or which service changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

impl ItemDto {
    /// Item `index` of a run, in state `status`.
    pub fn new(index: usize, it: &StoredItem, status: &ItemStatus) -> Self {
        ItemDto {
            index,
            category: it.category,
            unique_identifier: it.unique_identifier.clone(),
            service_id: it.service_id,
            remote: it.remote.as_ref().map(Into::into),
            billing: it.billing.as_ref().map(Into::into),
            diffs: it.diffs.iter().map(Into::into).collect(),
            actions: it.actions.clone(),
            notes: it.notes.clone(),
            related_service_ids: it.related_service_ids.clone(),
            misses: it.misses,
            gone_after: it.gone_after,
            gone: it.gone,
            state: status.state,
            state_action: status.action,
            audit_event_ids: status.audit_event_ids.clone(),
            state_reason: status.reason.clone(),
        }
    }
}

/// A page of a run's items.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ItemPage)]
pub struct ItemPageDto {
    /// Items matching the filters.
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    pub items: Vec<ItemDto>,
}

/// One billing field an action writes.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = FieldChange)]
pub struct FieldChangeDto {
    #[schema(schema_with = schema::service_field)]
    pub field: ServiceField,
    /// `(none)` when empty.
    pub before: String,
    /// `(none)` when empty.
    pub after: String,
}

impl From<&FieldChange> for FieldChangeDto {
    fn from(c: &FieldChange) -> Self {
        FieldChangeDto {
            field: c.field,
            before: c.before.clone(),
            after: c.after.clone(),
        }
    }
}

/// A client or product an import uses (`id` set) or creates (`created`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Chosen)]
pub struct ChosenDto {
    pub id: Option<i64>,
    /// The client's e-mail or the product's name.
    pub name: String,
    pub created: bool,
}

impl From<&Chosen> for ChosenDto {
    fn from(c: &Chosen) -> Self {
        ChosenDto {
            id: c.id,
            name: c.name.clone(),
            created: c.created,
        }
    }
}

/// One selected item's result.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ItemResult)]
pub struct ItemResultDto {
    #[schema(schema_with = schema::action)]
    pub action: Action,
    /// The unique identifier or service id the item was selected by.
    pub target: String,
    pub service_id: Option<i64>,
    #[schema(schema_with = schema::outcome)]
    pub outcome: ItemOutcome,
    /// Why it was refused, or what was done.
    pub notes: Vec<String>,
    /// Every billing field the action writes (empty when refused).
    pub changes: Vec<FieldChangeDto>,
    /// For an import: the client it uses or creates.
    pub client: Option<ChosenDto>,
    /// For an import: the product it uses or creates.
    pub product: Option<ChosenDto>,
}

impl From<&ItemResult> for ItemResultDto {
    fn from(r: &ItemResult) -> Self {
        ItemResultDto {
            action: r.action,
            target: r.target.clone(),
            service_id: r.service_id,
            outcome: r.outcome,
            notes: r.notes.clone(),
            changes: r.changes.iter().map(Into::into).collect(),
            client: r.client.as_ref().map(Into::into),
            product: r.product.as_ref().map(Into::into),
        }
    }
}

/// The result of an apply (or of its dry run).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ApplyReport)]
pub struct ApplyReportDto {
    pub run_id: i64,
    pub server: String,
    pub dry_run: bool,
    /// Guards overridden by force.
    pub forced: Vec<String>,
    pub results: Vec<ItemResultDto>,
}

impl From<&ApplyReport> for ApplyReportDto {
    fn from(r: &ApplyReport) -> Self {
        ApplyReportDto {
            run_id: r.run_id,
            server: r.server.clone(),
            dry_run: r.dry_run,
            forced: r.forced.clone(),
            results: r.results.iter().map(Into::into).collect(),
        }
    }
}
