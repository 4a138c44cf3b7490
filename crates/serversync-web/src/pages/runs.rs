//! A run: its items (tabs, search, paging, both sides with differing fields highlighted,
//! selection), the CSV export, the review (dry run) and the apply summary.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serversync_app::edits::selection_from_picks;
use serversync_app::items::{category_counts, ItemQuery, RunView, StoredItem};
use serversync_app::states::{any_stale, audit_href, ItemStatus};
use serversync_app::{AppError, ApplyReport, ApplyRequest, ImportDefaults, ItemOutcome};
use serversync_core::analysis::{Action, Category, Field};
use serversync_core::model::{parse_date, Server};
use serversync_core::module::{format_created, SkippedRecord};

use super::csv::items_csv;
use super::pager::{page_links, PageLink};
use super::selection::{remember, run_href, shown_page};
use super::{fmt_time, query_string};
use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

/// Items per page of the run page.
pub(super) const PER_PAGE: usize = 100;

/// The action each category offers (DESIGN.md §3), for the select-all boxes.
const CATEGORY_ACTIONS: [(Category, Action); 6] = [
    (Category::OutOfSync, Action::Sync),
    (Category::Duplicate, Action::Terminate),
    (Category::TerminatedInBilling, Action::Reactivate),
    (Category::Moved, Action::Move),
    (Category::NotInBilling, Action::Import),
    (Category::NotOnServer, Action::Terminate),
];

#[derive(Deserialize, Default)]
pub(super) struct RunQuery {
    #[serde(default)]
    pub(super) category: String,
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) page: String,
}

impl RunQuery {
    pub(super) fn item_query(&self, per_page: usize) -> Result<ItemQuery, WebError> {
        let page = super::opt_num::<usize>("page", &Some(self.page.clone()))?.unwrap_or(1);
        let category = match self.category.trim() {
            "" => None,
            c => Some(
                Category::ALL
                    .into_iter()
                    .find(|k| k.as_str() == c)
                    .ok_or_else(|| {
                        WebError::BadRequest(format!("category: unknown category {c:?}"))
                    })?,
            ),
        };
        Ok(ItemQuery {
            category,
            search: (!self.q.trim().is_empty()).then(|| self.q.trim().to_string()),
            page,
            per_page,
        })
    }
}

/// One table cell of an item side; `other` is the other side's value when the field differs.
#[derive(Default)]
pub struct Cell {
    pub text: String,
    pub diff: bool,
    pub other: String,
}

pub struct Tab {
    pub name: &'static str,
    /// The category's words ([`Category::label`]); `name` stays in ids and links.
    pub label: &'static str,
    pub count: usize,
    pub current: bool,
    pub href: String,
}

pub struct ItemRow {
    pub index: usize,
    /// The machine name (`out_of_sync`), for `data-category` and scripts.
    pub category: String,
    /// The words shown ("Out of sync"); the name itself for a category this version
    /// does not know.
    pub category_label: String,
    pub has_billing: bool,
    pub client_id: Option<i64>,
    pub product_id: Option<i64>,
    /// The actions of this item ticked in the selection kept for this run and user.
    pub ticked: Vec<String>,
    pub uid: String,
    pub has_remote: bool,
    pub r_uid: Cell,
    pub r_domain: String,
    pub r_ip: Cell,
    pub r_user: Cell,
    pub r_product: Cell,
    pub r_status: Cell,
    pub r_created: Cell,
    pub r_email: Cell,
    pub r_owner: String,
    pub service_id: Option<i64>,
    pub b_domain: Cell,
    pub b_ip: Cell,
    pub b_user: Cell,
    pub b_product: Cell,
    pub b_status: Cell,
    pub b_regdate: Cell,
    pub b_email: Cell,
    pub actions: Vec<String>,
    pub notes: Vec<String>,
    /// `open`, `applied`, `refused` or `stale`.
    pub state: &'static str,
    /// Why refused / stale.
    pub state_reason: String,
    /// The audit events of an applied or refused item.
    pub audit_href: Option<String>,
    /// Whether its action boxes can be ticked.
    pub selectable: bool,
}

fn item_row(
    index: usize,
    it: &StoredItem,
    uid_field: &str,
    products: &HashMap<i64, String>,
    run_id: i64,
    status: Option<&ItemStatus>,
) -> ItemRow {
    // A cell of the remote side (`remote` = true) or the billing side for diff `fields`.
    let cell = |text: String, fields: &[Field], remote: bool| {
        let d = fields.iter().find_map(|f| it.diff(*f));
        Cell {
            text,
            diff: d.is_some(),
            other: d
                .map(|d| {
                    if remote {
                        d.billing.clone()
                    } else {
                        d.remote.clone()
                    }
                })
                .unwrap_or_default(),
        }
    };
    let uid_is_domain = uid_field == "domain";
    let uid_is_username = uid_field == "username";
    let r_uid_fields: &[Field] = if uid_is_domain {
        &[Field::UniqueIdentifier, Field::Domain]
    } else {
        &[Field::UniqueIdentifier]
    };
    let b_domain_fields: &[Field] = if uid_is_domain {
        &[Field::Domain, Field::UniqueIdentifier]
    } else {
        &[Field::Domain]
    };
    let b_user_fields: &[Field] = if uid_is_username {
        &[Field::Username, Field::UniqueIdentifier]
    } else {
        &[Field::Username]
    };
    let mut row = ItemRow {
        index,
        category: it.category.as_str().to_string(),
        category_label: it.category.label().to_string(),
        has_billing: it.billing.is_some(),
        client_id: it.billing.as_ref().map(|b| b.client_id),
        product_id: it.billing.as_ref().map(|b| b.product_id),
        ticked: Vec::new(),
        uid: it.unique_identifier.clone().unwrap_or_default(),
        has_remote: it.remote.is_some(),
        r_uid: Cell::default(),
        r_domain: String::new(),
        r_ip: Cell::default(),
        r_user: Cell::default(),
        r_product: Cell::default(),
        r_status: Cell::default(),
        r_created: Cell::default(),
        r_email: Cell::default(),
        r_owner: String::new(),
        service_id: it.service_id.or(it.billing.as_ref().map(|b| b.service_id)),
        b_domain: Cell::default(),
        b_ip: Cell::default(),
        b_user: Cell::default(),
        b_product: Cell::default(),
        b_status: Cell::default(),
        b_regdate: Cell::default(),
        b_email: Cell::default(),
        actions: it.actions.iter().map(|a| a.as_str().to_string()).collect(),
        // A `not_on_server` item says how many listings missed it ("missing in 1 of 3
        // listings"): one missing listing may be a panel's glitch.
        notes: it
            .notes
            .iter()
            .cloned()
            .chain(it.miss_count().map(|m| m.describe()))
            .collect(),
        state: status.map_or("open", |s| s.state.as_str()),
        state_reason: status.and_then(|s| s.reason.clone()).unwrap_or_default(),
        audit_href: status.filter(|s| !s.audit_event_ids.is_empty()).map(|_| {
            audit_href(
                run_id,
                it.service_id.or(it.billing.as_ref().map(|b| b.service_id)),
            )
        }),
        selectable: status.is_none_or(|s| s.state.selectable()),
    };
    if let Some(r) = &it.remote {
        row.r_uid = cell(r.unique_identifier.clone(), r_uid_fields, true);
        if !uid_is_domain {
            row.r_domain = r.domain.clone();
        }
        row.r_ip = cell(r.primary_ip.clone(), &[Field::PrimaryIp], true);
        row.r_user = cell(r.username.clone(), &[Field::Username], true);
        row.r_product = cell(r.product.clone(), &[Field::Product], true);
        row.r_status = cell(r.status.as_str().to_string(), &[Field::Status], true);
        row.r_created = cell(
            r.created.map(format_created).unwrap_or_default(),
            &[Field::Created],
            true,
        );
        row.r_email = cell(r.email.clone().unwrap_or_default(), &[Field::Email], true);
        row.r_owner = r.owner.clone().unwrap_or_default();
    }
    if let Some(b) = &it.billing {
        row.b_domain = cell(b.domain.clone(), b_domain_fields, false);
        row.b_ip = cell(
            if b.dedicated_ip.is_empty() {
                "(server IP)".into()
            } else {
                b.dedicated_ip.clone()
            },
            &[Field::PrimaryIp],
            false,
        );
        row.b_user = cell(b.username.clone(), b_user_fields, false);
        let product = products
            .get(&b.product_id)
            .cloned()
            .unwrap_or_else(|| format!("product {}", b.product_id));
        row.b_product = cell(product, &[Field::Product], false);
        row.b_status = cell(b.status.as_str().to_string(), &[Field::Status], false);
        row.b_regdate = cell(
            b.regdate.clone().unwrap_or_default(),
            &[Field::Created],
            false,
        );
        row.b_email = cell(
            b.client_email.clone().unwrap_or_default(),
            &[Field::Email],
            false,
        );
    }
    row
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    nav: Option<Nav>,
    csrf: String,
    server: Server,
    run_id: i64,
    status: &'static str,
    error: Option<String>,
    started: String,
    finished: String,
    applied: Option<String>,
    accounts: usize,
    live_services: usize,
    warnings: Vec<String>,
    skipped: Vec<SkippedRecord>,
    uid_display_name: String,
    tabs: Vec<Tab>,
    all_tab: Tab,
    /// (category name, its label, action, count).
    select_all: Vec<(&'static str, &'static str, &'static str, usize)>,
    page_links: Vec<PageLink>,
    /// How many ticks are kept for this user on this run (every page and tab).
    kept: usize,
    rows: Vec<ItemRow>,
    q: String,
    category: String,
    page: usize,
    pages: usize,
    total: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
    export_href: String,
    /// A service an item touches changed since the analysis: offer to sync again.
    stale: bool,
}

async fn view_and_server(
    st: &WebState,
    id: i64,
) -> Result<(std::sync::Arc<RunView>, Server), WebError> {
    let view = st.app.run_view(&st.runs, id).await?;
    let server = st.app.server_by_id(view.server_id).await?;
    Ok((view, server))
}

pub(super) async fn show(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(rq): Query<RunQuery>,
) -> Result<Html<String>, WebError> {
    let iq = rq.item_query(PER_PAGE)?;
    let (view, server) = view_and_server(&st, id).await?;
    let products: HashMap<i64, String> = st
        .app
        .products()
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let states = st.app.run_item_states(&st.runs, &view).await?;
    let page = shown_page(&view, &iq);
    // The ticks kept for this user across pages (selection.rs).
    let kept: HashSet<String> = st
        .app
        .run_selection(id, user.session.user.id)
        .await?
        .into_iter()
        .collect();
    let rows = page
        .items
        .iter()
        .map(|(i, it)| {
            let mut row = item_row(*i, it, &view.uid_field, &products, id, states.get(*i));
            row.ticked = it
                .actions
                .iter()
                .map(|a| a.as_str().to_string())
                .filter(|a| kept.contains(&format!("{i}:{a}")))
                .collect();
            row
        })
        .collect();
    let href = |category: &str, q: &str, page: usize| run_href(id, category, q, page);
    let current = iq.category.map_or("", |c| c.as_str()).to_string();
    let tabs = category_counts(&view.counts)
        .into_iter()
        .map(|(name, count)| Tab {
            name,
            label: Category::from_name(name).map_or(name, Category::label),
            count,
            current: current == name,
            href: href(name, &rq.q, 1),
        })
        .collect();
    let total_items = view.items.len();
    let all_tab = Tab {
        name: "all",
        label: "All",
        count: total_items,
        current: current.is_empty(),
        href: href("", &rq.q, 1),
    };
    let select_all = CATEGORY_ACTIONS
        .iter()
        .filter_map(|&(c, a)| {
            let n = view.counts.get(c);
            (n > 0).then_some((c.as_str(), c.label(), a.as_str(), n))
        })
        .collect();
    let pages = page.pages();
    let page_links = page_links(page.page, pages, |p| href(&current, &rq.q, p));
    let export_qs = query_string(&[
        ("category", current.clone()),
        ("q", rq.q.trim().to_string()),
    ]);
    render(&RunPage {
        nav: Nav::of(&user),
        csrf: user.csrf().to_string(),
        run_id: view.run_id,
        status: view.listing_status.as_str(),
        error: view.error.clone(),
        started: fmt_time(view.started_at),
        finished: fmt_time(view.finished_at),
        applied: view.applied_at.map(fmt_time),
        accounts: view.accounts,
        live_services: view.live_services,
        warnings: view.warnings.clone(),
        skipped: view.skipped.clone(),
        uid_display_name: view.uid_display_name.clone(),
        tabs,
        all_tab,
        select_all,
        page_links,
        kept: kept.len(),
        rows,
        prev_href: (page.page > 1).then(|| href(&current, &rq.q, page.page - 1)),
        next_href: (page.page < pages).then(|| href(&current, &rq.q, page.page + 1)),
        q: rq.q.trim().to_string(),
        category: current,
        page: page.page,
        pages,
        total: page.total,
        export_href: if export_qs.is_empty() {
            format!("/runs/{id}/export.csv")
        } else {
            format!("/runs/{id}/export.csv?{export_qs}")
        },
        server,
        stale: any_stale(&states),
    })
}

/// The run's items (optionally one category / a search) as CSV, formula-guarded.
pub(super) async fn export(
    State(st): State<WebState>,
    _user: CurrentUser,
    Path(id): Path<i64>,
    Query(rq): Query<RunQuery>,
) -> Result<Response, WebError> {
    let iq = rq.item_query(1000)?;
    let view = st.app.run_view(&st.runs, id).await?;
    let csv = tokio::task::spawn_blocking(move || items_csv(&view, &iq))
        .await
        .map_err(|e| WebError::Internal(format!("export: {e}")))?;
    let disposition = format!("attachment; filename=\"serversync-run-{id}.csv\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .map_err(|e| WebError::Internal(e.to_string()))?,
            ),
        ],
        csv,
    )
        .into_response())
}

/// The selection and import options posted by the run page and the review page.
#[derive(Deserialize, Default)]
pub(super) struct SelectionForm {
    #[serde(default)]
    csrf: String,
    /// `{index}:{action}`.
    #[serde(default)]
    c: Vec<String>,
    /// `{category}:{action}`.
    #[serde(default)]
    all: Vec<String>,
    /// A client id, or empty = refuse accounts without a usable e-mail.
    #[serde(default)]
    unassigned_client: String,
    /// The review's client search (id, e-mail, name), for the picker of `unassigned_client`.
    #[serde(default)]
    client_q: String,
    #[serde(default)]
    billing_cycle: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    next_due_date: String,
    #[serde(default)]
    create_missing_products: Option<String>,
    #[serde(default)]
    force: Option<String>,
    /// Set by the run page's form (not the review page's): the page shown, whose ticks are
    /// merged into the kept selection before the review.
    #[serde(default)]
    from_run: Option<String>,
    #[serde(default)]
    shown_category: String,
    #[serde(default)]
    shown_q: String,
    #[serde(default)]
    shown_page: String,
}

/// Billing cycles offered for imports (WHMCS names).
use serversync_core::plan::{is_amount, BILLING_CYCLES};

impl SelectionForm {
    fn defaults(&self) -> Result<ImportDefaults, WebError> {
        let d = ImportDefaults::default();
        let billing_cycle = match self.billing_cycle.trim() {
            "" => d.billing_cycle,
            c if BILLING_CYCLES.contains(&c) => c.to_string(),
            c => {
                return Err(WebError::BadRequest(format!(
                    "billing cycle: unknown cycle {c:?}"
                )))
            }
        };
        let amount = match self.amount.trim() {
            "" => d.amount,
            a => {
                let ok = is_amount(a);
                if !ok {
                    return Err(WebError::BadRequest(format!(
                        "amount: {a:?} is not an amount like 9.99"
                    )));
                }
                a.to_string()
            }
        };
        let next_due_date = match self.next_due_date.trim() {
            "" => None,
            s => Some(
                parse_date(s).map_err(|e| WebError::BadRequest(format!("next due date: {e}")))?,
            ),
        };
        Ok(ImportDefaults {
            unassigned_client: super::opt_num(
                "client for accounts without an e-mail",
                &Some(self.unassigned_client.clone()),
            )?,
            billing_cycle,
            amount,
            next_due_date,
            create_missing_products: self.create_missing_products.is_some(),
        })
    }
}

pub struct ResultRow {
    /// The target as the apply took it (a unique identifier, or a service id for terminate
    /// and move), for `data-target` and scripts.
    pub target: String,
    /// The target for people: a service id named with its domain (`service #1002
    /// gone.test`).
    pub label: String,
    pub service_id: Option<i64>,
    pub outcome: &'static str,
    pub notes: Vec<String>,
    /// The client and product of an import, then `field: before → after` per change.
    pub changes: Vec<String>,
}

pub struct Group {
    pub action: &'static str,
    pub title: &'static str,
    pub rows: Vec<ResultRow>,
}

/// The domains of the services a run's items show, by service id (for the review's labels).
fn service_domains(view: &RunView) -> HashMap<i64, String> {
    view.items
        .iter()
        .filter_map(|it| it.billing.as_ref())
        .map(|b| (b.service_id, b.domain.clone()))
        .collect()
}

fn groups(report: &ApplyReport, domains: &HashMap<i64, String>) -> Vec<Group> {
    [
        (Action::Sync, "Sync"),
        (Action::Reactivate, "Reactivate"),
        (Action::Import, "Import"),
        (Action::Terminate, "Terminate"),
        (Action::Move, "Move"),
    ]
    .into_iter()
    .map(|(action, title)| Group {
        action: action.as_str(),
        title,
        rows: report
            .results
            .iter()
            .filter(|r| r.action == action)
            .map(|r| ResultRow {
                label: match (action, r.target.parse::<i64>()) {
                    (Action::Terminate | Action::Move, Ok(id)) => match domains.get(&id) {
                        Some(d) if !d.is_empty() => format!("service #{id} {d}"),
                        _ => format!("service #{id}"),
                    },
                    _ => r.target.clone(),
                },
                target: r.target.clone(),
                service_id: r.service_id,
                outcome: match r.outcome {
                    ItemOutcome::Applied => "applied",
                    ItemOutcome::WouldApply => "would_apply",
                    ItemOutcome::Refused => "refused",
                },
                notes: r.notes.clone(),
                changes: r
                    .client
                    .iter()
                    .map(|c| format!("client: {c}"))
                    .chain(r.product.iter().map(|p| format!("product: {p}")))
                    .chain(r.changes.iter().map(ToString::to_string))
                    .collect(),
            })
            .collect(),
    })
    .filter(|g| !g.rows.is_empty())
    .collect()
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    nav: Option<Nav>,
    csrf: String,
    is_admin: bool,
    server: Server,
    run_id: i64,
    /// `true` on the summary after an apply.
    applied: bool,
    selected: usize,
    blocked: Option<String>,
    forced: Vec<String>,
    groups: Vec<Group>,
    ok_count: usize,
    refused_count: usize,
    has_import: bool,
    c: Vec<String>,
    all: Vec<String>,
    /// The client picker: matches of `client_q` and the chosen client, as (id, "#id e-mail
    /// (name)", chosen).
    clients: Vec<(i64, String, bool)>,
    client_q: String,
    client_more: bool,
    /// A client is chosen (else "refuse them" is).
    client_chosen: bool,
    billing_cycles: Vec<&'static str>,
    billing_cycle: String,
    amount: String,
    next_due_date: String,
    create_missing_products: bool,
    force: bool,
}

async fn review_or_apply(
    st: &WebState,
    user: &CurrentUser,
    id: i64,
    f: SelectionForm,
    dry_run: bool,
) -> Result<Html<String>, WebError> {
    let (view, server) = view_and_server(st, id).await?;
    if view.listing_status == serversync_store::ListingStatus::Failed {
        return Err(WebError::App(serversync_app::AppError::NotApplicable(
            format!(
                "run {} of server {} cannot be applied: its listing failed ({})",
                view.run_id,
                server.name,
                view.error.as_deref().unwrap_or("no cause recorded")
            ),
        )));
    }
    let mut f = f;
    if f.from_run.is_some() {
        // The ticks of every page, kept server-side, with those of the page just shown.
        let shown = RunQuery {
            category: f.shown_category.clone(),
            q: f.shown_q.clone(),
            page: f.shown_page.clone(),
        };
        f.c = remember(st, user, &view, &shown, &f.c).await?;
    }
    let v = view.clone();
    let (picks, wholes) = super::form_picks::parse(&f.c, &f.all)?;
    // Fresh states: a review or an apply must not trust a cached "open".
    let states = st.app.compute_item_states(&view).await?;
    let (selection, selected) =
        tokio::task::spawn_blocking(move || selection_from_picks(&v, &picks, &wholes, &states))
            .await
            .map_err(|e| WebError::Internal(format!("selection: {e}")))??;
    let defaults = f.defaults()?;
    if !dry_run && selection.is_empty() {
        return Err(WebError::BadRequest(
            "nothing is selected: go back to the run and tick the items to apply".into(),
        ));
    }
    let has_import = selection.import.is_some();
    let app = st.app.clone().with_actor(user.actor());
    let req = ApplyRequest {
        server: server.name.clone(),
        run: Some(id),
        selection,
        dry_run,
        force: f.force.is_some(),
        defaults: defaults.clone(),
    };
    let (report, blocked) = if req.selection.is_empty() {
        (None, None)
    } else {
        match app.apply(&req).await {
            Ok(r) => (Some(r), None),
            Err(AppError::NotApplicable(msg)) if dry_run => (None, Some(msg)),
            Err(e) => return Err(e.into()),
        }
    };
    if !dry_run {
        st.runs.forget(id);
        // Applied: the kept ticks have done their work.
        st.app.clear_run_selection(id, user.session.user.id).await?;
    }
    let (clients, client_more) = if has_import {
        client_choices(st, &f.client_q, defaults.unassigned_client).await?
    } else {
        (Vec::new(), false)
    };
    let clients_chosen = clients.iter().any(|(_, _, chosen)| *chosen);
    let (groups, ok_count, refused_count, forced) = match &report {
        Some(r) => (
            groups(r, &service_domains(&view)),
            r.count(ItemOutcome::Applied) + r.count(ItemOutcome::WouldApply),
            r.count(ItemOutcome::Refused),
            r.forced.clone(),
        ),
        None => (Vec::new(), 0, 0, Vec::new()),
    };
    render(&ReviewPage {
        nav: Nav::of(user),
        csrf: user.csrf().to_string(),
        is_admin: user.is_admin(),
        server,
        run_id: id,
        applied: !dry_run,
        selected,
        blocked,
        forced,
        groups,
        ok_count,
        refused_count,
        has_import,
        c: f.c,
        all: f.all,
        clients,
        client_q: f.client_q.trim().to_string(),
        client_more,
        client_chosen: clients_chosen,
        billing_cycles: BILLING_CYCLES.to_vec(),
        billing_cycle: defaults.billing_cycle,
        amount: defaults.amount,
        next_due_date: defaults
            .next_due_date
            .map(serversync_core::model::format_date)
            .unwrap_or_default(),
        create_missing_products: defaults.create_missing_products,
        force: f.force.is_some(),
    })
}

/// The picker's choices: the chosen client first (when there is one), then the matches of
/// `q` (client_search.rs), each once; and whether more matched than are shown.
async fn client_choices(
    st: &WebState,
    q: &str,
    chosen: Option<i64>,
) -> Result<(Vec<(i64, String, bool)>, bool), WebError> {
    let all = st.app.clients().await?;
    let label = |c: &serversync_core::model::Client| {
        let name = format!("{} {}", c.first_name, c.last_name);
        if name.trim().is_empty() {
            format!("#{} {}", c.id, c.email)
        } else {
            format!("#{} {} ({})", c.id, c.email, name.trim())
        }
    };
    let mut out: Vec<(i64, String, bool)> = all
        .iter()
        .filter(|c| Some(c.id) == chosen)
        .map(|c| (c.id, label(c), true))
        .collect();
    let (hits, more) = super::client_search::find(&all, q);
    out.extend(
        hits.into_iter()
            .filter(|c| Some(c.id) != chosen)
            .map(|c| (c.id, label(c), false)),
    );
    Ok((out, more))
}

/// What the selection would change (a dry run); read-only users may look.
pub(super) async fn review(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<SelectionForm>,
) -> Result<Html<String>, WebError> {
    user.check_csrf(&f.csrf)?;
    review_or_apply(&st, &user, id, f, true).await
}

/// Applies the selection (admins only) and shows each item's result.
pub(super) async fn apply(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<SelectionForm>,
) -> Result<Html<String>, WebError> {
    user.check_admin_form(&f.csrf)?;
    review_or_apply(&st, &user, id, f, false).await
}
