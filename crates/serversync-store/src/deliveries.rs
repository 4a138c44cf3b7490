//! The alert delivery log capability (issue 11): every attempt to deliver an alert event
//! (a webhook POST or an e-mail) to one target, with its HTTP status or error, for the
//! delivery log on the page and `GET /api/deliveries`.
//!
//! A separate trait (a supertrait of [`crate::Store`]) so that every store implements it
//! beside the main capability.

use async_trait::async_trait;
use serversync_core::model::ServerId;
use time::OffsetDateTime;

use crate::Result;

/// Longest target and error text kept (longer text is cut at a character boundary): the
/// error may come from a remote server.
pub const MAX_DELIVERY_TEXT: usize = 500;

/// How an alert is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A JSON POST to a webhook URL.
    Webhook,
    /// An e-mail over SMTP.
    Email,
}

impl Channel {
    /// `webhook` or `email`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

/// One delivery attempt to log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    /// The event's id: `{run id}-{kind}` for run events, `daily-{YYYY-MM-DD}` for the
    /// daily report; the same for every attempt and target of one event.
    pub event_id: String,
    /// `drift`, `listing_failed`, `shrank` or `daily_report`.
    pub kind: String,
    /// Webhook or e-mail.
    pub channel: Channel,
    /// The server the event is about (`None` for the daily report).
    pub server_id: Option<ServerId>,
    /// Where it went: a webhook URL without user information, path or query, or the
    /// e-mail recipients. Never holds a secret.
    pub target: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status (webhooks) or SMTP reply code of the answer, if one came.
    pub status: Option<u16>,
    /// Why the attempt failed (bounded, no secrets); `None` when it succeeded.
    pub error: Option<String>,
    /// Whether this attempt delivered the event.
    pub delivered: bool,
}

/// One logged attempt, as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Assigned by the store; later attempts have larger ids.
    pub id: i64,
    /// When the attempt ended (the store's clock).
    pub at: OffsetDateTime,
    /// The fields of [`NewDelivery`], as logged (texts bounded).
    pub event_id: String,
    pub kind: String,
    pub channel: Channel,
    pub server_id: Option<ServerId>,
    pub target: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
}

/// The delivery log of alerts.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Logs one attempt at the store's "now" and returns its id. Target and error are cut
    /// to [`MAX_DELIVERY_TEXT`] characters; `Invalid` for an empty event id or target.
    async fn record_delivery(&self, delivery: &NewDelivery) -> Result<i64>;
    /// The newest attempts first (by id); `limit` ≤ 0 means all.
    async fn recent_deliveries(&self, limit: i64) -> Result<Vec<Delivery>>;
    /// Whether some attempt delivered event `event_id` over `channel` (the daily report is
    /// sent once per day however many instances run).
    async fn event_delivered(&self, event_id: &str, channel: Channel) -> Result<bool>;
    /// Claims event `event_id` on `channel` for `holder` (an instance's id): `true` for the
    /// first claim, `false` for every later one, whoever makes it (one statement: two
    /// instances claiming at the same moment get one `true`) — unless the standing claim is
    /// older than `stale_after` by the store's clock and no attempt delivered the event: its
    /// holder stopped before sending, and this claim takes it over (`true`, once). The daily
    /// report is sent only by the instance whose claim won. `Invalid` for an empty event id.
    async fn claim_event(
        &self,
        event_id: &str,
        channel: Channel,
        holder: &str,
        stale_after: std::time::Duration,
    ) -> Result<bool>;
}
