//! serversync-modules: the modules that list every account of a hosting server, and the
//! registry that finds them.
//!
//! A module implements [`Module`]: it has [`MetaData`] (DESIGN.md §2) and lists the accounts
//! of one server from its [`ServerParams`] (the server's fields only). A listing either
//! succeeds — every account the login can see, plus the records that broke the contract in
//! [`Listing::skipped`] — or fails with one [`ModuleError`]; a failure is never an empty list.
//!
//! The [`ModuleRegistry`] is built once per process: the built-in modules (`cpanel`,
//! `virtualmin`, …) plus
//! every module of the modules directory (CONTRACT.md "Modules"): WHMCS server modules
//! (`NAME/NAME.php`, run through a PHP shim) and external modules (`NAME/module.toml`: a
//! command or a URL). Each module's meta data is validated at registration; an invalid one is
//! kept with its reason and is unusable, without affecting the others.
//!
//! ```no_run
//! # async fn demo(params: serversync_core::module::ServerParams) {
//! use serversync_modules::{ModuleOptions, ModuleRegistry, NoProgress};
//! let registry = ModuleRegistry::builtin(ModuleOptions::default());
//! let m = registry.get("cpanel").expect("built in");
//! match registry.list_accounts(m.as_ref(), &params, &NoProgress).await {
//!     Ok(listing) => println!("{} accounts", listing.accounts.len()),
//!     Err(e) => eprintln!("listing failed: {e}"),
//! }
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

pub use serversync_core::module::{Listing, MetaData, RemoteAccount, ServerParams, SkippedRecord};

pub mod cpanel;
pub mod directadmin;
pub mod external;
pub mod hestiacp;
pub mod http;
pub mod lenient;
pub mod php;
pub mod plesk;
pub mod process;
mod registry;
pub mod virtualmin;
pub mod wire;

pub use http::HttpClients;
pub use registry::{ModuleInfo, ModuleKind, ModuleRegistry, RegistryConfig, RegistryError};

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
    fn name(&self) -> &str;
    /// Where the module comes from.
    fn kind(&self) -> ModuleKind {
        ModuleKind::Builtin
    }
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

/// Most accounts one listing may hold: 20 × the largest real servers (about 100,000
/// accounts). Bounds the memory of parsed records (roughly half a kilobyte each) whatever
/// the byte cap, since tiny records would otherwise let a 1 GiB listing hold 30 million.
pub const MAX_ACCOUNTS: u64 = 2_000_000;

/// Network, paging and size settings shared by every module (the registry's defaults; an
/// external module's manifest may set its own time-out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleOptions {
    /// Longest wait for a TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (headers or body) once connected.
    /// Default 60 s. A whole request is additionally capped at
    /// `connect_timeout + 10 × read_timeout` (default 610 s), and a body that has taken longer
    /// than `read_timeout` must have arrived at [`http::MIN_BODY_RATE`] bytes per second on
    /// average, so that a panel trickling a byte every few seconds (each resetting this
    /// wait) cannot hold a listing and its server's lock.
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
    /// Most bytes one response (or one module process's output) may have. Default 1 GiB:
    /// a 100,000-account WHM listing is about 25 MB, so this leaves room for the largest real
    /// servers while a hostile panel cannot exhaust memory. Claimed lengths never size a
    /// buffer.
    pub max_response_bytes: u64,
    /// Most bytes one whole listing may receive, all its responses (pages, per-account
    /// calls) together. Default 1 GiB, for the same reason as `max_response_bytes`; enforced
    /// by [`http::read_body`] through the listing's [`http::ListingBudget`]. A panel's
    /// announced account total that could not fit in it fails the listing before any
    /// further page is asked for.
    pub max_listing_bytes: u64,
    /// Longest time one whole listing may take, all pages and calls included. Default
    /// 30 minutes. Past it the listing fails (and releases the server).
    pub listing_deadline: Duration,
    /// Default time-out of an external module (command, URL, PHP) when its manifest sets
    /// none. Default 300 s.
    pub external_timeout: Duration,
}

impl Default for ModuleOptions {
    fn default() -> Self {
        ModuleOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            chunk_size: 5_000,
            max_concurrency: 4,
            max_response_bytes: 1 << 30,
            max_listing_bytes: 1 << 30,
            listing_deadline: Duration::from_secs(30 * 60),
            external_timeout: Duration::from_secs(300),
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

/// What every module of one process shares: the settings and the HTTP clients (built once).
#[derive(Clone, Debug)]
pub struct Shared {
    pub opts: ModuleOptions,
    pub http: Arc<HttpClients>,
}

impl Shared {
    /// Builds the HTTP clients for `opts`.
    pub fn new(opts: &ModuleOptions) -> Self {
        Shared {
            opts: opts.clone(),
            http: Arc::new(HttpClients::new(opts)),
        }
    }
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
    /// More data than the cap: `what` is the response or output that grew past `limit` bytes.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// The whole listing ran past [`ModuleOptions::listing_deadline`].
    #[error("the listing did not finish within {}", fmt_duration(*after))]
    Deadline { after: Duration },
    /// An external module's process failed: `what` says how (`exited with status 3`, `was
    /// killed by signal 9`, `could not be started: …`), `stderr` holds its last lines on one
    /// line with secrets redacted (may be empty).
    #[error("the module's process {what}{}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Process { what: String, stderr: String },
    /// An external module did not answer within its time-out (its process group is killed).
    #[error("the module did not answer within {}", fmt_duration(*after))]
    ModuleTimeout { after: Duration },
    /// The module's answer is not the ListAccounts wire form (what was wrong with it).
    #[error("the module's answer is not the ListAccounts wire form: {0}")]
    Protocol(String),
    /// A WHMCS PHP module raised a fatal error or an uncaught exception (PHP's message).
    #[error("PHP error: {0}")]
    Php(String),
    /// The module called something serversync does not provide (e.g. WHMCS `localAPI`).
    #[error("the module needs {0}, which serversync does not provide")]
    Unsupported(String),
}

/// Longest text (in characters) any one field of a [`ModuleError`] keeps once the registry
/// has bounded it ([`ModuleError::bounded`]).
pub const MAX_ERROR_TEXT: usize = 400;

impl ModuleError {
    /// The same error with every text field on one line and at most [`MAX_ERROR_TEXT`]
    /// characters (control characters and runs of white space become one space): a
    /// module's message may quote what a panel sent (serde quotes the wrong value, a
    /// process prints what it likes), and an error line must stay short and printable
    /// whatever the module. The registry applies it to every listing error.
    pub fn bounded(self) -> Self {
        let b = |s: String| {
            if s.chars().count() <= MAX_ERROR_TEXT && !s.chars().any(char::is_control) {
                s
            } else {
                http::one_line(&s, MAX_ERROR_TEXT, "")
            }
        };
        match self {
            ModuleError::Connect { target, cause } => ModuleError::Connect {
                target: b(target),
                cause: b(cause),
            },
            ModuleError::Timeout {
                target,
                phase,
                after,
            } => ModuleError::Timeout {
                target: b(target),
                phase,
                after,
            },
            ModuleError::Transport { target, cause } => ModuleError::Transport {
                target: b(target),
                cause: b(cause),
            },
            ModuleError::Http { status, snippet } => ModuleError::Http {
                status,
                snippet: b(snippet),
            },
            ModuleError::AuthRefused { status } => ModuleError::AuthRefused { status },
            ModuleError::Remote(m) => ModuleError::Remote(b(m)),
            ModuleError::Malformed(m) => ModuleError::Malformed(b(m)),
            ModuleError::Config(m) => ModuleError::Config(b(m)),
            ModuleError::Incomplete(m) => ModuleError::Incomplete(b(m)),
            ModuleError::TooLarge { what, limit } => ModuleError::TooLarge {
                what: b(what),
                limit,
            },
            ModuleError::Deadline { after } => ModuleError::Deadline { after },
            ModuleError::Process { what, stderr } => ModuleError::Process {
                what: b(what),
                stderr: b(stderr),
            },
            ModuleError::ModuleTimeout { after } => ModuleError::ModuleTimeout { after },
            ModuleError::Protocol(m) => ModuleError::Protocol(b(m)),
            ModuleError::Php(m) => ModuleError::Php(b(m)),
            ModuleError::Unsupported(m) => ModuleError::Unsupported(b(m)),
        }
    }
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
    fn default_options() {
        let o = ModuleOptions::default();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.read_timeout, Duration::from_secs(60));
        assert_eq!(o.chunk_size, 5_000);
        assert_eq!(o.max_concurrency, 4);
        assert_eq!(o.request_timeout(), Duration::from_secs(610));
        assert_eq!(o.max_response_bytes, 1 << 30);
        assert_eq!(o.max_listing_bytes, 1 << 30);
        assert_eq!(o.listing_deadline, Duration::from_secs(1800));
    }

    #[test]
    fn bounded_errors_are_short_and_printable() {
        let long = format!(
            "invalid type: string \"{}\"\n\u{1b}[2J",
            "x".repeat(1_000_000)
        );
        let e = ModuleError::Malformed(long).bounded();
        let ModuleError::Malformed(m) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(m.chars().count(), MAX_ERROR_TEXT + 1);
        assert!(m.ends_with('…') && !m.chars().any(char::is_control), "{m}");
        let e = ModuleError::Process {
            what: "exited with status 3".into(),
            stderr: "line 1\nline 2".into(),
        }
        .bounded();
        assert_eq!(
            e.to_string(),
            "the module's process exited with status 3: line 1 line 2"
        );
        // Short, printable texts are kept as they are.
        let ok = ModuleError::Remote("Access denied".into());
        assert_eq!(ok.clone().bounded(), ok);
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
