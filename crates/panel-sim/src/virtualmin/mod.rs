//! Virtualmin simulator: the remote API (`/virtual-server/remote.cgi`) with `list-domains`.
//!
//! Source: virtualmin-gpl `remote.cgi`, `json-lib.pl` and `list-domains.pl` (commit
//! `69a9c2a`), as summarised in `/work/shared/reference/panel-apis-verified.md` §B.4 (which
//! corrects `panel-apis.md` §B.4).
//!
//! # Requests
//! `GET /virtual-server/remote.cgi?program=list-domains&multiline=&json=1`, or POST with the
//! same parameters as a form body (as WHMCS's Virtualmin module sends them; query parameters
//! count too).
//!
//! **Authentication** (miniserv): HTTP Basic `USER:PASSWORD`. Anything else — no header,
//! another scheme, wrong user or password — is HTTP 401 with `WWW-authenticate: Basic
//! realm="Webmin Server"` and an HTML body ([`UNAUTHORIZED_BODY`]).
//!
//! **remote.cgi**, in its order:
//! 1. a login that is not the master admin ([`VirtualminSimConfig::master_admin`] false) gets
//!    plain text `ERROR: You are not allowed to run remote commands` ([`NOT_ALLOWED`]) — the
//!    output format is not known yet at that point;
//! 2. no `program`: the plain-text help;
//! 3. the format is `json` when a `json` parameter exists (any value; `json=minified` prints
//!    compact JSON, anything else JSON::PP's pretty form: 3-space indent, `"key" : value`);
//!    `xml`/`perl` answer `Invalid format …` (their Perl modules are "missing"); no format:
//!    the command's text output followed by `Exit status: N`;
//! 4. a program name with characters other than letters, digits, `.` and `-` → `Invalid
//!    remote program name`; any program but `list-domains` → `Remote program X does not
//!    exist`; both as `{"status" : "error", "error" : …}` (Content-type `text/plain`) once
//!    the format is known, else `ERROR: …`;
//! 5. every other parameter becomes a `--name` flag of list-domains (an empty value: a bare
//!    flag), from the raw parameter list.
//!
//! **list-domains** honours `--multiline`, `--simple-multiline`, `--name-only`, `--id-only`
//! (a multiline flag wins), `--toplevel`, `--subserver`, `--alias`, `--no-alias`,
//! `--enabled`, `--disabled`, `--domain D` and `--user U` (both repeatable); any other flag,
//! a missing value, or an unknown `--domain` is a failed command. The JSON answer (json-lib.pl
//! `convert_remote_format`), where remote.cgi forces *parsing* as multiline with a format
//! unless `simple-multiline` is given (the flag itself is not added):
//! - success: `{"status" : "success", "data" : [{"name": domain, "values": {key: [strings]}}…],
//!   "command" : "list-domains"}` — with `multiline=`, the served account objects as they
//!   are, in their order (the generator sorts as list-domains does: by username, then
//!   creation time). Without it, list-domains prints its table (or names, IDs) and each
//!   unindented line becomes an object with empty `values` — a real quirk, which is why
//!   clients send `multiline=`. With `simple-multiline` the output is not parsed
//!   (`"output" : text`; `data` = lines for `--name-only`/`--id-only`);
//! - failure: `{"status" : "failure", "error" : first line, "full_error" : whole output,
//!   "command" : "list-domains"}`, HTTP 200.
//!
//! The served list includes sub-servers (`Sub-server`, `parent_domain`) and aliases (`Alias`,
//! `Alias with own email`, `real_domain` and **no** `parent_domain`), and the master admin's
//! view of secrets (`password` or `hashed_password`, `password_for_mysql`).
//!
//! # Faults
//! Applied to every request once credentials pass (`bad-auth` replaces the credential check;
//! `--delay-ms` is waited before anything else):
//! - `error-in-200`: HTTP 200, the failure shape above with `error` [`FAULT_ERROR`] (text
//!   output and `Exit status: 256` without a format);
//! - `http-500`: HTTP 500 with miniserv's "Perl execution failed" HTML page;
//! - `truncated`: HTTP 200, `Content-Length` of the full body, only its first half sent, then
//!   the connection is closed;
//! - `slow`: waits the configured time before answering normally; shutting the simulator down
//!   cancels the wait (HTTP 503);
//! - `bad-auth`: every request gets the 401 above.
//! - `endless`, `trickle`, `gzip`: see [`crate::transport`] (the same for every panel);
//!   `huge-total`, `oversized-field` and `wrong-envelope` are cPanel-only (answered normally
//!   here).

mod api;
mod domain;
mod generate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use api::{FAULT_ERROR, NOT_ALLOWED, UNAUTHORIZED_BODY};
pub use domain::{make_date, DomainKind, DomainPassword, VirtualminDomain, VIRTUALMIN_SHARED_IP};
pub use generate::generate_virtualmin_accounts;

use crate::handle::Shared;
use crate::{Fault, SimError, SimHandle};

/// Configuration of one Virtualmin simulator.
#[derive(Debug, Clone)]
pub struct VirtualminSimConfig {
    /// The list-domains objects (`{"name": …, "values": {…}}`) to serve, as given.
    pub accounts: Vec<Value>,
    /// The Webmin user accepted (CLI default `root`).
    pub username: String,
    /// Its password (CLI: `--password`, default `PASSWORD`).
    pub password: String,
    /// Whether the user is the master admin. When false, remote.cgi refuses every command
    /// with plain `ERROR: You are not allowed to run remote commands`.
    pub master_admin: bool,
    /// Make every request fail this way.
    pub fault: Option<Fault>,
    /// Wait this long before answering each request.
    pub delay: Duration,
}

impl VirtualminSimConfig {
    /// `n` generated top-level servers ([`generate_virtualmin_accounts`], with their
    /// sub-servers and aliases), user `root`, password `PASSWORD`.
    pub fn generated(n: usize, seed: u64) -> Self {
        Self::with_accounts(generate_virtualmin_accounts(n, seed))
    }

    /// These entries, user `root`, password `PASSWORD`, master admin, no fault, no delay.
    pub fn with_accounts(accounts: Vec<Value>) -> Self {
        VirtualminSimConfig {
            accounts,
            username: "root".to_string(),
            password: "PASSWORD".to_string(),
            master_admin: true,
            fault: None,
            delay: Duration::ZERO,
        }
    }
}

impl Default for VirtualminSimConfig {
    /// 100 generated top-level servers with seed 1 (the CLI defaults).
    fn default() -> Self {
        Self::generated(100, 1)
    }
}

/// Start a Virtualmin simulator on `listen` (port 0 picks a free port; the real one is in
/// [`SimHandle::addr`]). It accepts connections when this returns.
pub async fn spawn_virtualmin(
    listen: SocketAddr,
    cfg: VirtualminSimConfig,
) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let shared = Shared::new(cfg.accounts, cfg.fault);
    let app = api::router(api::AppState {
        auth: api::Auth {
            username: cfg.username,
            password: cfg.password,
            master_admin: cfg.master_admin,
        },
        shared: Arc::clone(&shared),
        delay: cfg.delay,
    });
    let signal = Arc::clone(&shared);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.shutdown_requested().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "virtualmin simulator stopped with an error");
        }
    });
    Ok(SimHandle::new(addr, shared, task))
}

/// Read a JSON array of list-domains objects (`{"name": …, "values": {…}}`, the
/// `--accounts-file` format of `panel-sim virtualmin`).
///
/// Errors name the file and the problem: unreadable, not JSON, not an array, or an element
/// that is not an object (with its index).
pub fn load_virtualmin_accounts_file(path: &Path) -> Result<Vec<Value>, SimError> {
    let err = |problem: String| SimError::AccountsFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(err(
            "expected a JSON array of Virtualmin list-domains objects ({\"name\", \"values\"})"
                .into(),
        ));
    };
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        return Err(err(format!(
            "element {i} is not an object, expected a list-domains object ({{\"name\", \"values\"}})"
        )));
    }
    Ok(items)
}
