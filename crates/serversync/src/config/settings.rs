//! The configuration's keys: one struct per table, every field with its default (so an
//! empty file is valid), secrets wrapped in [`Secret`] (never shown, never logged).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The merged configuration. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `--database`: `sqlite://FILE` or `postgres://…`; `None`: the command's default
    /// (`sqlite://serversync.db`). Shown with its password redacted.
    pub database_url: Option<String>,
    /// `serve --listen`: the web page's address.
    pub listen: String,
    /// `--modules-dir`; `None`: `modules` in the working directory when it exists.
    pub modules_dir: Option<PathBuf>,
    /// `--php`: the PHP binary of WHMCS modules.
    pub php: PathBuf,
    /// `--secret-key-file`; `None`: the database file's name with `.key` appended.
    pub secret_key_file: Option<PathBuf>,
    /// `--connect-timeout`, seconds.
    pub connect_timeout_secs: u64,
    /// `--read-timeout`, seconds.
    pub read_timeout_secs: u64,
    /// `--max-listing-bytes`.
    pub max_listing_bytes: u64,
    /// `--listing-deadline-secs`.
    pub listing_deadline_secs: u64,
    /// `--lease-secs`: lifetime of server leases and sync jobs, 1 to 3600 seconds.
    pub lease_secs: u64,
    /// Fleet scans (`scan`, and the scheduler of `serve`).
    pub scan: ScanConfig,
    /// Default guards of `apply`.
    pub guards: GuardsConfig,
    /// Where alerts go and how hard delivery tries (`serve` and `scan` send them).
    pub notify: NotifyConfig,
    /// `/metrics` of `serve`.
    pub metrics: MetricsConfig,
    /// Retention of stored runs.
    pub runs: RunsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            modules_dir: None,
            php: PathBuf::from("php"),
            secret_key_file: None,
            connect_timeout_secs: 10,
            read_timeout_secs: 60,
            max_listing_bytes: 1 << 30,
            listing_deadline_secs: 1800,
            lease_secs: serversync_app::DEFAULT_LEASE_TTL.as_secs(),
            scan: ScanConfig::default(),
            guards: GuardsConfig::default(),
            notify: NotifyConfig::default(),
            metrics: MetricsConfig::default(),
            runs: RunsConfig::default(),
        }
    }
}

/// `[runs]`: how many stored runs each server keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunsConfig {
    /// Runs kept per server after each stored run (default 50); every applied run and the
    /// newest six complete runs (the newest and the five the shrink guard compares it with)
    /// are kept as well.
    pub keep: usize,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            keep: serversync_app::retention::DEFAULT_KEEP_RUNS,
        }
    }
}

/// `[scan]`: the schedule and bounds of fleet scans.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Whether `serve` runs the scan scheduler (default false: a `serve` scans nothing
    /// unless asked, so existing deployments and tests see no new runs).
    pub enabled: bool,
    /// Seconds between two scheduled scans of a server (default 3600: hourly).
    pub interval_secs: u64,
    /// Up to this many seconds added at random to each server's start, so servers do not
    /// start together (default 300).
    pub jitter_secs: u64,
    /// Servers scanned at once (default 16; `scan --concurrency`).
    pub concurrency: usize,
    /// Seconds one server's scan may take before it is stopped and reported failed
    /// (default 900; `scan --deadline-secs`).
    pub deadline_secs: u64,
    /// Per-server overrides, by server name (`[scan.servers.web1]`).
    pub servers: BTreeMap<String, ServerScanConfig>,
    /// What a scheduled scan applies by itself, on every server without its own list
    /// (`serversync_app::auto_apply`: `"sync"`, `"sync:status"`, `"sync:ip"`, …,
    /// `"terminate"`); default none.
    pub auto_apply: Vec<String>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            enabled: false,
            interval_secs: 3600,
            jitter_secs: 300,
            concurrency: 16,
            deadline_secs: 900,
            servers: BTreeMap::new(),
            auto_apply: Vec::new(),
        }
    }
}

/// `[scan.servers.NAME]`: one server's schedule, where it differs from `[scan]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerScanConfig {
    /// This server's interval, seconds.
    pub interval_secs: Option<u64>,
    /// This server's deadline, seconds.
    pub deadline_secs: Option<u64>,
    /// This server's miss-counter threshold (`[guards] gone_after` otherwise).
    pub gone_after: Option<u32>,
    /// This server's `auto_apply` list (`[scan] auto_apply` otherwise; `[]` turns it off).
    pub auto_apply: Option<Vec<String>>,
}

/// `[guards]`: defaults of `apply --max-terminate-percent` / `--max-move-percent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardsConfig {
    /// Largest share of live services one apply may terminate, percent (default 25).
    pub max_terminate_percent: f64,
    /// Largest share of the target server's live services one apply may move onto it,
    /// percent (default 25).
    pub max_move_percent: f64,
    /// Largest share of the previous complete listing's accounts that may be missing at
    /// once before no termination is offered without force, percent (default 50).
    pub max_shrink_percent: f64,
    /// Complete listings in a row without an account after which its service counts as gone
    /// (for scheduled scans and `auto_apply`; default 3).
    pub gone_after: u32,
}

impl Default for GuardsConfig {
    fn default() -> Self {
        GuardsConfig {
            max_terminate_percent: 25.0,
            max_move_percent: 25.0,
            max_shrink_percent: 50.0,
            gone_after: serversync_core::misses::DEFAULT_GONE_AFTER,
        }
    }
}

/// `[metrics]`: who may read `serve`'s `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The metrics token a scraper sends as `Authorization: Bearer <token>`
    /// (`SERVERSYNC_METRICS__TOKEN`, `SERVERSYNC_METRICS__TOKEN_FILE`); never shown. Without
    /// one, `/metrics` is open only when `serve` listens on loopback.
    pub token: Option<Secret>,
}

/// `[notify]`: alert targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// `[[notify.webhooks]]`: JSON POST targets.
    pub webhooks: Vec<Webhook>,
    /// `[notify.smtp]`: the mail server of alert e-mails.
    pub smtp: Option<Smtp>,
    /// The web page's address as people reach it (`https://sync.example.com`), for the run
    /// links of alerts; `None`: alerts carry the path only (`/runs/12`).
    pub base_url: Option<String>,
    /// Attempts per alert and target, 1 to 10 (default 3).
    pub attempts: u32,
    /// Milliseconds before the second attempt, doubled before each further one (default
    /// 2000).
    pub retry_delay_ms: u64,
    /// Seconds one attempt may take, 1 to 300 (default 10).
    pub timeout_secs: u64,
    /// `HH:MM` (UTC) of the daily drift report mail of `serve`; `None`: no report.
    pub daily_report_at: Option<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            smtp: None,
            base_url: None,
            attempts: 3,
            retry_delay_ms: 2000,
            timeout_secs: 10,
            daily_report_at: None,
        }
    }
}

/// One webhook target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL. Shown without its path and query (chat webhooks carry
    /// their token there).
    pub url: String,
    /// Key of the HMAC-SHA256 signature header; never shown.
    #[serde(default)]
    pub secret: Option<Secret>,
}

/// The SMTP server of alert e-mails.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// Host name of the mail server.
    pub host: String,
    /// Port (default 587).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    /// User name, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`SERVERSYNC_NOTIFY__SMTP__PASSWORD_FILE` reads it from a file); never shown.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    #[serde(default)]
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_tls() -> String {
    "starttls".into()
}

/// A secret setting: read like a string, never shown (`Debug` and `Serialize` give
/// `(redacted)`, so printing a [`Config`] cannot leak it).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret's text, for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("(redacted)")
    }
}
