//! serversync-web: the Server Sync page and the JSON API.
//!
//! Server-rendered HTML (askama templates, every value HTML-escaped) for administrators
//! signed in with a session cookie (HttpOnly, SameSite=Strict) and a CSRF token on every
//! form; a JSON API under `/api/` for API tokens (`Authorization: Bearer …`), described by
//! `/api/openapi.json`. Both call the application functions of `serversync-app` only.

use std::sync::{Arc, Mutex};

use axum::Router;
use serversync_app::items::RunCache;
use serversync_app::jobs::Jobs;
use serversync_app::App;

pub mod api;
pub mod auth;
mod error;
pub mod pages;

pub use error::WebError;

/// Settings of the web layer.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when serving behind HTTPS).
    pub secure_cookies: bool,
}

/// Shared state of every request.
#[derive(Clone)]
pub struct WebState {
    pub app: App,
    pub jobs: Arc<Jobs>,
    pub runs: Arc<RunCache>,
    pub config: WebConfig,
    /// The one-time first-run setup token (while no administrator exists).
    pub setup_token: Arc<Mutex<Option<String>>>,
}

impl WebState {
    pub fn new(app: App, config: WebConfig) -> Self {
        WebState {
            app,
            jobs: Arc::new(Jobs::default()),
            runs: Arc::new(RunCache::default()),
            config,
            setup_token: Arc::new(Mutex::new(None)),
        }
    }

    /// Creates the one-time setup token if no administrator exists yet; returns the path of
    /// the setup link (`/setup?token=…`) to print, or `None` when administrators exist.
    pub async fn setup_link(&self) -> Result<Option<String>, WebError> {
        if self.app.has_users().await? {
            return Ok(None);
        }
        let token = serversync_app::auth::new_token("");
        if let Ok(mut t) = self.setup_token.lock() {
            *t = Some(token.clone());
        }
        Ok(Some(format!("/setup?token={token}")))
    }
}

/// The whole application router.
pub fn router(state: WebState) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(pages::routes())
        .nest("/api", api::routes())
        .with_state(state)
}

/// Serves the router on `listener` until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
