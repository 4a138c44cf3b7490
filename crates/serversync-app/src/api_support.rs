//! Application functions behind the JSON API: the documents it answers with (server
//! overview, run summaries, audit events) and the checking of its inputs (item queries, the
//! apply body, audit filters). Every input error names the field it is about.

use serde_json::{json, Map, Value};
use serversync_core::analysis::Category;
use serversync_core::model::{parse_date, Server};
use serversync_core::plan::{ImportDefaults, Selection, Selector};
use serversync_store::{AuditEvent, AuditFilter, RunSummary};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::items::{selection_from_choices, ItemChoice, ItemQuery, RunView};
use crate::records::{client_json, product_json, server_json, service_json};
use crate::{App, AppError, ApplyRequest, Result};

/// Default and largest page sizes of item listings.
pub const ITEMS_PER_PAGE: usize = 100;
pub const MAX_ITEMS_PER_PAGE: usize = 1000;
/// Default and largest page sizes of the audit log.
pub const AUDIT_LIMIT: i64 = 100;
pub const MAX_AUDIT_LIMIT: i64 = 1000;

/// A time as RFC 3339 (`2024-01-31T13:15:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Null)
}

/// A stored run in listings: `{"id", "server_id", "listing_status", "error", "accounts",
/// "counts", "started_at", "finished_at", "applied_at"}`.
pub fn run_summary_json(r: &RunSummary) -> Value {
    let counts: Value = serde_json::from_str(&r.counts_json).unwrap_or_else(|_| json!({}));
    json!({
        "id": r.id,
        "server_id": r.server_id,
        "listing_status": r.listing_status.as_str(),
        "error": r.error,
        "accounts": r.accounts,
        "counts": counts,
        "started_at": rfc3339(r.started_at),
        "finished_at": rfc3339(r.finished_at),
        "applied_at": opt_time(r.applied_at),
    })
}

/// One run in full, without its items: the analysis document's head plus the run's status
/// and times.
pub fn run_view_json(view: &RunView, server: &Server) -> Value {
    json!({
        "id": view.run_id,
        "server": {"id": server.id, "name": server.name, "module": server.module},
        "listing_status": view.listing_status.as_str(),
        "listing": {
            "complete": view.complete,
            "accounts": view.accounts,
            "error": view.error,
            "skipped": view.skipped,
        },
        "unique_identifier": {"field": view.uid_field, "display_name": view.uid_display_name},
        "counts": crate::counts_json(&view.counts),
        "items": view.items.len(),
        "live_services": view.live_services,
        "warnings": view.warnings,
        "started_at": rfc3339(view.started_at),
        "finished_at": rfc3339(view.finished_at),
        "applied_at": opt_time(view.applied_at),
    })
}

/// An audit event with `before`/`after` parsed back into JSON (text that is not JSON is
/// kept as a string).
pub fn audit_json(e: &AuditEvent) -> Value {
    let parse = |s: &Option<String>| match s {
        Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        None => Value::Null,
    };
    json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "server_id": e.server_id,
        "run_id": e.run_id,
        "service_id": e.service_id,
        "client_id": e.client_id,
        "before": parse(&e.before),
        "after": parse(&e.after),
        "note": e.note,
    })
}

/// Parses an optional query value as a number, naming the field when it is not one.
pub fn parse_number<T: std::str::FromStr>(field: &str, value: Option<&str>) -> Result<Option<T>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            AppError::Invalid(format!(
                "{field}: expected a non-negative whole number, got {v:?}"
            ))
        }),
    }
}

/// Checks the filters and paging of an item listing: `category` must be a category name,
/// `page` ≥ 1, `per_page` 1..=1000 (default 100).
pub fn item_query(
    category: Option<&str>,
    search: Option<&str>,
    page: Option<&str>,
    per_page: Option<&str>,
) -> Result<ItemQuery> {
    let category = match category.map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match Category::ALL.iter().find(|k| k.as_str() == c) {
            Some(k) => Some(*k),
            None => {
                let names: Vec<&str> = Category::ALL.iter().map(|k| k.as_str()).collect();
                return Err(AppError::Invalid(format!(
                    "category: unknown category {c:?} (one of {})",
                    names.join(", ")
                )));
            }
        },
    };
    let page = parse_number::<usize>("page", page)?.unwrap_or(1);
    if page == 0 {
        return Err(AppError::Invalid("page: pages start at 1".into()));
    }
    let per_page = parse_number::<usize>("per_page", per_page)?.unwrap_or(ITEMS_PER_PAGE);
    if per_page == 0 || per_page > MAX_ITEMS_PER_PAGE {
        return Err(AppError::Invalid(format!(
            "per_page: must be between 1 and {MAX_ITEMS_PER_PAGE}, got {per_page}"
        )));
    }
    Ok(ItemQuery {
        category,
        search: search.map(str::to_string).filter(|s| !s.trim().is_empty()),
        page,
        per_page,
    })
}

/// Filters of the audit log as given in a query (all optional; `server` is a name or id).
#[derive(Clone, Debug, Default)]
pub struct AuditParams<'a> {
    pub server: Option<&'a str>,
    pub run: Option<&'a str>,
    pub service: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub offset: Option<&'a str>,
}

/// A page of the audit log and how many events match in all.
#[derive(Clone, Debug)]
pub struct AuditPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub events: Vec<AuditEvent>,
}

impl AuditPage {
    /// `{"total", "limit", "offset", "events": [audit_json…]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "events": self.events.iter().map(audit_json).collect::<Vec<_>>(),
        })
    }
}

/// Where a server's billing stands and what its last run found.
#[derive(Clone, Debug)]
pub struct ServerOverview {
    pub server: Server,
    pub live_services: usize,
    pub last_run: Option<RunSummary>,
}

impl ServerOverview {
    /// The records-document entry (no secrets) plus `live_services` and `last_run`.
    pub fn to_json(&self) -> Value {
        let mut v = server_json(&self.server);
        if let Value::Object(m) = &mut v {
            m.insert("live_services".into(), json!(self.live_services));
            m.insert(
                "last_run".into(),
                self.last_run
                    .as_ref()
                    .map(run_summary_json)
                    .unwrap_or(Value::Null),
            );
        }
        v
    }
}

impl App {
    /// Every server with its live services count and its latest run.
    pub async fn server_overview(&self) -> Result<Vec<ServerOverview>> {
        let servers = self.store.servers().await?;
        let services = self.store.services(None).await?;
        let mut out = Vec::with_capacity(servers.len());
        for server in servers {
            let live_services = services
                .iter()
                .filter(|s| s.server_id == Some(server.id) && s.status.is_live())
                .count();
            let last_run = self.store.runs(server.id, 1).await?.into_iter().next();
            out.push(ServerOverview {
                server,
                live_services,
                last_run,
            });
        }
        Ok(out)
    }

    /// A server's runs, newest first (`limit` default 20, at most 1000).
    pub async fn run_history(&self, server: &str, limit: Option<&str>) -> Result<Vec<RunSummary>> {
        let limit = parse_number::<i64>("limit", limit)?.unwrap_or(20);
        if !(1..=1000).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit: must be between 1 and 1000, got {limit}"
            )));
        }
        let server = self.store.server(server).await?;
        Ok(self.store.runs(server.id, limit).await?)
    }

    /// The audit log, filtered and paged (`limit` default 100, at most 1000).
    pub async fn audit_page(&self, p: &AuditParams<'_>) -> Result<AuditPage> {
        let server_id = match p.server.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(self.store.server(s).await?.id),
            None => None,
        };
        let limit = parse_number::<i64>("limit", p.limit)?.unwrap_or(AUDIT_LIMIT);
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit: must be between 1 and {MAX_AUDIT_LIMIT}, got {limit}"
            )));
        }
        let offset = parse_number::<i64>("offset", p.offset)?.unwrap_or(0);
        let filter = AuditFilter {
            server_id,
            run_id: parse_number("run", p.run)?,
            service_id: parse_number("service", p.service)?,
            actor: p
                .actor
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            limit,
            offset,
        };
        let total = self.store.audit_count(&filter).await?;
        let events = self.store.audit_query(&filter).await?;
        Ok(AuditPage {
            total,
            limit,
            offset,
            events,
        })
    }

    /// Clients as records-document entries.
    pub async fn clients_json(&self) -> Result<Vec<Value>> {
        Ok(self
            .store
            .clients()
            .await?
            .iter()
            .map(client_json)
            .collect())
    }

    /// Products as records-document entries.
    pub async fn products_json(&self) -> Result<Vec<Value>> {
        Ok(self
            .store
            .products()
            .await?
            .iter()
            .map(product_json)
            .collect())
    }

    /// Services (of one server, by name or id, when given) as records-document entries.
    pub async fn services_json(&self, server: Option<&str>) -> Result<Vec<Value>> {
        let server_id = match server.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(self.store.server(s).await?.id),
            None => None,
        };
        Ok(self
            .store
            .services(server_id)
            .await?
            .iter()
            .map(service_json)
            .collect())
    }

    /// The server a run belongs to.
    pub async fn run_server(&self, view: &RunView) -> Result<Server> {
        Ok(self.store.server_by_id(view.server_id).await?)
    }
}

/// The fields an apply body may have.
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
const DEFAULTS_FIELDS: [&str; 5] = [
    "unassigned_client",
    "billing_cycle",
    "amount",
    "next_due_date",
    "create_missing_products",
];

fn invalid(msg: String) -> AppError {
    AppError::Invalid(msg)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `"all"` or a list of targets (strings; numbers too when `numbers` is set).
fn selector(field: &str, v: &Value, numbers: bool) -> Result<Option<Selector>> {
    let expected = if numbers {
        "\"all\" or an array of service ids"
    } else {
        "\"all\" or an array of unique identifiers"
    };
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.eq_ignore_ascii_case("all") => Ok(Some(Selector::All)),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.iter().enumerate() {
                match x {
                    Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
                    Value::Number(n) if numbers && n.is_u64() => out.push(n.to_string()),
                    other => {
                        return Err(invalid(format!(
                            "{field}[{i}]: expected {}, got {}",
                            if numbers {
                                "a service id (number or string)"
                            } else {
                                "a unique identifier (string)"
                            },
                            type_name(other)
                        )))
                    }
                }
            }
            Ok(Some(Selector::Only(out)))
        }
        other => Err(invalid(format!(
            "{field}: expected {expected}, got {}",
            match other {
                Value::String(s) => format!("{s:?}"),
                o => type_name(o).to_string(),
            }
        ))),
    }
}

fn merge(slot: &mut Option<Selector>, add: Option<Selector>) {
    match (slot.as_mut(), add) {
        (_, None) => {}
        (None, Some(a)) => *slot = Some(a),
        (Some(Selector::All), Some(_)) => {}
        (Some(Selector::Only(_)), Some(Selector::All)) => *slot = Some(Selector::All),
        (Some(Selector::Only(v)), Some(Selector::Only(more))) => {
            for t in more {
                if !v.contains(&t) {
                    v.push(t);
                }
            }
        }
    }
}

fn boolean(field: &str, v: Option<&Value>) -> Result<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(o) => Err(invalid(format!(
            "{field}: expected true or false, got {}",
            type_name(o)
        ))),
    }
}

fn text(field: &str, v: Option<&Value>, default: &str) -> Result<String> {
    match v {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(o) => Err(invalid(format!(
            "{field}: expected a string, got {}",
            type_name(o)
        ))),
    }
}

fn unknown_fields(field: &str, m: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "{field}{k}: unknown field (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn defaults(v: Option<&Value>) -> Result<ImportDefaults> {
    let mut d = ImportDefaults::default();
    let m = match v {
        None | Some(Value::Null) => return Ok(d),
        Some(Value::Object(m)) => m,
        Some(o) => {
            return Err(invalid(format!(
                "defaults: expected an object, got {}",
                type_name(o)
            )))
        }
    };
    unknown_fields("defaults.", m, &DEFAULTS_FIELDS)?;
    d.unassigned_client = match m.get("unassigned_client") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() && n.as_i64().unwrap_or(0) > 0 => n.as_i64(),
        Some(o) => {
            return Err(invalid(format!(
                "defaults.unassigned_client: expected a client id or null, got {o}"
            )))
        }
    };
    d.billing_cycle = text(
        "defaults.billing_cycle",
        m.get("billing_cycle"),
        &d.billing_cycle,
    )?;
    if d.billing_cycle.is_empty() {
        return Err(invalid("defaults.billing_cycle: must not be empty".into()));
    }
    d.amount = text("defaults.amount", m.get("amount"), &d.amount)?;
    let valid_amount = {
        let (int, frac) = d.amount.split_once('.').unwrap_or((&d.amount, ""));
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(d.amount.contains('.') && frac.is_empty())
    };
    if !valid_amount {
        return Err(invalid(format!(
            "defaults.amount: expected a decimal amount such as 0.00, got {:?}",
            d.amount
        )));
    }
    d.next_due_date = match m.get("next_due_date") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_date(s.trim()).map_err(|e| invalid(format!("defaults.next_due_date: {e}")))?,
        ),
        Some(o) => {
            return Err(invalid(format!(
                "defaults.next_due_date: expected YYYY-MM-DD or null, got {}",
                type_name(o)
            )))
        }
    };
    d.create_missing_products = boolean(
        "defaults.create_missing_products",
        m.get("create_missing_products"),
    )?;
    Ok(d)
}

/// Turns the JSON body of an API apply of run `view` (of `server`) into an [`ApplyRequest`]:
/// `{"import": [uid…]|"all", "sync": …, "reactivate": …, "terminate": [service id…]|"all", "move": …,
/// "items": [{"item": 3, "action": "sync"}…], "dry_run": bool, "force": bool,
/// "defaults": {…}}`. Errors name the field; a body that selects nothing is an error.
pub fn apply_request_from_json(
    view: &RunView,
    server: &Server,
    body: &Value,
    states: &[crate::states::ItemStatus],
) -> Result<ApplyRequest> {
    let m = match body {
        Value::Object(m) => m,
        o => {
            return Err(invalid(format!(
                "body: expected a JSON object, got {}",
                type_name(o)
            )))
        }
    };
    unknown_fields("", m, &APPLY_FIELDS)?;
    let get = |k: &str| m.get(k).unwrap_or(&Value::Null);
    let mut selection = match get("items") {
        Value::Null => Selection::default(),
        Value::Array(a) => {
            let mut choices = Vec::with_capacity(a.len());
            for (i, c) in a.iter().enumerate() {
                let choice: ItemChoice = serde_json::from_value(c.clone()).map_err(|e| {
                    invalid(format!(
                        "items[{i}]: expected {{\"item\": <index>, \"action\": \"import\"|\"sync\"|\"reactivate\"|\"terminate\"|\"move\"}} ({e})"
                    ))
                })?;
                choices.push(choice);
            }
            selection_from_choices(view, &choices, states)
                .map_err(|e| invalid(format!("items: {e}")))?
        }
        o => {
            return Err(invalid(format!(
                "items: expected an array, got {}",
                type_name(o)
            )))
        }
    };
    merge(
        &mut selection.import,
        selector("import", get("import"), false)?,
    );
    merge(&mut selection.sync, selector("sync", get("sync"), false)?);
    merge(
        &mut selection.reactivate,
        selector("reactivate", get("reactivate"), false)?,
    );
    merge(
        &mut selection.terminate,
        selector("terminate", get("terminate"), true)?,
    );
    merge(&mut selection.moves, selector("move", get("move"), true)?);
    if selection.is_empty() {
        return Err(invalid(
            "body: nothing selected (give import, sync, reactivate, terminate, move or items)"
                .into(),
        ));
    }
    Ok(ApplyRequest {
        server: server.name.clone(),
        run: Some(view.run_id),
        selection,
        dry_run: boolean("dry_run", m.get("dry_run"))?,
        force: boolean("force", m.get("force"))?,
        defaults: defaults(m.get("defaults"))?,
    })
}
