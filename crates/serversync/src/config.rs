//! The configuration of the binary (issue 11): a TOML file, `SERVERSYNC_…` environment
//! variables (with `_FILE` variants for secrets) and the command line, merged with figment
//! in that order over the defaults — command line > environment > file > default, as lldap
//! does.
//!
//! The file is `--config PATH`, else `SERVERSYNC_CONFIG`, else `serversync.toml` in the
//! working directory when it exists. Keys are the long option names in snake case
//! (`connect_timeout_secs`, `max_listing_bytes`, …) and the tables `[scan]`, `[guards]`,
//! `[notify]` (see [`Config`]); a nested key's variable joins its parts with `__`
//! (`SERVERSYNC_SCAN__CONCURRENCY`). A key the file does not know is an error naming the key
//! and the file; a `SERVERSYNC_…` variable that names no key is ignored (SERVERSYNC_LOG and
//! friends are not configuration).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::parser::ValueSource;
use clap::ArgMatches;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{value::Dict, value::Map, Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::output;

/// The file read when neither `--config` nor `SERVERSYNC_CONFIG` names one.
pub const DEFAULT_FILE: &str = "serversync.toml";
/// The most bytes of a configuration file (a settings file, not a document).
const MAX_FILE: u64 = 1024 * 1024;
/// The most bytes read from a `_FILE` secret (a URL or a password).
const MAX_SECRET_FILE: u64 = 8 * 1024;
/// The prefix of every configuration variable.
const ENV_PREFIX: &str = "SERVERSYNC_";

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
    /// newest complete run are kept as well.
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

/// Where one setting came from, for `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// The variable's name, and the file a `_FILE` variable named.
    Env(String, Option<PathBuf>),
    /// The option, e.g. `--concurrency`.
    CommandLine(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "file {}", output::clean(&p.display().to_string())),
            Origin::Env(name, None) => write!(f, "env {name}"),
            Origin::Env(name, Some(p)) => write!(
                f,
                "env {name} (file {})",
                output::clean(&p.display().to_string())
            ),
            Origin::CommandLine(flag) => write!(f, "command line {flag}"),
        }
    }
}

/// The merged configuration and the figment it came from (which knows each value's source).
pub struct Loaded {
    pub config: Config,
    figment: Figment,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

/// A provider under a name of ours, so that each value's metadata says which layer set it.
struct Named<P> {
    inner: P,
    meta: Metadata,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.meta.clone()
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// Metadata names of the layers.
const DEFAULTS: &str = "default";
const FILE: &str = "file";
const ENV: &str = "env";
const ENV_FILE: &str = "env-file";
const CLI: &str = "command line";

/// Keys a plain `SERVERSYNC_…` variable may set (nested ones written with `__`).
const ENV_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "modules_dir",
    "php",
    "secret_key_file",
    "connect_timeout_secs",
    "read_timeout_secs",
    "max_listing_bytes",
    "listing_deadline_secs",
    "lease_secs",
    "scan.enabled",
    "scan.interval_secs",
    "scan.jitter_secs",
    "scan.concurrency",
    "scan.deadline_secs",
    "guards.max_terminate_percent",
    "guards.max_move_percent",
    "guards.max_shrink_percent",
    "guards.gone_after",
    "runs.keep",
    "notify.smtp.host",
    "notify.smtp.port",
    "notify.smtp.tls",
    "notify.smtp.username",
    "notify.smtp.password",
    "notify.smtp.from",
    "metrics.token",
    "notify.base_url",
    "notify.attempts",
    "notify.retry_delay_ms",
    "notify.timeout_secs",
    "notify.daily_report_at",
];

/// Secret keys a `SERVERSYNC_…_FILE` variable may read from a file (first line, trimmed).
const SECRET_FILE_KEYS: &[&str] = &["database_url", "notify.smtp.password", "metrics.token"];

/// A key's variable name: `scan.concurrency` → `SERVERSYNC_SCAN__CONCURRENCY`.
pub fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// The command-line option of each key that has one.
const FLAGS: &[(&str, &str)] = &[
    ("database_url", "--database"),
    ("listen", "--listen"),
    ("modules_dir", "--modules-dir"),
    ("php", "--php"),
    ("secret_key_file", "--secret-key-file"),
    ("connect_timeout_secs", "--connect-timeout"),
    ("read_timeout_secs", "--read-timeout"),
    ("max_listing_bytes", "--max-listing-bytes"),
    ("listing_deadline_secs", "--listing-deadline-secs"),
    ("lease_secs", "--lease-secs"),
    ("scan.concurrency", "--concurrency"),
    ("scan.deadline_secs", "--deadline-secs"),
    ("guards.max_terminate_percent", "--max-terminate-percent"),
    ("guards.max_move_percent", "--max-move-percent"),
    ("guards.max_shrink_percent", "--max-shrink-percent"),
];

/// The values given on the command line itself (not clap defaults, not clap's reading of
/// the environment: those are the lower layers), as (config key, value) pairs.
/// `matches` are the top-level matches; `(arg id, key)` pairs are looked up in it and in the
/// subcommand's matches.
fn command_line(matches: &ArgMatches) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::Value;
    // Keys whose value is text even when it looks like a number.
    const TEXT_KEYS: &[&str] = &[
        "database_url",
        "listen",
        "modules_dir",
        "php",
        "secret_key_file",
    ];
    // (arg id, config key)
    const ARGS: &[(&str, &str)] = &[
        ("database", "database_url"),
        ("listen", "listen"),
        ("modules_dir", "modules_dir"),
        ("php", "php"),
        ("secret_key_file", "secret_key_file"),
        ("connect_timeout", "connect_timeout_secs"),
        ("read_timeout", "read_timeout_secs"),
        ("max_listing_bytes", "max_listing_bytes"),
        ("listing_deadline_secs", "listing_deadline_secs"),
        ("lease_secs", "lease_secs"),
        ("concurrency", "scan.concurrency"),
        ("deadline_secs", "scan.deadline_secs"),
        ("max_terminate_percent", "guards.max_terminate_percent"),
        ("max_move_percent", "guards.max_move_percent"),
        ("max_shrink_percent", "guards.max_shrink_percent"),
    ];
    let mut levels = vec![matches];
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        levels.push(sub);
        m = sub;
    }
    let mut out = Vec::new();
    for (id, key) in ARGS {
        for level in &levels {
            let given = matches!(
                level.try_get_raw(id),
                Ok(Some(_)) if level.value_source(id) == Some(ValueSource::CommandLine)
            );
            if !given {
                continue;
            }
            // The text typed, as clap checked it: numbers as numbers, the rest as text.
            let Ok(Some(mut raw)) = level.try_get_raw(id) else {
                continue;
            };
            let Some(text) = raw.next().and_then(|v| v.to_str()) else {
                continue;
            };
            let value = if TEXT_KEYS.contains(key) {
                Value::String(text.to_string())
            } else {
                serde_json::from_str::<serde_json::Number>(text)
                    .map(Value::Number)
                    .unwrap_or_else(|_| Value::String(text.to_string()))
            };
            out.push((*key, value));
        }
    }
    out
}

/// Reads at most `max` bytes of `path` as UTF-8; errors name `what` and the file.
fn read_bounded(path: &Path, max: u64, what: &str) -> anyhow::Result<String> {
    let shown = path.display().to_string();
    let shown = output::clean(&shown);
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, max + 1), &mut text)
        .with_context(|| format!("cannot read {what} {shown} (is it UTF-8?)"))?;
    if text.len() as u64 > max {
        anyhow::bail!("{what} {shown} is larger than {max} bytes");
    }
    Ok(text)
}

/// The configuration file to read: `--config` / `SERVERSYNC_CONFIG` (which must exist), else
/// `serversync.toml` when it exists.
fn config_file(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_FILE);
            p.is_file().then_some(p)
        }
    }
}

/// Merges defaults, the file, the environment and the command line. `config` is
/// `--config`/`SERVERSYNC_CONFIG`; `matches` the parsed command line.
pub fn load(config: Option<&Path>, matches: &ArgMatches) -> anyhow::Result<Loaded> {
    let mut figment = Figment::new().merge(Named {
        inner: Serialized::defaults(Config::default()),
        meta: Metadata::named(DEFAULTS),
    });
    let file = config_file(config);
    if let Some(path) = &file {
        let text = read_bounded(path, MAX_FILE, "the configuration file")?;
        figment = figment.merge(Named {
            inner: Toml::string(&text),
            meta: Metadata::named(FILE).source(figment::Source::File(path.clone())),
        });
    }
    // `_FILE` secrets first: a plain variable of the same key wins over them (as
    // SERVERSYNC_DATABASE_URL always won over SERVERSYNC_DATABASE_URL_FILE).
    for key in SECRET_FILE_KEYS {
        let var = format!("{}_FILE", env_name(key));
        let Some(path) = std::env::var_os(&var).filter(|p| !p.is_empty()) else {
            continue;
        };
        let path = PathBuf::from(path);
        let shown = path.display().to_string();
        let shown = output::clean(&shown);
        let text = read_bounded(&path, MAX_SECRET_FILE, &var)?;
        let value = text.lines().next().unwrap_or_default().trim().to_string();
        if value.is_empty() {
            anyhow::bail!("{var} {shown} is empty: it must hold the value on its first line");
        }
        figment = figment.merge(Named {
            inner: Serialized::default(key, value),
            meta: Metadata::named(ENV_FILE).source(figment::Source::File(path)),
        });
    }
    figment = figment.merge(Named {
        inner: Env::prefixed(ENV_PREFIX)
            .split("__")
            // Keys are still in the variable's case here (figment lowercases later).
            .filter(|k| ENV_KEYS.iter().any(|e| k.as_str().eq_ignore_ascii_case(e))),
        meta: Metadata::named(ENV),
    });
    for (key, value) in command_line(matches) {
        figment = figment.merge(Named {
            inner: Serialized::default(key, value),
            meta: Metadata::named(CLI),
        });
    }
    let config: Config = figment.extract().map_err(|e| explain(&figment, e))?;
    let loaded = Loaded {
        config,
        figment,
        file,
    };
    loaded.validate()?;
    Ok(loaded)
}

/// One line for a figment error: the key, what is wrong and where the value came from.
fn explain(figment: &Figment, e: figment::Error) -> anyhow::Error {
    let mut lines = Vec::new();
    for e in e {
        let mut path = e.path.clone();
        let unknown = match &e.kind {
            figment::error::Kind::UnknownField(field, _) => {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                true
            }
            _ => false,
        };
        let key = path.join(".");
        let origin = if key.is_empty() {
            e.metadata.as_ref().map(|m| origin_of(m, &key))
        } else {
            figment
                .find_metadata(&key)
                .or(e.metadata.as_ref())
                .map(|m| origin_of(m, &key))
        };
        let at = origin.map(|o| format!(" ({o})")).unwrap_or_default();
        let key = output::clean(&key);
        lines.push(if unknown {
            format!("configuration: unknown key `{key}`{at}")
        } else {
            format!("configuration: `{key}`{at}: {}", e.kind)
        });
    }
    anyhow::anyhow!(lines.join("; "))
}

/// The file a layer read.
fn file_of(meta: &Metadata) -> Option<PathBuf> {
    match &meta.source {
        Some(figment::Source::File(p)) => Some(p.clone()),
        _ => None,
    }
}

/// The [`Origin`] of `key`, set by the layer of `meta`.
fn origin_of(meta: &Metadata, key: &str) -> Origin {
    match meta.name.as_ref() {
        FILE => Origin::File(file_of(meta).unwrap_or_default()),
        ENV => Origin::Env(env_name(key), None),
        ENV_FILE => Origin::Env(format!("{}_FILE", env_name(key)), file_of(meta)),
        CLI => Origin::CommandLine(
            FLAGS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, f)| (*f).to_string())
                .unwrap_or_else(|| key.to_string()),
        ),
        _ => Origin::Default,
    }
}

impl Loaded {
    /// Where `key` (dotted) got its value.
    pub fn origin(&self, key: &str) -> Origin {
        self.figment
            .find_metadata(key)
            .map(|m| origin_of(m, key))
            .unwrap_or(Origin::Default)
    }

    /// Values that parse but make no sense, named with their key and source.
    fn validate(&self) -> anyhow::Result<()> {
        let c = &self.config;
        let bad = |key: &str, why: &str| -> anyhow::Error {
            anyhow::anyhow!("configuration: `{key}` {why} ({})", self.origin(key))
        };
        for (key, v) in [
            (
                "guards.max_terminate_percent",
                c.guards.max_terminate_percent,
            ),
            ("guards.max_move_percent", c.guards.max_move_percent),
            ("guards.max_shrink_percent", c.guards.max_shrink_percent),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(bad(key, &format!("is {v}, not between 0 and 100")));
            }
        }
        if !(1..=3600).contains(&c.lease_secs) {
            return Err(bad(
                "lease_secs",
                &format!("is {}, not between 1 and 3600", c.lease_secs),
            ));
        }
        if c.runs.keep == 0 {
            return Err(bad("runs.keep", "must be at least 1"));
        }
        if c.scan.concurrency == 0 {
            return Err(bad("scan.concurrency", "must be at least 1"));
        }
        if c.scan.interval_secs == 0 {
            return Err(bad("scan.interval_secs", "must be at least 1"));
        }
        if c.scan.deadline_secs == 0 {
            return Err(bad("scan.deadline_secs", "must be at least 1"));
        }
        for (name, s) in &c.scan.servers {
            if s.interval_secs == Some(0) || s.deadline_secs == Some(0) {
                return Err(bad(
                    &format!("scan.servers.{}", output::clean(name)),
                    "has a zero interval or deadline",
                ));
            }
        }
        self.validate_misses()?;
        for (i, w) in c.notify.webhooks.iter().enumerate() {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err(bad(
                    "notify.webhooks",
                    &format!("entry {} has a URL that is not http:// or https://", i + 1),
                ));
            }
        }
        if !(1..=10).contains(&c.notify.attempts) {
            return Err(bad("notify.attempts", "is not between 1 and 10"));
        }
        if !(1..=300).contains(&c.notify.timeout_secs) {
            return Err(bad("notify.timeout_secs", "is not between 1 and 300"));
        }
        if let Some(at) = &c.notify.daily_report_at {
            if serversync_app::notify::parse_time_of_day(at).is_none() {
                return Err(bad(
                    "notify.daily_report_at",
                    "is not a time of day HH:MM (UTC)",
                ));
            }
        }
        if let Some(u) = &c.notify.base_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(bad("notify.base_url", "is not an http:// or https:// URL"));
            }
        }
        if let Some(s) = &c.notify.smtp {
            if !["starttls", "tls", "none"].contains(&s.tls.as_str()) {
                return Err(bad(
                    "notify.smtp.tls",
                    "is not one of starttls, tls or none",
                ));
            }
        }
        Ok(())
    }
}
