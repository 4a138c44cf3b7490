//! DirectAdmin simulator: the legacy API's `CMD_API_SHOW_ALL_USERS` and
//! `CMD_API_SHOW_USER_CONFIG` (plus `CMD_API_SHOW_USERS` and `CMD_API_SHOW_RESELLERS`).
//!
//! Source: DirectAdmin's API documentation (directadmin.com/api.html, the legacy API page)
//! and `/work/shared/reference/panel-apis-verified.md` "DirectAdmin" (which corrects
//! `panel-apis.md` §B.2).
//!
//! # Requests
//! `GET /<command>?<params>` (POST with the same parameters as a form body works too; query
//! parameters win). **Authentication**: HTTP Basic `USER:PASSWORD`, or `USER:LOGIN_KEY` when
//! a login key is configured (DirectAdmin: "a login key works as the password"). Anything
//! else — no header, another scheme, a wrong user or secret — gets HTTP 401 with
//! DirectAdmin's HTML login page ([`LOGIN_PAGE`]; which status a real DirectAdmin answers
//! an API call with its login page is not verified, so that is a simulator choice).
//! `admin|user` log-ins (login-as) are not simulated.
//!
//! Answers are DirectAdmin's legacy URL-encoded form, `Content-Type: text/plain`, HTTP 200
//! also for errors (`error=1&text=…&details=…`); `json=yes` is ignored (always the legacy
//! form).
//! - **`CMD_API_SHOW_ALL_USERS`**: `list[]=ann&list[]=bob…` — every account's `username`, in
//!   the order served (names percent-encoded); an empty body when there are none.
//! - **`CMD_API_SHOW_USERS`** (`reseller=R`, default the login): the users whose `creator`
//!   is R. **`CMD_API_SHOW_RESELLERS`**: the users with `usertype=reseller`.
//! - **`CMD_API_SHOW_USER_CONFIG?user=U`**: the account's `user.conf` keys as
//!   `key=value&…` (in the JSON object's key order, which is alphabetical as in DirectAdmin's
//!   own files), values percent-encoded (`%20` for a space) except `@ < > " '`, which are
//!   written as DirectAdmin's entities according to the account's `_entities`: `bare`
//!   (default, `&#64`), `semicolon` (`&#64;`) or `none` (`%40`). An account with `_config`
//!   gets that string verbatim instead (for exact small inputs such as
//!   `error=1&text=Cannot%20show%20user`). An unknown user:
//!   `error=1&text=Cannot%20show%20user&details=User%20does%20not%20exist`; no `user`:
//!   `…&details=No%20user%20specified`. Keys starting with `_` are directives, never served.
//! - Anything else: HTTP 404 with an HTML page.
//!
//! Accounts are JSON objects of `user.conf` keys with string values (numbers are served as
//! their JSON text), see [`directadmin_user`] and [`generate_directadmin_accounts`]; an
//! account without a string `username` is not listed.
//!
//! Every request, refused ones included, first waits the configured delay (`--delay-ms`),
//! like a panel at that distance would.
//!
//! # Faults
//! Applied to every request (each listing needs many) once credentials pass (`bad-auth`
//! replaces the credential check):
//! - `error-in-200`: HTTP 200 with [`FAULT_ERROR_BODY`] (`error=1&text=Unable to read the user
//!   list&details=Resource temporarily unavailable (…)`).
//! - `http-500`: HTTP 500 with an HTML error page.
//! - `truncated`: HTTP 200, `Content-Length` of the full answer, only its first half sent,
//!   then the connection is closed (a URL-encoded body has no end marker: only the framing
//!   shows it was cut).
//! - `slow`: waits the configured time (CLI `--slow-secs`) before answering normally;
//!   shutting the simulator down cancels the wait (HTTP 503).
//! - `bad-auth`: every request gets the 401 login page.
//! - `endless`, `trickle`, `gzip`: see [`crate::transport`] (the same for every panel);
//!   `huge-total`, `oversized-field` and `wrong-envelope` are cPanel-only (answered normally
//!   here).

mod api;
mod generate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use api::{FAULT_ERROR_BODY, LOGIN_PAGE};
pub use generate::{
    da_date_created, directadmin_user, generate_directadmin_accounts, DA_SHARED_IP,
};

use crate::handle::Shared;
use crate::{Fault, SimError, SimHandle};

/// Configuration of one DirectAdmin simulator.
#[derive(Debug, Clone)]
pub struct DirectAdminSimConfig {
    /// The users to serve (`user.conf` objects with `_` directives, see the module docs).
    pub accounts: Vec<Value>,
    /// The login accepted (CLI default `admin`).
    pub username: String,
    /// The password accepted (CLI: `--password`, else the `--token` value).
    pub password: String,
    /// A login key accepted as the password too (CLI: `--token` when `--password` is given).
    pub login_key: Option<String>,
    /// Make every request fail this way.
    pub fault: Option<Fault>,
    /// How long every request waits before it is answered.
    pub delay: Duration,
}

impl DirectAdminSimConfig {
    /// `n` generated users ([`generate_directadmin_accounts`]), login `admin` / `PASSWORD`.
    pub fn generated(n: usize, seed: u64) -> Self {
        Self::with_accounts(generate_directadmin_accounts(n, seed))
    }

    /// These users, login `admin` with password `PASSWORD`, no login key, no fault, no
    /// delay.
    pub fn with_accounts(accounts: Vec<Value>) -> Self {
        DirectAdminSimConfig {
            accounts,
            username: "admin".into(),
            password: "PASSWORD".into(),
            login_key: None,
            fault: None,
            delay: Duration::ZERO,
        }
    }
}

impl Default for DirectAdminSimConfig {
    /// 100 generated users with seed 1.
    fn default() -> Self {
        Self::generated(100, 1)
    }
}

/// Start a DirectAdmin simulator on `listen` (port 0 picks a free port; the real one is in
/// [`SimHandle::addr`]). It accepts connections when this returns.
pub async fn spawn_directadmin(
    listen: SocketAddr,
    cfg: DirectAdminSimConfig,
) -> Result<SimHandle, SimError> {
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
            password: cfg.password,
            login_key: cfg.login_key,
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
            tracing::warn!(error = %e, "directadmin simulator stopped with an error");
        }
    });
    Ok(SimHandle::new(addr, shared, task))
}

/// Read a JSON array of DirectAdmin user objects (the `--accounts-file` format): each an
/// object with a string `username`.
///
/// Errors name the file and the problem: unreadable, not JSON, not an array, or an element
/// that is not such an object (with its index).
pub fn load_directadmin_accounts_file(path: &Path) -> Result<Vec<Value>, SimError> {
    let err = |problem: String| SimError::AccountsFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(err(
            "expected a JSON array of DirectAdmin user objects (user.conf keys)".into(),
        ));
    };
    if let Some(i) = items
        .iter()
        .position(|v| v.get("username").and_then(Value::as_str).is_none())
    {
        return Err(err(format!(
            "element {i} is not a DirectAdmin user object with a string \"username\""
        )));
    }
    Ok(items)
}
