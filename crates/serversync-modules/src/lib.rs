//! serversync-modules: the built-in modules that list every account of a hosting server.
//!
//! A module implements [`Module`]: it has [`MetaData`] (DESIGN.md §2) and lists the accounts
//! of one server from its [`ServerParams`] (the server's fields only). A listing either
//! succeeds — every account the login can see, plus the records that broke the contract in
//! [`Listing::skipped`] — or fails with one [`ModuleError`]; a failure is never an empty list.
//!
//! Built-in modules: `cpanel` ([`cpanel::CpanelModule`], WHM API 1 `listaccts`).
//!
//! ```no_run
//! # async fn demo(params: serversync_core::module::ServerParams) {
//! use serversync_modules::{module, ModuleOptions, NoProgress};
//! let m = module("cpanel", &ModuleOptions::default()).expect("built in");
//! match m.list_accounts(&params, &NoProgress).await {
//!     Ok(listing) => println!("{} accounts", listing.accounts.len()),
//!     Err(e) => eprintln!("listing failed: {e}"),
//! }
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

pub use serversync_core::module::{Listing, MetaData, RemoteAccount, ServerParams, SkippedRecord};

pub mod cpanel;
mod http;

/// Reports listing progress (accounts received so far, total when known) — used for a
/// progress bar. Called from the listing task; implementations must be cheap.
pub trait ListingProgress: Send + Sync {
    /// The panel announced `total` accounts (called at most once per listing, before the
    /// first [`advanced`](ListingProgress::advanced), and only when the panel tells the total).
    fn total(&self, total: u64);
    /// `received` accounts (records) have arrived so far; monotonically increasing.
    fn advanced(&self, received: u64);
}

/// A [`ListingProgress`] that ignores every report.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl ListingProgress for NoProgress {
    fn total(&self, _total: u64) {}
    fn advanced(&self, _received: u64) {}
}

/// A module: the code that talks to one kind of server (DESIGN.md §2).
#[async_trait::async_trait]
pub trait Module: Send + Sync {
    /// The module name used in configuration and records, e.g. `"cpanel"`.
    fn name(&self) -> &'static str;
    /// The module's meta data (display name, unique identifier field, product field, ports).
    fn meta(&self) -> &MetaData;
    /// Every account the login can see, or an error. Never an empty list for a failure.
    ///
    /// Records that break the contract are returned in [`Listing::skipped`] with their
    /// reason (which makes the listing incomplete); they are never dropped or patched.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError>;
}

/// Network and paging settings shared by the built-in modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleOptions {
    /// Longest wait for a TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (headers or body) once connected.
    /// Default 60 s. A whole request is additionally capped at
    /// `connect_timeout + 10 × read_timeout` (default 610 s) so that a panel trickling bytes
    /// cannot hold a listing forever.
    pub read_timeout: Duration,
    /// Records per page where the panel pages (WHM `api.chunk.size`). Default 5,000: a page
    /// is then roughly 1–2 MB of JSON with the fields we request, small enough to parse in a
    /// few milliseconds and to show progress, large enough that a 100,000-account server
    /// needs only 20 requests (WHM builds its account list for every chunked request, so
    /// tiny pages multiply the panel's work). Values below 1 are treated as 1.
    pub chunk_size: usize,
    /// Most requests one listing keeps in flight at once (pages, or per-account calls on
    /// panels that need them). Default 4. Values below 1 are treated as 1.
    pub max_concurrency: usize,
}

impl Default for ModuleOptions {
    fn default() -> Self {
        ModuleOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            chunk_size: 5_000,
            max_concurrency: 4,
        }
    }
}

impl ModuleOptions {
    /// The cap on one whole request: `connect_timeout + 10 × read_timeout`.
    pub fn request_timeout(&self) -> Duration {
        self.connect_timeout
            .saturating_add(self.read_timeout.saturating_mul(10))
    }
}

/// The built-in module called `name`, or `None` when there is none of that name.
pub fn module(name: &str, opts: &ModuleOptions) -> Option<Arc<dyn Module>> {
    match name {
        "cpanel" => Some(Arc::new(cpanel::CpanelModule::new(opts))),
        _ => None,
    }
}

/// Names of the built-in modules, in the order they should be offered.
pub fn module_names() -> &'static [&'static str] {
    &["cpanel"]
}

/// Which wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Establishing the TCP/TLS connection ([`ModuleOptions::connect_timeout`]).
    Connect,
    /// Waiting for the next bytes of the response ([`ModuleOptions::read_timeout`]).
    Read,
    /// The whole request ([`ModuleOptions::request_timeout`]).
    Total,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::Read => "read",
            TimeoutPhase::Total => "request",
        })
    }
}

/// Why a listing failed. Each variant carries one clear cause; no message ever contains a
/// password, token or a URL query (targets are `host:port` only, and panel-supplied text is
/// cut to one line with the token redacted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// No connection could be made (refused, DNS failure, TLS handshake or certificate
    /// failure, …). `target` is `host:port`.
    #[error("could not connect to {target}: {cause}")]
    Connect { target: String, cause: String },
    /// A wait ran out; `after` is the limit that was reached.
    #[error("{phase} timeout: {target} did not {what} within {secs}", what = match phase {
        TimeoutPhase::Connect => "accept a connection",
        TimeoutPhase::Read => "send data",
        TimeoutPhase::Total => "complete the request",
    }, secs = fmt_duration(*after))]
    Timeout {
        target: String,
        phase: TimeoutPhase,
        after: Duration,
    },
    /// The connection broke after it was made (reset, closed before a response, protocol
    /// error). `target` is `host:port`.
    #[error("the request to {target} failed: {cause}")]
    Transport { target: String, cause: String },
    /// The panel answered with an HTTP error status other than 401/403; `snippet` is the first
    /// ~200 characters of the body on one line.
    #[error("the panel answered HTTP {status}: {snippet}")]
    Http { status: u16, snippet: String },
    /// The panel refused the credentials (HTTP 401 or 403).
    #[error("the panel refused the API token (HTTP {status})")]
    AuthRefused { status: u16 },
    /// The panel answered but reported a failure (WHM: `metadata.result` 0 with
    /// `metadata.reason`).
    #[error("the panel reported an error: {0}")]
    Remote(String),
    /// The response is not what the API documents: invalid JSON, a truncated body, or the
    /// wrong shape. Problems of single records go to [`Listing::skipped`] instead.
    #[error("invalid response from the panel: {0}")]
    Malformed(String),
    /// The server's settings cannot work (e.g. no API token set).
    #[error("server configuration: {0}")]
    Config(String),
    /// The pages do not add up (total changed between pages, a page shorter than announced,
    /// the same user on two pages): the listing cannot be trusted as complete.
    #[error("incomplete listing: {0}")]
    Incomplete(String),
}

/// `300 ms`, `10 s`, `1.5 s`.
fn fmt_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_cpanel_only() {
        assert_eq!(module_names(), &["cpanel"]);
        let m = module("cpanel", &ModuleOptions::default()).expect("cpanel is built in");
        assert_eq!(m.name(), "cpanel");
        assert_eq!(m.meta().display_name, "cPanel");
        assert!(module("plesk9", &ModuleOptions::default()).is_none());
    }

    #[test]
    fn default_options() {
        let o = ModuleOptions::default();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.read_timeout, Duration::from_secs(60));
        assert_eq!(o.chunk_size, 5_000);
        assert_eq!(o.max_concurrency, 4);
        assert_eq!(o.request_timeout(), Duration::from_secs(610));
    }

    #[test]
    fn error_messages_are_clear() {
        let e = ModuleError::Timeout {
            target: "web1.test:2087".into(),
            phase: TimeoutPhase::Read,
            after: Duration::from_millis(300),
        };
        assert_eq!(
            e.to_string(),
            "read timeout: web1.test:2087 did not send data within 300 ms"
        );
        let e = ModuleError::Timeout {
            target: "web1.test:2087".into(),
            phase: TimeoutPhase::Connect,
            after: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "connect timeout: web1.test:2087 did not accept a connection within 10 s"
        );
        assert_eq!(
            ModuleError::AuthRefused { status: 403 }.to_string(),
            "the panel refused the API token (HTTP 403)"
        );
    }
}
