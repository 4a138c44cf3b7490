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
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use serversync_app::records::{product_json, server_json};
use serversync_app::web_support::{ProductInput, ServerInput};
use serversync_app::App;
use serversync_core::model::Server;

use crate::api::{ApiError, ApiUser};
use crate::{WebError, WebState};

/// The handler of one entry of [`crate::api::API_ROUTES`] that this file serves; `None`
/// for the other entries.
pub(crate) fn handler(method: &str, path: &str) -> Option<MethodRouter<WebState>> {
    Some(match (method, path) {
        ("POST", "/api/servers") => post(create_server),
        ("PUT", "/api/servers/{id}") => put(replace_server),
        ("PATCH", "/api/servers/{id}") => patch(patch_server),
        ("POST", "/api/servers/{id}/test") => post(test_server),
        ("PATCH", "/api/products/{id}") => patch(patch_product),
        _ => return None,
    })
}

/// Longest error text about a body: serde's messages quote the offending key or value,
/// which the client chose.
const MAX_BODY_ERROR: usize = 300;

/// The body as `T`, or a 400 naming the path of the first bad value
/// (`port: invalid value: integer `70000`, expected u16 …`).
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut msg = if path == "." {
            format!("body: {}", e.inner())
        } else {
            format!("{path}: {}", e.inner())
        };
        if msg.len() > MAX_BODY_ERROR {
            let mut end = MAX_BODY_ERROR;
            while !msg.is_char_boundary(end) {
                end -= 1;
            }
            msg.truncate(end);
            msg.push('…');
        }
        ApiError(WebError::BadRequest(msg))
    })
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
    #[schema(value_type = Option<u16>)]
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
fn server_answer(s: &Server) -> Value {
    let mut v = server_json(s);
    v["password_set"] = json!(!s.password.is_empty());
    v["access_hash_set"] = json!(!s.access_hash.is_empty());
    v
}

async fn save(st: &WebState, user: &ApiUser, input: ServerInput) -> Result<Server, ApiError> {
    let app = st.app.clone().with_actor(user.actor());
    let id = app.save_server_checked(&input).await?;
    Ok(app.server(&id.to_string()).await?)
}

async fn create_server(
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
        Json(server_answer(&server)),
    )
        .into_response())
}

async fn replace_server(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    user.require_admin()?;
    let body: ServerBody = parse_body(&body)?;
    let stored = st.app.server(&id).await?;
    let server = save(&st, &user, body.input(Some(stored.id))).await?;
    Ok(Json(server_answer(&server)))
}

async fn patch_server(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    user.require_admin()?;
    let patch: ServerPatch = parse_body(&body)?;
    let stored = st.app.server(&id).await?;
    let server = save(&st, &user, patch.over(stored)).await?;
    Ok(Json(server_answer(&server)))
}

/// One listing call against the server's panel; answered 200 whether it connected or not
/// (`connected`, `error`, and `line`, the one-line result the page and the CLI show).
/// Read-only tokens may test: it writes nothing.
async fn test_server(
    State(st): State<WebState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let test = st.app.test_connection(&id).await?;
    let mut v = serde_json::to_value(&test)
        .map_err(|e| WebError::Internal(format!("connection test: {e}")))?;
    v["line"] = json!(test.line());
    Ok(Json(v))
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

async fn patch_product(
    State(st): State<WebState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(product_json(&app.product(id).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// `openapi.json` is OpenAPI 3.0 written by hand, utoipa derives 3.1: the fields, the
    /// required ones and the refusal of unknown fields must agree, so a field added to a
    /// body type without documenting it fails here.
    #[test]
    fn documented_request_bodies_match_the_types() {
        let doc: Value = serde_json::from_str(crate::api::OPENAPI).expect("openapi.json");
        for (name, schema) in derived() {
            let documented = &doc["components"]["schemas"][name];
            assert_eq!(
                keys(documented, "properties"),
                keys(&schema, "properties"),
                "{name}: properties"
            );
            assert_eq!(
                keys(documented, "required"),
                keys(&schema, "required"),
                "{name}: required"
            );
            assert_eq!(documented["additionalProperties"], json!(false), "{name}");
            assert_eq!(schema["additionalProperties"], json!(false), "{name}");
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
        assert!(err(&long).chars().count() <= MAX_BODY_ERROR + 1);
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
