//! Plain record pages: clients, products (with the package mapping form), services and the
//! audit log.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde_json::Value;
use serversync_app::edits::ProductInput;
use serversync_app::AppError;
use serversync_core::model::{format_date, Client, Product, Service};
use serversync_store::AuditFilter;

use super::{fmt_time, opt_num, query_string};
use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    nav: Option<Nav>,
    clients: Vec<Client>,
    /// The search (id, e-mail, name, company); empty = every client.
    q: String,
    /// More matched than are shown.
    more: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct ClientsQuery {
    #[serde(default)]
    q: String,
}

pub(super) async fn clients(
    State(st): State<WebState>,
    user: CurrentUser,
    Query(cq): Query<ClientsQuery>,
) -> Result<Html<String>, WebError> {
    let all = st.app.clients().await?;
    let q = cq.q.trim().to_string();
    let (clients, more) = if q.is_empty() {
        (all, false)
    } else {
        let (hits, more) = super::client_search::find(&all, &q);
        (hits.into_iter().cloned().collect(), more)
    };
    render(&ClientsPage {
        nav: Nav::of(&user),
        clients,
        q,
        more,
    })
}

pub struct ProductRow {
    pub product: Product,
    /// The module's product field (`configoption1`) and its value.
    pub field: String,
    pub package: Option<String>,
    pub others: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    nav: Option<Nav>,
    is_admin: bool,
    rows: Vec<ProductRow>,
}

fn product_field(st: &WebState, module: &str) -> String {
    st.app.product_field_of(module)
}

pub(super) async fn products(
    State(st): State<WebState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let rows = st
        .app
        .products()
        .await?
        .into_iter()
        .map(|p| {
            let field = product_field(&st, &p.module);
            let package = p.config_option(&field).map(str::to_string);
            let others = p
                .config_options
                .iter()
                .filter(|(k, _)| **k != field)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            ProductRow {
                product: p,
                field,
                package,
                others,
            }
        })
        .collect();
    render(&ProductsPage {
        nav: Nav::of(&user),
        is_admin: user.is_admin(),
        rows,
    })
}

#[derive(Template)]
#[template(path = "product_form.html")]
struct ProductFormPage {
    nav: Option<Nav>,
    csrf: String,
    id: i64,
    name: String,
    module: String,
    modules: Vec<String>,
    field: String,
    /// `(configoptionN, value)` for N = 1..24.
    options: Vec<(String, String)>,
    error: Option<String>,
}

fn option_names() -> impl Iterator<Item = String> {
    (1..=24).map(|n| format!("configoption{n}"))
}

fn product_page(
    st: &WebState,
    user: &CurrentUser,
    id: i64,
    name: String,
    module: String,
    values: &BTreeMap<String, String>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    render(&ProductFormPage {
        nav: Nav::of(user),
        csrf: user.csrf().to_string(),
        id,
        field: product_field(st, &module),
        name,
        module,
        modules: st.app.module_names(),
        options: option_names()
            .map(|k| (k.clone(), values.get(&k).cloned().unwrap_or_default()))
            .collect(),
        error,
    })
}

pub(super) async fn product_form(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    if !user.is_admin() {
        return Err(WebError::Forbidden(format!(
            "{} is a read-only user: looking is allowed, changing is not",
            user.name()
        )));
    }
    let p = st
        .app
        .products()
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| WebError::NotFound(format!("product {id} not found")))?;
    product_page(&st, &user, id, p.name, p.module, &p.config_options, None)
}

pub(super) async fn product_save(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    user.check_admin_form(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let config_options: BTreeMap<String, String> = option_names()
        .filter_map(|k| f.get(&k).map(|v| (k.clone(), v.clone())))
        .collect();
    let input = ProductInput {
        id,
        name: f.get("name").cloned().unwrap_or_default(),
        module: f.get("module").cloned().unwrap_or_default(),
        config_options,
    };
    match st
        .app
        .clone()
        .with_actor(user.actor())
        .save_product_input(&input)
        .await
    {
        Ok(_) => Ok(Redirect::to("/products").into_response()),
        Err(e @ AppError::Invalid(_)) => Ok((
            StatusCode::BAD_REQUEST,
            product_page(
                &st,
                &user,
                id,
                input.name,
                input.module,
                &input.config_options,
                Some(e.to_string()),
            )?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct ServicesQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub struct ServiceRow {
    pub s: Service,
    pub client: String,
    pub product: String,
    pub server: String,
    pub regdate: String,
    pub next_due: String,
    pub terminated: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    nav: Option<Nav>,
    servers: Vec<(i64, String, bool)>,
    one: Option<i64>,
    rows: Vec<ServiceRow>,
    total: usize,
    page: usize,
    pages: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
}

/// Services per page.
const SERVICES_PER_PAGE: usize = 200;

pub(super) async fn services(
    State(st): State<WebState>,
    user: CurrentUser,
    Query(q): Query<ServicesQuery>,
) -> Result<Html<String>, WebError> {
    let server: Option<i64> = opt_num("server", &q.server)?;
    let one: Option<i64> = opt_num("id", &q.id)?;
    let page = opt_num::<usize>("page", &q.page)?.unwrap_or(1).max(1);
    let all = match one {
        Some(id) => vec![st.app.service(id).await?],
        None => st.app.services_by_server_id(server).await?,
    };
    let clients: HashMap<i64, String> = st
        .app
        .clients()
        .await?
        .into_iter()
        .map(|c| (c.id, c.email))
        .collect();
    let products: HashMap<i64, String> = st
        .app
        .products()
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let servers: Vec<(i64, String)> = st
        .app
        .servers()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let server_names: HashMap<i64, &str> = servers.iter().map(|(i, n)| (*i, n.as_str())).collect();
    let total = all.len();
    let pages = total.div_ceil(SERVICES_PER_PAGE).max(1);
    let date = |d: Option<time::Date>| d.map(format_date).unwrap_or_default();
    let rows = all
        .into_iter()
        .skip((page - 1) * SERVICES_PER_PAGE)
        .take(SERVICES_PER_PAGE)
        .map(|s| ServiceRow {
            client: clients
                .get(&s.client_id)
                .cloned()
                .unwrap_or_else(|| format!("client {}", s.client_id)),
            product: products
                .get(&s.product_id)
                .cloned()
                .unwrap_or_else(|| format!("product {}", s.product_id)),
            server: s
                .server_id
                .map(|i| {
                    server_names
                        .get(&i)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| format!("server {i}"))
                })
                .unwrap_or_default(),
            regdate: date(s.regdate),
            next_due: date(s.next_due_date),
            terminated: date(s.termination_date),
            s,
        })
        .collect();
    let href = |p: usize| {
        let qs = query_string(&[
            ("server", server.map(|s| s.to_string()).unwrap_or_default()),
            ("page", p.to_string()),
        ]);
        format!("/services?{qs}")
    };
    let servers = servers
        .iter()
        .map(|(i, n)| (*i, n.clone(), Some(*i) == server))
        .collect();
    render(&ServicesPage {
        nav: Nav::of(&user),
        servers,
        one,
        rows,
        total,
        page,
        pages,
        prev_href: (page > 1).then(|| href(page - 1)),
        next_href: (page < pages).then(|| href(page + 1)),
    })
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub server: Option<(i64, String)>,
    pub run: Option<i64>,
    pub service: Option<i64>,
    pub client: Option<i64>,
    /// `field: before → after` for each changed field (or the whole value when not objects).
    pub changes: Vec<String>,
    pub note: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    servers: Vec<(i64, String, bool)>,
    run: String,
    service: String,
    actor: String,
    rows: Vec<AuditRow>,
    total: i64,
    page: i64,
    pages: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

/// Audit events per page.
const AUDIT_PER_PAGE: i64 = 50;

fn compact(v: &Value) -> String {
    match v {
        Value::Null => "∅".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields that changed between two audit JSON values, compactly.
fn changes(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    let parse = |s: Option<&str>| {
        s.map(|s| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_string())))
    };
    match (parse(before), parse(after)) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| {
                    format!(
                        "{k}: {} → {}",
                        compact(b.get(k).unwrap_or(&Value::Null)),
                        compact(a.get(k).unwrap_or(&Value::Null))
                    )
                })
                .collect()
        }
        (None, Some(Value::Object(a))) => a
            .iter()
            .filter(|(_, v)| !v.is_null() && *v != "")
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect(),
        (None, None) => Vec::new(),
        (b, a) => vec![format!(
            "{} → {}",
            b.as_ref().map(compact).unwrap_or_default(),
            a.as_ref().map(compact).unwrap_or_default()
        )],
    }
}

pub(super) async fn audit(
    State(st): State<WebState>,
    user: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> Result<Html<String>, WebError> {
    let page = opt_num::<i64>("page", &q.page)?.unwrap_or(1).max(1);
    let actor = q
        .actor
        .clone()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let filter = AuditFilter {
        server_id: opt_num("server", &q.server)?,
        run_id: opt_num("run", &q.run)?,
        service_id: opt_num("service", &q.service)?,
        actor: actor.clone(),
        limit: AUDIT_PER_PAGE,
        offset: (page - 1) * AUDIT_PER_PAGE,
    };
    let (total, events) = st.app.audit_events_page(&filter).await?;
    let servers: Vec<(i64, String)> = st
        .app
        .servers()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let names: HashMap<i64, &String> = servers.iter().map(|(i, n)| (*i, n)).collect();
    let rows = events
        .into_iter()
        .map(|e| AuditRow {
            id: e.id,
            at: fmt_time(e.at),
            server: e.server_id.map(|i| {
                (
                    i,
                    names
                        .get(&i)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| format!("server {i}")),
                )
            }),
            run: e.run_id,
            service: e.service_id,
            client: e.client_id,
            changes: changes(e.before.as_deref(), e.after.as_deref()),
            note: e.note.unwrap_or_default(),
            actor: e.actor,
            action: e.action,
        })
        .collect();
    let pages = ((total + AUDIT_PER_PAGE - 1) / AUDIT_PER_PAGE).max(1);
    let s = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let href = |p: i64| {
        format!(
            "/audit?{}",
            query_string(&[
                ("server", s(filter.server_id)),
                ("run", s(filter.run_id)),
                ("service", s(filter.service_id)),
                ("actor", actor.clone().unwrap_or_default()),
                ("page", p.to_string()),
            ])
        )
    };
    let servers = servers
        .iter()
        .map(|(i, n)| (*i, n.clone(), Some(*i) == filter.server_id))
        .collect();
    render(&AuditPage {
        nav: Nav::of(&user),
        servers,
        run: s(filter.run_id),
        service: s(filter.service_id),
        actor: actor.clone().unwrap_or_default(),
        rows,
        total,
        page,
        pages,
        prev_href: (page > 1).then(|| href(page - 1)),
        next_href: (page < pages).then(|| href(page + 1)),
    })
}
