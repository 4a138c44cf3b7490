//! Plesk simulator: the XML API (`POST /enterprise/control/agent.php`) operations a listing
//! needs — `webspace get`, `customer get`, `reseller get`, `service-plan get` and
//! `service-plan-addon get`.
//!
//! Sources: Plesk's XML API reference (docs.plesk.com 50169 "A Sample Packet", 33899/33856
//! webspace, 32915/32907 service plans, 66383/66521 subscriptions, 28729/33765 errors) and
//! `/work/shared/reference/panel-apis-verified.md` "Plesk (B.3)".
//!
//! # Requests
//! `POST /enterprise/control/agent.php` with an XML packet `<packet><OPERATOR><get>
//! <filter>…</filter>…</get></OPERATOR></packet>` (one operation per packet is simulated).
//! **Authentication**: header `KEY: <secret key>` (when a secret key is configured), else
//! `HTTP_AUTH_LOGIN` + `HTTP_AUTH_PASSWD`. A refused `KEY` gets HTTP 200 with the system
//! error 11003 "Secret key validation failed"; a refused or missing login 1001
//! "Authentication failed - wrong password" (Plesk's check-up errors:
//! `<packet><system><status>error</status><errcode>…</errcode><errtext>…</errtext></system>`).
//! A packet that cannot be read, another operation than `get`, or an unknown operator: system
//! error 1014 (parser error). Other paths: HTTP 404.
//!
//! # Answers (`Content-Type: text/xml`, always HTTP 200)
//! - **`webspace get`**: an empty `<filter/>` answers every subscription, in order, in one
//!   document (Plesk has no paging); `<id>`/`<name>` filters (several per filter) answer those,
//!   each result with `<filter-id>`, 1013 "Domain does not exist" for unknown ones. Datasets
//!   `gen_info` (`cr_date` a date only, `name` — Unicode for IDN —, `ascii-name`, `status` as
//!   given, `owner-id`, `owner-login`, one `dns_ip_address` per IP in the account's order,
//!   `htype`, `guid`), `hosting` (`vrt_hst` properties `ftp_login`, `ftp_password` (empty),
//!   `php`, and `ip_address`; `<none/>` without hosting) and `subscriptions` (one
//!   `plan/plan-guid` per plan and add-on; none for a custom subscription).
//! - **`customer get`** (`gen_info`) / **`reseller get`** (`gen-info`) by `id` or `login`:
//!   `cname`, `pname`, `login`, `status`, `email`; 1013 "Client does not exist" / "Reseller
//!   does not exist" (with `<filter-id>`) for ids that are not of that kind — the
//!   administrator (id 1) is neither.
//! - **`service-plan get`** / **`service-plan-addon get`** by `guid`, `id` or `name`: `id`,
//!   `name`, `guid`, `external-id`, `owner-login`. Only the administrator's plans are
//!   searched unless `<owner-all/>` is given (reseller plans are then "does not exist", as
//!   Plesk documents).
//!
//! Accounts are JSON objects, one per subscription ([`plesk_subscription`],
//! [`generate_plesk_accounts`]); owners and plans are derived from them, plan GUIDs from the
//! plan's owner and name ([`plan_guid`], [`addon_guid`]).
//!
//! Every request, refused ones included, first waits the configured delay (`--delay-ms`).
//!
//! # Faults (every request)
//! - `error-in-200`: HTTP 200 with a per-result error `<result><status>error</status>
//!   <errcode>1023</errcode><errtext>Operation failed: …</errtext></result>` in the operation's
//!   `<get>` ([`FAULT_ERRCODE`], [`FAULT_ERRTEXT`]).
//! - `http-500`: HTTP 500 with an HTML page.
//! - `truncated`: HTTP 200, `Content-Length` of the full answer, half of it, then the
//!   connection ends.
//! - `slow`: waits (CLI `--slow-secs`) before answering normally.
//! - `bad-auth`: every request gets the system error 1001 (11003 when `KEY` was sent), in
//!   HTTP 200 as Plesk answers it.
//! - `endless`, `trickle`, `gzip`: see [`crate::transport`] (the same for every panel);
//!   `huge-total`, `oversized-field` and `wrong-envelope` are cPanel-only (answered normally
//!   here).

mod answer;
mod api;
mod generate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use answer::{addon_guid, plan_guid};
pub use api::{FAULT_ERRCODE, FAULT_ERRTEXT};
pub use generate::{
    generate_plesk_accounts, plesk_guid, plesk_subscription, PLESK_SHARED_IP, PLESK_SHARED_IPV6,
};

use crate::handle::Shared;
use crate::{Fault, SimError, SimHandle};

/// The XML API's path.
pub const AGENT_PATH: &str = "/enterprise/control/agent.php";

/// Configuration of one Plesk simulator.
#[derive(Debug, Clone)]
pub struct PleskSimConfig {
    /// The subscriptions to serve (see the module docs).
    pub accounts: Vec<Value>,
    /// The login accepted in `HTTP_AUTH_LOGIN` (CLI default `admin`).
    pub login: String,
    /// The password accepted in `HTTP_AUTH_PASSWD` (CLI `--password`, default `PASSWORD`).
    pub password: String,
    /// The secret key accepted in `KEY` (CLI `--token`); `None`: `KEY` is always refused.
    pub secret_key: Option<String>,
    pub fault: Option<Fault>,
    /// How long every request waits before it is answered.
    pub delay: Duration,
}

impl PleskSimConfig {
    /// `n` generated subscriptions ([`generate_plesk_accounts`]), login `admin` /
    /// `PASSWORD`, secret key `TOKEN`.
    pub fn generated(n: usize, seed: u64) -> Self {
        Self::with_accounts(generate_plesk_accounts(n, seed))
    }

    /// These subscriptions, login `admin` / `PASSWORD`, secret key `TOKEN`, no fault, no
    /// delay.
    pub fn with_accounts(accounts: Vec<Value>) -> Self {
        PleskSimConfig {
            accounts,
            login: "admin".into(),
            password: "PASSWORD".into(),
            secret_key: Some("TOKEN".into()),
            fault: None,
            delay: Duration::ZERO,
        }
    }
}

/// Start a Plesk simulator on `listen` (port 0 picks a free port).
pub async fn spawn_plesk(listen: SocketAddr, cfg: PleskSimConfig) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let shared = Shared::new(cfg.accounts, cfg.fault);
    let app = api::router(
        api::Auth {
            login: cfg.login,
            password: cfg.password,
            secret_key: cfg.secret_key,
        },
        Arc::clone(&shared),
        cfg.delay,
    );
    let signal = Arc::clone(&shared);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.shutdown_requested().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "plesk simulator stopped with an error");
        }
    });
    Ok(SimHandle::new(addr, shared, task))
}

/// Read a JSON array of Plesk subscription objects (the `--accounts-file` format): each an
/// object with a string `name` and an `id`.
///
/// Errors name the file and the problem.
pub fn load_plesk_accounts_file(path: &Path) -> Result<Vec<Value>, SimError> {
    let err = |problem: String| SimError::AccountsFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(err(
            "expected a JSON array of Plesk subscription objects".into()
        ));
    };
    if let Some(i) = items
        .iter()
        .position(|v| v.get("name").and_then(Value::as_str).is_none() || v.get("id").is_none())
    {
        return Err(err(format!(
            "element {i} is not a Plesk subscription object with a string \"name\" and an \"id\""
        )));
    }
    Ok(items)
}
