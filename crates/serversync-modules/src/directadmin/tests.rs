use std::time::Duration;

use proptest::prelude::*;
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::convert::parse_date_created;
use super::form::decode_entities;
use super::*;
use crate::{ModuleError, ModuleOptions, NoProgress, Shared};

const PASSWORD: &str = "LoginKey-9ZQXJ2";

fn params_for(server: &MockServer) -> ServerParams {
    let addr = server.address();
    ServerParams {
        server_id: 11,
        ip: "192.0.2.10".into(),
        hostname: addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(""),
        secure: false,
        tls_verify: true,
        port: Some(addr.port()),
    }
}

fn module() -> DirectAdminModule {
    DirectAdminModule::new(&Shared::new(&ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }))
}

fn config(user: &str) -> String {
    format!(
        "username={user}&usertype=user&creator=admin&domain={user}.test&email={user}&#64mail.test\
         &package=basic&ip=192.0.2.10&suspended=no&date_created=Tue%20Nov%2014%2022%3A13%3A20%202023"
    )
}

fn text(form: &Form, key: &str) -> Option<String> {
    match form.get(key) {
        form::Lookup::Text(s) => Some(s.to_string()),
        _ => None,
    }
}

async fn serve_users(server: &MockServer, users: &[&str]) {
    let list: Vec<String> = users.iter().map(|u| format!("list[]={u}")).collect();
    Mock::given(method("GET"))
        .and(path("/CMD_API_SHOW_ALL_USERS"))
        .respond_with(ResponseTemplate::new(200).set_body_string(list.join("&")))
        .mount(server)
        .await;
}

async fn serve_config(server: &MockServer, user: &str, body: &str) {
    Mock::given(method("GET"))
        .and(path("/CMD_API_SHOW_USER_CONFIG"))
        .and(query_param("user", user))
        .respond_with(ResponseTemplate::new(200).set_body_string(body.to_string()))
        .mount(server)
        .await;
}

// ---------------------------------------------------------------------------------------
// Entities and forms

#[test]
fn entities_with_and_without_semicolon_decode() {
    assert_eq!(&*decode_entities(b"ann&#64mail.test"), b"ann@mail.test");
    assert_eq!(&*decode_entities(b"ann&#64;mail.test"), b"ann@mail.test");
    // The bare form is two digits: the digits after it stay text.
    assert_eq!(&*decode_entities(b"a&#6412.test"), b"a@12.test");
    // With `;`, the whole number counts (and leading zeros are fine).
    assert_eq!(
        &*decode_entities(b"&#064;&#233;&#x40;&#X41;"),
        "@é@A".as_bytes()
    );
    assert_eq!(&*decode_entities(b"&#60br&#62"), b"<br>");
    // Not references: left alone.
    for raw in [
        &b"&#"[..],
        b"&#;",
        b"&#6",
        b"&#x40",
        b"&#00;",
        b"&#55296;",
        b"&#9999999;",
        b"a&b",
    ] {
        assert_eq!(
            &*decode_entities(raw),
            raw,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert!(matches!(
        decode_entities(b"plain=1&b=2"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn entities_are_decoded_before_the_split() {
    // DirectAdmin's advice (unhtmlentities, then parse_str): a decoded `&` separates pairs.
    let f = Form::parse(b"a=1&#38b=2&c=x&#61y");
    assert_eq!(text(&f, "a").as_deref(), Some("1"));
    assert_eq!(text(&f, "b").as_deref(), Some("2"));
    assert_eq!(text(&f, "c").as_deref(), Some("x=y"));
}

#[test]
fn form_values_are_percent_decoded() {
    let f = Form::parse(b"k=a+b%20c%zz%4&list%5B%5D=x&&list[]=y&list[3]=z&flag&bad=%FF");
    assert_eq!(text(&f, "k").as_deref(), Some("a b c%zz%4"));
    assert_eq!(text(&f, "flag").as_deref(), Some(""));
    assert_eq!(f.get("bad"), form::Lookup::NotUtf8);
    assert_eq!(f.get("nope"), form::Lookup::Missing);
    let list: Vec<_> = f.list().cloned().collect();
    assert_eq!(
        list,
        vec![
            FormValue::Text("x".into()),
            FormValue::Text("y".into()),
            FormValue::Text("z".into())
        ]
    );
    let twice = Form::parse(b"a=1&a=1&b=1&b=2");
    assert_eq!(twice.get("a"), form::Lookup::Text("1"));
    assert_eq!(twice.get("b"), form::Lookup::Conflict);
    assert_eq!(form::percent_encode("a b|c@d.é"), "a%20b%7Cc%40d.%C3%A9");
}

// ---------------------------------------------------------------------------------------
// The user list

#[test]
fn user_list_parses_and_fails_clearly() {
    let users = parse_user_list(b"list[]=ann&list[]=bob%20&list[]=", "").unwrap();
    assert_eq!(
        users,
        vec![
            FormValue::Text("ann".into()),
            FormValue::Text("bob".into()),
            FormValue::Text("".into())
        ]
    );
    assert_eq!(parse_user_list(b"  \n", "").unwrap(), vec![]);
    assert_eq!(
        parse_user_list(b"error=1&text=Cannot%20list&details=No%20users.list", "").unwrap_err(),
        ModuleError::Remote("CMD_API_SHOW_ALL_USERS: Cannot list: No users.list".into())
    );
    assert_eq!(
        parse_user_list(b"error=1", "").unwrap_err(),
        ModuleError::Remote("CMD_API_SHOW_ALL_USERS: no reason given".into())
    );
    assert!(matches!(
        parse_user_list(br#"["ann","bob"]"#, ""),
        Err(ModuleError::Malformed(m)) if m.contains("JSON")
    ));
    assert!(matches!(
        parse_user_list(b"hello world", ""),
        Err(ModuleError::Malformed(m)) if m.contains("without list[] entries") && m.contains("hello world")
    ));
    // The secret never comes back in an error.
    let e = parse_user_list(
        format!("error=1&text=bad%20{PASSWORD}").as_bytes(),
        PASSWORD,
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains(PASSWORD) && e.contains("[redacted]"), "{e}");
}

// ---------------------------------------------------------------------------------------
// One user's config

#[test]
fn user_config_converts_with_exact_values() {
    let f = Form::parse(
        b"account=ON&bandwidth=unlimited&creator=res1&date_created=Thu%20Jan%2030%2010%3A50%3A29%202020\
          &docsroot=.%2F&domain=Alice.Example&email=alice%40mail.example&ip=203.0.113.20\
          &name=Alice&package=basic&quota=1000&suspended=no&username=alice&usertype=user",
    );
    let a = convert_user(&f, "alice").unwrap();
    assert_eq!(a.username, "alice");
    assert_eq!(a.domain, "Alice.Example");
    assert_eq!(a.unique_identifier, "Alice.Example");
    assert_eq!(a.owner.as_deref(), Some("res1"));
    assert_eq!(a.email.as_deref(), Some("alice@mail.example"));
    assert_eq!(a.product, "basic");
    assert_eq!(a.primary_ip, "203.0.113.20");
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(a.status_detail, None);
    assert_eq!(
        a.created.map(format_created).as_deref(),
        Some("2020-01-30 10:50:29")
    );
}

#[test]
fn email_entities_decode_with_or_without_semicolon() {
    for body in [
        &b"username=ann&email=ann&#64mail.test&suspended=no"[..],
        b"username=ann&email=ann&#64;mail.test&suspended=no",
        b"username=ann&email=ann%40mail.test&suspended=no",
    ] {
        let a = convert_user(&Form::parse(body), "ann").unwrap();
        assert_eq!(a.email.as_deref(), Some("ann@mail.test"));
    }
    let none = convert_user(&Form::parse(b"email=&suspended=no"), "ann").unwrap();
    assert_eq!(none.email, None);
}

#[test]
fn suspended_is_yes_or_no_never_guessed() {
    let status = |v: &str| {
        convert_user(&Form::parse(format!("suspended={v}").as_bytes()), "u").map(|a| a.status)
    };
    assert_eq!(status("yes"), Ok(RemoteStatus::Suspended));
    assert_eq!(status("%20YES%20"), Ok(RemoteStatus::Suspended));
    assert_eq!(status("no"), Ok(RemoteStatus::Active));
    for bad in ["1", "0", "true", "", "maybe"] {
        assert_eq!(
            status(bad),
            Err(format!("suspended value {bad:?} is not yes or no")),
            "{bad}"
        );
    }
    assert_eq!(
        convert_user(&Form::parse(b"username=u"), "u").map(|a| a.status),
        Err("suspended is missing".into())
    );
}

#[test]
fn user_config_problems_are_reasons() {
    let f = Form::parse(b"username=bob&suspended=no");
    assert_eq!(
        convert_user(&f, "ann").unwrap_err(),
        "the answer is for user \"bob\", not \"ann\""
    );
    let f = Form::parse(b"suspended=no&domain=%FF");
    assert_eq!(
        convert_user(&f, "ann").unwrap_err(),
        "domain is not valid UTF-8"
    );
    let f = Form::parse(b"suspended=no&domain=a.test&domain=b.test");
    assert_eq!(
        convert_user(&f, "ann").unwrap_err(),
        "domain is given twice with different values"
    );
    // An over-long e-mail skips the record (it is not dropped as implausible).
    let body = format!(
        "suspended=no&domain=a.test&email={}%40mail.test",
        "a".repeat(300)
    );
    assert_eq!(
        convert_user(&Form::parse(body.as_bytes()), "ann").unwrap_err(),
        "email is 310 bytes long, more than the 254 allowed"
    );
    // No domain: passed on with an empty one (the analysis makes it a conflict).
    let a = convert_user(&Form::parse(b"suspended=no&creator="), "ann").unwrap();
    assert_eq!((a.domain.as_str(), a.owner), ("", None));
}

#[test]
fn lenient_reads_are_noted() {
    let a = convert_user(&Form::parse(&config("ann").into_bytes()), "ann").unwrap();
    assert!(a.notes.is_empty(), "{:?}", a.notes);
    let f = Form::parse(b"suspended=no&date_created=1700000000");
    assert_eq!(
        convert_user(&f, "ann").unwrap().notes,
        vec![
            "the config has no username: the user asked for is listed".to_string(),
            "date_created \"1700000000\" read as epoch seconds (UTC)".to_string(),
        ]
    );
    let f = Form::parse(b"username=ann&suspended=no&date_created=Tue+Nov+14+22:13:20+UTC+2023");
    assert_eq!(
        convert_user(&f, "ann").unwrap().notes,
        vec![
            "date_created \"Tue Nov 14 22:13:20 UTC 2023\": the zone \"UTC\" is ignored (kept as \
             the server's local time)"
                .to_string()
        ]
    );
}

#[test]
fn date_created_forms() {
    let d = |s: &str| parse_date_created(s).map(|(o, _)| o.map(format_created));
    assert_eq!(
        d("Tue Nov 14 22:13:20 2023"),
        Ok(Some("2023-11-14 22:13:20".into()))
    );
    assert_eq!(
        d("Thu Jan  3 01:02:03 2019"),
        Ok(Some("2019-01-03 01:02:03".into()))
    );
    assert_eq!(
        d("thu JAN 03 1:02 2019"),
        Ok(Some("2019-01-03 01:02:00".into()))
    );
    assert_eq!(
        d("Nov 14 22:13:20 2023"),
        Ok(Some("2023-11-14 22:13:20".into()))
    );
    assert_eq!(
        d("Tue Nov 14 22:13:20 UTC 2023"),
        Ok(Some("2023-11-14 22:13:20".into()))
    );
    assert_eq!(d("1700000000"), Ok(Some("2023-11-14 22:13:20".into())));
    assert_eq!(
        d("2023-11-14 22:13:20"),
        Ok(Some("2023-11-14 22:13:20".into()))
    );
    assert_eq!(d(""), Ok(None));
    assert_eq!(d("0"), Ok(None));
    for bad in [
        "Tue Feb 30 10:00:00 2023",
        "Tue Nov 14 25:13:20 2023",
        "Tue Nov 14 22:13:20 23",
        "Tue Nov 14 22:13:20:01 2023",
        "yesterday",
        "Mon Foo 14 22:13:20 2023",
        "2023-11-14",
        "99999999999999999999",
    ] {
        assert_eq!(
            d(bad),
            Err(format!(
                "date_created {bad:?} is not a date like \"Tue Nov 14 22:13:20 2023\""
            )),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Against a mock panel

#[tokio::test]
async fn lists_in_order_with_basic_auth_and_encoded_user_names() {
    let server = MockServer::start().await;
    serve_users(&server, &["ann", "bob", "res%7C1"]).await;
    for u in ["ann", "bob", "res|1"] {
        serve_config(&server, u, &config(u)).await;
    }
    let l = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap();
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["ann", "bob", "res|1"]);
    assert_eq!(l.accounts[0].email.as_deref(), Some("ann@mail.test"));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 4);
    // base64("admin:LoginKey-9ZQXJ2")
    for r in &reqs {
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Basic YWRtaW46TG9naW5LZXktOVpRWEoy")
        );
        assert!(!r.url.as_str().contains(PASSWORD));
    }
    assert!(reqs.iter().any(|r| r.url.query() == Some("user=res%7C1")));
}

#[tokio::test]
async fn third_of_five_failing_makes_the_listing_incomplete() {
    let server = MockServer::start().await;
    let users = ["u1", "u2", "u3", "u4", "u5"];
    serve_users(&server, &users).await;
    for u in users {
        let body = if u == "u3" {
            "error=1&text=Cannot%20show%20user".to_string()
        } else {
            config(u)
        };
        serve_config(&server, u, &body).await;
    }
    let l = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap();
    let names: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["u1", "u2", "u4", "u5"]);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 2,
            identifier: Some("u3".into()),
            reason: "CMD_API_SHOW_USER_CONFIG answered error=1: Cannot show user".into(),
        }]
    );
    assert!(!l.is_complete());
}

#[tokio::test]
async fn per_user_http_errors_and_bad_names_are_skipped_records() {
    let server = MockServer::start().await;
    serve_users(&server, &["ann", "", "ann", "boom", "odd"]).await;
    serve_config(&server, "ann", &config("ann")).await;
    serve_config(&server, "odd", "username=odd&suspended=frozen").await;
    Mock::given(path("/CMD_API_SHOW_USER_CONFIG"))
        .and(query_param("user", "boom"))
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal error"))
        .mount(&server)
        .await;
    let l = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 1);
    let skipped: Vec<_> = l
        .skipped
        .iter()
        .map(|s| (s.index, s.identifier.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            (1, None, "the user name is empty"),
            (
                2,
                Some("ann"),
                "the user is listed twice by CMD_API_SHOW_ALL_USERS"
            ),
            (
                3,
                Some("boom"),
                "CMD_API_SHOW_USER_CONFIG failed: the panel answered HTTP 500: Internal error"
            ),
            (
                4,
                Some("odd"),
                "suspended value \"frozen\" is not yes or no"
            ),
        ]
    );
}

#[tokio::test]
async fn systemic_failures_fail_the_listing() {
    // Permission refusal of the config command: every user would fail the same way.
    let server = MockServer::start().await;
    serve_users(&server, &["ann", "bob"]).await;
    Mock::given(path("/CMD_API_SHOW_USER_CONFIG"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("error=1&text=You%20cannot%20execute%20that%20command"),
        )
        .mount(&server)
        .await;
    let e = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("CMD_API_SHOW_USER_CONFIG: You cannot execute that command".into())
    );

    // The login page in HTTP 200.
    let server = MockServer::start().await;
    Mock::given(path("/CMD_API_SHOW_ALL_USERS"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><head><title>DirectAdmin Login</title></head></html>"),
        )
        .mount(&server)
        .await;
    let e = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Remote(m) if m.contains("login page")),
        "{e:?}"
    );

    // 401 and other HTML.
    let server = MockServer::start().await;
    Mock::given(path("/CMD_API_SHOW_ALL_USERS"))
        .and(header(
            "authorization",
            "Basic YWRtaW46TG9naW5LZXktOVpRWEoy",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("<!doctype html><p>proxy</p>"))
        .mount(&server)
        .await;
    Mock::given(path("/CMD_API_SHOW_ALL_USERS"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad {PASSWORD}")))
        .mount(&server)
        .await;
    let e = module()
        .list_accounts(&params_for(&server), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.contains("HTML page")),
        "{e:?}"
    );
    let mut wrong = params_for(&server);
    wrong.password = Secret::new("wrong-password");
    let e = module()
        .list_accounts(&wrong, &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });
}

#[tokio::test]
async fn missing_credentials_are_configuration_errors() {
    let server = MockServer::start().await;
    let mut p = params_for(&server);
    p.password = Secret::new("");
    assert!(matches!(
        module().list_accounts(&p, &NoProgress).await,
        Err(ModuleError::Config(m)) if m.contains("login key")
    ));
    let mut p = params_for(&server);
    p.username = " ".into();
    assert!(matches!(
        module().list_accounts(&p, &NoProgress).await,
        Err(ModuleError::Config(_))
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn concurrency_defaults_and_meta() {
    let m = module();
    assert_eq!(m.user_concurrency(), 16);
    assert_eq!(m.with_user_concurrency(0).user_concurrency(), 1);
    let wide = DirectAdminModule::new(&Shared::new(&ModuleOptions {
        max_concurrency: 32,
        ..ModuleOptions::default()
    }));
    assert_eq!(wide.user_concurrency(), 32);
    let meta = DirectAdminModule::meta_data();
    assert_eq!(meta.display_name, "DirectAdmin");
    assert_eq!(meta.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(meta.product_field, "configoption1");
    assert_eq!(
        (meta.default_secure_port, meta.default_plain_port),
        (2222, 2222)
    );
    assert!(meta.validate().is_ok());
}

// ---------------------------------------------------------------------------------------
// Fuzz-style: no input panics; every outcome is a value, a clean error or a reason.

const REAL_LIST: &str = "list[]=ann&list[]=bob&list[]=res1&list[]=xn--mnchen-3ya";
const REAL_CONFIG: &str =
    "account=ON&bandwidth=unlimited&creator=res1&date_created=Tue%20Nov%2014%2022%3A13%3A20%202023\
&domain=xn--mnchen-3ya.test&email=ann&#64mail.test&ip=192.0.2.10&name=Ann%20Lee&package=basic\
&quota=1000&suspended=yes&username=ann&usertype=user&vdomains=unlimited";

fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for &(pos, op, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let p = pos % b.len();
        match op % 4 {
            0 => b[p] = byte,
            1 => b.insert(p, byte),
            2 => {
                b.remove(p);
            }
            _ => b.truncate(p),
        }
    }
    b
}

fn check_everything(body: &[u8]) {
    let decoded = decode_entities(body);
    // Decoding only ever shortens (a reference is longer than its UTF-8 form).
    assert!(decoded.len() <= body.len());
    if let Err(e) = parse_user_list(body, PASSWORD) {
        // Every failure is one bounded, printable line.
        let msg = e.to_string();
        assert!(msg.chars().count() < 600, "{msg:.200}");
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        assert!(!msg.contains(PASSWORD), "{msg}");
    }
    let form = Form::parse(body);
    match convert_user(&form, "ann") {
        Ok(a) => {
            assert_eq!(a.username, "ann");
            assert_eq!(a.unique_identifier, a.domain);
            assert!(a.email.as_deref().map_or(0, str::len) <= 254);
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            assert!(reason.chars().count() < 400, "{reason:.200}");
        }
    }
    if let Some(d) = text(&form, "date_created") {
        let _ = parse_date_created(&d);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_everything(&body);
    }

    #[test]
    fn form_alphabet_never_panics(body in "[&#;=%+a-z0-9\\[\\]@ xX]{0,200}") {
        check_everything(body.as_bytes());
    }

    #[test]
    fn mutated_real_answers_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        which in 0..2u8,
    ) {
        let body = mutate(if which == 0 { REAL_LIST } else { REAL_CONFIG }, &edits);
        check_everything(&body);
    }

    #[test]
    fn mutated_dates_never_panic(s in "[A-Za-z]{0,4} [A-Za-z]{0,4} [0-9 ]{0,3} [0-9:]{0,9} [A-Z]{0,3} ?[0-9]{0,5}") {
        if let Ok((Some(dt), _)) = parse_date_created(&s) {
            prop_assert!((0..=9999).contains(&dt.year()));
        }
    }

    #[test]
    fn encoded_values_round_trip(v in "\\PC{0,40}") {
        let body = format!("username=ann&suspended=no&domain={}", form::percent_encode(&v));
        let f = Form::parse(body.as_bytes());
        prop_assert_eq!(text(&f, "domain"), Some(v));
    }
}
