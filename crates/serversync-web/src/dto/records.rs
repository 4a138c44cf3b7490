//! The API's answers about billing records and the audit log (records-document entries of
//! CONTRACT.md, and audit events with their `before`/`after` read back as JSON).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use serversync_app::overview::AuditPage;
use serversync_core::model::{format_date, Client, Product, Service, ServiceStatus};
use serversync_store::AuditEvent;
use utoipa::ToSchema;

use super::responses::rfc3339;
use super::schema;

/// An audit event, `before`/`after` parsed back into JSON (text that is not JSON is kept
/// as a string).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventDto {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `cli:<user>`, `web:<admin>` or `api:<token name>`.
    pub actor: String,
    pub action: String,
    pub server_id: Option<i64>,
    pub run_id: Option<i64>,
    pub service_id: Option<i64>,
    pub client_id: Option<i64>,
    #[schema(schema_with = schema::any_json)]
    pub before: Value,
    #[schema(schema_with = schema::any_json)]
    pub after: Value,
    pub note: Option<String>,
}

impl From<&AuditEvent> for AuditEventDto {
    fn from(e: &AuditEvent) -> Self {
        let parse = |s: &Option<String>| match s {
            Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
            None => Value::Null,
        };
        AuditEventDto {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            server_id: e.server_id,
            run_id: e.run_id,
            service_id: e.service_id,
            client_id: e.client_id,
            before: parse(&e.before),
            after: parse(&e.after),
            note: e.note.clone(),
        }
    }
}

/// A page of the audit log.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageDto {
    /// Events matching the filters.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub events: Vec<AuditEventDto>,
}

impl From<&AuditPage> for AuditPageDto {
    fn from(p: &AuditPage) -> Self {
        AuditPageDto {
            total: p.total,
            limit: p.limit,
            offset: p.offset,
            events: p.events.iter().map(Into::into).collect(),
        }
    }
}

/// A records-document client entry.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Client)]
pub struct ClientDto {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    /// `Active`, `Inactive` or `Closed`.
    pub status: String,
}

impl From<&Client> for ClientDto {
    fn from(c: &Client) -> Self {
        ClientDto {
            id: c.id,
            email: c.email.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company: c.company.clone(),
            status: c.status.clone(),
        }
    }
}

/// A records-document product entry.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Product)]
pub struct ProductDto {
    pub id: i64,
    pub name: String,
    pub module: String,
    /// Module settings `configoption1`..`configoption24` (only the set ones).
    pub config_options: BTreeMap<String, String>,
}

impl From<&Product> for ProductDto {
    fn from(p: &Product) -> Self {
        ProductDto {
            id: p.id,
            name: p.name.clone(),
            module: p.module.clone(),
            config_options: p.config_options.clone(),
        }
    }
}

/// A records-document service entry plus `version` and `termination_date`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Service)]
pub struct ServiceDto {
    pub id: i64,
    pub client_id: i64,
    pub product_id: i64,
    pub server_id: Option<i64>,
    pub domain: String,
    pub username: String,
    pub dedicated_ip: String,
    #[schema(format = Date)]
    pub regdate: Option<String>,
    #[schema(schema_with = schema::service_status)]
    pub status: ServiceStatus,
    pub billing_cycle: String,
    pub amount: String,
    #[schema(format = Date)]
    pub next_due_date: Option<String>,
    #[schema(format = Date)]
    pub termination_date: Option<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub version: i64,
}

impl From<&Service> for ServiceDto {
    fn from(s: &Service) -> Self {
        ServiceDto {
            id: s.id,
            client_id: s.client_id,
            product_id: s.product_id,
            server_id: s.server_id,
            domain: s.domain.clone(),
            username: s.username.clone(),
            dedicated_ip: s.dedicated_ip.clone(),
            regdate: s.regdate.map(format_date),
            status: s.status,
            billing_cycle: s.billing_cycle.clone(),
            amount: s.amount.clone(),
            next_due_date: s.next_due_date.map(format_date),
            termination_date: s.termination_date.map(format_date),
            custom_fields: s.custom_fields.clone(),
            version: s.version,
        }
    }
}
