//! The alert delivery log (issue 11), linked from the servers page: the latest attempts to
//! deliver alerts by webhook or e-mail, newest first, with status or error. Targets are
//! stored without secrets (a webhook URL's path and query are cut); errors may hold a
//! remote server's text, escaped by askama like every value here.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::fmt_time;
use crate::auth::{render, CurrentUser, Nav};
use crate::{WebError, WebState};

/// Attempts the page shows.
const SHOWN: i64 = 200;

/// One attempt as the page shows it.
pub struct DeliveryRow {
    pub at: String,
    pub event_id: String,
    pub kind: String,
    pub channel: &'static str,
    /// The server's name (its id when it is gone; empty for the daily report).
    pub server: String,
    pub server_id: Option<i64>,
    pub target: String,
    pub attempt: u32,
    pub status: String,
    pub error: String,
    pub delivered: bool,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    nav: Option<Nav>,
    rows: Vec<DeliveryRow>,
}

pub(super) async fn list(
    State(st): State<WebState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let names: HashMap<i64, String> = st
        .app
        .servers()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let rows = st
        .app
        .recent_deliveries(SHOWN)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            at: fmt_time(d.at),
            server: d
                .server_id
                .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                .unwrap_or_default(),
            server_id: d.server_id,
            event_id: d.event_id,
            kind: d.kind,
            channel: d.channel.as_str(),
            target: d.target,
            attempt: d.attempt,
            status: d.status.map(|s| s.to_string()).unwrap_or_default(),
            error: d.error.unwrap_or_default(),
            delivered: d.delivered,
        })
        .collect();
    render(&DeliveriesPage {
        nav: Nav::of(&user),
        rows,
    })
}
