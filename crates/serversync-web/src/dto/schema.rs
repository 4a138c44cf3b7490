//! OpenAPI schemas of the core enums the DTOs carry as they are (categories, actions,
//! statuses): built from the enums' own names where core lists them (`Category::ALL`,
//! `ServiceStatus::ALL`), so that a new variant shows in the document.

use serversync_core::analysis::Category;
use serversync_core::model::ServiceStatus;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

fn strings(names: Vec<&'static str>, nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    let mut values: Vec<serde_json::Value> = names.into_iter().map(Into::into).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(ty)
        .enum_values(Some(values))
}

fn array(item: ObjectBuilder) -> RefOr<Schema> {
    ArrayBuilder::new().items(item).build().into()
}

fn category_names() -> Vec<&'static str> {
    Category::ALL.iter().map(|c| c.as_str()).collect()
}

/// The action names (`serversync_core::analysis::Action`, wire form).
const ACTIONS: [&str; 5] = ["import", "sync", "reactivate", "terminate", "move"];

pub fn category() -> RefOr<Schema> {
    strings(category_names(), false).build().into()
}

pub fn action() -> RefOr<Schema> {
    strings(ACTIONS.to_vec(), false).build().into()
}

pub fn actions() -> RefOr<Schema> {
    array(strings(ACTIONS.to_vec(), false))
}

pub fn service_status() -> RefOr<Schema> {
    strings(
        ServiceStatus::ALL.iter().map(|s| s.as_str()).collect(),
        false,
    )
    .build()
    .into()
}

pub fn listing_status() -> RefOr<Schema> {
    strings(vec!["complete", "incomplete", "failed"], false)
        .build()
        .into()
}

pub fn remote_status() -> RefOr<Schema> {
    strings(vec!["Active", "Suspended"], false).build().into()
}

/// `serversync_core::analysis::Field`: the fields an analysis compares.
pub fn diff_field() -> RefOr<Schema> {
    strings(
        vec![
            "unique_identifier",
            "domain",
            "username",
            "product",
            "primary_ip",
            "status",
            "created",
            "email",
        ],
        false,
    )
    .build()
    .into()
}

/// `serversync_core::changes::ServiceField`: the billing fields an action writes.
pub fn service_field() -> RefOr<Schema> {
    strings(
        vec![
            "domain",
            "username",
            "dedicated_ip",
            "product",
            "status",
            "regdate",
            "server",
            "billing_cycle",
            "amount",
            "next_due_date",
            "termination_date",
            "unique_identifier",
        ],
        false,
    )
    .build()
    .into()
}

pub fn item_state() -> RefOr<Schema> {
    strings(vec!["open", "applied", "refused", "stale"], false)
        .description(Some(
            "open: nothing applied; applied: an apply of this run wrote it (it cannot be \
             chosen again); refused: the last apply of this run that chose it refused it; \
             stale: a service it touches changed since the analysis (analyse again)",
        ))
        .build()
        .into()
}

pub fn action_opt() -> RefOr<Schema> {
    strings(ACTIONS.to_vec(), true).build().into()
}

pub fn outcome() -> RefOr<Schema> {
    strings(vec!["applied", "would_apply", "refused"], false)
        .build()
        .into()
}

pub fn job_state() -> RefOr<Schema> {
    strings(vec!["running", "done", "failed"], false)
        .build()
        .into()
}

/// Any JSON value (audit `before`/`after`: the record as it was written).
pub fn any_json() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some("the record (JSON), or null"))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_cores() {
        for a in ACTIONS {
            assert!(
                a.parse::<serversync_core::analysis::Action>().is_ok(),
                "{a}"
            );
        }
    }
}
