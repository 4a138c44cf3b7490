//! The JSON API under `/api/`: everything the page does, for API tokens
//! (`Authorization: Bearer <token>`), described by `/api/openapi.json`.
//!
//! [`API_ROUTES`] is the one list of routes: [`routes`] is built from it (a route without an
//! entry is never served, an entry without a handler panics when the router is built), and a
//! test checks that `openapi.json` documents exactly these (method, path) pairs.
//!
//! Handlers only check the token, call one application function of `serversync-app` and
//! shape the answer; errors are `{"error": "<message>"}` with a fitting status.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};
use serversync_app::api_support::{self, AuditParams};
use serversync_app::items::item_json;
use serversync_app::AppError;
use serversync_store::{ApiToken, Role, StoreError};

use crate::{WebError, WebState};

/// The OpenAPI document (kept in step with [`API_ROUTES`] by a test).
pub const OPENAPI: &str = include_str!("../openapi.json");

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
    ("POST", "/api/servers"),
    ("PUT", "/api/servers/{id}"),
    ("PATCH", "/api/servers/{id}"),
    ("POST", "/api/servers/{id}/test"),
    ("PATCH", "/api/products/{id}"),
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
                Json(json!({"error": "missing or unknown API token: send Authorization: Bearer <token> (create one with `serversync tokens add NAME`)"})),
            )
                .into_response();
        }
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = %crate::error::log_text(&self.0), "API request failed");
        }
        (status, Json(json!({"error": self.0.to_string()}))).into_response()
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

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

fn bad_request(msg: String) -> ApiError {
    ApiError(WebError::BadRequest(msg))
}

/// A numeric path parameter, or a 400 naming it.
fn id_param<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| bad_request(format!("{what} id: expected a number, got {raw:?}")))
}

fn q<'a>(query: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    query.get(key).map(String::as_str)
}

async fn not_found() -> ApiError {
    ApiError(WebError::NotFound(
        "no such API route (see /api/openapi.json)".into(),
    ))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method not allowed on this API route (see /api/openapi.json)"})),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn list_servers(State(st): State<WebState>, _user: ApiUser) -> ApiResult {
    let servers = st.app.server_overview().await?;
    Ok(Json(Value::Array(
        servers.iter().map(|s| s.to_json()).collect(),
    )))
}

async fn list_runs(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let runs = st.app.run_history(&id, q(&query, "limit")).await?;
    Ok(Json(Value::Array(
        runs.iter().map(api_support::run_summary_json).collect(),
    )))
}

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
        Json(snapshot),
    )
        .into_response())
}

async fn list_jobs(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let jobs = st.app.sync_job_history(&id, q(&query, "limit")).await?;
    Ok(Json(serde_json::to_value(jobs).map_err(|e| {
        WebError::Internal(format!("job list: {e}"))
    })?))
}

async fn get_job(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: u64 = id_param("job", &id)?;
    match st.app.sync_job(id).await {
        Ok(job) => Ok(Json(job).into_response()),
        Err(AppError::Store(StoreError::NotFound(_))) => {
            Err(ApiError(WebError::NotFound(format!("job {id} not found"))))
        }
        Err(e) => Err(ApiError(WebError::App(e))),
    }
}

async fn get_run(State(st): State<WebState>, _user: ApiUser, Path(id): Path<String>) -> ApiResult {
    let view = st.app.run_view(&st.runs, id_param("run", &id)?).await?;
    let server = st.app.run_server(&view).await?;
    Ok(Json(api_support::run_view_json(&view, &server)))
}

async fn run_items(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let run_id = id_param("run", &id)?;
    let item_query = api_support::item_query(
        q(&query, "category"),
        q(&query, "q"),
        q(&query, "page"),
        q(&query, "per_page"),
    )?;
    let view = st.app.run_view(&st.runs, run_id).await?;
    let states = st.app.run_item_states(&st.runs, &view).await?;
    let page = view.query(&item_query);
    let items: Vec<Value> = page
        .items
        .iter()
        .filter_map(|(i, it)| states.get(*i).map(|s| item_json(*i, it, s)))
        .collect();
    Ok(Json(json!({
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "items": items,
    })))
}

async fn apply_run(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let run_id = id_param("run", &id)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("body: not a JSON document ({e})")))?;
    // A dry run writes nothing: read-only tokens may review, as read-only users may on the
    // page; anything but `"dry_run": true` needs an admin token, checked before any work.
    if body.get("dry_run") != Some(&Value::Bool(true)) {
        user.require_admin()?;
    }
    let view = st.app.run_view(&st.runs, run_id).await?;
    let server = st.app.run_server(&view).await?;
    // Fresh states: an apply must not trust a cached "open".
    let states = st.app.compute_item_states(&view).await?;
    let req = api_support::apply_request_from_json(&view, &server, &body, &states)?;
    let app = st.app.clone().with_actor(user.actor());
    let report = app.apply(&req).await;
    if !req.dry_run {
        // Even a failed apply may have been preceded by another one: reread the run.
        st.runs.forget(run_id);
    }
    Ok(Json(serde_json::to_value(report?).map_err(|e| {
        WebError::Internal(format!("apply report: {e}"))
    })?))
}

async fn audit(
    State(st): State<WebState>,
    _user: ApiUser,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let page = st
        .app
        .audit_page(&AuditParams {
            server: q(&query, "server"),
            run: q(&query, "run"),
            service: q(&query, "service"),
            actor: q(&query, "actor"),
            limit: q(&query, "limit"),
            offset: q(&query, "offset"),
        })
        .await?;
    Ok(Json(page.to_json()))
}

async fn clients(State(st): State<WebState>, _user: ApiUser) -> ApiResult {
    Ok(Json(Value::Array(st.app.clients_json().await?)))
}

async fn products(State(st): State<WebState>, _user: ApiUser) -> ApiResult {
    Ok(Json(Value::Array(st.app.products_json().await?)))
}

async fn services(
    State(st): State<WebState>,
    _user: ApiUser,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    Ok(Json(Value::Array(
        st.app.services_json(q(&query, "server")).await?,
    )))
}
