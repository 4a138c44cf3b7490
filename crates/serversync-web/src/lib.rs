//! serversync-web: the Server Sync page and the JSON API.
//!
//! Server-rendered HTML (askama templates, every value HTML-escaped) for administrators
//! signed in with a session cookie (HttpOnly, SameSite=Strict) and a CSRF token on every
//! form; a JSON API under `/api/` for API tokens (`Authorization: Bearer …`), described by
//! `/api/openapi.json`. Both call the application functions of `serversync-app` only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use serversync_app::auth::SetupLink;
use serversync_app::items::RunCache;
use serversync_app::App;

pub mod api;
pub mod api_servers;
pub mod auth;
pub mod dto;
mod error;
pub mod pages;
pub mod request_id;
mod throttle;

pub use error::WebError;

/// Settings of the web layer.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when serving behind HTTPS).
    pub secure_cookies: bool,
}

/// Shared state of every request. Nothing in it may decide what another instance on the
/// same database would answer otherwise: sync jobs live in the store, and the run cache is
/// checked against the store's data version.
#[derive(Clone)]
pub struct WebState {
    pub app: App,
    pub runs: Arc<RunCache>,
    pub config: WebConfig,
    /// Failed sign-ins per (user name, client address), for throttling.
    pub sign_in_failures: Arc<auth::Throttle>,
}

impl WebState {
    pub fn new(app: App, config: WebConfig) -> Self {
        WebState {
            app,
            runs: Arc::new(RunCache::default()),
            config,
            sign_in_failures: Arc::new(auth::Throttle::default()),
        }
    }

    /// The first-run setup link to print: a new one-time token while no administrator
    /// exists and no other process offered one ([`serversync_app::App::offer_setup`]; the
    /// token lives in the database, so any `serve` on it accepts the link). `New(path)` holds
    /// the link's path (`/setup?token=…`).
    pub async fn setup_link(&self) -> Result<SetupLink, WebError> {
        Ok(match self.app.offer_setup().await? {
            SetupLink::New(token) => SetupLink::New(format!("/setup?token={token}")),
            other => other,
        })
    }
}

/// The whole application router.
pub fn router(state: WebState) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(pages::routes())
        .nest("/api", api::routes())
        .fallback(|| async { WebError::NotFound("there is no such page".into()) })
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
        // Outermost last: a plain client id is kept, else one is made; handlers see it.
        .layer(axum::middleware::from_fn(request_id::scope))
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(
            request_id::HEADER,
        ))
        .layer(tower_http::request_id::SetRequestIdLayer::new(
            request_id::HEADER,
            tower_http::request_id::MakeRequestUuid,
        ))
        .layer(axum::middleware::from_fn(request_id::sanitize))
}

/// Headers on every response: no framing, no MIME sniffing, no caching of pages that show
/// billing data, and a content security policy that allows no script at all (the pages have
/// none) so that an escaped value slipping through could still not run.
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Serves the router on `listener` until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address keys the sign-in throttling (per user name and client address).
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
