//! cPanel & WHM simulator: WHM API 1 `listaccts` (plus `accountsummary` and `version`).
//!
//! Source: cPanel's WHM API 1 documentation (`listaccts`, "Paginate Output", API tokens) and
//! `/work/shared/reference/panel-apis.md` §B.1.
//!
//! # Requests
//! `GET /json-api/<function>?api.version=1&...` (POST with the same query string works too).
//!
//! **Authentication**: `Authorization: whm USER:TOKEN` (scheme case-insensitive, so the legacy
//! `WHM USER:ACCESSHASH` form is accepted the same way). HTTP Basic `USER:PASSWORD` is
//! accepted only when the simulator was given a password. Anything else — missing header,
//! wrong user, wrong token, `cpanel` scheme — is answered like WHM refuses a token:
//! HTTP 403 with `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":
//! {"reason":"Access denied","result":"0"},"type":"text"}}` ([`ACCESS_DENIED_BODY`]).
//!
//! **`listaccts`** (API 1): `{"metadata":{"command":"listaccts","result":1,"reason":"OK",
//! "version":1},"data":{"acct":[...]}}`. Parameters:
//! - `search` + `searchtype` (`domain` (default), `owner`, `user`, `ip`, `package`) +
//!   `searchmethod` (`exact`, or `regex` (default)). `exact` compares the whole value (domains
//!   case-insensitively). `regex` supports literal patterns with `^`, `$`, `.` and `\.` only —
//!   anything else is refused with `result: 0` rather than silently mis-matched.
//! - `want=user,domain,...`: only those keys are returned (keys an account lacks are omitted).
//! - Chunking: `api.chunk.enable=1&api.chunk.size=N&api.chunk.start=K`, where K is the
//!   **1-indexed** number of the first record (default 1). The page is records K..K+N-1 of
//!   the (searched) list, and `metadata.chunk` reports
//!   `{"start":K,"size":N,"records":TOTAL,"chunks":ceil(TOTAL/N),"current":(K-1)/N+1}` —
//!   the keys cPanel's own JavaScript clients read (`@cpanel/api` `WhmApiMetaData`:
//!   `meta.chunk.start/current/size/chunks/records`). K past the end gives an empty `acct`.
//!   A missing or non-positive `api.chunk.size`, or `api.chunk.start` < 1, is refused with
//!   `result: 0` and a reason (a simulator choice, to catch 0-indexed clients).
//!
//! Without `api.version=1` the answer is WHM API 0's: `{"status":1,"statusmsg":"Ok",
//! "acct":[...]}` (search and `want` apply, chunking does not); errors are
//! `{"status":0,"statusmsg":"..."}`.
//!
//! **`accountsummary`** (`user=` or `domain=`): `data.acct = [one account]`, or `result: 0`.
//! **`version`**: `data.version`. Other functions: `result: 0`, "Unknown app".
//!
//! # Faults
//! Applied to every authenticated request once credentials pass (`bad-auth` replaces the
//! credential check):
//! - `error-in-200`: HTTP 200, `{"metadata":{"command":"listaccts","result":0,"reason":
//!   "Failed to load the account list: Resource temporarily unavailable","version":1}}`
//!   (API 0: `{"status":0,"statusmsg":...}`), no `data`.
//! - `http-500`: HTTP 500, `text/html` error page from "cpsrvd".
//! - `truncated`: HTTP 200, `Content-Length` of the full body, but only its first half is
//!   sent, then the connection is closed: a client sees an incomplete-body error, and the
//!   bytes it did get are never valid JSON.
//! - `slow`: waits the configured time (CLI `--slow-secs`, default 120 s) before answering
//!   normally; shutting the simulator down cancels the wait (HTTP 503).
//! - `bad-auth`: every request gets the 403 refusal above.
//!
//! Hostile faults (for the client's bounds):
//! - `huge-total`: the normal page, but `metadata.chunk.records` (and `chunks`) claim
//!   [`crate::HUGE_TOTAL`] (10^14) records.
//! - `oversized-field`: the normal answer with the first account's `email` and the second
//!   account's `plan` [`crate::OVERSIZED_FIELD_BYTES`] (10 MB) long.
//! - `wrong-envelope`: the page's accounts as a top-level JSON array, without the
//!   `metadata`/`data` envelope.
//! - `endless`, `trickle`, `gzip`: see [`crate::transport`] (the same for every panel).

mod account;
mod api;
mod generate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

pub use account::{whm_startdate, CpanelAccount, SHARED_IP};
pub use api::ACCESS_DENIED_BODY;
pub use generate::generate_cpanel_accounts;

use crate::handle::Shared;
use crate::{Fault, SimError, SimHandle};

/// Configuration of one cPanel/WHM simulator.
#[derive(Debug, Clone)]
pub struct CpanelSimConfig {
    /// The `listaccts` `acct` objects to serve, as given (quirks included).
    pub accounts: Vec<Value>,
    /// The WHM user the token belongs to (CLI default `root`).
    pub username: String,
    /// The API token accepted in `Authorization: whm USER:TOKEN` (CLI default `TOKEN`).
    pub token: String,
    /// When set, HTTP Basic `USER:PASSWORD` is accepted too.
    pub password: Option<String>,
    /// Make every listing fail this way.
    pub fault: Option<Fault>,
    /// Waited before every request is answered (`--delay-ms`; zero: none).
    pub delay: std::time::Duration,
}

impl CpanelSimConfig {
    /// `n` generated accounts ([`generate_cpanel_accounts`]), user `root`, token `TOKEN`.
    pub fn generated(n: usize, seed: u64) -> Self {
        Self::with_accounts(generate_cpanel_accounts(n, seed))
    }

    /// These accounts, user `root`, token `TOKEN`, no password, no fault.
    pub fn with_accounts(accounts: Vec<Value>) -> Self {
        CpanelSimConfig {
            accounts,
            username: "root".to_string(),
            token: "TOKEN".to_string(),
            password: None,
            fault: None,
            delay: std::time::Duration::ZERO,
        }
    }
}

impl Default for CpanelSimConfig {
    /// 100 generated accounts with seed 1 (the CLI defaults).
    fn default() -> Self {
        Self::generated(100, 1)
    }
}

/// Start a cPanel/WHM simulator on `listen` (port 0 picks a free port; the real one is in
/// [`SimHandle::addr`]). It accepts connections when this returns.
pub async fn spawn_cpanel(listen: SocketAddr, cfg: CpanelSimConfig) -> Result<SimHandle, SimError> {
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
            username: cfg.username,
            token: cfg.token,
            password: cfg.password,
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
            tracing::warn!(error = %e, "cpanel simulator stopped with an error");
        }
    });
    Ok(SimHandle::new(addr, shared, task))
}

/// Read a JSON array of WHM `acct` objects (the `--accounts-file` format).
///
/// Errors name the file and the problem: unreadable, not JSON (with line/column), not an
/// array, or an element that is not an object (with its index).
pub fn load_accounts_file(path: &Path) -> Result<Vec<Value>, SimError> {
    let err = |problem: String| SimError::AccountsFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(err(format!(
            "expected a JSON array of WHM listaccts `acct` objects, found {}",
            kind(&value)
        )));
    };
    if let Some((i, v)) = items.iter().enumerate().find(|(_, v)| !v.is_object()) {
        return Err(err(format!(
            "element {i} is {}, expected a WHM listaccts `acct` object",
            kind(v)
        )));
    }
    Ok(items)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
