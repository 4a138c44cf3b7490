//! The HTTP side of the DirectAdmin simulator (see the module docs of [`super`]).

use crate::basic_auth::{base64_decode, eq_ct};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::handle::Shared;
use crate::Fault;

/// DirectAdmin's login page, served for refused credentials (HTTP 401; a simulator choice —
/// which status a real DirectAdmin gives its login page for an API call is not verified).
pub const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>DirectAdmin Login</title></head>\
<body><form action=\"/CMD_LOGIN\" method=\"post\"><input name=\"username\"><input \
type=\"password\" name=\"password\"><button>Login</button></form></body></html>\n";

/// The `error-in-200` fault's answer (DirectAdmin's legacy error form).
pub const FAULT_ERROR_BODY: &str = "error=1&text=Unable%20to%20read%20the%20user%20list\
&details=Resource%20temporarily%20unavailable%20%28panel-sim%20fault%20error-in-200%29";

const HTTP_500_BODY: &str = "<html><head><title>500 Internal Server Error</title></head><body>\
<h1>Internal Server Error</h1><p>DirectAdmin encountered an internal error while processing \
the request. (panel-sim fault http-500)</p></body></html>\n";

const FORM: &str = "text/plain; charset=utf-8";

/// How long the truncated fault waits after the first half before closing.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// The credentials the simulator accepts: HTTP Basic `username:password`, or
/// `username:login_key`.
pub(crate) struct Auth {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) login_key: Option<String>,
}

impl Auth {
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, cred)) = value.trim().split_once(char::is_whitespace) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Some(decoded) = base64_decode(cred.trim()).and_then(|d| String::from_utf8(d).ok())
        else {
            return false;
        };
        let Some((user, pass)) = decoded.split_once(':') else {
            return false;
        };
        user == self.username
            && (eq_ct(pass, &self.password)
                || self.login_key.as_deref().is_some_and(|k| eq_ct(pass, k)))
    }
}

/// The served accounts, indexed by `username`, for one accounts list.
struct Index {
    accounts: Arc<Vec<Value>>,
    by_user: HashMap<String, usize>,
}

struct AppState {
    auth: Auth,
    shared: Arc<Shared>,
    delay: Duration,
    index: Mutex<Option<Arc<Index>>>,
}

impl AppState {
    /// The index of `accounts`, rebuilt when the served list was swapped.
    fn index(&self, accounts: &Arc<Vec<Value>>) -> Arc<Index> {
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(idx) = slot.as_ref() {
            if Arc::ptr_eq(&idx.accounts, accounts) {
                return Arc::clone(idx);
            }
        }
        let mut by_user = HashMap::with_capacity(accounts.len());
        for (i, a) in accounts.iter().enumerate() {
            if let Some(u) = a.get("username").and_then(Value::as_str) {
                by_user.entry(u.to_string()).or_insert(i);
            }
        }
        let idx = Arc::new(Index {
            accounts: Arc::clone(accounts),
            by_user,
        });
        *slot = Some(Arc::clone(&idx));
        idx
    }
}

pub(crate) fn router(auth: Auth, shared: Arc<Shared>, delay: Duration) -> Router {
    Router::new()
        .route("/{command}", get(command).post(command))
        .with_state(Arc::new(AppState {
            auth,
            shared,
            delay,
            index: Mutex::new(None),
        }))
}

/// Query-string parameters, then those of a form body (POST); the first occurrence wins.
fn params(query: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in [query.unwrap_or("").as_bytes(), body] {
        for pair in part.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(p) => (&pair[..p], &pair[p + 1..]),
                None => (pair, &b""[..]),
            };
            out.push((url_decode(k), url_decode(v)));
        }
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn url_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len()
                && s[i + 1].is_ascii_hexdigit()
                && s[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(s[i + 1]) << 4 | hex(s[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn command(
    State(st): State<Arc<AppState>>,
    Path(command): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.shared.count_request();
    let (accounts, fault, cache) = st.shared.snapshot();
    if !st.delay.is_zero() && wait(&st, st.delay).await.is_err() {
        return shutting_down();
    }
    if fault == Some(Fault::BadAuth) || !st.auth.accepts(&headers) {
        return respond(
            StatusCode::UNAUTHORIZED,
            "text/html; charset=utf-8",
            Bytes::from_static(LOGIN_PAGE.as_bytes()),
        );
    }
    match fault {
        Some(Fault::Slow(d)) if wait(&st, d).await.is_err() => return shutting_down(),
        Some(Fault::ErrorIn200) => {
            return respond(
                StatusCode::OK,
                FORM,
                Bytes::from_static(FAULT_ERROR_BODY.as_bytes()),
            )
        }
        Some(Fault::Http500) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/html; charset=utf-8",
                Bytes::from_static(HTTP_500_BODY.as_bytes()),
            )
        }
        _ => {}
    }
    let params = params(query.as_deref(), &body);
    let answer = match command.as_str() {
        "CMD_API_SHOW_ALL_USERS" => cache
            .get_or_init(|| user_list(accounts.iter().filter_map(|a| a.get("username")?.as_str())))
            .clone(),
        "CMD_API_SHOW_USERS" => {
            let creator = param(&params, "reseller").unwrap_or(&st.auth.username);
            user_list(
                accounts
                    .iter()
                    .filter(|a| a.get("creator").and_then(Value::as_str) == Some(creator))
                    .filter_map(|a| a.get("username")?.as_str()),
            )
        }
        "CMD_API_SHOW_RESELLERS" => user_list(
            accounts
                .iter()
                .filter(|a| a.get("usertype").and_then(Value::as_str) == Some("reseller"))
                .filter_map(|a| a.get("username")?.as_str()),
        ),
        "CMD_API_SHOW_USER_CONFIG" => {
            let idx = st.index(&accounts);
            match param(&params, "user") {
                None | Some("") => error_form("Cannot show user", "No user specified"),
                Some(user) => match idx.by_user.get(user) {
                    Some(&i) => user_config(&idx.accounts[i]),
                    None => error_form("Cannot show user", "User does not exist"),
                },
            }
        }
        _ => {
            return respond(
                StatusCode::NOT_FOUND,
                "text/html; charset=utf-8",
                Bytes::from_static(b"<html><body><h1>404 Not Found</h1></body></html>\n"),
            )
        }
    };
    let answer = match crate::transport::apply(fault, FORM, answer, &st.shared) {
        Ok(hostile) => return hostile,
        Err(answer) => answer,
    };
    if fault == Some(Fault::Truncated) {
        truncated(answer)
    } else {
        respond(StatusCode::OK, FORM, answer)
    }
}

/// Sleeps `d`, or fails at once when the simulator shuts down.
async fn wait(st: &AppState, d: Duration) -> Result<(), ()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = st.shared.shutdown_requested() => Err(()),
    }
}

fn shutting_down() -> Response {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"panel-sim is shutting down\n"),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// HTTP 200 announcing the full length, sending the first half, then ending the connection.
fn truncated(full: Bytes) -> Response {
    let half = full.slice(..(full.len() / 2).max(1).min(full.len()));
    let first = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    let cut = futures::stream::once(async {
        tokio::time::sleep(TRUNCATE_PAUSE).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "panel-sim fault: truncated",
        ))
    });
    let mut resp = Response::new(Body::from_stream(futures::StreamExt::chain(first, cut)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FORM));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

/// `list[]=a&list[]=b` (names percent-encoded); empty for no users.
fn user_list<'a>(names: impl Iterator<Item = &'a str>) -> Bytes {
    let mut out = String::new();
    for n in names {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str("list[]=");
        encode_into(&mut out, n, Entities::None);
    }
    Bytes::from(out)
}

/// `error=1&text=…&details=…`.
pub(crate) fn error_form(text: &str, details: &str) -> Bytes {
    let mut out = String::from("error=1&text=");
    encode_into(&mut out, text, Entities::None);
    out.push_str("&details=");
    encode_into(&mut out, details, Entities::None);
    Bytes::from(out)
}

/// How `@ < > " '` are written in values (the account's `_entities`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entities {
    /// DirectAdmin's `&#64` (two digits, no `;`).
    Bare,
    /// `&#64;`.
    Semicolon,
    /// Percent-encoded like every other byte.
    None,
}

/// One user's config: `_config` verbatim when the account has it, else every key not
/// starting with `_` as `key=value`, values percent-encoded with the account's entity style.
pub(crate) fn user_config(account: &Value) -> Bytes {
    let Value::Object(m) = account else {
        return error_form("Cannot show user", "Invalid user.conf");
    };
    if let Some(raw) = m.get("_config").and_then(Value::as_str) {
        return Bytes::from(raw.to_string());
    }
    let style = match m.get("_entities").and_then(Value::as_str) {
        Some("semicolon") => Entities::Semicolon,
        Some("none") => Entities::None,
        _ => Entities::Bare,
    };
    let mut out = String::with_capacity(512);
    for (k, v) in m.iter().filter(|(k, _)| !k.starts_with('_')) {
        if !out.is_empty() {
            out.push('&');
        }
        encode_into(&mut out, k, Entities::None);
        out.push('=');
        match v {
            Value::String(s) => encode_into(&mut out, s, style),
            Value::Null => {}
            other => encode_into(&mut out, &other.to_string(), style),
        }
    }
    Bytes::from(out)
}

fn encode_into(out: &mut String, s: &str, style: Entities) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        let entity = matches!(b, b'@' | b'<' | b'>' | b'"' | b'\'') && style != Entities::None;
        if entity {
            out.push_str("&#");
            out.push_str(&b.to_string());
            if style == Entities::Semicolon {
                out.push(';');
            }
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_are_served_in_each_entity_style() {
        let mut a = json!({"username": "ann", "email": "ann@mail.test", "name": "Ann O'Lee",
                           "date_created": "Tue Nov 14 22:13:20 2023", "quota": 1000});
        assert_eq!(
            user_config(&a),
            "date_created=Tue%20Nov%2014%2022%3A13%3A20%202023&email=ann&#64mail.test\
             &name=Ann%20O&#39Lee&quota=1000&username=ann"
        );
        a["_entities"] = json!("semicolon");
        assert!(std::str::from_utf8(&user_config(&a))
            .unwrap()
            .contains("email=ann&#64;mail.test"));
        a["_entities"] = json!("none");
        assert!(std::str::from_utf8(&user_config(&a))
            .unwrap()
            .contains("email=ann%40mail.test"));
        a["_config"] = json!("error=1&text=Cannot%20show%20user");
        assert_eq!(user_config(&a), "error=1&text=Cannot%20show%20user");
    }

    #[test]
    fn lists_and_errors() {
        assert_eq!(
            user_list(["ann", "b c"].into_iter()),
            "list[]=ann&list[]=b%20c"
        );
        assert_eq!(user_list(std::iter::empty()), "");
        assert_eq!(
            error_form("Cannot show user", "User does not exist"),
            "error=1&text=Cannot%20show%20user&details=User%20does%20not%20exist"
        );
    }

    #[test]
    fn request_parameters_and_basic_auth() {
        let p = params(Some("user=a%7Cb&x"), b"user=ignored&json=yes");
        assert_eq!(param(&p, "user"), Some("a|b"));
        assert_eq!(param(&p, "x"), Some(""));
        assert_eq!(param(&p, "json"), Some("yes"));
        let auth = Auth {
            username: "admin".into(),
            password: "pw".into(),
            login_key: Some("KEY".into()),
        };
        let mut h = HeaderMap::new();
        // base64("admin:pw"), base64("admin:KEY"), base64("admin:nope")
        for (cred, ok) in [
            ("YWRtaW46cHc=", true),
            ("YWRtaW46S0VZ", true),
            ("YWRtaW46bm9wZQ==", false),
        ] {
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Basic {cred}")).unwrap(),
            );
            assert_eq!(auth.accepts(&h), ok, "{cred}");
        }
    }
}
