//! The JSON API under `/api/`: everything the page does, for API tokens
//! (`Authorization: Bearer <token>`), described by `/api/openapi.json`.
//!
//! [`API_ROUTES`] is the one list of routes: [`routes`] is built from it (a route without an
//! entry is never served, an entry without a handler panics when the router is built), and a
//! test checks that `openapi.json` documents exactly these (method, path) pairs. The
//! document is derived ([`crate::dto::openapi`]) from the `#[utoipa::path]` annotations here
//! and the DTO types of [`crate::dto`].
//!
//! Handlers only check the token, parse their input into a DTO, call one application
//! function of `serversync-app` and answer with a DTO; errors are `{"error": "<message>"}`
//! with a fitting status (500s show only the request id).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serversync_app::overview;
use serversync_app::AppError;
use serversync_store::{ApiToken, Role, StoreError};

use crate::dto::records::{AuditPageDto, ClientDto, ProductDto, ServiceDto};
use crate::dto::requests::{ApplyBody, AuditQuery, ItemsQuery, RunsQuery, ServicesQuery};
use crate::dto::responses::{
    ApplyReportDto, ErrorBody, ItemDto, ItemPageDto, JobDto, RunDto, RunSummaryDto, ServerDto,
};
use crate::dto::{self};
use crate::{WebError, WebState};

/// Every API route as (method, path), paths as served and as written in the OpenAPI
/// document (`{id}` for path parameters).
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/openapi.json"),
    ("GET", "/api/servers"),
    ("GET", "/api/servers/{id}/runs"),
    ("POST", "/api/servers/{id}/runs"),
    ("GET", "/api/servers/{id}/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/runs/{id}"),
    ("GET", "/api/runs/{id}/items"),
    ("POST", "/api/runs/{id}/apply"),
    ("GET", "/api/audit"),
    ("GET", "/api/clients"),
    ("GET", "/api/products"),
    ("GET", "/api/services"),
    // Record edits and the connection test (api_servers.rs).
    ("GET", "/api/servers/{id}"),
    ("POST", "/api/servers"),
    ("PUT", "/api/servers/{id}"),
    ("PATCH", "/api/servers/{id}"),
    ("POST", "/api/servers/{id}/test"),
    ("PATCH", "/api/products/{id}"),
    // The alert delivery log (api_deliveries.rs).
    ("GET", "/api/deliveries"),
];

/// The handler of one entry of [`API_ROUTES`].
fn handler(method: &str, path: &str) -> MethodRouter<WebState> {
    match (method, path) {
        ("GET", "/api/openapi.json") => get(openapi),
        ("GET", "/api/servers") => get(list_servers),
        ("GET", "/api/servers/{id}/runs") => get(list_runs),
        ("POST", "/api/servers/{id}/runs") => post(start_run),
        ("GET", "/api/servers/{id}/jobs") => get(list_jobs),
        ("GET", "/api/jobs/{id}") => get(get_job),
        ("GET", "/api/runs/{id}") => get(get_run),
        ("GET", "/api/runs/{id}/items") => get(run_items),
        ("POST", "/api/runs/{id}/apply") => post(apply_run),
        ("GET", "/api/audit") => get(audit),
        ("GET", "/api/clients") => get(clients),
        ("GET", "/api/products") => get(products),
        ("GET", "/api/services") => get(services),
        ("GET", "/api/deliveries") => get(crate::api_deliveries::list_deliveries),
        _ => crate::api_servers::handler(method, path).unwrap_or_else(|| {
            panic!("API_ROUTES lists {method} {path}, but no handler serves it")
        }),
    }
}

/// An error as the API answers it: `{"error": "<message>"}` with the HTTP status.
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self.0, WebError::Unauthenticated) {
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(ErrorBody { error: "missing or unknown API token: send Authorization: Bearer <token> (create one with `serversync tokens add NAME`)".into() }),
            )
                .into_response();
        }
        let status = self.0.status();
        let message = self.0.client_message();
        if status.is_server_error() && status != StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %crate::error::log_text(&self.0), "API request failed");
        }
        (status, Json(ErrorBody { error: message })).into_response()
    }
}

/// The API token of a request.
pub struct ApiUser {
    pub token: ApiToken,
}

impl ApiUser {
    /// The audit actor: `api:<token name>`.
    pub fn actor(&self) -> String {
        format!("api:{}", self.token.name)
    }

    /// Refuses read-only tokens.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.token.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError(WebError::Forbidden(format!(
                "API token {:?} is read-only",
                self.token.name
            ))))
        }
    }
}

impl FromRequestParts<WebState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError(WebError::Unauthenticated));
        };
        match state.app.api_token(token).await? {
            Some(token) => Ok(ApiUser { token }),
            None => Err(ApiError(WebError::Unauthenticated)),
        }
    }
}

pub(crate) fn routes() -> Router<WebState> {
    let mut by_path: BTreeMap<&str, MethodRouter<WebState>> = BTreeMap::new();
    for (method, path) in API_ROUTES {
        let h = handler(method, path);
        let merged = match by_path.remove(path) {
            Some(m) => m.merge(h),
            None => h,
        };
        by_path.insert(path, merged);
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        let Some(rest) = path.strip_prefix("/api") else {
            panic!("API route {path} is not under /api");
        };
        router = router.route(rest, methods);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

type ApiResult<T> = Result<T, ApiError>;

fn bad_request(msg: String) -> ApiError {
    ApiError(WebError::BadRequest(msg))
}

/// A numeric path parameter, or a 400 naming it.
fn id_param<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| bad_request(format!("{what} id: expected a number, got {raw:?}")))
}

async fn not_found() -> ApiError {
    ApiError(WebError::NotFound(
        "no such API route (see /api/openapi.json)".into(),
    ))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody {
            error: "method not allowed on this API route (see /api/openapi.json)".into(),
        }),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::dto::openapi::json(),
    )
        .into_response()
}

/// Every server with its live services count and its last run.
#[utoipa::path(get, path = "/api/servers", tag = "servers",
    responses(
        (status = 200, description = "every server", body = Vec<ServerDto>),
        (status = 401, description = "no or unknown token", body = ErrorBody),
    ))]
async fn list_servers(
    State(st): State<WebState>,
    _user: ApiUser,
) -> ApiResult<Json<Vec<ServerDto>>> {
    let servers = st.app.server_overview().await?;
    Ok(Json(servers.iter().map(Into::into).collect()))
}

/// A server's runs, newest first.
#[utoipa::path(get, path = "/api/servers/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "server name or id"), RunsQuery),
    responses(
        (status = 200, description = "the server's runs, newest first", body = Vec<RunSummaryDto>),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
async fn list_runs(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<RunSummaryDto>>> {
    let q: RunsQuery = dto::query(raw.as_deref())?;
    let runs = st.app.run_history(&id, q.limit).await?;
    Ok(Json(runs.iter().map(Into::into).collect()))
}

/// Starts a sync job (listing + analysis) of a server; poll the job for its run.
#[utoipa::path(post, path = "/api/servers/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "server name or id")),
    responses(
        (status = 202, description = "the job started (Location: /api/jobs/{id})", body = JobDto),
        (status = 403, description = "read-only token", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
        (status = 409, description = "a sync job of this server is running", body = ErrorBody),
    ))]
async fn start_run(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    user.require_admin()?;
    let server = st.app.server(&id).await?;
    let app = st.app.clone().with_actor(user.actor());
    let start = app.start_sync_job(&server).await?;
    let snapshot = start.job;
    if !start.started {
        return Err(ApiError(WebError::App(AppError::NotApplicable(format!(
            "server {} is busy: sync job {} is running (GET /api/jobs/{})",
            server.name, snapshot.id, snapshot.id
        )))));
    }
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/jobs/{}", snapshot.id))],
        Json(JobDto::from(&snapshot)),
    )
        .into_response())
}

/// A server's sync jobs on every instance, newest first (stopped ones shown failed).
#[utoipa::path(get, path = "/api/servers/{id}/jobs", tag = "runs",
    params(("id" = String, Path, description = "server name or id"), RunsQuery),
    responses(
        (status = 200, description = "the server's jobs, newest first", body = Vec<JobDto>),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
async fn list_jobs(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<JobDto>>> {
    // The same `limit` (1..=1000, default 20) as a server's runs.
    let q: RunsQuery = dto::query(raw.as_deref())?;
    let jobs = st.app.sync_job_history(&id, q.limit).await?;
    Ok(Json(jobs.iter().map(Into::into).collect()))
}

/// A sync job's progress.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "runs",
    params(("id" = u64, Path, description = "job id")),
    responses(
        (status = 200, description = "the job", body = JobDto),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 500, description = "the job stopped unexpectedly (internal error, request id X)", body = ErrorBody),
    ))]
async fn get_job(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<JobDto>> {
    let id: u64 = id_param("job", &id)?;
    match st.app.sync_job(id).await {
        Ok(job) => Ok(Json(JobDto::from(&job))),
        Err(AppError::Store(StoreError::NotFound(_))) => {
            Err(ApiError(WebError::NotFound(format!("job {id} not found"))))
        }
        Err(e) => Err(ApiError(WebError::App(e))),
    }
}

/// One run, without its items.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses(
        (status = 200, description = "the run", body = RunDto),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 500, description = "the stored run is unreadable (internal error, request id X)", body = ErrorBody),
    ))]
async fn get_run(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RunDto>> {
    let view = st.app.run_view(&st.runs, id_param("run", &id)?).await?;
    let server = st.app.run_server(&view).await?;
    Ok(Json(RunDto::new(&view, &server)))
}

/// A page of a run's items with their states.
#[utoipa::path(get, path = "/api/runs/{id}/items", tag = "runs",
    params(("id" = i64, Path, description = "run id"), ItemsQuery),
    responses(
        (status = 200, description = "a page of items", body = ItemPageDto),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
        (status = 404, description = "no such run", body = ErrorBody),
    ))]
async fn run_items(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ItemPageDto>> {
    let run_id = id_param("run", &id)?;
    let q: ItemsQuery = dto::query(raw.as_deref())?;
    let item_query = overview::item_query(q.category, q.q, q.page, q.per_page)?;
    let view = st.app.run_view(&st.runs, run_id).await?;
    let states = st.app.run_item_states(&st.runs, &view).await?;
    let page = view.query(&item_query);
    let items = page
        .items
        .iter()
        .filter_map(|(i, it)| states.get(*i).map(|s| ItemDto::new(*i, it, s)))
        .collect();
    Ok(Json(ItemPageDto {
        total: page.total,
        page: page.page,
        per_page: page.per_page,
        items,
    }))
}

/// Applies (or, with `dry_run`, reviews) a selection of a run's items.
#[utoipa::path(post, path = "/api/runs/{id}/apply", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    request_body = ApplyBody,
    responses(
        (status = 200, description = "what was (or would be) done per item", body = ApplyReportDto),
        (status = 400, description = "bad body (names the field) or nothing selected", body = ErrorBody),
        (status = 403, description = "read-only token", body = ErrorBody),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 409, description = "the run cannot be applied, or the server is busy", body = ErrorBody),
    ))]
async fn apply_run(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ApplyReportDto>> {
    let run_id = id_param("run", &id)?;
    // A dry run writes nothing: read-only tokens may review, as read-only users may on the
    // page; anything but a literal `"dry_run": true` needs an admin token, checked before
    // the body is even read as a request (a read-only token learns nothing from a 400).
    let dry_run = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("dry_run").and_then(serde_json::Value::as_bool));
    if dry_run != Some(true) {
        user.require_admin()?;
    }
    let body: ApplyBody = dto::json_body(&body)?;
    let view = st.app.run_view(&st.runs, run_id).await?;
    let server = st.app.run_server(&view).await?;
    // Fresh states: an apply must not trust a cached "open".
    let states = st.app.compute_item_states(&view).await?;
    let req = overview::apply_request(&view, &server, body.into(), &states)?;
    let app = st.app.clone().with_actor(user.actor());
    let report = app.apply(&req).await;
    if !req.dry_run {
        // Even a failed apply may have been preceded by another one: reread the run.
        st.runs.forget(run_id);
    }
    Ok(Json(ApplyReportDto::from(&report?)))
}

/// The audit log, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "a page of audit events", body = AuditPageDto),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
    ))]
async fn audit(
    State(st): State<WebState>,
    _user: ApiUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<AuditPageDto>> {
    let q: AuditQuery = dto::query(raw.as_deref())?;
    let page = st.app.audit_page(&q.into()).await?;
    Ok(Json(AuditPageDto::from(&page)))
}

/// Every client.
#[utoipa::path(get, path = "/api/clients", tag = "records",
    responses((status = 200, description = "every client", body = Vec<ClientDto>)))]
async fn clients(State(st): State<WebState>, _user: ApiUser) -> ApiResult<Json<Vec<ClientDto>>> {
    Ok(Json(
        st.app.clients().await?.iter().map(Into::into).collect(),
    ))
}

/// Every product.
#[utoipa::path(get, path = "/api/products", tag = "records",
    responses((status = 200, description = "every product", body = Vec<ProductDto>)))]
async fn products(State(st): State<WebState>, _user: ApiUser) -> ApiResult<Json<Vec<ProductDto>>> {
    Ok(Json(
        st.app.products().await?.iter().map(Into::into).collect(),
    ))
}

/// Services, of one server when given.
#[utoipa::path(get, path = "/api/services", tag = "records",
    params(ServicesQuery),
    responses(
        (status = 200, description = "the services", body = Vec<ServiceDto>),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
async fn services(
    State(st): State<WebState>,
    _user: ApiUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ServiceDto>>> {
    let q: ServicesQuery = dto::query(raw.as_deref())?;
    Ok(Json(
        st.app
            .services_of(q.server.as_deref())
            .await?
            .iter()
            .map(Into::into)
            .collect(),
    ))
}
