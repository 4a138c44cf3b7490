//! The HTTP side of the HestiaCP simulator (see the module docs of [`super`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use serde_json::Value;

use super::render::{render_users, web_domains};
use crate::basic_auth::eq_ct;
use crate::handle::Shared;
use crate::Fault;

/// The `error-in-200` fault's command output (a failing `v-list-*`), served as Hestia serves
/// a failing command: HTTP 200 with user/password, HTTP 400 with `Hestia-Exit-Code: 12` with
/// an access key.
pub const FAULT_ERROR_TEXT: &str =
    "Error: can't parse /usr/local/hestia/data/users: Resource temporarily unavailable (panel-sim fault error-in-200)";

/// The exit code of the `error-in-200` fault (Hestia's `E_PARSING`).
pub const FAULT_EXIT_CODE: u16 = 12;

const HTTP_500_BODY: &str = "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n\
<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n\
<!-- panel-sim fault http-500 -->\r\n</body>\r\n</html>\r\n";

/// PHP's default content type: Hestia's API sets `application/json` only for output that
/// `json_decode` accepts in access-key mode.
const PHP_HTML: &str = "text/html; charset=UTF-8";
const JSON: &str = "application/json; charset=utf-8";

/// How long the truncated fault waits after the first half before closing.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// The credentials the simulator accepts.
pub(crate) struct Auth {
    /// The root user, the only one `user`/`password` may log in as.
    pub(crate) username: String,
    pub(crate) password: String,
    /// Accepted in `hash`: as an access key pair `ACCESS_KEY:SECRET_KEY` when its parts are
    /// 20 and 40 characters (also as `access_key` + `secret_key` fields), else as a legacy
    /// API key.
    pub(crate) token: String,
}

/// How a request authenticated: which HTTP status rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `access_key` + `secret_key` (or `hash` split into them): exit code → HTTP status.
    AccessKey,
    /// `user` + `password` or a legacy `hash`: HTTP 200 whatever the command's exit code.
    Legacy,
}

/// A command's result: its exit code and output.
pub(crate) struct Output {
    pub(crate) exit: u16,
    pub(crate) text: Bytes,
}

/// The served accounts, indexed by `USER`, for one accounts list.
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
            if let Some(u) = a.get("USER").and_then(Value::as_str) {
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
        .route("/api/", any(api))
        .route("/api", any(api))
        .with_state(Arc::new(AppState {
            auth,
            shared,
            delay,
            index: Mutex::new(None),
        }))
}

/// The request's fields: a form body, else a JSON object body (index.php reads `$_POST`
/// when it has `access_key`, `user` or `hash`, else the JSON body). The first occurrence of
/// a form field wins.
pub(crate) fn fields(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, v);
        }
        return out;
    }
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(p) => (&pair[..p], &pair[p + 1..]),
            None => (pair, &b""[..]),
        };
        out.entry(url_decode(k)).or_insert_with(|| url_decode(v));
    }
    out
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

/// Hestia's `exit_code_to_http_code` (web/inc/helpers.php).
pub(crate) fn exit_code_to_http(exit: u16) -> StatusCode {
    match exit {
        0 => StatusCode::OK,
        2 => StatusCode::UNPROCESSABLE_ENTITY,
        5 | 6 | 9 | 10 | 21 => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// index.php's `api_error`: the status of the exit code (405 as it is), `Hestia-Exit-Code`,
/// and the message with an `Error: ` prefix.
fn api_error(exit: u16, message: &str) -> Response {
    let status = if exit >= 100 {
        StatusCode::from_u16(exit).unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        exit_code_to_http(exit)
    };
    let text = if message.starts_with("Error:") {
        message.to_string()
    } else {
        format!("Error: {message}")
    };
    let mut resp = respond(status, PHP_HTML, Bytes::from(text));
    resp.headers_mut()
        .insert("hestia-exit-code", HeaderValue::from(exit));
    resp
}

async fn api(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    st.shared.count_request();
    let (accounts, fault, cache) = st.shared.snapshot();
    if !st.delay.is_zero() && wait(&st, st.delay).await.is_err() {
        return shutting_down();
    }
    let mut f = fields(&body);
    if !f.contains_key("access_key") {
        if let Some((k, s)) = f.get("hash").and_then(|h| h.split_once(':')) {
            if !s.contains(':') && k.len() == 20 && s.len() == 40 {
                let (k, s) = (k.to_string(), s.to_string());
                f.remove("hash");
                f.insert("access_key".into(), k);
                f.insert("secret_key".into(), s);
            }
        }
    }
    let mode = if f.contains_key("access_key") && f.contains_key("secret_key") {
        Mode::AccessKey
    } else if f.contains_key("user") || f.contains_key("hash") {
        Mode::Legacy
    } else {
        return api_error(
            405,
            "Error: data received is null or invalid, check https://hestiacp.com/docs/server-administration/rest-api.html",
        );
    };
    if let Some(refused) = check_auth(&st.auth, mode, &f, fault == Some(Fault::BadAuth)) {
        return refused;
    }
    let cmd = f.get("cmd").map(|c| c.trim()).unwrap_or("");
    if cmd.is_empty() {
        return api_error(2, "Command not provided");
    }
    if !cmd
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return api_error(2, &format!("{cmd} command invalid"));
    }
    match fault {
        Some(Fault::Slow(d)) if wait(&st, d).await.is_err() => return shutting_down(),
        Some(Fault::ErrorIn200) => {
            return answer(
                mode,
                Output {
                    exit: FAULT_EXIT_CODE,
                    text: Bytes::from_static(FAULT_ERROR_TEXT.as_bytes()),
                },
            )
        }
        Some(Fault::Http500) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/html",
                Bytes::from_static(HTTP_500_BODY.as_bytes()),
            )
        }
        _ => {}
    }
    let arg = |i: usize| f.get(&format!("arg{i}")).map(|a| a.trim()).unwrap_or("");
    let out = match cmd {
        "v-list-users" => match arg(1) {
            "json" => Output {
                exit: 0,
                text: cache.get_or_init(|| render_users(&accounts)).clone(),
            },
            _ => unsupported_format(),
        },
        "v-list-web-domains" => {
            let user = arg(1);
            if user.is_empty() {
                Output {
                    exit: 1,
                    text: Bytes::from_static(
                        b"Error: not enought arguments\nUsage: v-list-web-domains USER [FORMAT]",
                    ),
                }
            } else if arg(2) != "json" {
                unsupported_format()
            } else {
                let idx = st.index(&accounts);
                match idx.by_user.get(user) {
                    Some(&i) => web_domains(&idx.accounts[i]),
                    None => Output {
                        exit: 3,
                        text: Bytes::from(format!("Error: user {user} doesn't exist")),
                    },
                }
            }
        }
        other => Output {
            exit: 1,
            text: Bytes::from(format!(
                "sudo: /usr/local/hestia/bin/{other}: command not found"
            )),
        },
    };
    if matches!(
        fault,
        Some(Fault::Endless | Fault::Trickle(_) | Fault::Gzip)
    ) {
        let body = render_output(mode, &out);
        if let Ok(hostile) = crate::transport::apply(fault, JSON, body, &st.shared) {
            return hostile;
        }
    }
    if fault == Some(Fault::Truncated) {
        let full = render_output(mode, &out);
        return truncated(full);
    }
    answer(mode, out)
}

/// The simulator serves only the JSON format of the listing commands.
fn unsupported_format() -> Output {
    Output {
        exit: 2,
        text: Bytes::from_static(b"Error: panel-sim serves only the json format"),
    }
}

/// `None` when the credentials pass; else index.php's refusal for that mode.
fn check_auth(
    auth: &Auth,
    mode: Mode,
    f: &HashMap<String, String>,
    refuse_all: bool,
) -> Option<Response> {
    match mode {
        Mode::AccessKey => {
            let key = f.get("access_key").map(|s| s.trim()).unwrap_or("");
            let secret = f.get("secret_key").map(|s| s.trim()).unwrap_or("");
            if key.is_empty() || secret.is_empty() {
                return Some(api_error(9, "Authentication failed"));
            }
            let (want_key, want_secret) = auth.token.split_once(':').unwrap_or(("", ""));
            if refuse_all || !eq_ct(key, want_key) || want_key.is_empty() {
                return Some(api_error(9, &format!("Error: key {key} doesn't exist")));
            }
            if !eq_ct(secret, want_secret) {
                return Some(api_error(
                    9,
                    &format!("Error: key {key} - authentication failed"),
                ));
            }
            None
        }
        Mode::Legacy => {
            if let Some(hash) = f.get("hash").filter(|h| !h.is_empty()) {
                if refuse_all || !eq_ct(hash, &auth.token) {
                    return Some(api_error(9, "Error: authentication failed"));
                }
                return None;
            }
            if refuse_all || f.get("user").map(String::as_str) != Some(auth.username.as_str()) {
                return Some(api_error(10, "Error: authentication failed"));
            }
            match f.get("password") {
                Some(p) if eq_ct(p, &auth.password) => None,
                _ => Some(api_error(9, "Error: authentication failed")),
            }
        }
    }
}

/// The full answer body of a command in `mode` (see [`answer`]).
fn render_output(mode: Mode, out: &Output) -> Bytes {
    match mode {
        Mode::AccessKey => {
            // A slice of the (cached) output, never a copy of a large listing.
            let t = &out.text;
            let start = t.len() - t.trim_ascii_start().len();
            let end = start + t[start..].trim_ascii_end().len();
            t.slice(start..end)
        }
        Mode::Legacy if out.text.is_empty() => Bytes::from_static(b"OK"),
        Mode::Legacy => {
            let mut b = Vec::with_capacity(out.text.len() + 1);
            b.extend_from_slice(&out.text);
            b.push(b'\n');
            Bytes::from(b)
        }
    }
}

/// A command's answer as index.php sends it: with an access key the exit code becomes the
/// status (204 for no output) with `Hestia-Exit-Code` and `application/json` when the output
/// is JSON; in legacy mode HTTP 200 with the output and a new line, `OK` for no output.
fn answer(mode: Mode, out: Output) -> Response {
    let body = render_output(mode, &out);
    match mode {
        Mode::Legacy => respond(StatusCode::OK, PHP_HTML, body),
        Mode::AccessKey => {
            let status = match out.exit {
                0 if body.is_empty() => StatusCode::NO_CONTENT,
                code => exit_code_to_http(code),
            };
            // Validity only (index.php's `json_decode`), without building a tree.
            let json =
                out.exit == 0 && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
            let mut resp = respond(status, if json { JSON } else { PHP_HTML }, body);
            resp.headers_mut()
                .insert("hestia-exit-code", HeaderValue::from(out.exit));
            resp
        }
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
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PHP_HTML));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rules_of_both_modes() {
        assert_eq!(exit_code_to_http(0), StatusCode::OK);
        assert_eq!(exit_code_to_http(2), StatusCode::UNPROCESSABLE_ENTITY);
        for c in [5, 6, 9, 10, 21] {
            assert_eq!(exit_code_to_http(c), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(exit_code_to_http(3), StatusCode::BAD_REQUEST);
        let fail = || Output {
            exit: 3,
            text: Bytes::from_static(b"Error: user x doesn't exist"),
        };
        let legacy = answer(Mode::Legacy, fail());
        assert_eq!(legacy.status(), StatusCode::OK);
        assert!(legacy.headers().get("hestia-exit-code").is_none());
        let keyed = answer(Mode::AccessKey, fail());
        assert_eq!(keyed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(keyed.headers()["hestia-exit-code"], "3");
        let empty = answer(
            Mode::AccessKey,
            Output {
                exit: 0,
                text: Bytes::new(),
            },
        );
        assert_eq!(empty.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            render_output(
                Mode::Legacy,
                &Output {
                    exit: 0,
                    text: Bytes::new()
                }
            ),
            "OK"
        );
        let f = fields(b"user=admin&password=p%26w&cmd=v-list-users&cmd=ignored");
        assert_eq!(f["password"], "p&w");
        assert_eq!(f["cmd"], "v-list-users");
        let j = fields(br#"{"access_key":"A","secret_key":"S","arg1":1}"#);
        assert_eq!((j["access_key"].as_str(), j["arg1"].as_str()), ("A", "1"));
    }
}
