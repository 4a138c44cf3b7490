//! Request ids: every request gets one (tower-http's `x-request-id` layer, answered in the
//! response header), and an internal failure shows the client only
//! "internal error, request id X" while the log gets the failure's own text with the same
//! id — so an administrator can find it without the client ever seeing driver text.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client (a UUID is 36 characters).
const MAX_CLIENT_ID: usize = 64;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being answered (`"-"` outside a request, e.g. in unit tests).
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".into())
}

/// What the client is told about an internal failure: its request id only.
pub fn client_message(id: &str) -> String {
    format!("internal error, request id {id}")
}

/// Logs an internal failure's own text under the request id and returns the client's
/// message.
pub fn report_internal(detail: &dyn std::fmt::Display) -> String {
    let id = current();
    tracing::error!(request_id = %id, error = %detail, "internal error");
    client_message(&id)
}

/// Outermost: drops a client's `x-request-id` unless it is short and plain
/// (`[A-Za-z0-9._-]`), so that the id logged and echoed is never arbitrary client text;
/// the layer inside then makes a fresh one.
pub async fn sanitize(mut req: Request, next: Next) -> Response {
    let plain = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_CLIENT_ID
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    if req.headers().get(&HEADER).is_some_and(|v| !plain(v)) {
        req.headers_mut().remove(&HEADER);
    }
    next.run(req).await
}

/// Inside the id layers: makes the request's id [`current`] while the handler (and its
/// error responses) run.
pub async fn scope(req: Request, next: Next) -> Response {
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .unwrap_or("-")
        .to_string();
    CURRENT.scope(id, next.run(req)).await
}

/// The answer to a request whose handler panicked: 500 with "internal error, request id X"
/// (plain text, for pages and API alike); the panic's message goes to the log with the id.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    let message = report_internal(&format!("the handler panicked: {text}"));
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
}
