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
pub mod api_deliveries;
pub mod api_servers;
pub mod auth;
pub mod dto;
mod error;
pub mod metrics;
pub mod pages;
pub mod request_id;
mod throttle;

pub use error::WebError;

/// Settings of the web layer.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when serving behind HTTPS).
    pub secure_cookies: bool,
    /// Who may read `/metrics` (default: nobody).
    pub metrics: metrics::MetricsAccess,
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
    with_layers(
        Router::new()
            .merge(auth::routes())
            .merge(pages::routes())
            .nest("/api", api::routes())
            .route("/metrics", axum::routing::get(metrics::metrics))
            .fallback(|| async { WebError::NotFound("there is no such page".into()) })
            .with_state(state),
    )
}

/// The layers around every route: security headers, a caught panic answered 500, and the
/// request id.
fn with_layers(router: Router) -> Router {
    router
        .layer(axum::middleware::map_response(security_headers))
        // A handler that panics answers 500 with the request id (inside the id scope, so
        // the log line and the answer carry the same id) instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            request_id::panic_response,
        ))
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

#[cfg(test)]
mod panic_tests {
    use super::*;

    /// A handler that panics: the client gets 500 and only the request id (the same as in
    /// the response header), never the panic's text; the connection is answered, not dropped.
    #[tokio::test]
    async fn a_panicking_handler_is_a_500_with_the_request_id() {
        let app = with_layers(Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if std::env::var("NEVER_SET_X").is_err() {
                    panic!("secret driver text");
                }
                "unreachable"
            }),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let resp = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(resp.status(), 500);
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 36, "{id}");
        let body = resp.text().await.unwrap();
        assert_eq!(body, format!("internal error, request id {id}"));
        assert!(!body.contains("secret"));
    }
}
