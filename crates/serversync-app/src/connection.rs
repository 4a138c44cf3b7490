//! "Test connection": one listing call against a server's panel, reported in one line, for
//! the servers page's button, `serversync servers test NAME` and
//! `POST /api/servers/{id}/test` alike.
//!
//! None of the built-in modules has a call cheaper than its listing that also proves the
//! credentials may list accounts (cPanel's `listaccts` pages, the others list in one or a
//! few calls), so the test is the module's ListAccounts, under the byte bounds of an
//! analysis and a deadline of its own ([`TEST_DEADLINE`]). Nothing is stored and no lock is
//! taken: a test never writes.

use std::time::{Duration, Instant};

use serde::Serialize;
use serversync_core::model::ServerId;
use serversync_core::module::ServerParams;
use serversync_modules::NoProgress;

use crate::{App, Result};

/// The outcome of [`App::test_connection`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionTest {
    /// The server tested.
    pub server_id: ServerId,
    pub server_name: String,
    /// Whether the panel answered with a listing.
    pub connected: bool,
    /// Accounts listed (0 when the test failed).
    pub accounts: usize,
    /// Records the module skipped as breaking the contract (the listing is then
    /// incomplete, but the connection works).
    pub skipped: usize,
    /// Wall time of the listing call, in seconds.
    pub seconds: f64,
    /// Why it failed (the module's one-line error, secrets redacted by the module);
    /// `None` when connected.
    pub error: Option<String>,
}

impl ConnectionTest {
    /// The one-line result: `web1: connected, 123 accounts listed in 0.4 s` or
    /// `web1: failed: <cause>`.
    pub fn line(&self) -> String {
        match &self.error {
            None => {
                let noun = if self.accounts == 1 {
                    "account"
                } else {
                    "accounts"
                };
                let skipped = match self.skipped {
                    0 => String::new(),
                    n => format!(" ({n} skipped as unreadable)"),
                };
                format!(
                    "{}: connected, {} {noun} listed{skipped} in {:.1} s",
                    self.server_name, self.accounts, self.seconds
                )
            }
            Some(cause) => format!("{}: failed: {cause}", self.server_name),
        }
    }
}

/// Longest a connection test waits for the listing (the analysis's own deadline is far
/// longer): a person pressed a button and waits for the page.
pub const TEST_DEADLINE: Duration = Duration::from_secs(120);

fn seconds(d: Duration) -> f64 {
    // Rounded to milliseconds: more digits would only be noise.
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl App {
    /// Lists the server `name_or_id` once and reports whether that worked. A server that
    /// does not exist is an error; a module that is unknown or a listing that fails is a
    /// test that failed ([`ConnectionTest::error`]), not an error.
    pub async fn test_connection(&self, name_or_id: &str) -> Result<ConnectionTest> {
        let server = self.server(name_or_id).await?;
        let mut test = ConnectionTest {
            server_id: server.id,
            server_name: server.name.clone(),
            connected: false,
            accounts: 0,
            skipped: 0,
            seconds: 0.0,
            error: None,
        };
        let module = match self.registry.get(&server.module) {
            Ok(m) => m,
            Err(e) => {
                test.error = Some(e.to_string());
                return Ok(test);
            }
        };
        let params = ServerParams::from_server(&server);
        let started = Instant::now();
        let listing = tokio::time::timeout(
            TEST_DEADLINE,
            self.registry
                .list_accounts(module.as_ref(), &params, &NoProgress),
        )
        .await;
        test.seconds = seconds(started.elapsed());
        match listing {
            Ok(Ok(l)) => {
                test.connected = true;
                test.accounts = l.accounts.len();
                test.skipped = l.skipped.len();
            }
            Ok(Err(e)) => test.error = Some(e.to_string()),
            Err(_) => {
                test.error = Some(format!(
                    "no complete listing within {} s",
                    TEST_DEADLINE.as_secs()
                ))
            }
        }
        tracing::info!(server = %server.name, connected = test.connected, "connection tested");
        Ok(test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(accounts: usize, error: Option<&str>) -> ConnectionTest {
        ConnectionTest {
            server_id: 1,
            server_name: "web1".into(),
            connected: error.is_none(),
            accounts,
            skipped: 0,
            seconds: 0.412,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn one_line_per_outcome() {
        assert_eq!(
            test(123, None).line(),
            "web1: connected, 123 accounts listed in 0.4 s"
        );
        assert_eq!(
            test(1, None).line(),
            "web1: connected, 1 account listed in 0.4 s"
        );
        let mut t = test(5, None);
        t.skipped = 2;
        assert_eq!(
            t.line(),
            "web1: connected, 5 accounts listed (2 skipped as unreadable) in 0.4 s"
        );
        assert_eq!(
            test(0, Some("the panel refused the API token (HTTP 403)")).line(),
            "web1: failed: the panel refused the API token (HTTP 403)"
        );
    }
}
