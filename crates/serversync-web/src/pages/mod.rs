//! The admin pages (server-rendered). Every handler takes [`CurrentUser`]; every form
//! carries the session's CSRF token; changes need the admin role.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use axum::routing::get;
use axum::Router;
use serversync_core::model::Server;

use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/servers") }))
        .route("/servers", get(servers))
}

/// One row of the servers page.
pub struct ServerRow {
    pub server: Server,
    pub live_services: usize,
    pub last_run: Option<serversync_store::RunSummary>,
}

#[derive(Template)]
#[template(path = "servers.html")]
struct ServersPage {
    nav: Option<Nav>,
    rows: Vec<ServerRow>,
}

async fn servers(State(st): State<WebState>, user: CurrentUser) -> Result<Html<String>, WebError> {
    let mut rows = Vec::new();
    for server in st.app.servers().await? {
        let services = st.app.store.services(Some(server.id)).await?;
        let live_services = services.iter().filter(|s| s.status.is_live()).count();
        let last_run = st.app.store.runs(server.id, 1).await?.into_iter().next();
        rows.push(ServerRow { server, live_services, last_run });
    }
    render(&ServersPage { nav: Nav::of(&user), rows })
}

