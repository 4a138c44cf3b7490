//! Small pieces of building a change set: names shown in field changes, audit events, the
//! JSON an import event records, and service updates with their audit event.

use serde_json::json;
use serversync_core::changes::{service_changes, FieldChange};
use serversync_core::model::ServerId;
use serversync_core::module::UniqueIdField;
use serversync_store::{ChangeSet, ClientRef, NewAuditEvent, Op};

use super::Ctx;
use crate::records::service_json;

impl Ctx<'_> {
    pub(super) fn product_name(&self, id: i64) -> String {
        self.product_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("product {id}"))
    }

    pub(super) fn server_name(&self, id: ServerId) -> String {
        self.server_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("server {id}"))
    }

    /// `web2 (server 2)`, or `server 2` when the server is unknown.
    pub(super) fn server_label(&self, id: ServerId) -> String {
        match self.server_names.get(&id) {
            Some(name) => format!("{name} (server {id})"),
            None => format!("server {id}"),
        }
    }

    pub(super) fn client_email(&self, id: i64) -> String {
        self.clients
            .email_of(id)
            .unwrap_or_else(|| format!("client {id}"))
    }

    pub(super) fn uid_custom_field(&self) -> Option<&str> {
        match &self.meta.unique_identifier_field {
            UniqueIdField::CustomField(name) => Some(name),
            _ => None,
        }
    }

    /// What an update of `before` to `after` writes.
    pub(super) fn changes(
        &self,
        before: &serversync_core::model::Service,
        after: &serversync_core::model::Service,
    ) -> Vec<FieldChange> {
        service_changes(
            Some(before),
            after,
            self.uid_custom_field(),
            &|id| self.product_name(id),
            &|id| self.server_name(id),
        )
    }

    pub(super) fn event(&self, action: &str) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.app.actor.clone(),
            action: action.into(),
            server_id: Some(self.server.id),
            run_id: Some(self.run_id),
            ..Default::default()
        }
    }
}

/// The `after` of an import event: the new service without the ids the store assigns on
/// insert (the event's own `service_id` and `client_id` carry them).
pub(super) fn import_after_json(
    service: &serversync_core::model::Service,
    client: &ClientRef,
    new_product: bool,
) -> String {
    let mut v = service_json(service);
    if let serde_json::Value::Object(m) = &mut v {
        m.remove("id");
        m.insert("version".into(), json!(1));
        match client {
            ClientRef::Existing(id) => {
                m.insert("client_id".into(), json!(id));
            }
            ClientRef::CreatedBy(_) => {
                m.remove("client_id");
            }
        }
        if new_product {
            m.remove("product_id");
        }
    }
    v.to_string()
}

/// A client or product an import uses: an existing one, or one it creates.
pub(super) enum Pick {
    Existing(i64),
    New(String),
}

pub(super) fn push_update(
    cs: &mut ChangeSet,
    ev: &NewAuditEvent,
    before: &serversync_core::model::Service,
    after: serversync_core::model::Service,
) {
    let mut ev = ev.clone();
    ev.service_id = Some(before.id);
    ev.client_id = Some(before.client_id);
    ev.before = Some(service_json(before).to_string());
    // The store bumps the version on write; the audit shows the version written.
    let mut shown = after.clone();
    shown.version = before.version + 1;
    ev.after = Some(service_json(&shown).to_string());
    cs.ops.push(Op::UpdateService {
        expected_version: before.version,
        service: after,
    });
    cs.audit.push((None, ev));
}
