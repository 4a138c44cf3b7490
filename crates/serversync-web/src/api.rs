//! The JSON API under `/api/`: everything the page does, for API tokens
//! (`Authorization: Bearer <token>`), described by `/api/openapi.json`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use serversync_store::{ApiToken, Role};

use crate::{WebError, WebState};

/// The OpenAPI document (kept in step with [`routes`] by a test).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// An error as the API answers it: `{"error": "<message>"}` with the HTTP status.
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        (status, Json(json!({"error": self.0.to_string()}))).into_response()
    }
}

/// The API token of a request.
pub struct ApiUser {
    pub token: ApiToken,
}

impl ApiUser {
    /// The audit actor: `api:<token name>`.
    pub fn actor(&self) -> String {
        format!("api:{}", self.token.name)
    }

    /// Refuses read-only tokens.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.token.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError(WebError::Forbidden(format!("API token {:?} is read-only", self.token.name))))
        }
    }
}

impl FromRequestParts<WebState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = value.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError(WebError::Unauthenticated));
        };
        match state.app.api_token(token).await? {
            Some(token) => Ok(ApiUser { token }),
            None => Err(ApiError(WebError::Unauthenticated)),
        }
    }
}

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/servers", get(list_servers))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn list_servers(State(st): State<WebState>, _user: ApiUser) -> Result<Json<Value>, ApiError> {
    let servers = st.app.servers().await?;
    Ok(Json(Value::Array(servers.iter().map(serversync_app::records::server_json).collect())))
}

