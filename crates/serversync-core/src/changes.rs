//! What an action writes, field by field: the `field: before → after` lines the review, the
//! dry runs and the apply summary show (issue 9, item 2).

use serde::{Deserialize, Serialize};

use crate::model::{format_date, Service};

/// A billing field of a service an action may write (WHMCS `tblhosting` terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceField {
    Domain,
    Username,
    DedicatedIp,
    Product,
    Status,
    Regdate,
    Server,
    BillingCycle,
    Amount,
    NextDueDate,
    TerminationDate,
    /// The custom field holding the unique identifier (modules identifying by one).
    UniqueIdentifier,
}

impl ServiceField {
    /// The field as people read it (`dedicated IP`).
    pub fn label(self) -> &'static str {
        match self {
            ServiceField::Domain => "domain",
            ServiceField::Username => "username",
            ServiceField::DedicatedIp => "dedicated IP",
            ServiceField::Product => "product",
            ServiceField::Status => "status",
            ServiceField::Regdate => "regdate",
            ServiceField::Server => "server",
            ServiceField::BillingCycle => "billing cycle",
            ServiceField::Amount => "amount",
            ServiceField::NextDueDate => "next due date",
            ServiceField::TerminationDate => "termination date",
            ServiceField::UniqueIdentifier => "unique identifier",
        }
    }
}

/// One field an action changes: the value before and after, as shown (`(none)` for empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: ServiceField,
    pub before: String,
    pub after: String,
}

impl std::fmt::Display for FieldChange {
    /// `status: Pending → Active`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} → {}",
            self.field.label(),
            self.before,
            self.after
        )
    }
}

/// Shown for an empty value.
pub const NONE: &str = "(none)";

fn shown(s: &str) -> String {
    if s.trim().is_empty() {
        NONE.to_string()
    } else {
        s.to_string()
    }
}

/// The fields that differ between `before` and `after`, in a fixed order. `product_name`
/// and `server_name` turn ids into names (`Silver Hosting`); `uid_custom_field` is the custom
/// field holding the unique identifier, when the module identifies by one. `before = None`
/// is a service an import creates: every set field is listed from `(none)`.
pub fn service_changes(
    before: Option<&Service>,
    after: &Service,
    uid_custom_field: Option<&str>,
    product_name: &dyn Fn(i64) -> String,
    server_name: &dyn Fn(i64) -> String,
) -> Vec<FieldChange> {
    let opt_date = |d: Option<time::Date>| d.map(format_date).unwrap_or_default();
    let server = |s: Option<i64>| s.map(server_name).unwrap_or_default();
    let custom = |s: &Service| {
        uid_custom_field
            .and_then(|f| s.custom_fields.get(f).cloned())
            .unwrap_or_default()
    };
    let values = |s: &Service| {
        [
            (ServiceField::Status, s.status.as_str().to_string()),
            (ServiceField::Product, product_name(s.product_id)),
            (ServiceField::Domain, s.domain.clone()),
            (ServiceField::Username, s.username.clone()),
            (ServiceField::DedicatedIp, s.dedicated_ip.clone()),
            (ServiceField::Regdate, opt_date(s.regdate)),
            (ServiceField::Server, server(s.server_id)),
            (ServiceField::BillingCycle, s.billing_cycle.clone()),
            (ServiceField::Amount, s.amount.clone()),
            (ServiceField::NextDueDate, opt_date(s.next_due_date)),
            (ServiceField::TerminationDate, opt_date(s.termination_date)),
            (ServiceField::UniqueIdentifier, custom(s)),
        ]
    };
    let after_v = values(after);
    let before_v = before.map(values);
    after_v
        .into_iter()
        .enumerate()
        .filter_map(|(i, (field, a))| {
            let b = before_v
                .as_ref()
                .map(|v| v[i].1.clone())
                .unwrap_or_default();
            (a != b).then(|| FieldChange {
                field,
                before: shown(&b),
                after: shown(&a),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceStatus;

    fn svc() -> Service {
        Service {
            id: 1,
            client_id: 1,
            product_id: 10,
            server_id: Some(100),
            domain: "ann.test".into(),
            username: "ann".into(),
            dedicated_ip: String::new(),
            regdate: None,
            status: ServiceStatus::Pending,
            billing_cycle: "Monthly".into(),
            amount: "1.00".into(),
            next_due_date: None,
            termination_date: None,
            custom_fields: Default::default(),
            version: 3,
        }
    }

    fn names(id: i64) -> String {
        match id {
            10 => "Silver Hosting".into(),
            11 => "Gold Hosting".into(),
            100 => "web1".into(),
            101 => "web2".into(),
            other => format!("#{other}"),
        }
    }

    #[test]
    fn lists_each_changed_field_with_names() {
        let before = svc();
        let mut after = before.clone();
        after.status = ServiceStatus::Active;
        after.dedicated_ip = "192.0.2.55".into();
        after.product_id = 11;
        after.version = 4; // not a billing field: never listed
        let lines: Vec<String> = service_changes(Some(&before), &after, None, &names, &names)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "status: Pending → Active",
                "product: Silver Hosting → Gold Hosting",
                "dedicated IP: (none) → 192.0.2.55",
            ]
        );
        assert!(service_changes(Some(&before), &before, None, &names, &names).is_empty());
    }

    #[test]
    fn a_move_and_a_created_service() {
        let before = svc();
        let mut after = before.clone();
        after.server_id = Some(101);
        let c = service_changes(Some(&before), &after, None, &names, &names);
        assert_eq!(
            c,
            vec![FieldChange {
                field: ServiceField::Server,
                before: "web1".into(),
                after: "web2".into()
            }]
        );
        let mut created = svc();
        created
            .custom_fields
            .insert("Instance ID".into(), "i-1".into());
        let lines: Vec<String> =
            service_changes(None, &created, Some("Instance ID"), &names, &names)
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            lines,
            vec![
                "status: (none) → Pending",
                "product: (none) → Silver Hosting",
                "domain: (none) → ann.test",
                "username: (none) → ann",
                "server: (none) → web1",
                "billing cycle: (none) → Monthly",
                "amount: (none) → 1.00",
                "unique identifier: (none) → i-1",
            ]
        );
    }
}
