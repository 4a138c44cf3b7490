//! The HTTP side of the Plesk simulator (see the module docs of [`super`]).

use std::collections::HashMap;
use std::fmt::Write as _;
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

use super::generate::plesk_guid;
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

/// A customer or reseller, from the subscriptions that name it.
struct Owner {
    login: String,
    email: String,
    /// Lookups of this owner answer this error.
    error: Option<(u64, String)>,
}

/// A service plan or add-on.
struct Plan {
    id: usize,
    name: String,
    owner: String,
    guid: String,
}

/// Everything the operations look up, built once per served accounts list.
struct Index {
    accounts: Arc<Vec<Value>>,
    customers: HashMap<u64, Owner>,
    resellers: HashMap<u64, Owner>,
    plans: Vec<Plan>,
    addons: Vec<Plan>,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `[code, text]` of a directive.
fn err_of(v: &Value, k: &str) -> Option<(u64, String)> {
    let e = v.get(k)?;
    Some((e.get(0)?.as_u64()?, e.get(1)?.as_str()?.to_string()))
}

impl Index {
    fn build(accounts: &Arc<Vec<Value>>) -> Index {
        let mut idx = Index {
            accounts: Arc::clone(accounts),
            customers: HashMap::new(),
            resellers: HashMap::new(),
            plans: Vec::new(),
            addons: Vec::new(),
        };
        let mut seen_plans = HashMap::new();
        let mut seen_addons = HashMap::new();
        for a in accounts.iter() {
            let owner = Owner {
                login: s(a, "owner_login").to_string(),
                email: s(a, "owner_email").to_string(),
                error: err_of(a, "_owner_error"),
            };
            if let Some(id) = a.get("owner_id").and_then(Value::as_u64) {
                match s(a, "owner_type") {
                    "customer" => {
                        idx.customers.entry(id).or_insert(owner);
                    }
                    "reseller" => {
                        idx.resellers.entry(id).or_insert(owner);
                    }
                    _ => {}
                }
            }
            if let Some(p) = a.get("plan").and_then(Value::as_str) {
                let owner = match s(a, "plan_owner") {
                    "" => "admin",
                    o => o,
                };
                let key = (owner.to_string(), p.to_string());
                if seen_plans.insert(key, ()).is_none() {
                    idx.plans.push(Plan {
                        id: idx.plans.len() + 1,
                        name: p.to_string(),
                        owner: owner.to_string(),
                        guid: plan_guid(owner, p),
                    });
                }
            }
            for ad in a
                .get("addons")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if seen_addons.insert(ad.to_string(), ()).is_none() {
                    idx.addons.push(Plan {
                        id: idx.addons.len() + 1,
                        name: ad.to_string(),
                        owner: "admin".into(),
                        guid: addon_guid(ad),
                    });
                }
            }
        }
        idx
    }
}

/// The GUID of plan `name` owned by `owner`.
pub fn plan_guid(owner: &str, name: &str) -> String {
    plesk_guid(&format!("plan:{owner}:{name}"))
}

/// The GUID of add-on plan `name`.
pub fn addon_guid(name: &str) -> String {
    plesk_guid(&format!("addon:{name}"))
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

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet version=\"1.6.9.1\">";

/// `<packet><system><status>error</status>…` (a check-up failure).
pub(crate) fn system_error(code: u32, text: &str) -> Bytes {
    Bytes::from(format!(
        "{HEAD}<system><status>error</status><errcode>{code}</errcode><errtext>{}</errtext>\
         </system></packet>",
        esc(text)
    ))
}

fn open(operator: &str) -> String {
    format!("{HEAD}<{operator}><get>")
}

fn close(mut out: String, operator: &str) -> Bytes {
    let _ = write!(out, "</get></{operator}></packet>");
    Bytes::from(out)
}

fn result_error(
    out: &mut String,
    code: impl std::fmt::Display,
    text: &str,
    filter_id: Option<&str>,
) {
    let _ = write!(
        out,
        "<result><status>error</status><errcode>{code}</errcode><errtext>{}</errtext>",
        esc(text)
    );
    if let Some(f) = filter_id {
        let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
    }
    out.push_str("</result>");
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Text of a JSON value: strings as they are, numbers in decimal, `null` empty.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `webspace get`: every subscription (empty filter) or those named by `id`/`name`.
fn webspaces(idx: &Index, req: &Request) -> Bytes {
    let mut out = open("webspace");
    let wants = |d: &str| req.datasets.iter().any(|x| x == d);
    let write_one = |out: &mut String, a: &Value, filter_id: Option<&str>| {
        if let Some((code, text)) = err_of(a, "_error") {
            result_error(out, code, &text, filter_id);
            return;
        }
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(out, "<id>{}</id><data>", text_of(&a["id"]));
        let name = s(a, "name");
        if wants("gen_info") {
            let ascii = idna::domain_to_ascii(name).unwrap_or_else(|_| name.to_string());
            let _ = write!(
                out,
                "<gen_info><cr_date>{}</cr_date><name>{}</name><ascii-name>{}</ascii-name>\
                 <status>{}</status><real_size>0</real_size><owner-id>{}</owner-id>\
                 <owner-login>{}</owner-login>",
                esc(&text_of(&a["cr_date"])),
                esc(name),
                esc(&ascii),
                esc(&text_of(&a["status"])),
                esc(&text_of(&a["owner_id"])),
                esc(s(a, "owner_login")),
            );
            for ip in a.get("ips").and_then(Value::as_array).into_iter().flatten() {
                let _ = write!(
                    out,
                    "<dns_ip_address>{}</dns_ip_address>",
                    esc(&text_of(ip))
                );
            }
            let _ = write!(
                out,
                "<htype>{}</htype><guid>{}</guid></gen_info>",
                esc(s(a, "htype")),
                plesk_guid(&format!("webspace:{name}"))
            );
        }
        if wants("hosting") {
            match a.get("ftp_login").and_then(Value::as_str) {
                Some(ftp) if s(a, "htype") == "vrt_hst" => {
                    let _ = write!(
                        out,
                        "<hosting><vrt_hst><property><name>ftp_login</name><value>{}</value>\
                         </property><property><name>ftp_password</name><value></value>\
                         </property><property><name>php</name><value>true</value></property>",
                        esc(ftp)
                    );
                    for ip in a.get("ips").and_then(Value::as_array).into_iter().flatten() {
                        let _ = write!(out, "<ip_address>{}</ip_address>", esc(&text_of(ip)));
                    }
                    out.push_str("</vrt_hst></hosting>");
                }
                _ => out.push_str("<hosting><none/></hosting>"),
            }
        }
        if wants("subscriptions") {
            out.push_str(
                "<subscriptions><subscription><locked>false</locked>\
                 <synchronized>true</synchronized>",
            );
            for g in guids_of(a) {
                let _ = write!(out, "<plan><plan-guid>{}</plan-guid></plan>", esc(&g));
            }
            out.push_str("</subscription></subscriptions>");
        }
        out.push_str("</data></result>");
    };
    if req.filter.is_empty() {
        for a in idx.accounts.iter() {
            write_one(&mut out, a, None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = idx.accounts.iter().find(|a| match kind.as_str() {
                "id" => text_of(&a["id"]) == *value,
                "name" => s(a, "name") == value,
                _ => false,
            });
            match found {
                Some(a) => write_one(&mut out, a, Some(value)),
                None => result_error(&mut out, 1013, "Domain does not exist", Some(value)),
            }
        }
    }
    close(out, "webspace")
}

/// The plan GUIDs a subscription serves: `_plan_guids`, else its plan's and add-ons'.
fn guids_of(a: &Value) -> Vec<String> {
    if let Some(list) = a.get("_plan_guids").and_then(Value::as_array) {
        return list.iter().map(text_of).collect();
    }
    let mut out = Vec::new();
    if let Some(p) = a.get("plan").and_then(Value::as_str) {
        let owner = match s(a, "plan_owner") {
            "" => "admin",
            o => o,
        };
        out.push(plan_guid(owner, p));
    }
    for ad in a
        .get("addons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.push(addon_guid(ad));
    }
    out
}

/// `customer get` / `reseller get` by `id` or `login` (empty filter: all).
fn owners(
    map: &HashMap<u64, Owner>,
    req: &Request,
    operator: &str,
    dataset: &str,
    what: &str,
) -> Bytes {
    let mut out = open(operator);
    let write_one = |out: &mut String, id: u64, o: &Owner, filter_id: Option<&str>| {
        if let Some((code, text)) = &o.error {
            result_error(out, code, text, filter_id);
            return;
        }
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(
            out,
            "<id>{id}</id><data><{dataset}><cname></cname><pname>{}</pname><login>{}</login>\
             <status>0</status><email>{}</email></{dataset}></data></result>",
            esc(&o.login),
            esc(&o.login),
            esc(&o.email)
        );
    };
    if req.filter.is_empty() {
        let mut ids: Vec<_> = map.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            write_one(&mut out, id, &map[&id], None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = match kind.as_str() {
                "id" => value
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| map.get(&id).map(|o| (id, o))),
                "login" => map
                    .iter()
                    .find(|(_, o)| o.login == *value)
                    .map(|(i, o)| (*i, o)),
                _ => None,
            };
            match found {
                Some((id, o)) => write_one(&mut out, id, o, Some(value)),
                None => {
                    let text = if what == "client" {
                        "Client does not exist".to_string()
                    } else {
                        "Reseller does not exist".to_string()
                    };
                    result_error(&mut out, 1013, &text, Some(value));
                }
            }
        }
    }
    close(out, operator)
}

/// `service-plan get` / `service-plan-addon get` by `id`, `name` or `guid`: the requester's
/// (the administrator's) own plans unless `<owner-all/>`.
fn plans(list: &[Plan], req: &Request, operator: &str, what: &str) -> Bytes {
    let mut out = open(operator);
    let visible = |p: &&Plan| req.owner_all || p.owner == "admin";
    let write_one = |out: &mut String, p: &Plan, filter_id: Option<&str>| {
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(
            out,
            "<id>{}</id><name>{}</name><guid>{}</guid><external-id></external-id>\
             <owner-login>{}</owner-login></result>",
            p.id,
            esc(&p.name),
            esc(&p.guid),
            esc(&p.owner)
        );
    };
    if req.filter.is_empty() {
        for p in list.iter().filter(visible) {
            write_one(&mut out, p, None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = list.iter().filter(visible).find(|p| match kind.as_str() {
                "guid" => p.guid == *value,
                "name" => p.name == *value,
                "id" => p.id.to_string() == *value,
                _ => false,
            });
            match found {
                Some(p) => write_one(&mut out, p, Some(value)),
                None => result_error(
                    &mut out,
                    1013,
                    &format!("{what} does not exist"),
                    Some(value),
                ),
            }
        }
    }
    close(out, operator)
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

    #[test]
    fn plans_need_owner_all_for_resellers() {
        let list = vec![
            Plan {
                id: 1,
                name: "Basic".into(),
                owner: "admin".into(),
                guid: "g1".into(),
            },
            Plan {
                id: 2,
                name: "Pro".into(),
                owner: "res1".into(),
                guid: "g2".into(),
            },
        ];
        let mut req = Request {
            operator: "service-plan".into(),
            op: "get".into(),
            filter: vec![("guid".into(), "g1".into()), ("guid".into(), "g2".into())],
            ..Request::default()
        };
        let without =
            String::from_utf8(plans(&list, &req, "service-plan", "Service plan").to_vec()).unwrap();
        assert!(without.contains("<name>Basic</name>"));
        assert!(without.contains("<errcode>1013</errcode><errtext>Service plan does not exist</errtext><filter-id>g2</filter-id>"));
        req.owner_all = true;
        let with =
            String::from_utf8(plans(&list, &req, "service-plan", "Service plan").to_vec()).unwrap();
        assert!(with.contains("<name>Pro</name>") && !with.contains("1013"));
    }

    #[test]
    fn system_errors_have_plesk_form() {
        assert_eq!(
            system_error(1001, "Authentication failed - wrong password"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet version=\"1.6.9.1\"><system>\
             <status>error</status><errcode>1001</errcode><errtext>Authentication failed - \
             wrong password</errtext></system></packet>"
        );
    }
}
