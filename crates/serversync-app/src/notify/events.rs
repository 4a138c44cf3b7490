//! The alert events of one stored run: `drift` (categories that grew against the server's
//! previous listed run), `listing_failed` and `shrank` ([`App::listing_shrink`]). The JSON
//! of an [`AlertEvent`] is the webhook body (README "Alerts").

use serde::Serialize;
use serde_json::Value;
use serversync_core::analysis::{Category, Counts};
use serversync_core::model::{RunId, ServerId};
use serversync_core::shrink::Shrink;
use serversync_store::ListingStatus;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::StoredRun;
use crate::{App, Result};

/// Longest listing error carried by an event, in characters (panel text).
pub const MAX_ERROR_CHARS: usize = 500;
// Runs looked back through: the shrink check's reach, so that one read serves both.
use crate::shrink::LOOK_BACK;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Drift categories grew against the previous run.
    Drift,
    /// The listing failed.
    ListingFailed,
    /// A complete listing shrank past the guard's share against the previous complete one.
    Shrank,
}

impl AlertKind {
    /// `drift`, `listing_failed` or `shrank`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Drift => "drift",
            AlertKind::ListingFailed => "listing_failed",
            AlertKind::Shrank => "shrank",
        }
    }
}

/// A category that grew: its count in the previous listed run and in this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Growth {
    /// The category's name (`not_in_billing`, …; CONTRACT.md).
    pub category: &'static str,
    pub before: usize,
    pub now: usize,
}

/// The server an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventServer {
    /// The server's id in billing.
    pub id: ServerId,
    /// Its name (billing text).
    pub name: String,
}

/// One alert event; serialised, the body of a webhook POST.
#[derive(Clone, Debug, Serialize)]
pub struct AlertEvent {
    /// `{run id}-{kind}`: the same for every attempt and target (receivers deduplicate by it).
    pub id: String,
    pub kind: AlertKind,
    /// When the event was made, RFC 3339 UTC.
    pub at: String,
    /// The server the event is about.
    pub server: EventServer,
    /// The stored run that raised the event.
    pub run_id: RunId,
    /// The run's page: `{base_url}/runs/{run_id}` (the path alone without a base URL).
    pub link: String,
    /// `drift`: the categories that grew, in CONTRACT.md's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grew: Option<Vec<Growth>>,
    /// `drift`: every drift category's count in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// `listing_failed`: why (bounded to [`MAX_ERROR_CHARS`], control characters as spaces;
    /// panel text: escape it where it is shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `shrank`: the previous and the new size and the share missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrink: Option<Shrink>,
    /// `shrank`: the guard's limit (a share, `0.0..=1.0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_missing_share: Option<f64>,
}

impl AlertEvent {
    fn new(kind: AlertKind, run: &StoredRun, base_url: Option<&str>) -> AlertEvent {
        AlertEvent {
            id: format!("{}-{}", run.run_id, kind.as_str()),
            kind,
            at: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            server: EventServer {
                id: run.server_id,
                name: run.server.clone(),
            },
            run_id: run.run_id,
            link: run_link(base_url, run.run_id),
            grew: None,
            counts: None,
            error: None,
            shrink: None,
            max_missing_share: None,
        }
    }

    /// One line for people (a mail's subject, a log line).
    pub fn summary(&self) -> String {
        let name = &self.server.name;
        match self.kind {
            AlertKind::Drift => {
                let grew: Vec<String> = self
                    .grew
                    .iter()
                    .flatten()
                    .map(|g| format!("{} {} -> {}", label(g.category), g.before, g.now))
                    .collect();
                format!("{name}: drift grew ({})", grew.join(", "))
            }
            AlertKind::ListingFailed => format!("{name}: listing failed"),
            AlertKind::Shrank => match &self.shrink {
                Some(s) => format!(
                    "{name}: listing shrank from {} to {} accounts",
                    s.previous, s.now
                ),
                None => format!("{name}: listing shrank"),
            },
        }
    }
}

fn label(category: &str) -> &'static str {
    Category::from_name(category).map_or("?", Category::label)
}

/// `{base_url}/runs/{run_id}` (the run page of the web UI), or the path alone.
pub fn run_link(base_url: Option<&str>, run_id: RunId) -> String {
    let base = base_url
        .map(|b| b.trim().trim_end_matches('/'))
        .unwrap_or("");
    format!("{base}/runs/{run_id}")
}

/// `s` cut to `max` characters (`…` marks the cut), control characters shown as spaces.
pub(crate) fn bounded(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The drift categories whose count grew from `before` (a stored run's `counts_json`) to
/// `now`, in CONTRACT.md's order.
pub fn growth(before: &Value, now: &Counts) -> Vec<Growth> {
    Category::ALL
        .iter()
        .filter(|c| c.is_drift())
        .filter_map(|c| {
            let was = before
                .get(c.as_str())
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            let is = now.get(*c);
            (is > was).then_some(Growth {
                category: c.as_str(),
                before: was,
                now: is,
            })
        })
        .collect()
}

impl App {
    /// The alert events of a stored run. Drift is compared with the server's latest listed
    /// (not failed) run stored before it; a server's first listed run is compared with
    /// nothing, so its drift is all new. A failed listing right after a failed listing with
    /// the same error raises nothing.
    pub async fn alert_events(
        &self,
        run: &StoredRun,
        base_url: Option<&str>,
    ) -> Result<Vec<AlertEvent>> {
        let runs = self.store.runs(run.server_id, LOOK_BACK).await?;
        if let Some(error) = &run.failed {
            // A server that keeps failing the same way is news once: only a failure after
            // a listed run, or with another cause, raises the alert again.
            let again = runs.iter().find(|r| r.id < run.run_id).is_some_and(|p| {
                p.listing_status == ListingStatus::Failed && p.error.as_deref() == Some(error)
            });
            if again {
                return Ok(Vec::new());
            }
            let mut ev = AlertEvent::new(AlertKind::ListingFailed, run, base_url);
            ev.error = Some(bounded(error, MAX_ERROR_CHARS));
            return Ok(vec![ev]);
        }
        let mut out = Vec::new();
        let previous = runs
            .iter()
            .find(|r| r.id < run.run_id && r.listing_status != ListingStatus::Failed);
        let before: Value = previous
            .and_then(|p| serde_json::from_str(&p.counts_json).ok())
            .unwrap_or(Value::Null);
        let grew = growth(&before, &run.counts);
        if !grew.is_empty() {
            let mut ev = AlertEvent::new(AlertKind::Drift, run, base_url);
            ev.grew = Some(grew);
            ev.counts = Some(run.counts.clone());
            out.push(ev);
        }
        if run.complete {
            // The runs read above serve the shrink check too (no second read).
            if let Some(s) = self.shrink_among(&runs, run.accounts, Some(run.run_id)) {
                let mut ev = AlertEvent::new(AlertKind::Shrank, run, base_url);
                ev.shrink = Some(s);
                ev.max_missing_share = Some(self.guards.max_shrink_share);
                out.push(ev);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn growth_lists_only_drift_categories_that_grew() {
        let now = Counts {
            in_sync: 90,
            not_in_billing: 3,
            out_of_sync: 1,
            not_on_server: 2,
            ..Counts::default()
        };
        let before =
            json!({"in_sync": 10, "not_in_billing": 1, "out_of_sync": 1, "not_on_server": 5});
        assert_eq!(
            growth(&before, &now),
            vec![Growth {
                category: "not_in_billing",
                before: 1,
                now: 3
            }]
        );
        // Nothing before: every non-zero drift category is new.
        let names: Vec<&str> = growth(&Value::Null, &now)
            .iter()
            .map(|g| g.category)
            .collect();
        assert_eq!(
            names,
            vec!["out_of_sync", "not_in_billing", "not_on_server"]
        );
    }

    #[test]
    fn run_links_point_at_the_run_page() {
        assert_eq!(
            run_link(Some("https://sync.example.com/"), 12),
            "https://sync.example.com/runs/12"
        );
        assert_eq!(run_link(None, 7), "/runs/7");
    }

    #[test]
    fn errors_are_bounded_and_without_control_characters() {
        assert_eq!(bounded("a\nb\u{1b}[31m", 100), "a b [31m");
        assert_eq!(bounded(&"x".repeat(10), 4), "xxxx…");
    }
}
