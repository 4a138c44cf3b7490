//! HTTP plumbing shared by the modules: client construction, the capped body reader (per
//! response and per listing, see [`ListingBudget`]; compressed and trickled bodies
//! refused), error mapping and the sanitising of panel-supplied text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{ModuleError, ModuleOptions, TimeoutPhase};

/// The process's HTTP clients: one per TLS mode, built once by the
/// [`ModuleRegistry`](crate::ModuleRegistry) and shared by every module (built in and `url`
/// external modules). A client that could not be built is kept as its error text and reported
/// when a listing needs it.
pub struct HttpClients {
    verifying: Result<reqwest::Client, String>,
    insecure: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for HttpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClients")
    }
}

impl HttpClients {
    /// Builds both clients with `opts`' connect and read time-outs; redirects are never
    /// followed (credentials go to the configured host only).
    pub fn new(opts: &ModuleOptions) -> Self {
        HttpClients {
            verifying: build(opts, true),
            insecure: build(opts, false),
        }
    }

    /// The verifying client, or (only when `tls_verify` is false) the non-verifying one.
    pub fn get(&self, tls_verify: bool) -> Result<&reqwest::Client, ModuleError> {
        let c = if tls_verify {
            &self.verifying
        } else {
            &self.insecure
        };
        c.as_ref()
            .map_err(|e| ModuleError::Config(format!("the HTTP client could not be set up: {e}")))
    }
}

fn build(opts: &ModuleOptions, verify: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.read_timeout)
        // Never follow redirects: the Authorization header must go to the configured host
        // only, and a redirect is reported as the HTTP status it is.
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(!verify)
        .user_agent(concat!("serversync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| root_cause(&e))
}

/// The bytes one listing may receive, over all its requests (pages, per-account calls):
/// [`ModuleOptions::max_listing_bytes`]. Shared by the requests of one listing through a
/// task-local set by [`with_listing_budget`] (the registry does it for every listing), so
/// every module that reads bodies with [`read_body`] is bounded without passing it around.
#[derive(Debug)]
pub struct ListingBudget {
    limit: u64,
    used: AtomicU64,
}

impl ListingBudget {
    /// A budget of `limit` bytes, none used yet.
    pub fn new(limit: u64) -> Self {
        ListingBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The whole budget in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes received so far by the listing.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes still allowed.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }

    /// Counts `n` received bytes; `false` when the listing is now over its limit.
    fn charge(&self, n: u64) -> bool {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        before.saturating_add(n) <= self.limit
    }
}

tokio::task_local! {
    static LISTING_BUDGET: Arc<ListingBudget>;
}

/// Runs `fut` (one listing) with `budget` as the byte budget of every [`read_body`] inside
/// it. Futures polled inside `fut` (e.g. pages fetched concurrently with
/// `buffer_unordered`) share it; a `tokio::spawn`ed task would not.
pub async fn with_listing_budget<F: std::future::Future>(
    budget: Arc<ListingBudget>,
    fut: F,
) -> F::Output {
    LISTING_BUDGET.scope(budget, fut).await
}

/// The budget of the listing being run, if any.
pub fn current_budget() -> Option<Arc<ListingBudget>> {
    LISTING_BUDGET.try_with(Arc::clone).ok()
}

/// Awaits the response headers of `send` (a `RequestBuilder::send()`), within
/// `opts.connect_timeout + opts.read_timeout` in all: reqwest's read time-out restarts with
/// every byte, so a panel sending its headers a byte every few seconds would otherwise hold
/// the request for the whole request time-out. A panel that is slow to start answering
/// (WHM builds its list first) is unaffected: that is one wait, within the read time-out.
///
/// Errors: the mapped reqwest error; [`ModuleError::Timeout`] (phase `read`) when the
/// headers are not complete in time.
pub async fn answered(
    send: impl std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    target: &str,
    opts: &ModuleOptions,
) -> Result<reqwest::Response, ModuleError> {
    let limit = opts.connect_timeout.saturating_add(opts.read_timeout);
    match tokio::time::timeout(limit, send).await {
        Ok(r) => r.map_err(|e| map_reqwest(&e, target, opts)),
        Err(_) => Err(ModuleError::Timeout {
            target: target.to_string(),
            phase: TimeoutPhase::Read,
            after: opts.read_timeout,
        }),
    }
}

/// Slowest average rate (bytes per second) a response body may arrive at once it has taken
/// longer than [`ModuleOptions::read_timeout`]: a real panel sends megabytes per second, so
/// this only stops a panel that trickles a byte every few seconds (each byte resetting the
/// read time-out) from holding the listing, and the server's lock, for the whole request
/// time-out.
pub const MIN_BODY_RATE: u64 = 1024;

/// Reads a response body of at most `opts.max_response_bytes` bytes — and at most what is
/// left of the listing's [`ListingBudget`] — chunk by chunk, so a panel claiming or sending
/// more never makes us hold more than the cap (the claimed `Content-Length` is only used to
/// refuse early, never to size a buffer).
///
/// serversync never asks for compression (no `Accept-Encoding`), so a compressed answer
/// (`Content-Encoding` other than `identity`, or a body starting with the gzip magic
/// `1f 8b`) is refused with a readable error rather than parsed as text.
///
/// Errors: [`ModuleError::TooLarge`] past the response cap or the listing budget;
/// [`ModuleError::Malformed`] for a compressed body or one arriving slower than
/// [`MIN_BODY_RATE`] after `opts.read_timeout`; the mapped transport error when the body
/// breaks off.
pub async fn read_body(
    mut resp: reqwest::Response,
    opts: &ModuleOptions,
    target: &str,
) -> Result<bytes::Bytes, ModuleError> {
    let budget = current_budget();
    if let Some(enc) = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .map(|v| one_line(&String::from_utf8_lossy(v.as_bytes()), 40, ""))
    {
        if !enc.eq_ignore_ascii_case("identity") && !enc.is_empty() {
            return Err(compressed(
                target,
                &enc.to_ascii_lowercase(),
                &format!("Content-Encoding: {enc}"),
            ));
        }
    }
    let cap = opts.max_response_bytes;
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large(target, cap));
    }
    if let (Some(b), Some(n)) = (&budget, resp.content_length()) {
        if n > b.remaining() {
            return Err(over_budget(target, b.limit()));
        }
    }
    let started = std::time::Instant::now();
    let grace = opts.read_timeout;
    let mut body = bytes::BytesMut::new();
    let mut sniffed = false;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| map_reqwest(&e, target, opts))?
    {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_large(target, cap));
        }
        if let Some(b) = &budget {
            if !b.charge(chunk.len() as u64) {
                return Err(over_budget(target, b.limit()));
            }
        }
        body.extend_from_slice(&chunk);
        // Looked at once the first two bytes are in (they may come in separate chunks).
        if !sniffed && body.len() >= 2 {
            sniffed = true;
            if body.starts_with(&[0x1f, 0x8b]) {
                return Err(compressed(
                    target,
                    "gzip",
                    "the body starts with the gzip signature",
                ));
            }
        }
        let elapsed = started.elapsed();
        if elapsed > grace && (body.len() as u64) < MIN_BODY_RATE.saturating_mul(elapsed.as_secs())
        {
            return Err(ModuleError::Malformed(format!(
                "the response from {target} arrives too slowly ({} bytes in {} s; at least \
                 {MIN_BODY_RATE} bytes per second are expected)",
                body.len(),
                elapsed.as_secs()
            )));
        }
    }
    Ok(body.freeze())
}

/// `encoding` is the lower-case `Content-Encoding` (or `gzip` for the signature).
fn compressed(target: &str, encoding: &str, how: &str) -> ModuleError {
    let kind = match encoding {
        "gzip" | "x-gzip" => "gzip-compressed",
        "deflate" => "deflate-compressed",
        "br" => "brotli-compressed",
        _ => "encoded",
    };
    ModuleError::Malformed(format!(
        "{target} answered {kind} data ({how}), which serversync did not ask for"
    ))
}

fn too_large(target: &str, cap: u64) -> ModuleError {
    ModuleError::TooLarge {
        what: format!("the response from {target}"),
        limit: cap,
    }
}

fn over_budget(target: &str, limit: u64) -> ModuleError {
    ModuleError::TooLarge {
        what: format!("the listing's responses from {target} together"),
        limit,
    }
}

/// `host:port` of a `scheme://host:port` base URL (no path, no query).
pub fn target_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

/// The innermost cause of an error chain: e.g. `Connection refused (os error 111)` rather
/// than reqwest's `error sending request for url (…)`, which would repeat the URL.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !msg.trim().is_empty() {
            last = msg;
        }
        source = s.source();
    }
    strip_url_queries(&last)
}

/// Maps a reqwest error to the module error of its kind.
pub fn map_reqwest(e: &reqwest::Error, target: &str, opts: &ModuleOptions) -> ModuleError {
    if e.is_timeout() {
        let (phase, after) = if e.is_connect() {
            (TimeoutPhase::Connect, opts.connect_timeout)
        } else {
            (TimeoutPhase::Read, opts.read_timeout)
        };
        return ModuleError::Timeout {
            target: target.to_string(),
            phase,
            after,
        };
    }
    if e.is_connect() {
        return ModuleError::Connect {
            target: target.to_string(),
            cause: root_cause(e),
        };
    }
    if e.is_body() || e.is_decode() {
        return ModuleError::Malformed(format!(
            "the response body from {target} was cut off: {}",
            root_cause(e)
        ));
    }
    ModuleError::Transport {
        target: target.to_string(),
        cause: root_cause(e),
    }
}

/// The overall-request timeout error.
pub fn total_timeout(target: &str, after: Duration) -> ModuleError {
    ModuleError::Timeout {
        target: target.to_string(),
        phase: TimeoutPhase::Total,
        after,
    }
}

/// Panel-supplied text made safe to show: at most `max` characters, one line (control
/// characters and runs of white space become one space), `secret` replaced by `[redacted]`.
pub fn one_line(text: &str, max: usize, secret: &str) -> String {
    let redacted;
    let text = if secret.len() >= 4 && text.contains(secret) {
        redacted = text.replace(secret, "[redacted]");
        redacted.as_str()
    } else {
        text
    };
    let mut out = String::with_capacity(max.min(text.len()) + 3);
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = count > 0;
            continue;
        }
        if count >= max {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Removes the query part of anything that looks like a URL in `s`.
pub(crate) fn strip_url_queries(s: &str) -> String {
    if !s.contains("://") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut in_url = false;
    let mut in_query = false;
    for (i, c) in s.char_indices() {
        if !in_url && s[i..].starts_with("http") && s[i..].find("://").is_some_and(|p| p <= 5) {
            in_url = true;
        }
        if in_url {
            if c.is_whitespace() || c == ')' || c == '"' || c == '\'' {
                in_url = false;
                in_query = false;
            } else if c == '?' {
                in_query = true;
                continue;
            } else if in_query {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_answers_are_named() {
        assert_eq!(
            compressed("h:1", "br", "Content-Encoding: br").to_string(),
            "invalid response from the panel: h:1 answered brotli-compressed data \
             (Content-Encoding: br), which serversync did not ask for"
        );
        assert_eq!(
            compressed("h:1", "x-gzip", "Content-Encoding: x-gzip").to_string(),
            "invalid response from the panel: h:1 answered gzip-compressed data \
             (Content-Encoding: x-gzip), which serversync did not ask for"
        );
    }

    #[test]
    fn one_line_cuts_collapses_and_redacts() {
        assert_eq!(one_line("  a\n\n b\tc \r\n", 200, "tok"), "a b c");
        assert_eq!(one_line("abcdef", 3, ""), "abc…");
        assert_eq!(
            one_line("bad token SECRET123 given", 200, "SECRET123"),
            "bad token [redacted] given"
        );
    }

    #[test]
    fn targets_and_url_queries() {
        assert_eq!(target_of("https://web1.test:2087"), "web1.test:2087");
        assert_eq!(target_of("http://[::1]:2086/x?y"), "[::1]:2086");
        assert_eq!(
            strip_url_queries("error sending request for url (http://h:1/p?token=x&a=b): boom"),
            "error sending request for url (http://h:1/p): boom"
        );
        assert_eq!(strip_url_queries("plain ? text"), "plain ? text");
    }
}
