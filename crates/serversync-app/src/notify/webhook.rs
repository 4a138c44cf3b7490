//! Webhook delivery: one JSON POST per event and target, signed with HMAC-SHA256 of the body
//! (README "Alerts" documents the headers). TLS certificates are verified (rustls, the
//! Web PKI roots), redirects are not followed (the signature must not travel to another
//! host), at most [`MAX_ANSWER`] bytes of an answer are read, and every attempt has a
//! deadline. A target's secret and the URL's user information, path and query are never
//! logged or stored.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The most bytes of a target's answer read (and dropped): a receiver that answers without
/// end must not hold a delivery.
pub const MAX_ANSWER: usize = 64 * 1024;

/// The signature header: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Serversync-Signature";
/// The header with the attempt's time: Unix seconds, decimal.
pub const TIMESTAMP_HEADER: &str = "X-Serversync-Timestamp";
/// The header with the event's id (`{run id}-{kind}`), the same on every attempt.
pub const EVENT_HEADER: &str = "X-Serversync-Event";

/// One webhook target. `Debug` shows the URL as [`shown_target`] does and never the secret.
#[derive(Clone)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL (chat services put their token in its path).
    pub url: String,
    /// Key of the signature header; `None`: the header is left out.
    pub secret: Option<String>,
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &shown_target(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A target as the log and the page show it: scheme, host and port, with `/…` when the URL
/// has a path or query (where tokens live); user information is left out. A URL that does
/// not parse is shown as `(invalid URL)`.
pub fn shown_target(raw: &str) -> String {
    let Ok(u) = url::Url::parse(raw.trim()) else {
        return "(invalid URL)".into();
    };
    let Some(host) = u.host_str() else {
        return format!("{}://…", u.scheme());
    };
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let more = (u.path() != "/" && !u.path().is_empty()) || u.query().is_some();
    format!(
        "{}://{host}{port}{}",
        u.scheme(),
        if more { "/…" } else { "" }
    )
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub status: Option<u16>,
    /// `None` when delivered.
    pub error: Option<String>,
    /// Whether another attempt may help (network errors, 5xx, 408, 429).
    pub retry: bool,
}

/// One POST of `body` to `target`.
pub(crate) async fn post(
    client: &reqwest::Client,
    target: &WebhookTarget,
    event_id: &str,
    body: &[u8],
) -> Attempt {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut req = client
        .post(target.url.trim())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(EVENT_HEADER, event_id)
        .body(body.to_vec());
    if let Some(secret) = &target.secret {
        req = req.header(SIGNATURE_HEADER, signature(secret.as_bytes(), body));
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Attempt {
                status: None,
                error: Some(super::events::bounded(&send_error(e, &target.url), 300)),
                retry: true,
            }
        }
    };
    let status = resp.status();
    // The answer is read (bounded) so that the connection can be reused; its text is not
    // kept (a receiver's page is no business of the log).
    let mut read = 0usize;
    while read < MAX_ANSWER {
        match resp.chunk().await {
            Ok(Some(c)) => read += c.len(),
            _ => break,
        }
    }
    let code = status.as_u16();
    if status.is_success() {
        Attempt {
            status: Some(code),
            error: None,
            retry: false,
        }
    } else {
        Attempt {
            status: Some(code),
            error: Some(format!("HTTP {code}")),
            retry: status.is_server_error() || code == 408 || code == 429,
        }
    }
}

/// The HTTP client of webhooks: `timeout` per attempt, no redirects, TLS verified.
pub(crate) fn client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("serversync/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only when the TLS backend cannot start; a default client then
        // still delivers (also verifying certificates) rather than no alert at all.
        .unwrap_or_default()
}

/// A failed send, said without the target's URL (it may carry a token): what failed and its
/// causes, e.g. `could not connect: … Connection refused (os error 111)` or `timed out`.
fn send_error(e: reqwest::Error, url: &str) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let e = e.without_url();
    let mut text = what.to_string();
    let mut seen: Vec<String> = Vec::new();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !t.is_empty() && !seen.iter().any(|s| s.contains(&t)) {
            text.push_str(": ");
            text.push_str(&t);
            seen.push(t);
        }
        cause = c.source();
    }
    // A cause that names the URL after all is cut to "<url>".
    match url.trim() {
        "" => text,
        u => text.replace(u, "<url>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn targets_are_shown_without_secrets() {
        assert_eq!(
            shown_target("https://user:pw@hooks.example.com/T000/B000/XXXX?token=1"),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            shown_target("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(shown_target("not a url"), "(invalid URL)");
        let t = WebhookTarget {
            url: "https://hooks.example.com/secret-path".into(),
            secret: Some("s3cret".into()),
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("secret-path"),
            "{shown}"
        );
    }
}
