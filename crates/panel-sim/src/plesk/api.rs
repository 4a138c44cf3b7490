//! The HTTP side of the Plesk simulator (see the module docs of [`super`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

use super::answer::{close, open, owners, plans, result_error, system_error, webspaces, Index};
use super::AGENT_PATH;
use crate::basic_auth::eq_ct;
use crate::handle::Shared;
use crate::Fault;

const XML: &str = "text/xml; charset=UTF-8";

/// The `error-in-200` fault's error (a per-result error of every operation).
pub const FAULT_ERRCODE: u32 = 1023;
/// Its text.
pub const FAULT_ERRTEXT: &str =
    "Operation failed: the database is temporarily unavailable (panel-sim fault error-in-200)";

const HTTP_500_BODY: &str = "<html><head><title>500 Internal Server Error</title></head><body>\
<h1>Internal Server Error</h1><p>Plesk encountered an internal error. (panel-sim fault \
http-500)</p></body></html>\n";

const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// The credentials accepted: `KEY` (the secret key) or `HTTP_AUTH_LOGIN`/`HTTP_AUTH_PASSWD`.
pub(crate) struct Auth {
    pub(crate) login: String,
    pub(crate) password: String,
    pub(crate) secret_key: Option<String>,
}

/// Which credential a request carried, and whether it passed.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Ok,
    /// A `KEY` that is not the secret key: 11003.
    BadKey,
    /// A wrong or missing login: 1001.
    BadLogin,
}

impl Auth {
    fn check(&self, headers: &HeaderMap) -> Check {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        if let Some(key) = h("key") {
            return match &self.secret_key {
                Some(k) if eq_ct(key, k) => Check::Ok,
                _ => Check::BadKey,
            };
        }
        match (h("http_auth_login"), h("http_auth_passwd")) {
            (Some(l), Some(p)) if l == self.login && eq_ct(p, &self.password) => Check::Ok,
            _ => Check::BadLogin,
        }
    }
}

struct AppState {
    auth: Auth,
    shared: Arc<Shared>,
    delay: Duration,
    index: Mutex<Option<Arc<Index>>>,
}

impl AppState {
    fn index(&self, accounts: &Arc<Vec<Value>>) -> Arc<Index> {
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(idx) = slot.as_ref() {
            if Arc::ptr_eq(&idx.accounts, accounts) {
                return Arc::clone(idx);
            }
        }
        let idx = Arc::new(Index::build(accounts));
        *slot = Some(Arc::clone(&idx));
        idx
    }
}

pub(crate) fn router(auth: Auth, shared: Arc<Shared>, delay: Duration) -> Router {
    Router::new()
        .route(AGENT_PATH, post(agent))
        .fallback(|| async {
            respond(
                StatusCode::NOT_FOUND,
                "text/html; charset=utf-8",
                Bytes::from_static(b"<html><body><h1>404 Not Found</h1></body></html>\n"),
            )
        })
        .with_state(Arc::new(AppState {
            auth,
            shared,
            delay,
            index: Mutex::new(None),
        }))
}

/// One parsed request: `<packet><OPERATOR><get><filter>…</filter>…</get></OPERATOR></packet>`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) operator: String,
    pub(crate) op: String,
    /// `(kind, value)` of the filter's children (`id`, `guid`, `name`, …).
    pub(crate) filter: Vec<(String, String)>,
    pub(crate) owner_all: bool,
    pub(crate) datasets: Vec<String>,
}

/// Reads a request packet; `Err` with Plesk's parser message for anything else.
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, String> {
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut req = Request::default();
    let mut text = String::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("XML parse error: {e}"))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                element(&mut req, &path, &name);
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                element(&mut req, &path, &name);
                if path.len() == 4 && path[3] == "filter" {
                    req.filter.push((name, String::new()));
                }
            }
            Event::Text(t) => text.push_str(&t.unescape().map_err(|e| e.to_string())?),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if path.len() == 4 && path[3] == "filter" {
                    req.filter.push((name, text.trim().to_string()));
                }
                text.clear();
            }
            Event::Eof if !path.is_empty() => return Err("the packet is not closed".into()),
            Event::Eof => break,
            _ => {}
        }
        if path.len() > 16 {
            return Err("the packet nests too deep".into());
        }
    }
    if req.operator.is_empty() || req.op.is_empty() {
        return Err("the packet has no operation".into());
    }
    Ok(req)
}

fn element(req: &mut Request, path: &[String], name: &str) {
    match path.len() {
        1 if req.operator.is_empty() => req.operator = name.to_string(),
        2 if req.op.is_empty() => req.op = name.to_string(),
        3 if name == "owner-all" => req.owner_all = true,
        4 if path[3] == "dataset" => req.datasets.push(name.to_string()),
        _ => {}
    }
}

async fn agent(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.shared.count_request();
    let (accounts, fault, cache) = st.shared.snapshot();
    if !st.delay.is_zero() && wait(&st, st.delay).await.is_err() {
        return shutting_down();
    }
    let check = match fault {
        Some(Fault::BadAuth) if headers.contains_key("key") => Check::BadKey,
        Some(Fault::BadAuth) => Check::BadLogin,
        _ => st.auth.check(&headers),
    };
    match check {
        Check::Ok => {}
        Check::BadKey => return ok(system_error(11003, "Secret key validation failed")),
        Check::BadLogin => return ok(system_error(1001, "Authentication failed - wrong password")),
    }
    match fault {
        Some(Fault::Slow(d)) if wait(&st, d).await.is_err() => return shutting_down(),
        Some(Fault::Http500) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/html; charset=utf-8",
                Bytes::from_static(HTTP_500_BODY.as_bytes()),
            )
        }
        _ => {}
    }
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => {
            return ok(system_error(
                1014,
                &format!("Parser error: Request is invalid. {e}"),
            ))
        }
    };
    if req.op != "get" {
        return ok(system_error(
            1014,
            "Parser error: Request is invalid. Only get is simulated",
        ));
    }
    let answer = if fault == Some(Fault::ErrorIn200) {
        let mut out = open(&req.operator);
        result_error(&mut out, FAULT_ERRCODE, FAULT_ERRTEXT, None);
        close(out, &req.operator)
    } else {
        let idx = st.index(&accounts);
        match req.operator.as_str() {
            "webspace" if req.filter.is_empty() && is_default(&req.datasets) => {
                cache.get_or_init(|| webspaces(&idx, &req)).clone()
            }
            "webspace" => webspaces(&idx, &req),
            "customer" => owners(&idx.customers, &req, "customer", "gen_info", "client"),
            "reseller" => owners(&idx.resellers, &req, "reseller", "gen-info", "reseller"),
            "service-plan" => plans(&idx.plans, &req, "service-plan", "Service plan"),
            "service-plan-addon" => plans(&idx.addons, &req, "service-plan-addon", "Add-on"),
            other => {
                return ok(system_error(
                    1014,
                    &format!("Parser error: Request is invalid. Unknown operator {other}"),
                ))
            }
        }
    };
    let answer = match crate::transport::apply(fault, XML, answer, &st.shared) {
        Ok(hostile) => return hostile,
        Err(answer) => answer,
    };
    if fault == Some(Fault::Truncated) {
        truncated(answer)
    } else {
        ok(answer)
    }
}

/// The module's own request: the cached full listing applies to it.
fn is_default(datasets: &[String]) -> bool {
    datasets == ["gen_info", "hosting", "subscriptions"]
}

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

fn ok(body: Bytes) -> Response {
    respond(StatusCode::OK, XML, body)
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

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
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(XML));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read() {
        let r = parse_request(
            b"<?xml version=\"1.0\"?><packet><service-plan><get><filter><guid>a</guid>\
              <guid>b&amp;c</guid></filter><owner-all/></get></service-plan></packet>",
        )
        .unwrap();
        assert_eq!(r.operator, "service-plan");
        assert_eq!(r.op, "get");
        assert!(r.owner_all);
        assert_eq!(
            r.filter,
            vec![("guid".into(), "a".into()), ("guid".into(), "b&c".into())]
        );
        let r = parse_request(
            b"<packet><webspace><get><filter/><dataset><gen_info/><hosting/></dataset></get>\
              </webspace></packet>",
        )
        .unwrap();
        assert!(r.filter.is_empty());
        assert_eq!(r.datasets, ["gen_info", "hosting"]);
        assert!(parse_request(b"<packet></packet>").is_err());
        assert!(parse_request(b"<packet><webspace>").is_err());
    }
}
