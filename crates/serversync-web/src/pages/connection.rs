//! "Test connection" on the servers page: one listing call against the server's panel
//! ([`serversync_app::App::test_connection`], the same as `serversync servers test NAME` and
//! `POST /api/servers/{id}/test`), its result in one line.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use axum_extra::extract::Form;

use super::servers::CsrfForm;
use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

#[derive(Template)]
#[template(path = "connection.html")]
struct ConnectionPage {
    nav: Option<Nav>,
    csrf: String,
    server_id: i64,
    server_name: String,
    connected: bool,
    /// `web1: connected, 123 accounts listed in 0.4 s` / `web1: failed: <cause>`.
    line: String,
}

/// Tests the server's connection. Any signed-in user may (a read-only one too): it writes
/// nothing, stores no run and takes no lock; the form still carries the CSRF token, so no
/// other site can make a browser fire panel requests.
pub(super) async fn test(
    State(st): State<WebState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Html<String>, WebError> {
    user.check_csrf(&f.csrf)?;
    let test = st.app.test_connection(&id.to_string()).await?;
    render(&ConnectionPage {
        nav: Nav::of(&user),
        csrf: user.csrf().to_string(),
        server_id: test.server_id,
        server_name: test.server_name.clone(),
        connected: test.connected,
        line: test.line(),
    })
}
