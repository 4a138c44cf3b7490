//! Servers: the list, one server's sync page, run history, add/edit, and sync jobs.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serversync_app::edits::ServerInput;
use serversync_app::fleet::{FleetServer, FleetSummary};
use serversync_app::jobs::JobStatus;
use serversync_app::AppError;
use serversync_core::model::Server;
use serversync_store::{ListingStatus, RunSummary};

use super::chart::{self, RunPoint};
use super::{drift_counts, fmt_time, opt_num};
use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

/// One row of the servers page.
pub struct ServerRow {
    pub server: Server,
    pub live_services: usize,
    pub last_run: Option<RunRow>,
    /// The last runs, oldest first, for the drift trend and its table.
    pub trend: Vec<RunPoint>,
    /// The drift trend as SVG (escaped in [`chart`]; inserted unescaped).
    pub trend_svg: String,
    /// The drift of the last [`TEXT_TREND_RUNS`] runs as text, oldest first:
    /// `12 → 9 → failed → 9`.
    pub trend_text: String,
    /// Its lease is held right now (an analysis or apply runs).
    pub busy: bool,
}

impl ServerRow {
    fn of(f: FleetServer) -> ServerRow {
        let trend = run_points(&f.runs);
        let trend_svg = chart::drift_trend(
            &trend,
            &format!(
                "Drift of {} over its last {} runs",
                f.server.name,
                trend.len()
            ),
        );
        ServerRow {
            last_run: f.runs.first().map(RunRow::of),
            trend_text: text_trend(&trend),
            trend,
            trend_svg,
            busy: f.busy,
            live_services: f.live_services,
            server: f.server,
        }
    }
}

/// How many runs the text trend of the servers page names.
const TEXT_TREND_RUNS: usize = 5;
/// Servers per page of the servers page (a 500-server fleet is five pages; the summary line
/// counts all of them).
const SERVERS_PER_PAGE: usize = 100;

/// The drift totals of the last [`TEXT_TREND_RUNS`] of `points` (oldest first), joined by
/// arrows; a failed listing is `failed`.
fn text_trend(points: &[RunPoint]) -> String {
    let skip = points.len().saturating_sub(TEXT_TREND_RUNS);
    points[skip..]
        .iter()
        .map(|p| match p.accounts {
            None => "failed".to_string(),
            Some(_) => p.drift_total().to_string(),
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// How many runs the drift trend of the servers page and the chart of a server's page span.
const TREND_RUNS: i64 = 12;
const CHART_RUNS: i64 = 30;

/// A run as a chart point; `runs` come newest first from the store, charts want oldest first.
fn run_points(runs: &[RunSummary]) -> Vec<RunPoint> {
    runs.iter()
        .rev()
        .map(|r| RunPoint {
            run_id: r.id,
            day: fmt_time(r.started_at).chars().take(10).collect(),
            accounts: (r.listing_status != ListingStatus::Failed)
                .then(|| u64::try_from(r.accounts).unwrap_or(0)),
            drift: drift_counts(&r.counts_json),
        })
        .collect()
}

/// A run in a listing.
pub struct RunRow {
    pub id: i64,
    pub started: String,
    pub status: &'static str,
    pub error: Option<String>,
    pub accounts: i64,
    pub drift: Vec<(serversync_core::analysis::Category, u64)>,
    pub applied: Option<String>,
}

impl RunRow {
    fn of(r: &RunSummary) -> RunRow {
        RunRow {
            id: r.id,
            started: fmt_time(r.started_at),
            status: r.listing_status.as_str(),
            error: r.error.clone(),
            accounts: r.accounts,
            drift: drift_counts(&r.counts_json),
            applied: r.applied_at.map(fmt_time),
        }
    }
}

#[derive(Template)]
#[template(path = "servers.html")]
struct ServersPage {
    nav: Option<Nav>,
    is_admin: bool,
    csrf: String,
    rows: Vec<ServerRow>,
    summary: FleetSummary,
    page: usize,
    pages: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ServersQuery {
    #[serde(default)]
    page: Option<String>,
}

/// The servers page: the fleet summary, then one page of servers with their last run and
/// drift trend. The whole fleet is read in a fixed number of queries ([`App::fleet`]).
///
/// [`App::fleet`]: serversync_app::App::fleet
pub(super) async fn list(
    State(st): State<WebState>,
    user: CurrentUser,
    Query(q): Query<ServersQuery>,
) -> Result<Html<String>, WebError> {
    let page = opt_num::<usize>("page", &q.page)?.unwrap_or(1).max(1);
    let fleet = st.app.fleet(TREND_RUNS).await?;
    let summary = FleetSummary::of(&fleet);
    let pages = fleet.len().div_ceil(SERVERS_PER_PAGE).max(1);
    let rows = fleet
        .into_iter()
        .skip((page - 1).saturating_mul(SERVERS_PER_PAGE))
        .take(SERVERS_PER_PAGE)
        .map(ServerRow::of)
        .collect();
    let href = |p: usize| format!("/servers?page={p}");
    render(&ServersPage {
        nav: Nav::of(&user),
        is_admin: user.is_admin(),
        csrf: user.csrf().to_string(),
        rows,
        summary,
        page,
        pages,
        prev_href: (page > 1).then(|| href(page - 1)),
        next_href: (page < pages).then(|| href(page + 1)),
    })
}

#[derive(Template)]
#[template(path = "server.html")]
struct ServerPage {
    nav: Option<Nav>,
    is_admin: bool,
    csrf: String,
    server: Server,
    port: String,
    password_set: bool,
    access_hash_set: bool,
    live_services: usize,
    services: usize,
    running_job: Option<u64>,
    runs: Vec<RunRow>,
    /// Accounts and drift of the last runs, oldest first, and the chart of them (SVG).
    points: Vec<RunPoint>,
    chart_svg: String,
}

async fn server_of(st: &WebState, id: i64) -> Result<Server, WebError> {
    Ok(st.app.server_by_id(id).await?)
}

pub(super) async fn show(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let server = server_of(&st, id).await?;
    let services = st.app.services_by_server_id(Some(id)).await?;
    let summaries = st.app.server_runs(id, CHART_RUNS).await?;
    let runs = summaries.iter().take(10).map(RunRow::of).collect();
    let points = run_points(&summaries);
    let chart_svg = chart::accounts_and_drift(
        &points,
        &format!(
            "Accounts on {} and drift over its last {} runs",
            server.name,
            points.len()
        ),
    );
    render(&ServerPage {
        points,
        chart_svg,
        nav: Nav::of(&user),
        is_admin: user.is_admin(),
        csrf: user.csrf().to_string(),
        port: server
            .port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "module default".into()),
        password_set: !server.password.is_empty(),
        access_hash_set: !server.access_hash.is_empty(),
        live_services: services.iter().filter(|s| s.status.is_live()).count(),
        services: services.len(),
        running_job: st.app.running_sync_job(id).await?.map(|j| j.id),
        runs,
        server,
    })
}

#[derive(Template)]
#[template(path = "runs.html")]
struct HistoryPage {
    nav: Option<Nav>,
    server: Server,
    runs: Vec<RunRow>,
}

/// How many runs the history shows.
const HISTORY: i64 = 500;

pub(super) async fn history(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let server = server_of(&st, id).await?;
    let runs = st
        .app
        .server_runs(id, HISTORY)
        .await?
        .iter()
        .map(RunRow::of)
        .collect();
    render(&HistoryPage {
        nav: Nav::of(&user),
        server,
        runs,
    })
}

/// One run of the fleet's run history: the run and the server it belongs to.
pub struct FleetRun {
    pub server_id: i64,
    pub server_name: String,
    pub run: RunRow,
}

#[derive(Template)]
#[template(path = "all_runs.html")]
struct AllRunsPage {
    nav: Option<Nav>,
    runs: Vec<FleetRun>,
    /// How many runs of each server were looked at (the newest ones).
    per_server: i64,
}

/// Runs of each server the fleet history looks at, and how many it shows in all.
const FLEET_PER_SERVER: i64 = 50;
const FLEET_SHOWN: usize = 200;

/// The run history of every server (top menu "Runs"): the newest runs first, each named
/// with its server.
pub(super) async fn all_runs(
    State(st): State<WebState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    // The newest runs of every server from one read ([`serversync_app::App::fleet`]).
    let mut all: Vec<(RunSummary, i64, String)> = Vec::new();
    for f in st.app.fleet(FLEET_PER_SERVER).await? {
        for r in f.runs {
            all.push((r, f.server.id, f.server.name.clone()));
        }
    }
    // Newest first; ties (same start) by run id, newest first.
    all.sort_by_key(|(r, _, _)| std::cmp::Reverse((r.started_at, r.id)));
    all.truncate(FLEET_SHOWN);
    render(&AllRunsPage {
        nav: Nav::of(&user),
        runs: all
            .iter()
            .map(|(r, server_id, server_name)| FleetRun {
                server_id: *server_id,
                server_name: server_name.clone(),
                run: RunRow::of(r),
            })
            .collect(),
        per_server: FLEET_PER_SERVER,
    })
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// Starts (or joins) the server's sync job and sends the browser to its progress page.
pub(super) async fn sync(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Redirect, WebError> {
    user.check_admin_form(&f.csrf)?;
    let server = server_of(&st, id).await?;
    let app = st.app.clone().with_actor(user.actor());
    let job = app.start_sync_job(&server).await?.job;
    Ok(Redirect::to(&format!("/jobs/{}", job.id)))
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    nav: Option<Nav>,
    is_admin: bool,
    csrf: String,
    id: u64,
    server_id: i64,
    server_name: String,
    received: u64,
    total: Option<u64>,
    percent: u64,
    error: Option<String>,
}

/// A job's progress; refreshes itself while running, redirects to the run when done.
pub(super) async fn job(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<u64>,
) -> Result<Response, WebError> {
    let s = match st.app.sync_job(id).await {
        Ok(s) => s,
        Err(serversync_app::AppError::Store(serversync_store::StoreError::NotFound(_))) => {
            return Err(WebError::NotFound(format!(
                "sync job {id} not found: see the server's run history"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let error = match s.status {
        JobStatus::Done { run_id } => {
            return Ok(Redirect::to(&format!("/runs/{run_id}")).into_response())
        }
        JobStatus::Failed { error } => Some(error),
        JobStatus::Running => None,
    };
    let percent = match s.total {
        Some(t) if t > 0 => (s.received.min(t) * 100) / t,
        _ => 0,
    };
    let page = render(&JobPage {
        nav: Nav::of(&user),
        is_admin: user.is_admin(),
        csrf: user.csrf().to_string(),
        id: s.id,
        server_id: s.server_id,
        server_name: s.server_name,
        received: s.received,
        total: s.total,
        percent,
        error,
    })?;
    Ok(page.into_response())
}

#[derive(Template)]
#[template(path = "server_form.html")]
struct ServerFormPage {
    nav: Option<Nav>,
    csrf: String,
    /// `None` = new server.
    id: Option<i64>,
    f: ServerFields,
    modules: Vec<String>,
    password_set: bool,
    access_hash_set: bool,
    error: Option<String>,
    /// The form field the error is about (`ip_address: …` → `ip_address`), to show it
    /// next to that field too.
    error_field: Option<String>,
}

/// The fields of the server form an error message can name.
const FORM_FIELDS: [&str; 9] = [
    "name",
    "module",
    "hostname",
    "ip_address",
    "port",
    "username",
    "password",
    "access_hash",
    "disabled",
];

/// The form field `error` is about: messages of the application's checks start with
/// `field: `.
fn error_field(error: Option<&str>) -> Option<String> {
    let (field, _) = error?.split_once(": ")?;
    FORM_FIELDS.contains(&field).then(|| field.to_string())
}

/// The server form's fields (secrets are never rendered back).
#[derive(Deserialize, Default)]
pub(super) struct ServerFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    ip_address: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    secure: Option<String>,
    #[serde(default)]
    tls_verify: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    access_hash: String,
    #[serde(default)]
    disabled: Option<String>,
}

impl ServerFields {
    fn of(s: &Server) -> ServerFields {
        let on = |b: bool| b.then(|| "on".to_string());
        ServerFields {
            name: s.name.clone(),
            module: s.module.clone(),
            hostname: s.hostname.clone(),
            ip_address: s.ip_address.clone(),
            port: s.port.map(|p| p.to_string()).unwrap_or_default(),
            secure: on(s.secure),
            tls_verify: on(s.tls_verify),
            username: s.username.clone(),
            disabled: on(s.disabled),
            ..Default::default()
        }
    }

    fn input(&self, id: Option<i64>) -> Result<ServerInput, String> {
        let port = match self.port.trim() {
            "" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("port: {p:?} is not a port number (1-65535)"))?,
            ),
        };
        Ok(ServerInput {
            id,
            name: self.name.clone(),
            module: self.module.clone(),
            hostname: self.hostname.clone(),
            ip_address: self.ip_address.clone(),
            port,
            secure: self.secure.is_some(),
            tls_verify: self.tls_verify.is_some(),
            username: self.username.clone(),
            password: self.password.clone(),
            access_hash: self.access_hash.clone(),
            disabled: self.disabled.is_some(),
        })
    }

    /// For re-rendering after an error: secrets dropped.
    fn without_secrets(mut self) -> Self {
        self.password.clear();
        self.access_hash.clear();
        self.csrf.clear();
        self
    }
}

fn admin_only(user: &CurrentUser) -> Result<(), WebError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(WebError::Forbidden(format!(
            "{} is a read-only user: looking is allowed, changing is not",
            user.name()
        )))
    }
}

fn form_page(
    st: &WebState,
    user: &CurrentUser,
    id: Option<i64>,
    f: ServerFields,
    secrets: (bool, bool),
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    render(&ServerFormPage {
        nav: Nav::of(user),
        csrf: user.csrf().to_string(),
        id,
        f,
        modules: st.app.module_names(),
        password_set: secrets.0,
        access_hash_set: secrets.1,
        error_field: error_field(error.as_deref()),
        error,
    })
}

pub(super) async fn new_form(
    State(st): State<WebState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    admin_only(&user)?;
    let f = ServerFields {
        module: "cpanel".into(),
        tls_verify: Some("on".into()),
        secure: Some("on".into()),
        ..Default::default()
    };
    form_page(&st, &user, None, f, (false, false), None)
}

pub(super) async fn edit_form(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    admin_only(&user)?;
    let s = server_of(&st, id).await?;
    form_page(
        &st,
        &user,
        Some(id),
        ServerFields::of(&s),
        (!s.password.is_empty(), !s.access_hash.is_empty()),
        None,
    )
}

async fn save(
    st: &WebState,
    user: &CurrentUser,
    id: Option<i64>,
    f: ServerFields,
) -> Result<Response, WebError> {
    user.check_admin_form(&f.csrf)?;
    let secrets = match id {
        Some(id) => {
            let s = server_of(st, id).await?;
            (!s.password.is_empty(), !s.access_hash.is_empty())
        }
        None => (false, false),
    };
    let input = match f.input(id) {
        Ok(i) => i,
        Err(e) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                form_page(st, user, id, f.without_secrets(), secrets, Some(e))?,
            )
                .into_response())
        }
    };
    let app = st.app.clone().with_actor(user.actor());
    // The same checks as the API's (IP address, unique name, the module's credentials).
    match app.save_server_checked(&input).await {
        Ok(id) => Ok(Redirect::to(&format!("/servers/{id}")).into_response()),
        Err(
            e @ (AppError::Invalid(_) | AppError::Store(serversync_store::StoreError::Invalid(_))),
        ) => Ok((
            StatusCode::BAD_REQUEST,
            form_page(
                st,
                user,
                id,
                f.without_secrets(),
                secrets,
                Some(e.to_string()),
            )?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn create(
    State(st): State<WebState>,
    user: CurrentUser,
    Form(f): Form<ServerFields>,
) -> Result<Response, WebError> {
    save(&st, &user, None, f).await
}

pub(super) async fn update(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<ServerFields>,
) -> Result<Response, WebError> {
    save(&st, &user, Some(id), f).await
}
