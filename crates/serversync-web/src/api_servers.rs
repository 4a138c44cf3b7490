//! The API's record edits, doing what the page's forms do: add and edit servers
//! (`POST /api/servers`, `PUT|PATCH /api/servers/{id}`), map a package to a product
//! (`PATCH /api/products/{id}`, the product page's form), and test a server's connection
//! (`POST /api/servers/{id}/test`, the servers page's button).
//!
//! Bodies are the typed structs below (`deny_unknown_fields`; a bad value is named by its
//! path through `serde_path_to_error`). Every check is the application's
//! ([`App::save_server_checked`](serversync_app::App::save_server_checked),
//! [`App::save_product_input`](serversync_app::App::save_product_input)), so the API and
//! the page refuse the same input with the same words. Secrets are accepted, never echoed:
//! a server is answered with `password_set` / `access_hash_set` instead.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post, put, MethodRouter};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serversync_app::connection::ConnectionTest;
use serversync_app::edits::{ProductInput, ServerInput};
use serversync_app::App;
use serversync_core::model::Server;
use utoipa::ToSchema;

use crate::api::{ApiError, ApiUser};
use crate::dto::records::ProductDto;
use crate::dto::responses::ErrorBody;
use crate::dto::{self};
use crate::{WebError, WebState};

/// The handler of one entry of [`crate::api::API_ROUTES`] that this file serves; `None`
/// for the other entries.
pub(crate) fn handler(method: &str, path: &str) -> Option<MethodRouter<WebState>> {
    Some(match (method, path) {
        ("GET", "/api/servers/{id}") => axum::routing::get(get_server),
        ("POST", "/api/servers") => post(create_server),
        ("PUT", "/api/servers/{id}") => put(replace_server),
        ("PATCH", "/api/servers/{id}") => patch(patch_server),
        ("POST", "/api/servers/{id}/test") => post(test_server),
        ("PATCH", "/api/products/{id}") => patch(patch_product),
        _ => return None,
    })
}

/// The body as `T`, or a 400 naming the path of the first bad value
/// (`port: invalid value: integer `70000`, expected u16 …`), cut as every API input error is
/// ([`dto::input_error`]).
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| ApiError(dto::input_error("body", &e)))
}

fn yes() -> bool {
    true
}

/// A present field, `null` included (`Some(None)`), apart from an absent one (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A whole server, as `POST /api/servers` creates it and `PUT /api/servers/{id}` replaces
/// it (the fields of the records document's `servers` entries). Empty secrets keep the
/// stored ones on a replace.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerBody {
    /// Unique ignoring case and surrounding spaces.
    pub name: String,
    /// A usable module (as `serversync modules list` shows them).
    pub module: String,
    /// A bare host name or IP (no scheme, user, port or path).
    pub hostname: String,
    /// The server's IPv4 or IPv6 address.
    pub ip_address: String,
    /// 1–65535; absent or null = the module's default port.
    #[serde(default)]
    pub port: Option<u16>,
    /// HTTPS (default true).
    #[serde(default = "yes")]
    pub secure: bool,
    /// Verify the TLS certificate (default true).
    #[serde(default = "yes")]
    pub tls_verify: bool,
    #[serde(default)]
    pub username: String,
    /// Write-only; never answered.
    #[serde(default)]
    #[schema(write_only)]
    pub password: String,
    /// Write-only (WHM API token, Plesk secret key, …); never answered.
    #[serde(default)]
    #[schema(write_only)]
    pub access_hash: String,
    /// Left out of fleet scans (default false).
    #[serde(default)]
    pub disabled: bool,
}

impl ServerBody {
    fn input(self, id: Option<i64>) -> ServerInput {
        ServerInput {
            id,
            name: self.name,
            module: self.module,
            hostname: self.hostname,
            ip_address: self.ip_address,
            port: self.port,
            secure: self.secure,
            tls_verify: self.tls_verify,
            username: self.username,
            password: self.password,
            access_hash: self.access_hash,
            disabled: self.disabled,
        }
    }
}

/// Some fields of a server (`PATCH /api/servers/{id}`): those given change, the others
/// keep their stored values. `"port": null` returns to the module's default port.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub module: Option<String>,
    pub hostname: Option<String>,
    pub ip_address: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 65535)]
    pub port: Option<Option<u16>>,
    pub secure: Option<bool>,
    pub tls_verify: Option<bool>,
    pub username: Option<String>,
    /// Write-only; never answered.
    #[schema(write_only)]
    pub password: Option<String>,
    /// Write-only; never answered.
    #[schema(write_only)]
    pub access_hash: Option<String>,
    pub disabled: Option<bool>,
}

impl ServerPatch {
    /// The stored server with this patch laid over it (stored secrets kept unless given).
    fn over(self, s: Server) -> ServerInput {
        ServerInput {
            id: Some(s.id),
            name: self.name.unwrap_or(s.name),
            module: self.module.unwrap_or(s.module),
            hostname: self.hostname.unwrap_or(s.hostname),
            ip_address: self.ip_address.unwrap_or(s.ip_address),
            port: self.port.unwrap_or(s.port),
            secure: self.secure.unwrap_or(s.secure),
            tls_verify: self.tls_verify.unwrap_or(s.tls_verify),
            username: self.username.unwrap_or(s.username),
            password: self.password.unwrap_or_default(),
            access_hash: self.access_hash.unwrap_or_default(),
            disabled: self.disabled.unwrap_or(s.disabled),
        }
    }
}

/// A product's module settings (`PATCH /api/products/{id}`), as the product page's form
/// sets them: the fields given change. `config_options` sets the settings it names
/// (`configoption1`..`configoption24`; an empty value removes one) and keeps the others;
/// `package` sets the module's product field (`configoption1` for the built-in panels) —
/// the package of a panel account this product stands for.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub module: Option<String>,
    pub config_options: Option<BTreeMap<String, String>>,
    pub package: Option<String>,
}

/// The answer about a server: its records-document entry (no secrets) and whether each
/// secret is set.
#[derive(Serialize, ToSchema)]
#[schema(as = SavedServer)]
pub struct SavedServerDto {
    pub id: i64,
    pub name: String,
    pub module: String,
    pub hostname: String,
    pub ip_address: String,
    /// `null`: the module's default port.
    pub port: Option<u16>,
    pub secure: bool,
    pub tls_verify: bool,
    pub username: String,
    pub disabled: bool,
    /// Whether a password is stored (it is never sent back).
    pub password_set: bool,
    /// Whether an access hash (API token) is stored (never sent back).
    pub access_hash_set: bool,
}

impl From<&Server> for SavedServerDto {
    fn from(s: &Server) -> Self {
        SavedServerDto {
            id: s.id,
            name: s.name.clone(),
            module: s.module.clone(),
            hostname: s.hostname.clone(),
            ip_address: s.ip_address.clone(),
            port: s.port,
            secure: s.secure,
            tls_verify: s.tls_verify,
            username: s.username.clone(),
            disabled: s.disabled,
            password_set: !s.password.is_empty(),
            access_hash_set: !s.access_hash.is_empty(),
        }
    }
}

/// The result of a connection test: one listing call against the panel.
#[derive(Serialize, ToSchema)]
#[schema(as = ConnectionTest)]
pub struct ConnectionTestDto {
    pub server_id: i64,
    pub server_name: String,
    /// Whether the panel answered with a listing.
    pub connected: bool,
    /// Accounts listed (0 when the test failed).
    pub accounts: usize,
    /// Records the module skipped as breaking the contract.
    pub skipped: usize,
    /// Wall time of the listing call, in seconds.
    pub seconds: f64,
    /// Why it failed; `null` when connected.
    pub error: Option<String>,
    /// The one-line result the page and the CLI show
    /// (`web1: connected, 2 accounts listed in 0.1 s` / `web1: failed: <cause>`).
    pub line: String,
}

impl From<&ConnectionTest> for ConnectionTestDto {
    fn from(t: &ConnectionTest) -> Self {
        ConnectionTestDto {
            server_id: t.server_id,
            server_name: t.server_name.clone(),
            connected: t.connected,
            accounts: t.accounts,
            skipped: t.skipped,
            seconds: t.seconds,
            error: t.error.clone(),
            line: t.line(),
        }
    }
}

async fn save(st: &WebState, user: &ApiUser, input: ServerInput) -> Result<Server, ApiError> {
    let app = st.app.clone().with_actor(user.actor());
    let id = app.save_server_checked(&input).await?;
    Ok(app.server(&id.to_string()).await?)
}

/// One server's settings (secrets never sent: `password_set` / `access_hash_set` say whether
/// each is stored).
#[utoipa::path(get, path = "/api/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "server name or id")),
    responses(
        (status = 200, description = "the server", body = SavedServerDto),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
pub(crate) async fn get_server(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<SavedServerDto>, ApiError> {
    Ok(Json(SavedServerDto::from(&st.app.server(&id).await?)))
}

/// Adds a server (checked as the page's form checks it).
#[utoipa::path(post, path = "/api/servers", tag = "servers",
    request_body = ServerBody,
    responses(
        (status = 201, description = "the server added (secrets never echoed)", body = SavedServerDto),
        (status = 400, description = "bad body or input (names the field)", body = ErrorBody),
        (status = 403, description = "read-only token", body = ErrorBody),
    ))]
pub(crate) async fn create_server(
    State(st): State<WebState>,
    user: ApiUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    let body: ServerBody = parse_body(&body)?;
    let server = save(&st, &user, body.input(None)).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/servers/{}", server.id))],
        Json(SavedServerDto::from(&server)),
    )
        .into_response())
}

/// Replaces a server's settings (every field given; secrets left out keep their value).
#[utoipa::path(put, path = "/api/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "server name or id")),
    request_body = ServerBody,
    responses(
        (status = 200, description = "the server saved", body = SavedServerDto),
        (status = 400, description = "bad body or input (names the field)", body = ErrorBody),
        (status = 403, description = "read-only token", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
pub(crate) async fn replace_server(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SavedServerDto>, ApiError> {
    user.require_admin()?;
    let body: ServerBody = parse_body(&body)?;
    let stored = st.app.server(&id).await?;
    let server = save(&st, &user, body.input(Some(stored.id))).await?;
    Ok(Json(SavedServerDto::from(&server)))
}

/// Changes the given fields of a server.
#[utoipa::path(patch, path = "/api/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "server name or id")),
    request_body = ServerPatch,
    responses(
        (status = 200, description = "the server saved", body = SavedServerDto),
        (status = 400, description = "bad body or input (names the field)", body = ErrorBody),
        (status = 403, description = "read-only token", body = ErrorBody),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
pub(crate) async fn patch_server(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SavedServerDto>, ApiError> {
    user.require_admin()?;
    let patch: ServerPatch = parse_body(&body)?;
    let stored = st.app.server(&id).await?;
    let server = save(&st, &user, patch.over(stored)).await?;
    Ok(Json(SavedServerDto::from(&server)))
}

/// One listing call against the server's panel; answered 200 whether it connected or not
/// (`connected`, `error`, and `line`, the one-line result the page and the CLI show).
/// Read-only tokens may test: it writes nothing.
#[utoipa::path(post, path = "/api/servers/{id}/test", tag = "servers",
    params(("id" = String, Path, description = "server name or id")),
    responses(
        (status = 200, description = "whether the panel answered, in one line", body = ConnectionTestDto),
        (status = 404, description = "no such server", body = ErrorBody),
    ))]
pub(crate) async fn test_server(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestDto>, ApiError> {
    let test = st.app.test_connection(&id).await?;
    Ok(Json(ConnectionTestDto::from(&test)))
}

/// The stored product with `patch` laid over it. `package` and a `config_options` entry
/// for the same setting must agree.
fn product_input(
    app: &App,
    p: serversync_core::model::Product,
    patch: ProductPatch,
) -> Result<ProductInput, ApiError> {
    let module = patch.module.unwrap_or(p.module);
    let mut config_options = p.config_options;
    let given = patch.config_options.unwrap_or_default();
    if let Some(package) = patch.package {
        let field = app.product_field_of(&module);
        if given.get(&field).is_some_and(|v| *v != package) {
            return Err(ApiError(WebError::BadRequest(format!(
                "package: {package:?} and config_options.{field} set the same setting differently"
            ))));
        }
        config_options.insert(field, package);
    }
    config_options.extend(given);
    Ok(ProductInput {
        id: p.id,
        name: patch.name.unwrap_or(p.name),
        module,
        config_options,
    })
}

/// Maps a package to a product (the product page's form).
#[utoipa::path(patch, path = "/api/products/{id}", tag = "records",
    params(("id" = i64, Path, description = "product id")),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "the product saved", body = ProductDto),
        (status = 400, description = "bad body or input (names the field)", body = ErrorBody),
        (status = 403, description = "read-only token", body = ErrorBody),
        (status = 404, description = "no such product", body = ErrorBody),
    ))]
pub(crate) async fn patch_product(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ProductDto>, ApiError> {
    user.require_admin()?;
    let id: i64 = id.trim().parse().map_err(|_| {
        ApiError(WebError::BadRequest(format!(
            "product id: expected a number, got {id:?}"
        )))
    })?;
    let patch: ProductPatch = parse_body(&body)?;
    let app = st.app.clone().with_actor(user.actor());
    let input = product_input(&app, app.product(id).await?, patch)?;
    app.save_product_input(&input).await?;
    Ok(Json(ProductDto::from(&app.product(id).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use utoipa::PartialSchema;

    /// The request schemas of `openapi.json` for these routes, derived from the body types.
    fn derived() -> Vec<(&'static str, Value)> {
        let v = |s| serde_json::to_value(s).unwrap_or(Value::Null);
        vec![
            ("ServerBody", v(ServerBody::schema())),
            ("ServerPatch", v(ServerPatch::schema())),
            ("ProductPatch", v(ProductPatch::schema())),
        ]
    }

    fn keys(v: &Value, field: &str) -> Vec<String> {
        let mut k: Vec<String> = match &v[field] {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        k.sort();
        k
    }

    /// The derived document carries these bodies as they are: their fields, the required
    /// ones and the refusal of unknown fields.
    #[test]
    fn documented_request_bodies_match_the_types() {
        let doc = serde_json::to_value(crate::dto::openapi::document()).expect("document");
        for (name, schema) in derived() {
            let documented = &doc["components"]["schemas"][name];
            assert_eq!(
                keys(documented, "properties"),
                keys(&schema, "properties"),
                "{name}: properties"
            );
            assert!(!keys(&schema, "properties").is_empty(), "{name}");
            assert_eq!(
                keys(documented, "required"),
                keys(&schema, "required"),
                "{name}: required"
            );
            assert_eq!(documented["additionalProperties"], json!(false), "{name}");
        }
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let err = |body: &str| match parse_body::<ServerPatch>(&Bytes::from(body.to_string())) {
            Err(ApiError(WebError::BadRequest(m))) => m,
            Err(ApiError(e)) => panic!("{body}: {e}"),
            Ok(_) => panic!("{body}: accepted"),
        };
        assert!(err(r#"{"port": 70000}"#).starts_with("port: invalid value: integer `70000`"));
        let unknown = err(r#"{"passwd": "x"}"#);
        assert!(
            unknown.starts_with("passwd: unknown field `passwd`, expected one of"),
            "{unknown}"
        );
        let whole = err("\"web1\"");
        assert!(
            whole.starts_with("body: invalid type: string \"web1\", expected struct ServerPatch"),
            "{whole}"
        );
        let long = format!(r#"{{"{}": 1}}"#, "x".repeat(5000));
        assert!(err(&long).chars().count() <= dto::MAX_INPUT_ERROR + 1);
        let p: ServerPatch = parse_body(&Bytes::from_static(br#"{"port": null}"#))
            .ok()
            .expect("null port");
        assert_eq!(p.port, Some(None));
        let p: ServerPatch = parse_body(&Bytes::from_static(b"{}"))
            .ok()
            .expect("empty patch");
        assert_eq!(p.port, None);
    }
}
