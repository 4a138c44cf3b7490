use std::time::Duration;

use proptest::prelude::*;
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::convert::{convert_user, created, is_left_out};
use super::parse::{parse_users, parse_web_domains, UserEntry, UserFields, WebDomains};
use super::*;
use crate::lenient::Scalar;
use crate::{ModuleError, ModuleOptions, NoProgress, Shared};

/// An access key pair in Hestia's form (20 + 40 characters).
const KEY: &str = "ABCDEFGHIJ0123456789:s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr";
const SECRET: &str = "s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr";
const PASSWORD: &str = "Admin-Pass-9ZQ";

fn params_for(server: &MockServer, access_hash: &str) -> ServerParams {
    let addr = server.address();
    ServerParams {
        server_id: 14,
        ip: "192.0.2.14".into(),
        hostname: addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(access_hash),
        secure: false,
        tls_verify: true,
        port: Some(addr.port()),
    }
}

fn module() -> HestiaModule {
    HestiaModule::new(&Shared::new(&ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }))
}

/// One user object as Hestia's template writes it; `name` goes into `NAME` unescaped.
fn user_object(user: &str, name: &str, suspended: &str) -> String {
    format!(
        "    \"{user}\": {{\n        \"NAME\": \"{name}\",\n        \"PACKAGE\": \"basic\",\n        \
         \"CONTACT\": \"{user}@mail.test\",\n        \"RKEY\": \"RESETKEY-{user}\",\n        \
         \"ROLE\": \"user\",\n        \"SUSPENDED\": \"{suspended}\",\n        \
         \"TIME\": \"10:11:12\",\n        \"DATE\": \"2023-05-01\"\n        }}"
    )
}

/// A `v-list-users json` document of these objects, ending `}}` as Hestia HEAD does.
fn users_doc(objects: &[String]) -> String {
    format!("{{\n{}}}", objects.join(",\n"))
}

fn domains_doc(domains: &[(&str, &str)]) -> String {
    let objects: Vec<String> = domains
        .iter()
        .map(|(d, ip)| {
            format!(
                "    \"{d}\": {{\n        \"IP\": \"{ip}\",\n        \"IP6\": \"\",\n        \
                 \"SUSPENDED\": \"no\"\n    }}"
            )
        })
        .collect();
    format!("{{\n{}\n}}", objects.join(",\n"))
}

fn names(entries: &[UserEntry]) -> Vec<(Option<&str>, bool)> {
    entries
        .iter()
        .map(|e| match e {
            UserEntry::User { name, .. } => (Some(name.as_str()), true),
            UserEntry::Broken { name, .. } => (name.as_deref(), false),
        })
        .collect()
}

async fn serve(server: &MockServer, needle: &str, resp: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/api/"))
        .and(body_string_contains(needle))
        .respond_with(resp)
        .mount(server)
        .await;
}

async fn serve_users(server: &MockServer, doc: &str) {
    serve(
        server,
        "cmd=v-list-users&arg1=json",
        ResponseTemplate::new(200).set_body_string(doc.to_string()),
    )
    .await;
}

async fn serve_domains(server: &MockServer, user: &str, resp: ResponseTemplate) {
    serve(
        server,
        &format!("cmd=v-list-web-domains&arg1={user}&arg2=json"),
        resp,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// The user list

#[test]
fn a_valid_document_is_read_in_order_without_its_secrets() {
    let doc = users_doc(&[
        user_object("zed", "Zed Example", "no"),
        user_object("ann", "Ann Example", "yes"),
    ]);
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(names(&entries), [(Some("zed"), true), (Some("ann"), true)]);
    let UserEntry::User { fields, .. } = &entries[1] else {
        panic!("ann is readable")
    };
    assert_eq!(fields.suspended, Scalar::Str("yes".into()));
    assert_eq!(fields.package, Scalar::Str("basic".into()));
    assert_eq!(fields.date, Scalar::Str("2023-05-01".into()));
    // RKEY is skipped unread: it is nowhere in what was kept.
    assert!(!format!("{entries:?}").contains("RESETKEY"));
    // `}` on its own line (Hestia 1.8) reads the same.
    let old = format!("{{\n{}\n}}", user_object("ann", "Ann", "no"));
    assert_eq!(
        names(&parse_users(old.as_bytes()).unwrap()),
        [(Some("ann"), true)]
    );
    assert!(parse_users(b"{\n}").unwrap().is_empty());
}

#[test]
fn hestia_name_with_a_quote_skips_that_record_and_keeps_the_others() {
    let doc = users_doc(&[
        user_object("ann", "Ann Example", "no"),
        user_object("bob", "Bob \"the builder\" Example", "no"),
        user_object("cid", "Cid Example", "yes"),
    ]);
    assert!(serde_json::from_str::<serde_json::Value>(&doc).is_err());
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(
        names(&entries),
        [
            (Some("ann"), true),
            (Some("bob"), false),
            (Some("cid"), true)
        ]
    );
    let UserEntry::Broken { reason, .. } = &entries[1] else {
        panic!("bob is broken")
    };
    assert_eq!(
        reason,
        "the v-list-users object of this user is not valid JSON (line 2, column 23 of the \
         object; a `\"` inside a value, which Hestia does not escape?)"
    );
    // The reason never quotes the object (it may hold RKEY).
    assert!(!reason.contains("builder"));
}

#[test]
fn a_value_that_injects_a_user_is_read_per_user() {
    // Valid JSON as a whole, but the template's lines name three users, not four.
    let doc = users_doc(&[
        user_object("ann", "Ann", "no"),
        user_object("bob", "\"}, \"evil\": {\"PACKAGE\": \"gold", "no"),
        user_object("cid", "Cid", "no"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert!(v.get("evil").is_some());
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(
        names(&entries),
        [
            (Some("ann"), true),
            (Some("bob"), false),
            (Some("cid"), true)
        ]
    );
}

#[test]
fn a_backslash_is_never_read_as_an_escape() {
    // `\t` would be a valid JSON escape: a strict reader would turn it into a tab.
    let doc = users_doc(&[
        user_object("ann", "Ann Example", "no"),
        user_object("bob", "C:\\temp Bob", "no"),
    ]);
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(names(&entries), [(Some("ann"), true), (Some("bob"), false)]);
    let UserEntry::Broken { reason, .. } = &entries[1] else {
        panic!("bob is broken")
    };
    assert!(
        reason.contains("holds a `\\` (line 2 of the object)"),
        "{reason}"
    );
}

#[test]
fn broken_documents_fail_as_a_whole() {
    let full = users_doc(&[
        user_object("ann", "Ann", "no"),
        user_object("bob", "B\"ob", "no"),
    ]);
    // Cut short: never a shorter list.
    let cut = &full[..full.len() - 40];
    assert_eq!(
        parse_users(cut.as_bytes()).unwrap_err().0,
        "v-list-users answered a JSON object that ends before its closing `}`"
    );
    for bad in [&b""[..], b"OK", b"[]", b"Error: nope", b"{\"a\" \"b\"}"] {
        assert!(
            parse_users(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Text before the first user object.
    let junk = format!("{{\n  garbage\n{}}}", user_object("ann", "A\"", "no"));
    assert!(parse_users(junk.as_bytes()).is_err());
}

// ---------------------------------------------------------------------------------------
// Web domains and conversion

#[test]
fn web_domains_keep_creation_order() {
    let d = parse_web_domains(
        domains_doc(&[
            ("zz.test", "192.0.2.14"),
            ("aa.test", "198.51.100.1"),
            ("mm.test", "192.0.2.14"),
        ])
        .as_bytes(),
    )
    .unwrap();
    let (first, f) = d.first.as_ref().unwrap();
    assert_eq!(first, "zz.test");
    assert_eq!(f.ip, Scalar::Str("192.0.2.14".into()));
    assert_eq!(d.others, ["aa.test", "mm.test"]);
    assert_eq!(d.other_count, 2);
    assert_eq!(parse_web_domains(b"{\n}").unwrap(), WebDomains::default());
    assert!(parse_web_domains(b"Error: x").is_err());
    assert!(parse_web_domains(b"{\"a.test\": {\"IP\": \"1\\2\"}}").is_err());
}

fn fields(suspended: &str, date: &str, time: &str) -> UserFields {
    UserFields {
        package: Scalar::Str("basic".into()),
        contact: Scalar::Str("ann@mail.test".into()),
        suspended: Scalar::Str(suspended.into()),
        role: Scalar::Str("user".into()),
        date: Scalar::Str(date.into()),
        time: Scalar::Str(time.into()),
    }
}

#[test]
fn a_user_converts_with_exact_values() {
    let d = parse_web_domains(
        domains_doc(&[("ann.test", "192.0.2.14"), ("ann-shop.test", "192.0.2.14")]).as_bytes(),
    )
    .unwrap();
    let a = convert_user("ann", &fields("yes", "2023-05-01", "10:11:12"), &d).unwrap();
    assert_eq!(a.username, "ann");
    assert_eq!(a.domain, "ann.test");
    assert_eq!(a.unique_identifier, "ann.test");
    assert_eq!(a.product, "basic");
    assert_eq!(a.primary_ip, "192.0.2.14");
    assert_eq!(a.email.as_deref(), Some("ann@mail.test"));
    assert_eq!(a.status, RemoteStatus::Suspended);
    assert_eq!(a.owner, None);
    assert_eq!(format_created(a.created.unwrap()), "2023-05-01 10:11:12");
    assert_eq!(
        a.notes,
        [
            "the first web domain in creation order is the account's domain; the user also has \
          ann-shop.test"
        ]
    );

    // No web domain: an empty domain, passed on (a conflict in the analysis).
    let a = convert_user(
        "bob",
        &fields("no", "2023-05-01", ""),
        &WebDomains::default(),
    )
    .unwrap();
    assert_eq!((a.domain.as_str(), a.unique_identifier.as_str()), ("", ""));
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(format_created(a.created.unwrap()), "2023-05-01 00:00:00");
    assert_eq!(a.notes, ["the user has no web domain"]);
}

#[test]
fn problems_are_reasons_never_guesses() {
    let none = WebDomains::default();
    for (f, want) in [
        (
            fields("frozen", "2023-05-01", ""),
            "SUSPENDED value \"frozen\" is not yes or no",
        ),
        (
            fields("no", "01/05/2023", ""),
            "DATE \"01/05/2023\" is not a date like \"2023-05-01\"",
        ),
        (
            fields("no", "2023-02-30", ""),
            "DATE \"2023-02-30\" is not a date like \"2023-05-01\"",
        ),
        (
            fields("no", "2023-05-01", "25:00:00"),
            "TIME \"25:00:00\" is not a time like \"10:11:12\"",
        ),
        (fields("no", "", "10:11:12"), "TIME is given without a DATE"),
    ] {
        assert_eq!(convert_user("ann", &f, &none).unwrap_err(), want);
    }
    let mut f = fields("no", "", "");
    f.suspended = Scalar::Missing;
    assert_eq!(
        convert_user("ann", &f, &none).unwrap_err(),
        "SUSPENDED is missing"
    );
    assert_eq!(created(&Scalar::Missing, &Scalar::Missing), Ok(None));
}

#[test]
fn admin_and_system_users_are_left_out() {
    let mut f = fields("no", "", "");
    assert!(is_left_out("admin", "", Some(&f)));
    assert!(is_left_out("root2", "root2", Some(&f)));
    assert!(!is_left_out("ann", "admin", Some(&f)));
    f.role = Scalar::Str("admin".into());
    assert!(is_left_out("ann", "", Some(&f)));
    f.role = Scalar::Str("user".into());
    f.package = Scalar::Str("system".into());
    assert!(is_left_out("ann", "", Some(&f)));
    assert!(!is_left_out("ann", "", None));
}

// ---------------------------------------------------------------------------------------
// Against a mock panel

#[tokio::test]
async fn access_key_mode_posts_the_hash_in_the_form_body() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[
            user_object("admin", "System Administrator", "no"),
            user_object("zed", "Zed", "no"),
            user_object("ann", "Ann", "no"),
        ]),
    )
    .await;
    serve_domains(
        &server,
        "zed",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("zed.test", "192.0.2.14")])),
    )
    .await;
    serve_domains(
        &server,
        "ann",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("ann.test", "192.0.2.15")])),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap();
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    let got: Vec<_> = l
        .accounts
        .iter()
        .map(|a| {
            (
                a.username.as_str(),
                a.domain.as_str(),
                a.primary_ip.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("zed", "zed.test", "192.0.2.14"),
            ("ann", "ann.test", "192.0.2.15")
        ]
    );
    let reqs = server.received_requests().await.unwrap();
    // The user list and one call per listed user (admin is left out without a call).
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.starts_with("hash=ABCDEFGHIJ0123456789%3As3cr3t"),
            "{body}"
        );
        assert!(body.contains("&returncode=no&cmd="), "{body}");
        assert!(!body.contains("password"));
        assert!(!r.url.as_str().contains(SECRET));
        assert_eq!(r.url.path(), "/api/");
    }
}

#[tokio::test]
async fn user_password_mode_error_in_200_skips_that_user() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[
            user_object("u1", "U1", "no"),
            user_object("u2", "U2", "no"),
            user_object("u3", "U3", "no"),
        ]),
    )
    .await;
    for u in ["u1", "u3"] {
        serve_domains(
            &server,
            u,
            ResponseTemplate::new(200)
                .set_body_string(domains_doc(&[(&format!("{u}.test"), "192.0.2.14")])),
        )
        .await;
    }
    // With user/password a failing command still answers 200 with its `Error:` text.
    serve_domains(
        &server,
        "u2",
        ResponseTemplate::new(200).set_body_string("Error: user u2 doesn't exist\n"),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, ""), &NoProgress)
        .await
        .unwrap();
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["u1", "u3"]);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 1,
            identifier: Some("u2".into()),
            reason: "v-list-web-domains failed: user u2 doesn't exist".into(),
        }]
    );
    assert!(!l.is_complete());
    let reqs = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&reqs[0].body);
    assert!(
        body.starts_with("user=admin&password=Admin-Pass-9ZQ&returncode=no&cmd=v-list-users"),
        "{body}"
    );
}

#[tokio::test]
async fn access_key_mode_exit_codes_are_http_statuses() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[user_object("u1", "U1", "no"), user_object("u2", "U2", "no")]),
    )
    .await;
    serve_domains(
        &server,
        "u1",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("u1.test", "192.0.2.14")])),
    )
    .await;
    serve_domains(
        &server,
        "u2",
        ResponseTemplate::new(400)
            .insert_header("hestia-exit-code", "3")
            .set_body_string("Error: user u2 doesn't exist"),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(
        l.skipped[0].reason,
        "v-list-web-domains failed: user u2 doesn't exist (exit code 3, E_NOTEXIST)"
    );
}

#[tokio::test]
async fn systemic_failures_fail_the_listing() {
    // v-list-users failing in 200 (legacy mode).
    let server = MockServer::start().await;
    serve_users(&server, "Error: can't read users\n").await;
    let e = module()
        .list_accounts(&params_for(&server, ""), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("v-list-users: can't read users".into())
    );

    // A refused key: 401 with Hestia's text.
    let server = MockServer::start().await;
    serve(
        &server,
        "cmd=v-list-users",
        ResponseTemplate::new(401)
            .insert_header("hestia-exit-code", "9")
            .set_body_string("Error: key ABCDEFGHIJ0123456789 doesn't exist"),
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });

    // An HTML page (a proxy, the login page) and an empty answer.
    let server = MockServer::start().await;
    serve_users(
        &server,
        "<!doctype html><title>Hestia Control Panel</title>",
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.contains("HTML page")),
        "{e:?}"
    );
    let server = MockServer::start().await;
    serve(&server, "cmd=v-list-users", ResponseTemplate::new(204)).await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed("v-list-users answered with no output".into())
    );

    // A 500 with the secret echoed back: redacted.
    let server = MockServer::start().await;
    serve(
        &server,
        "cmd=v-list-users",
        ResponseTemplate::new(500).set_body_string(format!("boom {SECRET}")),
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Http {
            status: 500,
            snippet: "boom [redacted]".into()
        }
    );
}

#[tokio::test]
async fn missing_credentials_are_configuration_errors() {
    let server = MockServer::start().await;
    let mut p = params_for(&server, "");
    p.password = Secret::new("");
    assert!(matches!(
        module().list_accounts(&p, &NoProgress).await,
        Err(ModuleError::Config(m)) if m.contains("ACCESS_KEY:SECRET_KEY")
    ));
    let p = params_for(&server, "no-colon-here");
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
    let meta = HestiaModule::meta_data();
    assert_eq!(meta.display_name, "HestiaCP");
    assert_eq!(meta.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(meta.product_field, "configoption1");
    assert_eq!(
        (meta.default_secure_port, meta.default_plain_port),
        (8083, 8083)
    );
    assert!(meta.validate().is_ok());
    assert_eq!(
        command_message("Error: x\ny", Some(12), ""),
        "x y (exit code 12, E_PARSING)"
    );
}

// ---------------------------------------------------------------------------------------
// Fuzz-style: no input panics; every outcome is a value, a clean error or a reason.

fn real_users() -> String {
    users_doc(&[
        user_object("admin", "System Administrator", "no"),
        user_object("ann", "Ann Example", "yes"),
        user_object("bob", "Bob", "no"),
    ])
}

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
    match parse_users(body) {
        Ok(entries) => {
            // Never more users than boundary lines (or `"` pairs) the body has.
            assert!(entries.len() <= body.iter().filter(|b| **b == b'"').count() / 2);
            for e in &entries {
                match e {
                    UserEntry::User { name, fields } => {
                        let _ = convert_user(name, fields, &WebDomains::default());
                    }
                    UserEntry::Broken { reason, .. } => {
                        assert!(!reason.is_empty());
                        assert!(!reason.contains("RESETKEY"));
                    }
                }
            }
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
    match parse_web_domains(body) {
        Ok(d) => assert!(d.others.len() <= super::parse::MAX_OTHER_DOMAINS),
        Err(reason) => assert!(!reason.is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_everything(&body);
    }

    #[test]
    fn json_alphabet_never_panics(body in "[{}\":, \\n\\\\a-zA-Z0-9]{0,300}") {
        check_everything(body.as_bytes());
    }

    #[test]
    fn mutated_real_answers_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        which in 0..2u8,
    ) {
        let base = if which == 0 {
            real_users()
        } else {
            domains_doc(&[("ann.test", "192.0.2.14"), ("b.test", "192.0.2.15")])
        };
        check_everything(&mutate(&base, &edits));
    }

    #[test]
    fn one_quote_in_any_name_loses_only_that_user(name in "[ -~]{0,30}", at in 0..3usize) {
        let mut objects = vec![
            user_object("ann", "Ann", "no"),
            user_object("bob", "Bob", "no"),
            user_object("cid", "Cid", "no"),
        ];
        let user = ["ann", "bob", "cid"][at];
        objects[at] = user_object(user, &name, "no");
        let entries = parse_users(users_doc(&objects).as_bytes()).unwrap();
        let got = names(&entries);
        prop_assert_eq!(got.len(), 3);
        for (i, (n, ok)) in got.iter().enumerate() {
            prop_assert_eq!(*n, Some(["ann", "bob", "cid"][i]));
            if i != at {
                prop_assert!(*ok);
            }
        }
        // A clean name reads; one with `\` is the skipped record (one with `"` may still
        // be valid JSON of the same user, e.g. `a", "X": "b`).
        if !name.contains('"') && !name.contains('\\') {
            prop_assert!(got[at].1);
        }
        if name.contains('\\') {
            prop_assert!(!got[at].1);
        }
    }
}
