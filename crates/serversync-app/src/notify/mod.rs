//! Alerts (issue 11): after every stored run (scheduled scan, `scan`, manual sync) the run is
//! queued here; a background worker computes its events ([`events`]) and delivers each to
//! every webhook ([`webhook`]: signed JSON POST, retries with backoff) and, for failures, by
//! e-mail ([`email`]), logging every attempt in the store's delivery log
//! ([`serversync_store::Deliveries`]). The worker also sends the daily drift report.
//!
//! Queueing never waits and never fails the scan: a full queue drops the run's alerts with a
//! warning (the run itself is stored; the page still shows it).

use std::fmt;
use std::time::Duration;

use serversync_core::analysis::Counts;
use serversync_core::model::{RunId, ServerId};
use tokio::sync::{mpsc, oneshot};

use crate::App;

pub mod email;
pub mod events;
pub mod webhook;
mod worker;

pub use email::{DailyReport, ReportLine, SmtpSettings, SmtpTls};
pub use events::{AlertEvent, AlertKind, Growth};
pub use webhook::{shown_target, signature, WebhookTarget};

/// Runs waiting for their alerts at most; beyond this a run's alerts are dropped (a fleet
/// of 500 servers stores 500 runs per pass, each queued entry is a few hundred bytes).
const QUEUE: usize = 4096;

/// Where alerts go and how hard delivery tries.
#[derive(Clone)]
pub struct NotifyOptions {
    /// JSON POST targets.
    pub webhooks: Vec<WebhookTarget>,
    /// The mail server of failure mails and the daily report; `None`: no mail.
    pub smtp: Option<SmtpSettings>,
    /// The web page's address as people reach it (`https://sync.example.com`), for the run
    /// link of events; `None`: events carry the path only (`/runs/12`).
    pub base_url: Option<String>,
    /// Attempts per event and target (at least 1; default 3).
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one (default 2 s).
    pub retry_delay: Duration,
    /// Longest time one attempt may take, connecting and answering (default 10 s).
    pub timeout: Duration,
    /// The daily drift report's time of day, UTC (`(hour, minute)`); `None`: no report.
    pub daily_report_at: Option<(u8, u8)>,
    /// How long another instance's claim of the daily report stands before this instance
    /// takes it over, if the report still was not delivered (its sender stopped); this
    /// instance checks again after that long (default 30 minutes).
    pub report_claim_stale_after: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            webhooks: Vec::new(),
            smtp: None,
            base_url: None,
            attempts: 3,
            retry_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            daily_report_at: None,
            report_claim_stale_after: Duration::from_secs(30 * 60),
        }
    }
}

impl fmt::Debug for NotifyOptions {
    // Targets are shown as `shown_target` makes them: no secret, token path or query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyOptions")
            .field("webhooks", &self.webhooks)
            .field("smtp", &self.smtp)
            .field("base_url", &self.base_url)
            .field("attempts", &self.attempts)
            .field("retry_delay", &self.retry_delay)
            .field("timeout", &self.timeout)
            .field("daily_report_at", &self.daily_report_at)
            .field("report_claim_stale_after", &self.report_claim_stale_after)
            .finish()
    }
}

/// Parses a time of day `HH:MM` (UTC, 00:00 to 23:59) as `(hour, minute)`.
pub fn parse_time_of_day(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some((h, m))
}

/// What the worker needs of one stored run (a few hundred bytes, whatever the server's size).
#[derive(Clone, Debug)]
pub struct StoredRun {
    /// The server listed.
    pub server_id: ServerId,
    /// Its name, for the event and the mail.
    pub server: String,
    /// The run as stored (failed listings are stored runs too).
    pub run_id: RunId,
    /// The listing's error when it failed (the stored run's error text).
    pub failed: Option<String>,
    pub complete: bool,
    /// Accounts listed.
    pub accounts: usize,
    /// Items per category (zero for a failed listing).
    pub counts: Counts,
}

pub(crate) enum Msg {
    Run(Box<StoredRun>),
    /// Answered once every run queued before it has been delivered (or given up on).
    Flush(oneshot::Sender<()>),
    /// Sends the daily report now (the schedule and tests).
    Daily(oneshot::Sender<()>),
}

/// The handle [`App`] holds: queues stored runs for the background worker. Cloning is cheap.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Msg>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notifier")
    }
}

impl Notifier {
    /// Starts the worker on `app`'s store and guards (its own copy, without a notifier) and
    /// returns the handle and the worker's task, which ends once every handle is dropped and
    /// the queue is drained.
    pub fn start(app: &App, opts: NotifyOptions) -> (Notifier, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut worker_app = app.clone();
        worker_app.notifier = None;
        let task = tokio::spawn(worker::run(worker_app, opts, rx));
        (Notifier { tx }, task)
    }

    /// Queues a stored run's alerts; never waits (a full queue drops them with a warning).
    pub fn queue(&self, run: StoredRun) {
        if let Err(e) = self.tx.try_send(Msg::Run(Box::new(run))) {
            let (server, run_id) = match &e {
                mpsc::error::TrySendError::Full(Msg::Run(r))
                | mpsc::error::TrySendError::Closed(Msg::Run(r)) => (r.server.clone(), r.run_id),
                _ => (String::new(), 0),
            };
            tracing::warn!(%server, run = run_id, "alert queue full or stopped: this run's alerts are dropped");
        }
    }

    /// Waits until every run queued so far has been delivered or given up on, at most
    /// `within` (the `scan` command flushes before it exits). Whether it finished in time.
    pub async fn flush(&self, within: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, wait).await, Ok(Ok(())))
    }

    /// Sends the daily drift report now (as the schedule does at `daily_report_at`), and
    /// waits for it at most `within`. Whether it finished in time.
    pub async fn send_daily_report(&self, within: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Daily(done)).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, wait).await, Ok(Ok(())))
    }
}

impl App {
    /// The same app queueing its stored runs' alerts on `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Hands a stored run to the notifier, if any (after the run is stored; never waits).
    pub(crate) fn announce(&self, run: StoredRun) {
        if let Some(n) = &self.notifier {
            n.queue(run);
        }
    }

    /// The latest attempts of the alert delivery log, newest first: `limit` of them
    /// (default 100, 1 to 1000; otherwise [`crate::AppError::Invalid`] naming `limit`).
    pub async fn delivery_log(
        &self,
        limit: Option<i64>,
    ) -> crate::Result<Vec<serversync_store::Delivery>> {
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(crate::AppError::Invalid(format!(
                "limit: must be between 1 and 1000, got {limit}"
            )));
        }
        self.recent_deliveries(limit).await
    }

    /// The latest attempts of the alert delivery log, newest first, at most `limit`.
    pub async fn recent_deliveries(
        &self,
        limit: i64,
    ) -> crate::Result<Vec<serversync_store::Delivery>> {
        Ok(self.store.recent_deliveries(limit).await?)
    }
}
