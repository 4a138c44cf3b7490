//! The process's operational metrics, for `/metrics` (the Prometheus text exposition format,
//! version 0.0.4, written by the `prometheus` crate).
//!
//! One [`Metrics`] per [`crate::App`] (clones of an app share it, so the scheduler's scans and
//! the web page's syncs count into the same registry). The application records into it at
//! the few places where things happen — an analysis stored or failed, a lease taken over, a
//! webhook delivered — and the web layer only renders it.
//!
//! Label values are bounded and come from the administrator (server names), the module
//! registry (module names) or fixed sets ([`FailureCause`], [`Delivery`], categories): no
//! text a panel sent ever becomes a label, and no secret is recorded at all.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use serversync_core::analysis::{Category, Counts};
use serversync_modules::ModuleError;

use crate::{AppError, Result};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest label value (in characters) kept from a server or module name: names are the
/// administrator's, but a metrics scrape must stay small whatever was typed.
pub const MAX_LABEL: usize = 100;

/// Upper bounds (seconds) of the scan duration histogram: a small server answers in well
/// under a second, a 100,000-account one takes minutes.
const SCAN_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Why a listing failed, as a small fixed set (the label `cause` of
/// `serversync_listing_failures_total`). The full message stays in the stored run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCause {
    /// No connection, or it broke (refused, DNS, TLS, reset).
    Connect,
    /// A connect, read, total, listing or module time-out.
    Timeout,
    /// The panel answered an HTTP error status (not 401/403).
    Http,
    /// The panel refused the credentials (401/403).
    Auth,
    /// The panel answered, reporting a failure of its own.
    Panel,
    /// The answer could not be read (bad JSON/XML, too large).
    Parse,
    /// The answer broke the listing's rules (pages that do not add up, not the wire form).
    Contract,
    /// The server's settings cannot work (e.g. no API token).
    Config,
    /// An external or PHP module's process failed or needed something unsupported.
    Module,
}

impl FailureCause {
    /// Every cause, in the order of their label values.
    pub const ALL: [FailureCause; 9] = [
        FailureCause::Connect,
        FailureCause::Timeout,
        FailureCause::Http,
        FailureCause::Auth,
        FailureCause::Panel,
        FailureCause::Parse,
        FailureCause::Contract,
        FailureCause::Config,
        FailureCause::Module,
    ];

    /// The cause of a module's error.
    pub fn of(e: &ModuleError) -> FailureCause {
        match e {
            ModuleError::Connect { .. } | ModuleError::Transport { .. } => FailureCause::Connect,
            ModuleError::Timeout { .. }
            | ModuleError::Deadline { .. }
            | ModuleError::ModuleTimeout { .. } => FailureCause::Timeout,
            ModuleError::Http { .. } => FailureCause::Http,
            ModuleError::AuthRefused { .. } => FailureCause::Auth,
            ModuleError::Remote(_) => FailureCause::Panel,
            ModuleError::Malformed(_) | ModuleError::TooLarge { .. } => FailureCause::Parse,
            ModuleError::Incomplete(_) | ModuleError::Protocol(_) => FailureCause::Contract,
            ModuleError::Config(_) => FailureCause::Config,
            ModuleError::Process { .. } | ModuleError::Php(_) | ModuleError::Unsupported(_) => {
                FailureCause::Module
            }
        }
    }

    /// The label value: `connect`, `timeout`, `http`, `auth`, `panel`, `parse`, `contract`,
    /// `config` or `module`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Connect => "connect",
            FailureCause::Timeout => "timeout",
            FailureCause::Http => "http",
            FailureCause::Auth => "auth",
            FailureCause::Panel => "panel",
            FailureCause::Parse => "parse",
            FailureCause::Contract => "contract",
            FailureCause::Config => "config",
            FailureCause::Module => "module",
        }
    }
}

/// How one webhook delivery attempt ended (the label `result` of
/// `serversync_webhook_deliveries_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The target answered 2xx.
    Delivered,
    /// The attempt failed and another one is scheduled.
    Retrying,
    /// The attempt failed and no more will be made.
    Failed,
}

impl Delivery {
    /// The label value: `delivered`, `retrying` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Retrying => "retrying",
            Delivery::Failed => "failed",
        }
    }
}

/// The metric families of one process. Names (all prefixed `serversync_`):
///
/// - `scan_duration_seconds{server,module}` histogram: wall time of each analysis from the
///   start of its listing to its stored run (failed listings included, up to their failure);
/// - `accounts_listed{server}` gauge: accounts the server's last complete or incomplete
///   listing returned (a failed listing leaves the last value);
/// - `drift_items{server,category}` gauge: items per category of the server's last
///   analysis, every category but `in_sync` (always all eight, zeros included);
/// - `listing_failures_total{module,cause}` counter ([`FailureCause`]);
/// - `lease_takeovers_total` counter: server leases this process took over from a holder
///   that ran out or whose process ended;
/// - `webhook_deliveries_total{result}` counter ([`Delivery`]).
pub struct Metrics {
    registry: Registry,
    scan_seconds: HistogramVec,
    accounts: IntGaugeVec,
    drift: IntGaugeVec,
    listing_failures: IntCounterVec,
    lease_takeovers: IntCounter,
    webhook_deliveries: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `name` cut to [`MAX_LABEL`] characters (the exposition format escapes the rest).
fn label(name: &str) -> String {
    name.chars().take(MAX_LABEL).collect()
}

impl Metrics {
    /// A registry with every family registered and no samples yet.
    pub fn new() -> Self {
        // The options and names are constants: building and registering them cannot fail
        // unless this code is wrong, which the unit tests below would show at once.
        let registry = Registry::new();
        let scan_seconds = HistogramVec::new(
            HistogramOpts::new(
                "serversync_scan_duration_seconds",
                "Wall time of a server's analysis, from listing start to stored run, in seconds.",
            )
            .buckets(SCAN_BUCKETS.to_vec()),
            &["server", "module"],
        )
        .unwrap_or_else(|e| unreachable!("histogram options are constants: {e}"));
        let accounts = IntGaugeVec::new(
            Opts::new(
                "serversync_accounts_listed",
                "Accounts the server's last successful listing returned.",
            ),
            &["server"],
        )
        .unwrap_or_else(|e| unreachable!("gauge options are constants: {e}"));
        let drift = IntGaugeVec::new(
            Opts::new(
                "serversync_drift_items",
                "Items per drift category of the server's last analysis.",
            ),
            &["server", "category"],
        )
        .unwrap_or_else(|e| unreachable!("gauge options are constants: {e}"));
        let listing_failures = IntCounterVec::new(
            Opts::new(
                "serversync_listing_failures_total",
                "Failed listings, by module and cause.",
            ),
            &["module", "cause"],
        )
        .unwrap_or_else(|e| unreachable!("counter options are constants: {e}"));
        let lease_takeovers = IntCounter::new(
            "serversync_lease_takeovers_total",
            "Server leases taken over from a holder that ran out or whose process ended.",
        )
        .unwrap_or_else(|e| unreachable!("counter options are constants: {e}"));
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "serversync_webhook_deliveries_total",
                "Webhook delivery attempts, by result.",
            ),
            &["result"],
        )
        .unwrap_or_else(|e| unreachable!("counter options are constants: {e}"));
        for c in [
            Box::new(scan_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(accounts.clone()),
            Box::new(drift.clone()),
            Box::new(listing_failures.clone()),
            Box::new(lease_takeovers.clone()),
            Box::new(webhook_deliveries.clone()),
        ] {
            registry
                .register(c)
                .unwrap_or_else(|e| unreachable!("metric names are distinct constants: {e}"));
        }
        // Every result exists from the start (at 0), so a scraper sees the family and can
        // compute rates before the first delivery.
        for d in [Delivery::Delivered, Delivery::Retrying, Delivery::Failed] {
            webhook_deliveries.with_label_values(&[d.as_str()]);
        }
        Metrics {
            registry,
            scan_seconds,
            accounts,
            drift,
            listing_failures,
            lease_takeovers,
            webhook_deliveries,
        }
    }

    /// Records a stored analysis of `server` (of `module`): its duration, the accounts
    /// listed and the drift per category.
    pub fn scan_done(
        &self,
        server: &str,
        module: &str,
        took: Duration,
        accounts: usize,
        counts: &Counts,
    ) {
        let (server, module) = (label(server), label(module));
        self.scan_seconds
            .with_label_values(&[server.as_str(), module.as_str()])
            .observe(took.as_secs_f64());
        self.accounts
            .with_label_values(&[server.as_str()])
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
        for c in Category::ALL.into_iter().filter(|c| *c != Category::InSync) {
            self.drift
                .with_label_values(&[server.as_str(), c.as_str()])
                .set(i64::try_from(counts.get(c)).unwrap_or(i64::MAX));
        }
    }

    /// Makes every failure cause of `module` a series at 0 (the scheduler and `scan` call
    /// it for each module they scan): a scraper then sees the family, and computes rates,
    /// before the first failure.
    pub fn module_scanned(&self, module: &str) {
        let module = label(module);
        for cause in FailureCause::ALL {
            self.listing_failures
                .with_label_values(&[module.as_str(), cause.as_str()]);
        }
    }

    /// Records a failed listing of `server` (of `module`) after `took`.
    pub fn listing_failed(&self, server: &str, module: &str, took: Duration, e: &ModuleError) {
        let (server, module) = (label(server), label(module));
        self.scan_seconds
            .with_label_values(&[server.as_str(), module.as_str()])
            .observe(took.as_secs_f64());
        self.listing_failures
            .with_label_values(&[module.as_str(), FailureCause::of(e).as_str()])
            .inc();
    }

    /// Records a server lease taken over from a holder that ran out or was gone.
    pub fn lease_taken_over(&self) {
        self.lease_takeovers.inc();
    }

    /// Records one webhook delivery attempt (called by the notifier for every attempt).
    pub fn webhook_delivery(&self, result: Delivery) {
        self.webhook_deliveries
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// Every family in the Prometheus text format ([`CONTENT_TYPE`]). `Internal` only if the
    /// encoder refuses a family, which registered families never give it cause to.
    pub fn render(&self) -> Result<String> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| AppError::Internal(format!("the metrics could not be written: {e}")))?;
        String::from_utf8(out)
            .map_err(|e| AppError::Internal(format!("the metrics are not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `name{labels}` (labels exactly as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn a_scan_sets_accounts_drift_and_the_histogram() {
        let m = Metrics::new();
        let counts = Counts {
            in_sync: 5,
            out_of_sync: 2,
            not_on_server: 3,
            ..Counts::default()
        };
        m.scan_done("web1", "cpanel", Duration::from_millis(300), 8, &counts);
        m.scan_done("web1", "cpanel", Duration::from_secs(2), 9, &counts);
        let t = m.render().unwrap();
        assert_eq!(
            sample(&t, "serversync_accounts_listed{server=\"web1\"}"),
            Some(9.0)
        );
        assert_eq!(
            sample(
                &t,
                "serversync_drift_items{category=\"out_of_sync\",server=\"web1\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &t,
                "serversync_drift_items{category=\"moved\",server=\"web1\"}"
            ),
            Some(0.0)
        );
        assert!(!t.contains("category=\"in_sync\""), "{t}");
        assert_eq!(
            sample(
                &t,
                "serversync_scan_duration_seconds_count{module=\"cpanel\",server=\"web1\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &t,
                "serversync_scan_duration_seconds_bucket{module=\"cpanel\",server=\"web1\",le=\"0.5\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn failures_count_by_module_and_a_fixed_cause() {
        let m = Metrics::new();
        let e = ModuleError::Http {
            status: 500,
            snippet: "<html>\"panel text\"</html>".into(),
        };
        m.listing_failed("web1", "cpanel", Duration::from_millis(5), &e);
        m.listing_failed("web2", "cpanel", Duration::from_millis(5), &e);
        m.listing_failed(
            "web3",
            "plesk",
            Duration::from_millis(5),
            &ModuleError::AuthRefused { status: 401 },
        );
        let t = m.render().unwrap();
        assert_eq!(
            sample(
                &t,
                "serversync_listing_failures_total{cause=\"http\",module=\"cpanel\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &t,
                "serversync_listing_failures_total{cause=\"auth\",module=\"plesk\"}"
            ),
            Some(1.0)
        );
        assert!(!t.contains("panel text"), "{t}");
        // A failure leaves the accounts gauge alone: no series appears for it.
        assert!(!t.contains("serversync_accounts_listed{"), "{t}");
    }

    #[test]
    fn a_scanned_module_shows_every_failure_cause_at_zero() {
        let m = Metrics::new();
        assert!(!m
            .render()
            .unwrap()
            .contains("serversync_listing_failures_total"));
        m.module_scanned("cpanel");
        m.module_scanned("cpanel");
        let t = m.render().unwrap();
        for cause in FailureCause::ALL {
            let key = format!(
                "serversync_listing_failures_total{{cause=\"{}\",module=\"cpanel\"}}",
                cause.as_str()
            );
            assert_eq!(sample(&t, &key), Some(0.0), "{key} in {t}");
        }
        assert_eq!(
            t.lines()
                .filter(|l| l.starts_with("serversync_listing_failures_total{"))
                .count(),
            FailureCause::ALL.len()
        );
    }

    #[test]
    fn takeovers_and_deliveries_count() {
        let m = Metrics::new();
        m.lease_taken_over();
        m.webhook_delivery(Delivery::Retrying);
        m.webhook_delivery(Delivery::Retrying);
        m.webhook_delivery(Delivery::Delivered);
        let t = m.render().unwrap();
        assert_eq!(sample(&t, "serversync_lease_takeovers_total"), Some(1.0));
        assert_eq!(
            sample(
                &t,
                "serversync_webhook_deliveries_total{result=\"retrying\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &t,
                "serversync_webhook_deliveries_total{result=\"delivered\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn label_values_are_bounded_and_escaped() {
        let m = Metrics::new();
        let long = format!("a\"b\n{}", "x".repeat(500));
        m.scan_done(&long, "cpanel", Duration::ZERO, 1, &Counts::default());
        let t = m.render().unwrap();
        let line = t
            .lines()
            .find(|l| l.starts_with("serversync_accounts_listed{"))
            .unwrap();
        // Quote and newline escaped; 100 characters kept (4 + 96 x).
        assert_eq!(
            line,
            format!(
                "serversync_accounts_listed{{server=\"a\\\"b\\n{}\"}} 1",
                "x".repeat(96)
            )
        );
    }

    #[test]
    fn every_cause_has_a_distinct_label() {
        let mut names: Vec<&str> = FailureCause::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureCause::ALL.len());
        assert_eq!(
            FailureCause::of(&ModuleError::Deadline {
                after: Duration::from_secs(1)
            }),
            FailureCause::Timeout
        );
    }
}
