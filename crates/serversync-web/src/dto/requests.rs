//! What API clients send: query parameters and the apply body. Every type refuses unknown
//! fields; values are checked while they are read, so an error names the field. Each
//! converts into the application layer's typed arguments.

use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serversync_app::items::ItemChoice;
use serversync_app::overview::{ApplyInput, AuditQuery as AppAuditQuery};
use serversync_core::analysis::{Action, Category};
use serversync_core::model::parse_date;
use serversync_core::plan::{is_amount, ImportDefaults, Selector};
use time::Date;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};

use super::schema;

/// A query value that is a whole number, given as text; empty means absent.
pub(crate) fn number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    match raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            de::Error::custom(format!("expected a non-negative whole number, got {v:?}"))
        }),
    }
}

/// A category name; empty means all.
fn category<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Category>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    match raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(c) => Category::ALL
            .iter()
            .find(|k| k.as_str() == c)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = Category::ALL.iter().map(|k| k.as_str()).collect();
                de::Error::custom(format!(
                    "unknown category {c:?} (one of {})",
                    names.join(", ")
                ))
            }),
    }
}

/// `GET /api/runs/{id}/items`: filters and paging.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Only items of this category.
    #[serde(default, deserialize_with = "category")]
    #[param(schema_with = schema::category)]
    pub category: Option<Category>,
    /// Case-insensitive text in the identifier, username, domain, product, e-mail, IP or
    /// service id.
    #[serde(default)]
    pub q: Option<String>,
    /// 1-based page, default 1.
    #[serde(default, deserialize_with = "number")]
    #[param(minimum = 1)]
    pub page: Option<usize>,
    /// Items per page, 1 to 1000, default 100.
    #[serde(default, deserialize_with = "number")]
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<usize>,
}

/// `GET /api/servers/{id}/runs`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Newest runs to list, 1 to 1000, default 20.
    #[serde(default, deserialize_with = "number")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// `GET /api/audit`: filters (all optional) and paging.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Server name or id.
    #[serde(default)]
    pub server: Option<String>,
    /// Run id.
    #[serde(default, deserialize_with = "number")]
    pub run: Option<i64>,
    /// Service id.
    #[serde(default, deserialize_with = "number")]
    pub service: Option<i64>,
    /// Exact actor: `cli:<user>`, `web:<admin>` or `api:<token name>`.
    #[serde(default)]
    pub actor: Option<String>,
    /// Events per page, 1 to 1000, default 100.
    #[serde(default, deserialize_with = "number")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Events to skip, default 0.
    #[serde(default, deserialize_with = "number")]
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl From<AuditQuery> for AppAuditQuery {
    fn from(q: AuditQuery) -> Self {
        AppAuditQuery {
            server: q.server,
            run: q.run,
            service: q.service,
            actor: q.actor,
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// `GET /api/services`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServicesQuery {
    /// Only services of this server (name or id).
    #[serde(default)]
    pub server: Option<String>,
}

/// `"all"` (any case) or a list of targets: unique identifiers, or — when `IDS` — service
/// ids given as numbers or strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets<const IDS: bool>(pub Selector);

/// Targets of `import`, `sync` and `reactivate`: unique identifiers as listed.
pub type UidTargets = Targets<false>;
/// Targets of `terminate` and `move`: service ids.
pub type ServiceIdTargets = Targets<true>;

/// One target in a list: a non-empty string, or (for service ids) a whole number.
struct Target<const IDS: bool>(String);

impl<'de, const IDS: bool> Deserialize<'de> for Target<IDS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const IDS: bool>;
        impl<const IDS: bool> Visitor<'_> for V<IDS> {
            type Value = Target<IDS>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(if IDS {
                    "a service id (number or string)"
                } else {
                    "a unique identifier (string)"
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s.trim() {
                    "" => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                    t => Ok(Target(t.to_string())),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                if IDS {
                    Ok(Target(n.to_string()))
                } else {
                    Err(E::invalid_type(de::Unexpected::Unsigned(n), &self))
                }
            }
        }
        d.deserialize_any(V::<IDS>)
    }
}

impl<'de, const IDS: bool> Deserialize<'de> for Targets<IDS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const IDS: bool>;
        impl<'de, const IDS: bool> Visitor<'de> for V<IDS> {
            type Value = Targets<IDS>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(if IDS {
                    "\"all\" or an array of service ids"
                } else {
                    "\"all\" or an array of unique identifiers"
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s.eq_ignore_ascii_case("all") {
                    Ok(Targets(Selector::All))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(s), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(Target::<IDS>(t)) = seq.next_element()? {
                    out.push(t);
                }
                Ok(Targets(Selector::Only(out)))
            }
        }
        d.deserialize_any(V::<IDS>)
    }
}

impl<const IDS: bool> utoipa::PartialSchema for Targets<IDS> {
    fn schema() -> RefOr<Schema> {
        let item: RefOr<Schema> = if IDS {
            let one: utoipa::openapi::OneOf = OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .item(ObjectBuilder::new().schema_type(Type::String))
                .build();
            RefOr::T(Schema::from(one))
        } else {
            ObjectBuilder::new().schema_type(Type::String).into()
        };
        let all_or_list = OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["all"])),
            )
            .item(ArrayBuilder::new().items(item))
            .description(Some(if IDS {
                "\"all\" or service ids (numbers or strings)"
            } else {
                "\"all\" or unique identifiers as listed"
            }))
            .build();
        RefOr::T(Schema::from(all_or_list))
    }
}

impl utoipa::ToSchema for Targets<false> {
    fn name() -> std::borrow::Cow<'static, str> {
        "UidTargets".into()
    }
}

impl utoipa::ToSchema for Targets<true> {
    fn name() -> std::borrow::Cow<'static, str> {
        "ServiceIdTargets".into()
    }
}

/// An action on one item of the run, by the item's index.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemChoiceBody {
    /// The item's `index` in the run.
    #[schema(minimum = 0)]
    pub item: usize,
    #[schema(schema_with = schema::action)]
    pub action: Action,
}

fn positive_client<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        Some(id) if id <= 0 => Err(de::Error::custom(format!(
            "expected a client id or null, got {id}"
        ))),
        other => Ok(other),
    }
}

fn billing_cycle<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if s.trim().is_empty() => Err(de::Error::custom("must not be empty")),
        other => Ok(other.map(|s| s.trim().to_string())),
    }
}

fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if !is_amount(s.trim()) => Err(de::Error::custom(format!(
            "expected a decimal amount such as 0.00, got {s:?}"
        ))),
        other => Ok(other.map(|s| s.trim().to_string())),
    }
}

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_date(s.trim()).map(Some).map_err(de::Error::custom),
    }
}

/// Billing defaults of imported services (all optional).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsBody {
    /// Client for accounts without a usable e-mail; null refuses such items.
    #[serde(default, deserialize_with = "positive_client")]
    #[schema(minimum = 1)]
    pub unassigned_client: Option<i64>,
    /// Default `Free Account`.
    #[serde(default, deserialize_with = "billing_cycle")]
    pub billing_cycle: Option<String>,
    /// Decimal amount as text, default `0.00`.
    #[serde(default, deserialize_with = "amount")]
    #[schema(example = "0.00")]
    pub amount: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "date")]
    #[schema(value_type = Option<String>, format = Date)]
    pub next_due_date: Option<Date>,
    /// Create a product for a package no product maps to (default false).
    #[serde(default)]
    pub create_missing_products: Option<bool>,
}

impl From<DefaultsBody> for ImportDefaults {
    fn from(b: DefaultsBody) -> Self {
        let d = ImportDefaults::default();
        ImportDefaults {
            unassigned_client: b.unassigned_client,
            billing_cycle: b.billing_cycle.unwrap_or(d.billing_cycle),
            amount: b.amount.unwrap_or(d.amount),
            next_due_date: b.next_due_date,
            create_missing_products: b.create_missing_products.unwrap_or(false),
        }
    }
}

/// `POST /api/runs/{id}/apply`: what to apply; at least one of `import`, `sync`,
/// `reactivate`, `terminate`, `move`, `items`. Null is the same as absent.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "an apply request object")]
#[schema(as = ApplyRequest)]
pub struct ApplyBody {
    #[serde(default)]
    pub import: Option<UidTargets>,
    #[serde(default)]
    pub sync: Option<UidTargets>,
    /// Unique identifiers of `terminated_in_billing` items: the services are made live
    /// again (never part of `sync`).
    #[serde(default)]
    pub reactivate: Option<UidTargets>,
    #[serde(default)]
    pub terminate: Option<ServiceIdTargets>,
    #[serde(default, rename = "move")]
    pub moves: Option<ServiceIdTargets>,
    /// Actions on items by index.
    #[serde(default)]
    pub items: Option<Vec<ItemChoiceBody>>,
    /// Report what would happen without writing (default false).
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Override the guards (zero-account listings, termination and move limits,
    /// incomplete listings); every override is audited (default false).
    #[serde(default)]
    pub force: Option<bool>,
    #[serde(default)]
    pub defaults: Option<DefaultsBody>,
}

/// The fields an apply body may have (as the OpenAPI document names them).
pub const APPLY_FIELDS: [&str; 9] = [
    "import",
    "sync",
    "reactivate",
    "terminate",
    "move",
    "items",
    "dry_run",
    "force",
    "defaults",
];

impl From<ApplyBody> for ApplyInput {
    fn from(b: ApplyBody) -> Self {
        ApplyInput {
            import: b.import.map(|t| t.0),
            sync: b.sync.map(|t| t.0),
            reactivate: b.reactivate.map(|t| t.0),
            terminate: b.terminate.map(|t| t.0),
            moves: b.moves.map(|t| t.0),
            items: b
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|c| ItemChoice {
                    item: c.item,
                    action: c.action,
                })
                .collect(),
            dry_run: b.dry_run.unwrap_or(false),
            force: b.force.unwrap_or(false),
            defaults: b.defaults.map(Into::into).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::json_body;

    fn input(body: &str) -> ApplyInput {
        json_body::<ApplyBody>(body.as_bytes()).unwrap().into()
    }

    #[test]
    fn targets_read_all_names_and_ids() {
        let i =
            input(r#"{"import":"ALL","sync":[" a.test "],"terminate":[1002,"1003"],"move":null}"#);
        assert_eq!(i.import, Some(Selector::All));
        assert_eq!(i.sync, Some(Selector::Only(vec!["a.test".into()])));
        assert_eq!(
            i.terminate,
            Some(Selector::Only(vec!["1002".into(), "1003".into()]))
        );
        assert_eq!(i.moves, None);
        assert!(!i.dry_run && !i.force);
        assert_eq!(i.defaults, ImportDefaults::default());
    }

    #[test]
    fn bad_targets_and_defaults_name_their_path() {
        let e = |b: &str| {
            json_body::<ApplyBody>(b.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(e(r#"{"import":"some"}"#).starts_with("import: invalid value: string \"some\""));
        assert!(e(r#"{"sync":[1]}"#).starts_with("sync[0]: invalid type: integer `1`"));
        assert!(e(r#"{"terminate":[true]}"#).starts_with("terminate[0]: invalid type: boolean"));
        assert!(e(r#"{"terminate":["  "]}"#).starts_with("terminate[0]: invalid value"));
        assert!(e(r#"{"defaults":{"amount":"free"}}"#)
            .starts_with("defaults.amount: expected a decimal"));
        assert!(e(r#"{"defaults":{"unassigned_client":0}}"#)
            .starts_with("defaults.unassigned_client: expected a client id"));
        assert!(e(r#"{"defaults":{"billing_cycle":" "}}"#)
            .starts_with("defaults.billing_cycle: must not be empty"));
        assert!(e(r#"{"defaults":{"next_due_date":"31.12.2030"}}"#)
            .starts_with("defaults.next_due_date: "));
        assert!(e(r#"{"defaults":{"colour":1}}"#).starts_with("defaults.colour: unknown field"));
        let i = input(
            r#"{"defaults":{"amount":"9.99","next_due_date":"2030-12-31","create_missing_products":true}}"#,
        );
        assert_eq!(i.defaults.amount, "9.99");
        assert_eq!(
            i.defaults
                .next_due_date
                .map(serversync_core::model::format_date),
            Some("2030-12-31".to_string())
        );
        assert!(i.defaults.create_missing_products);
    }
}
