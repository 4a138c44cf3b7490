//! HestiaCP simulator: the API's `v-list-users json` and `v-list-web-domains USER json`.
//!
//! Source: Hestia's `web/api/index.php`, `web/inc/helpers.php`, `bin/v-list-users` and
//! `bin/v-list-web-domains` (hestiacp/hestiacp), as checked in
//! `/work/shared/reference/panel-apis-verified.md` "HestiaCP (B.5)".
//!
//! # Requests
//! `POST /api/` with form fields (or a JSON object body) `cmd`, `arg1`…, `returncode`
//! (`yes` is not simulated: the output is always sent) and the credentials:
//! - **access key**: `access_key` + `secret_key`, or `hash=ACCESS_KEY:SECRET_KEY` when the
//!   parts are 20 and 40 characters long — accepted when it equals the configured token;
//! - **legacy**: `user` + `password` (only the configured root user, default `admin`), or a
//!   `hash` that is not such a pair, taken as a legacy API key (the token).
//!
//! Neither → HTTP 405 `Error: data received is null or invalid, …`.
//!
//! **HTTP status rules** (index.php): with an access key the command's exit code becomes
//! the HTTP status — 0 → 200 (204 without output), 2 → 422, 5/6/9/10/21 → 401, others →
//! 400 — with a `Hestia-Exit-Code` header, the trimmed output as the body and
//! `Content-Type: application/json` only when the output is valid JSON (else PHP's
//! `text/html`). With user/password (or a legacy key) every command answers HTTP 200 with its
//! output and a new line (`OK` when there is none), a failing one with its own `Error: …`
//! text. Refusals go through `api_error` in both modes: a wrong login is 401 `Error:
//! authentication failed`, an unknown key 401 `Error: key ID doesn't exist`, both with
//! `Hestia-Exit-Code: 9` (10 for a user other than the root user); no `cmd` is 422.
//!
//! - **`v-list-users json`**: every account with a string `USER`, in the order served, as
//!   Hestia's template writes it (`render_users`): one `"KEY": "VALUE"` per line,
//!   values **unescaped** with white space runs collapsed, a key the account lacks repeating
//!   the previous user's value, the document ending `        }}`. An account's `_quirk`
//!   `quote` or `backslash` puts a `"` or `\` into its `NAME`, which breaks the JSON as old
//!   or restored Hestia data does.
//! - **`v-list-web-domains USER json`**: the account's `_web_domains` (objects with `DOMAIN`
//!   and `web.conf` keys) in creation order; `{` `}` without any; `_web_domains_error`
//!   (`{"exit": N, "text": "Error: …"}`) makes the call fail so; an unknown user is
//!   `Error: user USER doesn't exist` with exit code 3.
//! - Any other command: exit code 1, `sudo: …: command not found`.
//!
//! Keys starting with `_` are directives, never served. Every request, refused ones
//! included, first waits the configured delay (`--delay-ms`).
//!
//! # Faults
//! Applied to every request once the credentials pass (`bad-auth` replaces the check):
//! - `error-in-200`: the command fails with [`FAULT_ERROR_TEXT`], exit code
//!   [`FAULT_EXIT_CODE`] — HTTP 200 with user/password, HTTP 400 with `Hestia-Exit-Code: 12`
//!   with an access key (Hestia's own rule; an access-key answer is never an error in 200);
//! - `http-500`: HTTP 500 with nginx's HTML error page;
//! - `truncated`: HTTP 200, `Content-Length` of the full answer, only its first half sent,
//!   then the connection is closed;
//! - `slow`: waits the configured time before answering normally; shutting the simulator
//!   down cancels the wait (HTTP 503);
//! - `bad-auth`: every request is refused as a wrong login or key of its mode (HTTP 401).
//! - `endless`, `trickle`, `gzip`: see [`crate::transport`] (the same for every panel);
//!   `huge-total`, `oversized-field` and `wrong-envelope` are cPanel-only (answered normally
//!   here).

mod api;
mod generate;
mod render;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use api::{FAULT_ERROR_TEXT, FAULT_EXIT_CODE};
pub use generate::{
    generate_hestia_accounts, hestia_admin, hestia_date_time, hestia_user, hestia_web_domain,
    HESTIA_SHARED_IP,
};

use crate::handle::Shared;
use crate::{Fault, SimError, SimHandle};

/// An access key pair in Hestia's form (20 + 40 characters) for tests and the demo.
pub const HESTIA_TEST_ACCESS_KEY: &str =
    "PSIMACCESSKEY0000001:panelsimsecretkey00000000000000000000001";

/// Configuration of one HestiaCP simulator.
#[derive(Debug, Clone)]
pub struct HestiaSimConfig {
    /// The users to serve (`USER` + `user.conf` keys with `_` directives, see the module
    /// docs).
    pub accounts: Vec<Value>,
    /// The root user, the only login `user`/`password` accepts (CLI default `admin`).
    pub username: String,
    /// Its password (CLI default `PASSWORD`).
    pub password: String,
    /// Accepted in `hash` (or as `access_key:secret_key`): an access key pair when 20 + 40
    /// characters, else a legacy API key.
    pub token: String,
    /// Make every request fail this way.
    pub fault: Option<Fault>,
    /// How long every request waits before it is answered.
    pub delay: Duration,
}

impl HestiaSimConfig {
    /// `admin` and `n` generated users ([`generate_hestia_accounts`]).
    pub fn generated(n: usize, seed: u64) -> Self {
        Self::with_accounts(generate_hestia_accounts(n, seed))
    }

    /// These users; login `admin` / `PASSWORD`, token [`HESTIA_TEST_ACCESS_KEY`], no fault,
    /// no delay.
    pub fn with_accounts(accounts: Vec<Value>) -> Self {
        HestiaSimConfig {
            accounts,
            username: "admin".into(),
            password: "PASSWORD".into(),
            token: HESTIA_TEST_ACCESS_KEY.into(),
            fault: None,
            delay: Duration::ZERO,
        }
    }
}

impl Default for HestiaSimConfig {
    /// `admin` and 100 generated users with seed 1.
    fn default() -> Self {
        Self::generated(100, 1)
    }
}

/// Start a HestiaCP simulator on `listen` (port 0 picks a free port; the real one is in
/// [`SimHandle::addr`]). It accepts connections when this returns.
pub async fn spawn_hestiacp(
    listen: SocketAddr,
    cfg: HestiaSimConfig,
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
            token: cfg.token,
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
            tracing::warn!(error = %e, "hestiacp simulator stopped with an error");
        }
    });
    Ok(SimHandle::new(addr, shared, task))
}

/// Read a JSON array of Hestia user objects (the `--accounts-file` format): each an object
/// with a string `USER`, `user.conf` keys and optionally `_web_domains`.
///
/// Errors name the file and the problem: unreadable, not JSON, not an array, or an element
/// that is not such an object (with its index).
pub fn load_hestia_accounts_file(path: &Path) -> Result<Vec<Value>, SimError> {
    let err = |problem: String| SimError::AccountsFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(err(
            "expected a JSON array of Hestia user objects (USER and user.conf keys)".into(),
        ));
    };
    if let Some(i) = items.iter().position(|v| {
        v.get("USER").and_then(Value::as_str).is_none()
            || v.get("_web_domains").is_some_and(|d| !d.is_array())
    }) {
        return Err(err(format!(
            "element {i} is not a Hestia user object with a string \"USER\" (and \
             \"_web_domains\" a list when given)"
        )));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_test_key_is_a_hestia_key_pair() {
        let (k, s) = super::HESTIA_TEST_ACCESS_KEY.split_once(':').unwrap();
        assert_eq!((k.len(), s.len()), (20, 40));
    }
}
