use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::*;
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, NoProgress, TimeoutPhase};

const TOKEN: &str = "TOKEN9ZQXJ2";

fn params_for(server: &MockServer) -> ServerParams {
    let addr = server.address();
    ServerParams {
        server_id: 100,
        ip: "192.0.2.10".into(),
        hostname: addr.ip().to_string(),
        username: "root".into(),
        password: Secret::new("pw-hunter2"),
        access_hash: Secret::new(TOKEN),
        secure: false,
        tls_verify: true,
        port: Some(addr.port()),
    }
}

fn opts(chunk_size: usize) -> ModuleOptions {
    ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        chunk_size,
        max_concurrency: 2,
        ..ModuleOptions::default()
    }
}

fn acct(i: usize) -> Value {
    json!({"user": format!("u{i:03}"), "domain": format!("u{i:03}.test"), "owner": "root",
           "plan": "basic", "email": format!("u{i:03}@mail.test"), "ip": "192.0.2.10",
           "ipv6": [], "suspended": 0, "suspendreason": "not suspended",
           "unix_startdate": 1_600_000_000 + i as i64, "startdate": "20 Sep 13 12:26",
           "disklimit": "unlimited"})
}

fn ok_body(accts: &[Value], chunk: Option<Value>) -> Value {
    let mut metadata = json!({"command": "listaccts", "result": 1, "reason": "OK", "version": 1});
    if let Some(c) = chunk {
        metadata["chunk"] = c;
    }
    json!({"metadata": metadata, "data": {"acct": accts}})
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// HTTP 500 for the page starting at this record.
    FailAt(usize),
    /// `metadata.result` 0 for the page starting at this record.
    RemoteAt(usize),
    /// The total grows by one from this page on.
    TotalChangesAt(usize),
    /// The page starting here loses its last record.
    ShortAt(usize),
    /// The page starting here begins with the previous page's last record (a shift).
    ShiftAt(usize),
    /// Chunking parameters ignored: everything, no chunk metadata.
    IgnoreChunking,
}

/// A WHM `listaccts` that honours `api.chunk.*` like the documentation says.
struct Chunker {
    accts: Vec<Value>,
    fault: Fault,
}

impl Respond for Chunker {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q: std::collections::HashMap<String, String> =
            req.url.query_pairs().into_owned().collect();
        if self.fault == Fault::IgnoreChunking {
            return ResponseTemplate::new(200).set_body_json(ok_body(&self.accts, None));
        }
        let start: usize = q["api.chunk.start"].parse().unwrap();
        let size: usize = q["api.chunk.size"].parse().unwrap();
        let mut total = self.accts.len();
        let from = (start - 1).min(total);
        let to = (from + size).min(total);
        let mut page: Vec<Value> = self.accts[from..to].to_vec();
        match self.fault {
            Fault::FailAt(s) if s == start => {
                return ResponseTemplate::new(500).set_body_string("<h1>Internal\nServer Error</h1>")
            }
            Fault::RemoteAt(s) if s == start => {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "metadata": {"result": 0, "reason": "Temporary failure reading accounts", "version": 1},
                    "data": null}))
            }
            Fault::TotalChangesAt(s) if start >= s => total += 1,
            Fault::ShortAt(s) if s == start => {
                page.pop();
            }
            Fault::ShiftAt(s) if s == start => {
                page.pop();
                page.insert(0, self.accts[from - 1].clone());
            }
            _ => {}
        }
        let chunks = total.div_ceil(size);
        let chunk = json!({"start": start, "size": size, "records": total, "chunks": chunks,
                           "current": (start - 1) / size + 1});
        ResponseTemplate::new(200).set_body_json(ok_body(&page, Some(chunk)))
    }
}

async fn chunk_server(n: usize, fault: Fault) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/json-api/listaccts"))
        .respond_with(Chunker {
            accts: (0..n).map(acct).collect(),
            fault,
        })
        .mount(&server)
        .await;
    server
}

async fn serve(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/json-api/listaccts"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn list(server: &MockServer, o: &ModuleOptions) -> Result<Listing, ModuleError> {
    CpanelModule::new(&crate::Shared::new(o))
        .list_accounts(&params_for(server), &NoProgress)
        .await
}

fn assert_secret_free(e: &ModuleError) {
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains(TOKEN), "token leaked: {msg}");
    assert!(!msg.contains("hunter2"), "password leaked: {msg}");
    assert!(!msg.contains("api.version"), "URL query leaked: {msg}");
}

#[derive(Default)]
struct Recorder {
    total: Mutex<Vec<u64>>,
    advanced: Mutex<Vec<u64>>,
}

impl ListingProgress for Recorder {
    fn total(&self, total: u64) {
        self.total.lock().unwrap().push(total);
    }
    fn advanced(&self, received: u64) {
        self.advanced.lock().unwrap().push(received);
    }
}

#[test]
fn meta_data_is_cpanel() {
    let m = CpanelModule::new(&crate::Shared::new(&ModuleOptions::default()));
    assert_eq!(m.name(), "cpanel");
    let meta = m.meta();
    assert_eq!(meta.display_name, "cPanel");
    assert_eq!(meta.unique_identifier_display_name, "Domain");
    assert_eq!(meta.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(meta.product_field, "configoption1");
    assert_eq!(
        (meta.default_secure_port, meta.default_plain_port),
        (2087, 2086)
    );
    assert!(meta.validate().is_ok());
}

#[tokio::test]
async fn sends_whm_token_header_and_api_version_1() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/json-api/listaccts"))
        .and(header("Authorization", "whm root:TOKEN9ZQXJ2"))
        .and(query_param("api.version", "1"))
        .and(query_param("api.chunk.enable", "1"))
        .and(query_param("api.chunk.start", "1"))
        .and(query_param("api.chunk.size", "50"))
        .and(query_param(
            "want",
            "user,domain,owner,plan,email,ip,ipv6,suspended,suspendreason,unix_startdate,startdate",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body(
            &[acct(1), acct(2)],
            Some(json!({"start": 1, "size": 50, "records": 2, "chunks": 1, "current": 1})),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let l = list(&server, &opts(50)).await.expect("listing");
    assert!(l.is_complete());
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["u001", "u002"]);
    let a = &l.accounts[0];
    assert_eq!(a.domain, "u001.test");
    assert_eq!(a.unique_identifier, "u001.test");
    assert_eq!(a.product, "basic");
    assert_eq!(a.email.as_deref(), Some("u001@mail.test"));
    assert_eq!(a.primary_ip, "192.0.2.10");
    assert_eq!(a.owner.as_deref(), Some("root"));
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(a.status_detail, None);
    assert_eq!(
        a.created.map(format_created).as_deref(),
        Some("2020-09-13 12:26:41")
    );
    // The password is never sent; the request is plain GET with the token header only.
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(!reqs[0].url.as_str().contains(TOKEN));
}

#[test]
fn params_debug_hides_secrets() {
    let p = ServerParams {
        server_id: 1,
        ip: "192.0.2.10".into(),
        hostname: "web1.test".into(),
        username: "root".into(),
        password: Secret::new("pw-hunter2"),
        access_hash: Secret::new(TOKEN),
        secure: true,
        tls_verify: true,
        port: None,
    };
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(TOKEN) && !dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[tokio::test]
async fn missing_access_hash_is_a_config_error() {
    let server = MockServer::start().await;
    let mut p = params_for(&server);
    p.access_hash = Secret::new("");
    let e = CpanelModule::new(&crate::Shared::new(&opts(10)))
        .list_accounts(&p, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Config(m) if m.contains("no access hash")),
        "{e}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn result_0_in_http_200_is_a_remote_error() {
    let server = serve(ResponseTemplate::new(200).set_body_json(json!({
        "metadata": {"command": "listaccts", "result": 0, "version": 1,
                     "reason": "Permission denied: listaccts requires the list-accts ACL"},
        "data": {"acct": []}})))
    .await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("Permission denied: listaccts requires the list-accts ACL".into())
    );
    assert_eq!(
        e.to_string(),
        "the panel reported an error: Permission denied: listaccts requires the list-accts ACL"
    );
}

#[tokio::test]
async fn http_403_and_401_are_auth_refused() {
    for status in [403u16, 401] {
        let server = serve(ResponseTemplate::new(status).set_body_string("Access denied")).await;
        let e = list(&server, &opts(10)).await.unwrap_err();
        assert_eq!(e, ModuleError::AuthRefused { status });
        assert_secret_free(&e);
    }
    assert_eq!(
        ModuleError::AuthRefused { status: 403 }.to_string(),
        "the panel refused the API token (HTTP 403)"
    );
}

#[tokio::test]
async fn http_500_is_http_error_with_one_line_snippet() {
    let body = format!(
        "<html>\n<body>\n  Internal error for whm root:{TOKEN}\n{}</body></html>",
        "x".repeat(500)
    );
    let server = serve(ResponseTemplate::new(500).set_body_string(body)).await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    let ModuleError::Http { status, snippet } = &e else {
        panic!("expected Http, got {e:?}");
    };
    assert_eq!(*status, 500);
    assert!(snippet.starts_with("<html> <body> Internal error for whm root:[redacted] xxx"));
    assert!(!snippet.contains('\n'));
    assert_eq!(snippet.chars().count(), 201); // 200 characters and the ellipsis
    assert_secret_free(&e);
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let server =
        serve(ResponseTemplate::new(302).insert_header("Location", "http://198.51.100.1/steal"))
            .await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    assert!(matches!(e, ModuleError::Http { status: 302, .. }), "{e:?}");
}

#[tokio::test]
async fn truncated_body_is_malformed() {
    let server = serve(ResponseTemplate::new(200).set_body_raw(
        r#"{"metadata":{"result":1,"reason":"OK","version":1},"data":{"acct":[{"user":"ann","dom"#,
        "application/json",
    ))
    .await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.contains("truncated")),
        "{e:?}"
    );
}

#[tokio::test]
async fn html_and_wrong_shapes_are_malformed() {
    let cases = [
        ("<html><body>cPanel login</body></html>", "not valid JSON"),
        (
            r#"{"status":1,"statusmsg":"Ok","acct":[]}"#,
            "metadata is missing",
        ),
        (
            r#"{"metadata":{"result":1},"data":{"acct":{"user":"x"}}}"#,
            "data.acct is an object",
        ),
        (
            r#"{"metadata":{"result":1},"data":{}}"#,
            "data.acct is missing",
        ),
        (
            r#"{"metadata":{"result":"yes"},"data":{"acct":[]}}"#,
            "metadata.result is \"yes\"",
        ),
        (
            r#"{"metadata":{"result":1,"chunk":{"start":1}},"data":{"acct":[]}}"#,
            "metadata.chunk.records is missing",
        ),
        ("[1,2]", "JSON list, not the WHM API 1 envelope"),
        (
            r#"[{"result":1},{"acct":[]}]"#,
            "JSON list, not the WHM API 1 envelope",
        ),
        ("\"text\"", "WHM API 1 shape"),
    ];
    for (body, want) in cases {
        let server = serve(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
        let e = list(&server, &opts(10)).await.unwrap_err();
        assert!(
            matches!(&e, ModuleError::Malformed(m) if m.contains(want)),
            "{body}: {e:?}"
        );
    }
}

#[tokio::test]
async fn slow_panel_is_a_read_timeout() {
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_json(ok_body(&[acct(1)], None))
            .set_delay(Duration::from_millis(1500)),
    )
    .await;
    let o = ModuleOptions {
        read_timeout: Duration::from_millis(300),
        ..opts(10)
    };
    let started = std::time::Instant::now();
    let e = list(&server, &o).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert_eq!(
        e,
        ModuleError::Timeout {
            target: format!("{}", server.address()),
            phase: TimeoutPhase::Read,
            after: Duration::from_millis(300)
        }
    );
    assert!(
        e.to_string().ends_with("did not send data within 300 ms"),
        "{e}"
    );
}

#[tokio::test]
async fn refused_connection_is_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = ServerParams {
        server_id: 1,
        ip: String::new(),
        hostname: "127.0.0.1".into(),
        username: "root".into(),
        password: Secret::new("pw-hunter2"),
        access_hash: Secret::new(TOKEN),
        secure: false,
        tls_verify: true,
        port: Some(port),
    };
    let e = CpanelModule::new(&crate::Shared::new(&opts(10)))
        .list_accounts(&p, &NoProgress)
        .await
        .unwrap_err();
    let ModuleError::Connect { target, cause } = &e else {
        panic!("expected Connect, got {e:?}");
    };
    assert_eq!(target, &format!("127.0.0.1:{port}"));
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
    assert_secret_free(&e);
}

#[tokio::test]
async fn tls_to_a_plain_server_fails_to_connect() {
    let server = chunk_server(3, Fault::None).await;
    let mut p = params_for(&server);
    p.secure = true;
    let e = CpanelModule::new(&crate::Shared::new(&opts(10)))
        .list_accounts(&p, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(e, ModuleError::Connect { .. }), "{e:?}");
    assert_secret_free(&e);
}

#[tokio::test]
async fn chunked_paging_reassembles_every_account_once_in_order() {
    let server = chunk_server(25, Fault::None).await;
    let progress = Recorder::default();
    let l = CpanelModule::new(&crate::Shared::new(&opts(10)))
        .list_accounts(&params_for(&server), &progress)
        .await
        .expect("listing");
    let users: Vec<String> = l.accounts.iter().map(|a| a.username.clone()).collect();
    let want: Vec<String> = (0..25).map(|i| format!("u{i:03}")).collect();
    assert_eq!(users, want);
    assert!(l.is_complete());
    let mut starts: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "api.chunk.start")
                .map(|(_, v)| v.into_owned())
                .unwrap()
        })
        .collect();
    starts.sort();
    assert_eq!(starts, ["1", "11", "21"]);
    assert_eq!(*progress.total.lock().unwrap(), vec![25]);
    let adv = progress.advanced.lock().unwrap().clone();
    assert_eq!(adv.first(), Some(&10));
    assert_eq!(adv.last(), Some(&25));
    assert_eq!(adv.len(), 3);
}

#[tokio::test]
async fn exact_multiple_and_empty_server() {
    let server = chunk_server(20, Fault::None).await;
    assert_eq!(list(&server, &opts(10)).await.unwrap().accounts.len(), 20);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let server = chunk_server(0, Fault::None).await;
    let l = list(&server, &opts(10)).await.unwrap();
    assert!(l.accounts.is_empty() && l.skipped.is_empty());
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_listing() {
    let server = chunk_server(25, Fault::FailAt(11)).await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    assert!(matches!(e, ModuleError::Http { status: 500, .. }), "{e:?}");
    let server = chunk_server(25, Fault::RemoteAt(21)).await;
    let e = list(&server, &opts(10)).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("Temporary failure reading accounts".into())
    );
}

#[tokio::test]
async fn paging_inconsistencies_are_incomplete() {
    for (fault, want) in [
        (Fault::TotalChangesAt(11), "total changed from 25 to 26"),
        (
            Fault::ShortAt(11),
            "page starting at record 11 has 9 accounts, expected 10",
        ),
        (Fault::ShiftAt(21), "user \"u019\" is listed twice"),
    ] {
        let server = chunk_server(25, fault).await;
        let e = list(&server, &opts(10)).await.unwrap_err();
        assert!(
            matches!(&e, ModuleError::Incomplete(m) if m.contains(want)),
            "{want}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_server_that_ignores_chunking_is_read_in_one_response() {
    let server = chunk_server(25, Fault::IgnoreChunking).await;
    let progress = Recorder::default();
    let l = CpanelModule::new(&crate::Shared::new(&opts(10)))
        .list_accounts(&params_for(&server), &progress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 25);
    assert_eq!(l.accounts[24].username, "u024");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(*progress.total.lock().unwrap(), vec![25]);
}

fn parse_one(rec: Value) -> Result<RemoteAccount, SkippedRecord> {
    let body = serde_json::to_vec(&ok_body(&[rec], None)).unwrap();
    let page = parse_page(&body, TOKEN).expect("page parses");
    let mut l = Listing::default();
    convert_page(page.records, 7, &mut l);
    match (l.accounts.pop(), l.skipped.pop()) {
        (Some(a), None) => Ok(a),
        (None, Some(s)) => Err(s),
        other => panic!("{other:?}"),
    }
}

#[test]
fn placeholder_emails_are_none() {
    for e in [json!("*unknown*"), json!(""), json!(null)] {
        let mut r = acct(1);
        r["email"] = e;
        assert_eq!(parse_one(r).unwrap().email, None);
    }
    let mut r = acct(1);
    r.as_object_mut().unwrap().remove("email");
    assert_eq!(parse_one(r).unwrap().email, None);
}

#[test]
fn suspended_as_string_or_number() {
    let mut r = acct(1);
    r["suspended"] = json!("1");
    r["suspendreason"] = json!("Suspended for nonpayment.");
    let a = parse_one(r).unwrap();
    assert_eq!(a.status, RemoteStatus::Suspended);
    assert_eq!(
        a.status_detail.as_deref(),
        Some("Suspended for nonpayment.")
    );
    let mut r = acct(1);
    r["suspended"] = json!(1);
    assert_eq!(parse_one(r).unwrap().status, RemoteStatus::Suspended);
    let mut r = acct(1);
    r["suspended"] = json!("0");
    let a = parse_one(r).unwrap();
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(a.status_detail, None, "'not suspended' is not a detail");
}

#[test]
fn creation_dates() {
    let created = |v: Value| {
        let mut r = acct(1);
        r["unix_startdate"] = v;
        parse_one(r).map(|a| a.created.map(format_created))
    };
    assert_eq!(created(json!(0)).unwrap(), None);
    assert_eq!(created(json!("0")).unwrap(), None);
    assert_eq!(created(json!(null)).unwrap(), None);
    assert_eq!(
        created(json!("1529997060")).unwrap().as_deref(),
        Some("2018-06-26 07:11:00")
    );
    assert_eq!(
        created(json!(1529997060)).unwrap().as_deref(),
        Some("2018-06-26 07:11:00")
    );
    let s = created(json!("yesterday")).unwrap_err();
    assert_eq!(
        s.reason,
        "unix_startdate \"yesterday\" is not a time in epoch seconds"
    );
    assert_eq!(
        created(json!(-5)).unwrap_err().reason,
        "unix_startdate -5 is before 1970"
    );

    // `startdate` only when `unix_startdate` is absent: YY Mon DD HH:MM, year first.
    let mut r = acct(1);
    r.as_object_mut().unwrap().remove("unix_startdate");
    r["startdate"] = json!("18 Jun 26 15:11");
    assert_eq!(
        parse_one(r).unwrap().created.map(format_created).as_deref(),
        Some("2018-06-26 15:11:00")
    );
    let mut r = acct(1);
    r.as_object_mut().unwrap().remove("unix_startdate");
    r.as_object_mut().unwrap().remove("startdate");
    assert_eq!(parse_one(r).unwrap().created, None);
    let mut r = acct(1);
    r.as_object_mut().unwrap().remove("unix_startdate");
    r["startdate"] = json!("26/06/2018");
    assert_eq!(
        parse_one(r).unwrap_err().reason,
        "startdate \"26/06/2018\" is not \"YY Mon DD HH:MM\""
    );
}

#[test]
fn reseller_accounts_keep_owner_and_plan() {
    let a = parse_one(json!({"user": "bob", "domain": "bob.test", "owner": "res9",
        "plan": "res9_silver", "email": "bob@mail.test", "ip": "203.0.113.7",
        "suspended": 0, "unix_startdate": 1600000000}))
    .unwrap();
    assert_eq!(a.owner.as_deref(), Some("res9"));
    assert_eq!(a.product, "res9_silver");
    assert_eq!(a.primary_ip, "203.0.113.7");
}

#[test]
fn numeric_text_fields_are_read_as_text() {
    let a = parse_one(json!({"user": "ann", "domain": "ann.test", "plan": 1024,
        "suspended": 0, "unix_startdate": 1600000000}))
    .unwrap();
    assert_eq!(a.product, "1024");
    assert_eq!(a.owner, None);
}

#[test]
fn bad_records_are_skipped_with_reasons() {
    let body = serde_json::to_vec(&ok_body(
        &[
            acct(0),
            json!({"domain": "nouser.test", "suspended": 0}),
            json!({"user": "s2", "domain": "s2.test", "suspended": 2}),
            json!({"user": "s3", "domain": "s3.test", "suspended": "yes"}),
            json!("not an account"),
            json!({"user": ["x"], "domain": "arr.test", "suspended": 0}),
            json!({"user": "nodom", "suspended": 0}),
            json!({"user": "nosus", "domain": "nosus.test"}),
            json!({"user": "ip", "domain": "ip.test", "suspended": 0, "ip": {"v4": 1}}),
            acct(9),
        ],
        None,
    ))
    .unwrap();
    let page = parse_page(&body, TOKEN).unwrap();
    let mut l = Listing::default();
    convert_page(page.records, 100, &mut l);
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["u000", "u009"]);
    let got: Vec<_> = l
        .skipped
        .iter()
        .map(|s| (s.index, s.identifier.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (101, Some("nouser.test"), "user is missing"),
            (102, Some("s2"), "suspended value 2 is not 0 or 1"),
            (103, Some("s3"), "suspended value \"yes\" is not 0 or 1"),
            (104, None, "record is a string, not an account object"),
            (105, Some("arr.test"), "user is a list, not a string"),
            (106, Some("nodom"), "domain is missing"),
            (107, Some("nosus"), "suspended is missing"),
            (108, Some("ip"), "ip is an object, not a string"),
        ]
    );
    assert!(!l.is_complete());
}

#[tokio::test]
async fn skipped_records_carry_their_position_across_pages() {
    let mut accts: Vec<Value> = (0..15).map(acct).collect();
    accts[12]["suspended"] = json!(7);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/json-api/listaccts"))
        .respond_with(Chunker {
            accts,
            fault: Fault::None,
        })
        .mount(&server)
        .await;
    let l = list(&server, &opts(10)).await.unwrap();
    assert_eq!(l.accounts.len(), 14);
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(l.skipped[0].index, 12);
    assert_eq!(l.skipped[0].identifier.as_deref(), Some("u012"));
}

#[test]
fn startdate_years_before_2000() {
    assert_eq!(
        parse_startdate(&Field::Str("99 Dec 31 23:59".into()))
            .unwrap()
            .map(format_created)
            .as_deref(),
        Some("1999-12-31 23:59:00")
    );
    assert!(parse_startdate(&Field::Str("18 Feb 30 10:00".into())).is_err());
}
