//! The admin pages (server-rendered). Every handler takes [`CurrentUser`]; every form
//! carries the session's CSRF token; changes need the admin role. Handlers call application
//! functions and render; every value from a panel or from billing is escaped by askama.
//!
//! Stable element ids for browser tests: see the templates (`sync-{server}`, `tab-{category}`,
//! `items`, `review`, `apply`, `summary`, `job-progress`, `kept-top` / `kept-bottom` (ticks
//! kept across pages), `server-chart` / `chart-numbers`, `all-runs`, `client_q`).
//!
//! Category names (`out_of_sync`) stay in ids, data attributes and links; people read
//! [`serversync_core::analysis::Category::label`]. The pages have no script: the ticks of a
//! run page travel with its form to `/runs/{id}/select` on every page, tab or search change
//! (selection.rs), and the charts are SVG rendered here (chart.rs).

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use serversync_core::analysis::Category;
use time::OffsetDateTime;

use crate::{WebError, WebState};

mod chart;
mod client_search;
mod connection;
mod csv;
mod deliveries;
mod form_picks;
mod pager;
mod records;
mod runs;
mod selection;
mod servers;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/servers") }))
        .route("/servers", get(servers::list))
        .route("/servers/new", get(servers::new_form).post(servers::create))
        .route("/servers/{id}", get(servers::show))
        .route(
            "/servers/{id}/edit",
            get(servers::edit_form).post(servers::update),
        )
        .route("/servers/{id}/runs", get(servers::history))
        .route("/servers/{id}/sync", post(servers::sync))
        .route("/servers/{id}/test", post(connection::test))
        .route("/jobs/{id}", get(servers::job))
        .route("/runs", get(servers::all_runs))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/export.csv", get(runs::export))
        .route("/runs/{id}/select", post(selection::select))
        .route("/runs/{id}/review", post(runs::review))
        .route("/runs/{id}/apply", post(runs::apply))
        .route("/audit", get(records::audit))
        .route("/deliveries", get(deliveries::list))
        .route("/clients", get(records::clients))
        .route("/products", get(records::products))
        .route(
            "/products/{id}/edit",
            get(records::product_form).post(records::product_save),
        )
        .route("/services", get(records::services))
}

/// `2024-01-31 13:15:00 UTC`.
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An optional number from a query string field (`""` = none); the error names the field.
pub(crate) fn opt_num<T: std::str::FromStr>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, WebError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("{field}: {s:?} is not a number"))),
    }
}

/// Drift categories with a non-zero count, from a run's `counts_json` (`{"out_of_sync": 2,
/// …}`, CONTRACT.md "Analysis document" `counts`), in display order.
pub(crate) fn drift_counts(counts_json: &str) -> Vec<(Category, u64)> {
    let v: Value = serde_json::from_str(counts_json).unwrap_or(Value::Null);
    let Some(m) = v.as_object() else {
        return Vec::new();
    };
    Category::ALL
        .iter()
        .filter(|c| c.is_drift())
        .filter_map(|c| {
            m.get(c.as_str())
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(|n| (*c, n))
        })
        .collect()
}

/// A query string (`a=1&b=x`) from pairs, leaving out empty values.
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}
