//! `GET /api/deliveries`: the alert delivery log (issue 11), newest attempt first — the
//! same rows as the page `/deliveries`. Targets never hold secrets (a webhook URL is kept as
//! scheme, host and port); `error` may hold a remote server's text (bounded).

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serversync_store::Delivery;
use utoipa::{IntoParams, ToSchema};

use crate::api::{ApiError, ApiUser};
use crate::dto;
use crate::dto::responses::{rfc3339, ErrorBody};
use crate::WebState;

/// `GET /api/deliveries`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Newest attempts to list, 1 to 1000, default 100.
    #[serde(default, deserialize_with = "crate::dto::requests::number")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One attempt to deliver one alert event to one target.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryDto {
    pub id: i64,
    /// When the attempt ended, RFC 3339 UTC.
    pub at: String,
    /// `{run id}-{kind}`, or `daily-{YYYY-MM-DD}` for the daily report.
    pub event_id: String,
    /// `drift`, `listing_failed`, `shrank` or `daily_report`.
    pub kind: String,
    /// `webhook` or `email`.
    pub channel: String,
    /// The server of the event (none for the daily report).
    pub server_id: Option<i64>,
    /// A webhook URL as scheme, host and port (`/…` when it had a path or query), or the
    /// mail's recipients.
    pub target: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status or SMTP reply code, when an answer came.
    pub status: Option<u16>,
    /// Why the attempt failed (bounded; remote text).
    pub error: Option<String>,
    pub delivered: bool,
}

impl From<&Delivery> for DeliveryDto {
    fn from(d: &Delivery) -> Self {
        DeliveryDto {
            id: d.id,
            at: rfc3339(d.at),
            event_id: d.event_id.clone(),
            kind: d.kind.clone(),
            channel: d.channel.as_str().into(),
            server_id: d.server_id,
            target: d.target.clone(),
            attempt: d.attempt,
            status: d.status,
            error: d.error.clone(),
            delivered: d.delivered,
        }
    }
}

/// The alert delivery log, newest attempt first.
#[utoipa::path(get, path = "/api/deliveries", tag = "alerts",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "the latest delivery attempts, newest first", body = Vec<DeliveryDto>),
        (status = 400, description = "bad query (names the parameter)", body = ErrorBody),
    ))]
pub(crate) async fn list_deliveries(
    State(st): State<WebState>,
    _user: ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<DeliveryDto>>, ApiError> {
    let q: DeliveriesQuery = dto::query(raw.as_deref())?;
    let log = st.app.delivery_log(q.limit).await?;
    Ok(Json(log.iter().map(Into::into).collect()))
}
