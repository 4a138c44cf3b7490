//! `GET /metrics`: the application's metrics ([`serversync_app::metrics`]) in the Prometheus
//! text format, for a scraper.
//!
//! Who may read them ([`MetricsAccess::decide`]): with a metrics token configured, only a
//! request carrying it (`Authorization: Bearer <token>`), wherever `serve` listens — a
//! loopback listener behind a reverse proxy sees every client as loopback, so a configured
//! token is always checked. Without a token, anyone when `serve` listens on a loopback
//! address only, and nobody otherwise (404: the page is not there). Metrics hold server and
//! module names, never a secret.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serversync_app::auth::token_hash;
use serversync_app::metrics::CONTENT_TYPE;

use crate::{WebError, WebState};

/// Who may read `/metrics`: built from the listening address and the configured token.
/// `Default`: nobody (not loopback, no token).
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// `serve` listens on a loopback address (`127.0.0.0/8`, `::1`) only.
    loopback: bool,
    /// SHA-256 hex of the metrics token: the token itself is not kept.
    token_hash: Option<String>,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("loopback", &self.loopback)
            .field("token", &self.token_hash.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What [`MetricsAccess::decide`] says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsDecision {
    /// Serve the metrics.
    Allow,
    /// A token is configured and the request did not carry it: 401.
    Unauthorized,
    /// No token is configured and `serve` is not on loopback: 404.
    Hidden,
}

impl MetricsAccess {
    /// Access for a server listening on `addr` with the metrics token `token` (a blank
    /// token counts as none).
    pub fn new(addr: std::net::SocketAddr, token: Option<&str>) -> Self {
        MetricsAccess {
            loopback: addr.ip().is_loopback(),
            token_hash: token
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(token_hash),
        }
    }

    /// The rule for a request whose `Authorization` header is `authorization`.
    pub fn decide(&self, authorization: Option<&str>) -> MetricsDecision {
        match &self.token_hash {
            Some(want) => {
                let sent = authorization
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty());
                // Hashes are compared, not tokens: the comparison's timing tells nothing
                // about the token.
                match sent {
                    Some(t) if token_hash(t) == *want => MetricsDecision::Allow,
                    _ => MetricsDecision::Unauthorized,
                }
            }
            None if self.loopback => MetricsDecision::Allow,
            None => MetricsDecision::Hidden,
        }
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    State(st): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match st.config.metrics.decide(auth) {
        MetricsDecision::Allow => {}
        MetricsDecision::Unauthorized => {
            return Ok((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "send the metrics token: Authorization: Bearer <token>\n",
            )
                .into_response())
        }
        MetricsDecision::Hidden => return Err(WebError::NotFound("there is no such page".into())),
    }
    let text = st.app.metrics.render()?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(addr: &str, token: Option<&str>) -> MetricsAccess {
        MetricsAccess::new(addr.parse().unwrap(), token)
    }

    #[test]
    fn loopback_is_open_without_a_token() {
        for addr in ["127.0.0.1:8080", "127.3.0.1:1", "[::1]:8080"] {
            assert_eq!(
                at(addr, None).decide(None),
                MetricsDecision::Allow,
                "{addr}"
            );
        }
    }

    #[test]
    fn other_addresses_hide_the_metrics_without_a_token() {
        for addr in ["0.0.0.0:8080", "192.0.2.1:8080", "[::]:8080"] {
            let a = at(addr, Some("  "));
            assert_eq!(a.decide(None), MetricsDecision::Hidden, "{addr}");
            assert_eq!(a.decide(Some("Bearer x")), MetricsDecision::Hidden);
        }
    }

    #[test]
    fn a_configured_token_is_required_everywhere() {
        for addr in ["0.0.0.0:8080", "127.0.0.1:8080"] {
            let a = at(addr, Some("s3cret"));
            assert_eq!(a.decide(Some("Bearer s3cret")), MetricsDecision::Allow);
            assert_eq!(a.decide(None), MetricsDecision::Unauthorized, "{addr}");
            assert_eq!(
                a.decide(Some("Bearer wrong")),
                MetricsDecision::Unauthorized
            );
            assert_eq!(a.decide(Some("s3cret")), MetricsDecision::Unauthorized);
            assert_eq!(a.decide(Some("Bearer ")), MetricsDecision::Unauthorized);
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", at("0.0.0.0:1", Some("s3cret")));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains(&token_hash("s3cret")), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
