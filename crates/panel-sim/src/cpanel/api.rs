//! The HTTP side of the cPanel/WHM simulator (see the module docs of [`super`]).

use crate::basic_auth::{base64_decode, eq_ct};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::handle::Shared;
use crate::Fault;

/// The body of WHM's HTTP 403 refusal of a wrong or missing API token on `/json-api/...`
/// (as reported from a real server: `403 Forbidden Access denied`, an API 2 shaped body).
pub const ACCESS_DENIED_BODY: &str = r#"{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}"#;

/// The `reason` of the `error-in-200` fault.
const FAULT_REASON: &str = "Failed to load the account list: Resource temporarily unavailable";

const HTTP_500_BODY: &str = "<html><head><title>500 Internal Server Error</title></head><body>\
<h1>Internal Server Error</h1><p>cpsrvd encountered an internal error while processing the \
request. (panel-sim fault http-500)</p></body></html>\n";

/// The version `version` reports.
const WHM_VERSION: &str = "11.124.0.21";

const JSON: &str = "application/json; charset=utf-8";

/// How long the truncated fault waits after the first half before closing, so the half is
/// flushed to the client first.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// The credentials the simulator accepts.
pub(crate) struct Auth {
    pub(crate) username: String,
    pub(crate) token: String,
    pub(crate) password: Option<String>,
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
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("whm") {
            match cred.split_once(':') {
                Some((user, token)) => user == self.username && eq_ct(token, &self.token),
                None => false,
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            let Some(password) = &self.password else {
                return false;
            };
            let Some(decoded) = base64_decode(cred) else {
                return false;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return false;
            };
            match decoded.split_once(':') {
                Some((user, pass)) => user == self.username && eq_ct(pass, password),
                None => false,
            }
        } else {
            false
        }
    }
}

struct AppState {
    auth: Auth,
    shared: Arc<Shared>,
    /// Waited before every request is answered (`--delay-ms`; zero: none).
    delay: std::time::Duration,
}

pub(crate) fn router(auth: Auth, shared: Arc<Shared>, delay: std::time::Duration) -> Router {
    Router::new()
        .route("/json-api/{function}", get(json_api).post(json_api))
        .with_state(Arc::new(AppState {
            auth,
            shared,
            delay,
        }))
}

/// Query parameters in request order; the first occurrence of a name wins.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn json_api(
    State(st): State<Arc<AppState>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    st.shared.count_request();
    let (accounts, fault, cache) = st.shared.snapshot();
    // Like a real panel's round trip, refused requests included (a fleet benchmark's
    // 20 ms per request); shutdown ends the wait at once.
    if !st.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(st.delay) => {}
            _ = st.shared.shutdown_requested() => {
                return respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    Bytes::from_static(b"panel-sim is shutting down\n"),
                );
            }
        }
    }
    if fault == Some(Fault::BadAuth) || !st.auth.accepts(&headers) {
        return respond(
            StatusCode::FORBIDDEN,
            JSON,
            Bytes::from_static(ACCESS_DENIED_BODY.as_bytes()),
        );
    }
    let params = Params(params);
    let v1 = params.get("api.version") == Some("1");
    match fault {
        Some(Fault::Slow(wait)) => {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = st.shared.shutdown_requested() => {
                    return respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        Bytes::from_static(b"panel-sim is shutting down\n"),
                    );
                }
            }
        }
        Some(Fault::ErrorIn200) => {
            return respond(
                StatusCode::OK,
                JSON,
                error_body(v1, &function, FAULT_REASON),
            );
        }
        Some(Fault::Http500) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/html; charset=utf-8",
                Bytes::from_static(HTTP_500_BODY.as_bytes()),
            );
        }
        _ => {}
    }
    let body = tokio::task::spawn_blocking(move || {
        let hostile = match fault {
            Some(Fault::HugeTotal) => Hostile::HugeTotal,
            Some(Fault::WrongEnvelope) => Hostile::TopLevelArray,
            _ => Hostile::None,
        };
        if fault == Some(Fault::OversizedField) {
            // A fresh list (and no cache) so the normal listing is left as it is.
            let accounts = oversized(&accounts);
            dispatch(&function, v1, &params, &accounts, &OnceLock::new(), hostile)
        } else {
            dispatch(&function, v1, &params, &accounts, &cache, hostile)
        }
    })
    .await;
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("panel-sim: {e}\n"),
            )
                .into_response();
        }
    };
    let body = match crate::transport::apply(fault, JSON, body, &st.shared) {
        Ok(hostile) => return hostile,
        Err(body) => body,
    };
    if fault == Some(Fault::Truncated) {
        truncated(body)
    } else {
        respond(StatusCode::OK, JSON, body)
    }
}

/// How a `listaccts` answer is bent by a hostile fault.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hostile {
    None,
    /// `huge-total`: `metadata.chunk.records` is [`crate::HUGE_TOTAL`].
    HugeTotal,
    /// `wrong-envelope`: the page's accounts as a top-level JSON array.
    TopLevelArray,
}

/// The accounts with the first one's `email` and the second one's `plan` made
/// [`crate::OVERSIZED_FIELD_BYTES`] long (`oversized-field`).
fn oversized(accounts: &[Value]) -> Vec<Value> {
    let mut out = accounts.to_vec();
    let long = "x".repeat(crate::OVERSIZED_FIELD_BYTES.saturating_sub(9));
    if let Some(Value::Object(a)) = out.get_mut(0) {
        a.insert("email".into(), Value::String(format!("{long}@mail.test")));
    }
    if let Some(Value::Object(a)) = out.get_mut(1) {
        a.insert("plan".into(), Value::String(format!("{long}_plan_end")));
    }
    out
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
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

fn dispatch(
    function: &str,
    v1: bool,
    params: &Params,
    accounts: &[Value],
    cache: &OnceLock<Bytes>,
    hostile: Hostile,
) -> Bytes {
    match function {
        "listaccts" => listaccts(v1, params, accounts, cache, hostile),
        "accountsummary" => accountsummary(v1, params, accounts),
        "version" => {
            if v1 {
                to_bytes(&Api1 {
                    metadata: Metadata::ok("version"),
                    data: Some(serde_json::json!({ "version": WHM_VERSION })),
                })
            } else {
                to_bytes(&serde_json::json!({ "version": WHM_VERSION }))
            }
        }
        other => error_body(
            v1,
            other,
            &format!(
                "Unknown app (“{other}”) requested for this version ({}) of the API.",
                if v1 { 1 } else { 0 }
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Envelopes

#[derive(Serialize)]
struct Metadata<'a> {
    command: &'a str,
    result: u8,
    reason: &'a str,
    version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunk: Option<ChunkMeta>,
}

impl<'a> Metadata<'a> {
    fn ok(command: &'a str) -> Self {
        Metadata {
            command,
            result: 1,
            reason: "OK",
            version: 1,
            chunk: None,
        }
    }
}

/// `metadata.chunk` of a chunked WHM API 1 answer.
#[derive(Serialize)]
struct ChunkMeta {
    /// 1-indexed number of the first record of this page (as requested).
    start: usize,
    /// Page size (as requested).
    size: usize,
    /// Records in the whole (searched) list (`huge-total`: [`crate::HUGE_TOTAL`]).
    records: u64,
    /// Number of pages.
    chunks: u64,
    /// 1-indexed page number of this page.
    current: usize,
}

#[derive(Serialize)]
struct Api1<'a, D: Serialize> {
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
}

#[derive(Serialize)]
struct AcctData<'a> {
    acct: Accts<'a>,
}

#[derive(Serialize)]
struct Api0<'a> {
    status: u8,
    statusmsg: &'a str,
    acct: Accts<'a>,
}

/// A list of account objects, optionally reduced to the `want` keys, serialised in place.
struct Accts<'a> {
    items: &'a [&'a Value],
    want: Option<&'a [String]>,
}

impl Serialize for Accts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.items.iter().map(|v| Projected {
            value: v,
            want: self.want,
        }))
    }
}

struct Projected<'a> {
    value: &'a Value,
    want: Option<&'a [String]>,
}

impl Serialize for Projected<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.want, self.value) {
            (Some(keys), Value::Object(obj)) => {
                let mut map = s.serialize_map(None)?;
                for key in keys {
                    if let Some(v) = obj.get(key) {
                        map.serialize_entry(key, v)?;
                    }
                }
                map.end()
            }
            (_, v) => v.serialize(s),
        }
    }
}

fn to_bytes<T: Serialize>(v: &T) -> Bytes {
    // Serialising these types (strings, numbers, serde_json values) cannot fail.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn error_body(v1: bool, command: &str, reason: &str) -> Bytes {
    if v1 {
        to_bytes(&Api1::<()> {
            metadata: Metadata {
                command,
                result: 0,
                reason,
                version: 1,
                chunk: None,
            },
            data: None,
        })
    } else {
        to_bytes(&serde_json::json!({ "status": 0, "statusmsg": reason }))
    }
}

// ---------------------------------------------------------------------------------------
// listaccts

fn listaccts(
    v1: bool,
    params: &Params,
    accounts: &[Value],
    cache: &OnceLock<Bytes>,
    hostile: Hostile,
) -> Bytes {
    let search = params.get("search").filter(|s| !s.is_empty());
    let want: Option<Vec<String>> = params.get("want").and_then(|w| {
        let keys: Vec<String> = w
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
        (!keys.is_empty()).then_some(keys)
    });
    let chunk = if v1 {
        match parse_chunk(params) {
            Ok(c) => c,
            Err(reason) => return error_body(v1, "listaccts", &reason),
        }
    } else {
        None
    };

    if v1 && search.is_none() && want.is_none() && chunk.is_none() && hostile == Hostile::None {
        return cache
            .get_or_init(|| {
                let items: Vec<&Value> = accounts.iter().collect();
                listing_v1(&items, None, None, Hostile::None)
            })
            .clone();
    }

    let items: Vec<&Value> = match search {
        None => accounts.iter().collect(),
        Some(pattern) => {
            let matcher = match Matcher::new(
                params.get("searchtype").unwrap_or("domain"),
                params.get("searchmethod").unwrap_or("regex"),
                pattern,
            ) {
                Ok(m) => m,
                Err(reason) => return error_body(v1, "listaccts", &reason),
            };
            accounts.iter().filter(|a| matcher.matches(a)).collect()
        }
    };
    if v1 {
        listing_v1(&items, want.as_deref(), chunk, hostile)
    } else {
        to_bytes(&Api0 {
            status: 1,
            statusmsg: "Ok",
            acct: Accts {
                items: &items,
                want: want.as_deref(),
            },
        })
    }
}

fn listing_v1(
    items: &[&Value],
    want: Option<&[String]>,
    chunk: Option<(usize, usize)>,
    hostile: Hostile,
) -> Bytes {
    let mut metadata = Metadata::ok("listaccts");
    let page: &[&Value] = match chunk {
        None => items,
        Some((start, size)) => {
            let records = match hostile {
                Hostile::HugeTotal => crate::HUGE_TOTAL,
                _ => items.len() as u64,
            };
            metadata.chunk = Some(ChunkMeta {
                start,
                size,
                records,
                chunks: records.div_ceil(size as u64),
                current: (start - 1) / size + 1,
            });
            let records = items.len();
            let from = (start - 1).min(records);
            let to = from.saturating_add(size).min(records);
            &items[from..to]
        }
    };
    if hostile == Hostile::TopLevelArray {
        return to_bytes(&Accts { items: page, want });
    }
    to_bytes(&Api1 {
        metadata,
        data: Some(AcctData {
            acct: Accts { items: page, want },
        }),
    })
}

/// `Ok(None)` without `api.chunk.enable=1`; else `(start, size)`, both ≥ 1.
fn parse_chunk(params: &Params) -> Result<Option<(usize, usize)>, String> {
    if params.get("api.chunk.enable") != Some("1") {
        return Ok(None);
    }
    let size = match params
        .get("api.chunk.size")
        .map(|s| s.trim().parse::<usize>())
    {
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return Err("Invalid “api.chunk.size”: it must be a positive integer.".into()),
        None => return Err("“api.chunk.size” is required when “api.chunk.enable” is 1.".into()),
    };
    let start = match params.get("api.chunk.start").map(|s| s.trim().parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return Err(
                "Invalid “api.chunk.start”: it is the 1-indexed number of the first record (1 or more)."
                    .into(),
            )
        }
    };
    Ok(Some((start, size)))
}

/// `search` / `searchtype` / `searchmethod` of `listaccts`.
struct Matcher {
    field: &'static str,
    case_insensitive: bool,
    kind: MatchKind,
}

enum MatchKind {
    Exact(String),
    Pattern {
        tokens: Vec<Tok>,
        anchored_start: bool,
        anchored_end: bool,
    },
}

#[derive(Clone, Copy)]
enum Tok {
    Any,
    Lit(char),
}

impl Matcher {
    fn new(searchtype: &str, searchmethod: &str, search: &str) -> Result<Self, String> {
        let field = match searchtype {
            "domain" => "domain",
            "owner" => "owner",
            "user" => "user",
            "ip" => "ip",
            "package" => "plan",
            other => {
                return Err(format!(
                    "Invalid “searchtype” (“{other}”): use domain, owner, user, ip or package."
                ))
            }
        };
        let case_insensitive = field == "domain";
        let norm = |s: &str| {
            if case_insensitive {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let kind = match searchmethod {
            "exact" => MatchKind::Exact(norm(search)),
            "regex" => parse_pattern(&norm(search))?,
            other => {
                return Err(format!(
                    "Invalid “searchmethod” (“{other}”): use exact or regex."
                ))
            }
        };
        Ok(Matcher {
            field,
            case_insensitive,
            kind,
        })
    }

    fn matches(&self, acct: &Value) -> bool {
        let text: Cow<'_, str> = match acct.get(self.field) {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
            _ => return false,
        };
        let text = if self.case_insensitive {
            Cow::Owned(text.to_lowercase())
        } else {
            text
        };
        match &self.kind {
            MatchKind::Exact(v) => *text == **v,
            MatchKind::Pattern {
                tokens,
                anchored_start,
                anchored_end,
            } => {
                let chars: Vec<char> = text.chars().collect();
                if tokens.len() > chars.len() {
                    return false;
                }
                let last = chars.len() - tokens.len();
                let starts = if *anchored_start { 0..=0 } else { 0..=last };
                starts.into_iter().any(|p| {
                    (!*anchored_end || p == last)
                        && tokens.iter().zip(&chars[p..]).all(|(t, c)| match t {
                            Tok::Any => true,
                            Tok::Lit(l) => l == c,
                        })
                })
            }
        }
    }
}

/// A literal regex with optional `^`/`$` anchors, `.` wildcards and `\`-escaped punctuation.
fn parse_pattern(p: &str) -> Result<MatchKind, String> {
    let unsupported = || {
        Err(format!(
            "panel-sim supports only literal regex searches (with ^, $, . and \\.), not “{p}”."
        ))
    };
    let mut rest = p;
    let anchored_start = rest.starts_with('^');
    if anchored_start {
        rest = &rest[1..];
    }
    let anchored_end = rest.ends_with('$') && !rest.ends_with("\\$");
    if anchored_end {
        rest = &rest[..rest.len() - 1];
    }
    let mut tokens = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => tokens.push(Tok::Lit(e)),
                _ => return unsupported(),
            },
            '.' => tokens.push(Tok::Any),
            '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => {
                return unsupported()
            }
            c => tokens.push(Tok::Lit(c)),
        }
    }
    Ok(MatchKind::Pattern {
        tokens,
        anchored_start,
        anchored_end,
    })
}

// ---------------------------------------------------------------------------------------
// accountsummary

fn accountsummary(v1: bool, params: &Params, accounts: &[Value]) -> Bytes {
    let found = if let Some(user) = params.get("user").filter(|u| !u.is_empty()) {
        accounts
            .iter()
            .find(|a| a.get("user").and_then(Value::as_str) == Some(user))
    } else if let Some(domain) = params.get("domain").filter(|d| !d.is_empty()) {
        let domain = domain.to_lowercase();
        accounts.iter().find(|a| {
            a.get("domain")
                .and_then(Value::as_str)
                .is_some_and(|d| d.to_lowercase() == domain)
        })
    } else {
        return error_body(
            v1,
            "accountsummary",
            "You must specify a “user” or a “domain”.",
        );
    };
    let Some(acct) = found else {
        return error_body(v1, "accountsummary", "Account does not exist.");
    };
    let items = [acct];
    let accts = Accts {
        items: &items,
        want: None,
    };
    if v1 {
        to_bytes(&Api1 {
            metadata: Metadata::ok("accountsummary"),
            data: Some(AcctData { acct: accts }),
        })
    } else {
        to_bytes(&Api0 {
            status: 1,
            statusmsg: "Ok",
            acct: accts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode("cm9vdDpzZWNyZXQ=").as_deref(),
            Some(&b"root:secret"[..])
        );
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("!!"), None);
    }

    fn m(t: &str, method: &str, s: &str) -> Matcher {
        match Matcher::new(t, method, s) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn search_methods() {
        let a = serde_json::json!({"user": "ann1", "domain": "Ann1.test", "plan": "basic", "ip": "192.0.2.10"});
        assert!(m("user", "exact", "ann1").matches(&a));
        assert!(!m("user", "exact", "ann").matches(&a));
        assert!(m("domain", "exact", "ann1.TEST").matches(&a));
        assert!(m("domain", "regex", "ann").matches(&a));
        assert!(m("domain", "regex", "^ann1\\.test$").matches(&a));
        assert!(m("domain", "regex", "1.test$").matches(&a));
        assert!(!m("domain", "regex", "^nn1").matches(&a));
        assert!(m("package", "exact", "basic").matches(&a));
        assert!(m("ip", "regex", "^192\\.0\\.2\\.").matches(&a));
        assert!(Matcher::new("domain", "regex", "a.*b").is_err());
        assert!(Matcher::new("nope", "exact", "x").is_err());
    }
}
