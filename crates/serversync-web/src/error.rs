//! Errors of the web layer and how they are shown.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serversync_app::AppError;
use serversync_store::StoreError;

/// An error answering a request.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    App(#[from] AppError),
    /// Not signed in (pages redirect to the sign-in page; the API answers 401).
    #[error("sign in first")]
    Unauthenticated,
    /// Signed in, but the role may not do this (read-only), or the CSRF token is wrong.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Bad input from a form or a query, naming the field.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::App(AppError::Store(e))
    }
}

impl WebError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            WebError::App(e) => match e {
                AppError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
                AppError::Store(
                    StoreError::Busy(_) | StoreError::LockLost(_) | StoreError::IdentifierTaken(_),
                ) => StatusCode::CONFLICT,
                AppError::Store(StoreError::VersionConflict { .. }) => StatusCode::CONFLICT,
                AppError::Store(StoreError::Invalid(_)) => StatusCode::BAD_REQUEST,
                // The database is down or busy past its timeout: try again later. The
                // message is the store's own ("the database is unavailable …"), never the
                // driver's text.
                AppError::Store(StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                AppError::Listing { .. } => StatusCode::BAD_GATEWAY,
                AppError::Records(_)
                | AppError::Invalid(_)
                | AppError::UnknownModule { .. }
                | AppError::Module(_) => StatusCode::BAD_REQUEST,
                AppError::NotApplicable(_) | AppError::Busy { .. } | AppError::LockLost(_) => {
                    StatusCode::CONFLICT
                }
                AppError::Interrupted(_) => StatusCode::SERVICE_UNAVAILABLE,
                AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The message a client may see: the error's own text, except for internal failures
    /// (HTTP 500: a damaged database, driver text, a panicked task), which are logged with
    /// the request id and shown as "internal error, request id X".
    pub fn client_message(&self) -> String {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            crate::request_id::report_internal(&log_text(self))
        } else {
            self.to_string()
        }
    }
}

/// The error with its chain of causes, for the log only: the store's sources hold the
/// database driver's text, which is logged but never sent to a client.
pub(crate) fn log_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

/// Escapes text for HTML (for the few places that build HTML without a template).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

impl IntoResponse for WebError {
    /// An HTML error page (the API maps errors to JSON itself, see `api::ApiError`).
    fn into_response(self) -> Response {
        if matches!(self, WebError::Unauthenticated) {
            return axum::response::Redirect::to("/login").into_response();
        }
        let status = self.status();
        let message = self.client_message();
        if status.is_server_error() && status != StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %log_text(&self), "request failed");
        }
        let body = format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>serversync: error</title><link rel=stylesheet href=/static/app.css></head><body><main><h1>{} {}</h1><p class=error>{}</p><p><a href=\"javascript:history.back()\">Back</a> · <a href=/servers>Servers</a></p></main></body></html>",
            status.as_u16(),
            escape(status.canonical_reason().unwrap_or("")),
            escape(&message)
        );
        (status, Html(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unreachable database is a 503 whose page holds the store's own message, never the
    /// driver's text (which may name hosts or users).
    #[tokio::test]
    async fn an_unavailable_store_is_503_without_driver_text() {
        let driver = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to db.internal:5432 as serversync failed",
        );
        let e = WebError::from(StoreError::Unavailable {
            source: Box::new(driver),
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let res = e.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("the database is unavailable"), "{body}");
        assert!(!body.contains("db.internal"), "{body}");
        assert!(!body.contains("serversync failed"), "{body}");
    }

    #[test]
    fn the_log_text_holds_the_driver_cause() {
        let driver = std::io::Error::other("connection reset by db.internal");
        let e = WebError::from(StoreError::Unavailable {
            source: Box::new(driver),
        });
        assert_eq!(
            log_text(&e),
            "the database is unavailable (cannot connect, or busy past the timeout): \
             connection reset by db.internal"
        );
    }
}
