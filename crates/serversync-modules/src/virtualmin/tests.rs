use std::time::Duration;

use panel_sim::{generate_virtualmin_accounts, virtualmin::DomainKind, VirtualminDomain};
use proptest::prelude::*;
use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::parse::{panel_text, parse_listing, Parsed};
use super::*;
use crate::{Module, ModuleError, ModuleOptions, NoProgress};

const PASSWORD: &str = "Hunter2-pass";

fn params_for(server: &MockServer) -> ServerParams {
    let addr = server.address();
    ServerParams {
        server_id: 13,
        ip: "192.0.2.20".into(),
        hostname: addr.ip().to_string(),
        username: "root".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(""),
        secure: false,
        tls_verify: true,
        port: Some(addr.port()),
    }
}

fn opts() -> ModuleOptions {
    ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }
}

fn success(entries: &[Value]) -> Value {
    json!({"status": "success", "data": entries, "command": "list-domains"})
}

async fn serve(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/virtual-server/remote.cgi"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn list(server: &MockServer) -> Result<Listing, ModuleError> {
    VirtualminModule::new(&crate::Shared::new(&opts()))
        .list_accounts(&params_for(server), &NoProgress)
        .await
}

fn assert_secret_free(what: &str) {
    assert!(!what.contains(PASSWORD), "password leaked: {what}");
    assert!(!what.contains("Hunter2"), "password leaked: {what}");
}

fn parse(v: &Value) -> Result<Parsed, ModuleError> {
    parse_listing(&serde_json::to_vec(v).unwrap(), PASSWORD)
}

fn parse_one(entry: Value) -> Result<RemoteAccount, SkippedRecord> {
    let p = parse(&success(&[entry])).expect("envelope parses");
    match (p.listing.accounts.as_slice(), p.listing.skipped.as_slice()) {
        ([a], []) => Ok(a.clone()),
        ([], [s]) => Err(s.clone()),
        other => panic!("expected one account or one skipped record: {other:?}"),
    }
}

use serversync_core::module::{RemoteAccount, SkippedRecord};

fn dom(name: &str, user: &str) -> VirtualminDomain {
    VirtualminDomain::new(name, user)
}

#[test]
fn meta_data_is_virtualmin() {
    let m = VirtualminModule::meta_data();
    assert_eq!(m.display_name, "Virtualmin");
    assert_eq!(m.unique_identifier_display_name, "Domain");
    assert_eq!(m.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(m.product_field, "configoption2");
    assert_eq!(
        (m.default_secure_port, m.default_plain_port),
        (10000, 10000)
    );
    assert!(m.validate().is_ok());
}

#[tokio::test]
async fn sends_basic_auth_to_remote_cgi_list_domains_multiline_json() {
    let server = MockServer::start().await;
    let d = dom("ann.test", "ann").plan("1", "Basic").to_value();
    Mock::given(method("GET"))
        .and(path("/virtual-server/remote.cgi"))
        .and(query_param("program", "list-domains"))
        .and(query_param("multiline", ""))
        .and(query_param("json", "1"))
        // base64("root:Hunter2-pass")
        .and(header("authorization", "Basic cm9vdDpIdW50ZXIyLXBhc3M="))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(&[d])))
        .expect(1)
        .mount(&server)
        .await;
    let l = list(&server).await.expect("listing");
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(l.accounts[0].product, "Basic");
    let reqs = server.received_requests().await.unwrap_or_default();
    let q = reqs[0].url.query().unwrap_or_default().to_string();
    assert_eq!(q, "program=list-domains&multiline=&json=1");
    assert_secret_free(&q);
}

#[tokio::test]
async fn missing_credentials_are_config_errors() {
    let server = serve(ResponseTemplate::new(200)).await;
    let m = VirtualminModule::new(&crate::Shared::new(&opts()));
    let mut p = params_for(&server);
    p.password = Secret::new("");
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Config(m) if m.contains("no password")),
        "{e:?}"
    );
    let mut p = params_for(&server);
    p.username = "  ".into();
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Config(m) if m.contains("no username")),
        "{e:?}"
    );
    let mut p = params_for(&server);
    p.username = "ro:ot".into();
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Config(m) if m.contains("':'")),
        "{e:?}"
    );
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn http_401_and_403_are_auth_refused() {
    for status in [401u16, 403] {
        let server = serve(
            ResponseTemplate::new(status).set_body_string("<h1>Error - 401 Unauthorized</h1>"),
        )
        .await;
        let e = list(&server).await.unwrap_err();
        assert_eq!(e, ModuleError::AuthRefused { status });
    }
}

#[tokio::test]
async fn http_500_is_an_http_error_with_a_safe_snippet() {
    let server = serve(ResponseTemplate::new(500).set_body_string(format!(
        "<h1>Error - Perl execution failed</h1>\n<pre>login root:{PASSWORD} Password for mysql: s3cret</pre>"
    )))
    .await;
    let e = list(&server).await.unwrap_err();
    let ModuleError::Http { status, snippet } = &e else {
        panic!("expected Http, got {e:?}");
    };
    assert_eq!(*status, 500);
    assert!(
        snippet.starts_with("<h1>Error - Perl execution failed</h1>"),
        "{snippet}"
    );
    assert!(snippet.contains("[redacted]"), "{snippet}");
    assert!(!snippet.contains("s3cret"), "{snippet}");
    assert_secret_free(&format!("{e} {e:?}"));
}

#[tokio::test]
async fn the_three_error_shapes_in_http_200_are_remote_errors() {
    // 1. list-domains ran and failed: `error` is used, `full_error` (all output) never.
    let server = serve(ResponseTemplate::new(200).set_body_json(json!({
        "command": "list-domains", "status": "failure",
        "error": "Unknown parameter --bogus",
        "full_error": "Unknown parameter --bogus\nann.test\n    Password: pw-ann\n"
    })))
    .await;
    let e = list(&server).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("list-domains failed: Unknown parameter --bogus".into())
    );
    // 2. remote.cgi refused the request once the format was known (text/plain JSON).
    let server = serve(
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/plain")
            .set_body_string(
                "{\n   \"status\" : \"error\",\n   \"error\" : \"Remote program list-domains does not exist\"\n}\n",
            ),
    )
    .await;
    assert_eq!(
        list(&server).await.unwrap_err(),
        ModuleError::Remote("Remote program list-domains does not exist".into())
    );
    // 3. refused before the format was known: plain text.
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_string("ERROR: You are not allowed to run remote commands\n"),
    )
    .await;
    assert_eq!(
        list(&server).await.unwrap_err(),
        ModuleError::Remote("You are not allowed to run remote commands".into())
    );
}

#[test]
fn failure_without_a_message_and_unknown_status() {
    let e = parse(&json!({"status": "failure", "command": "list-domains"})).unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("list-domains failed: no error message given".into())
    );
    let e = parse(&json!({"status": "OK", "data": []})).unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed(
            "status is \"OK\", expected \"success\", \"failure\" or \"error\"".into()
        )
    );
    let e = parse(&json!({"data": []})).unwrap_err();
    assert!(matches!(e, ModuleError::Malformed(m) if m.starts_with("status is missing")));
    let e = parse(&json!({"status": "success", "output": "ann.test\n"})).unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.starts_with("data is missing")),
        "{e:?}"
    );
    let e = parse(&json!({"status": "success", "data": {"a": 1}})).unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed("data is an object, expected the list of virtual servers".into())
    );
}

#[test]
fn html_text_empty_and_broken_bodies_are_malformed() {
    let e = parse_listing(
        b"<html><body>Error - Bad Request: This web server is running in SSL mode.</body></html>",
        PASSWORD,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.starts_with("remote.cgi answered an HTML page") && m.contains("SSL mode")),
        "{e:?}"
    );
    let e = parse_listing(
        b"Invalid format json : Missing JSON::PP Perl module\n",
        PASSWORD,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed(
            "remote.cgi answered text, not JSON: Invalid format json : Missing JSON::PP Perl module"
                .into()
        )
    );
    assert_eq!(
        parse_listing(b"  \n", PASSWORD).unwrap_err(),
        ModuleError::Malformed("the response is empty".into())
    );
    let full = serde_json::to_vec(&success(&[dom("ann.test", "ann").to_value()])).unwrap();
    let e = parse_listing(&full[..full.len() / 2], PASSWORD).unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.starts_with("the response body is truncated")),
        "{e:?}"
    );
    let e = parse_listing(
        b"{\"status\": \"success\", \"data\": [] } trailing",
        PASSWORD,
    )
    .unwrap_err();
    assert!(matches!(e, ModuleError::Malformed(_)), "{e:?}");
}

#[test]
fn text_output_is_never_echoed_past_a_password_label() {
    // The plain --multiline form (a proxy that dropped json=1) starts with the domain name;
    // only its first line is shown, and a password label stops the text.
    let e = parse_listing(
        b"ann.test\n    ID: 1\n    Password: pw-secret\n\nExit status: 0\n",
        PASSWORD,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed("remote.cgi answered text, not JSON: ann.test".into())
    );
    assert_eq!(
        panel_text("failed: Password for mysql: s3cret and more", PASSWORD),
        "failed: Password for mysql: [withheld]"
    );
    assert_eq!(
        panel_text(&format!("bad login root/{PASSWORD}"), PASSWORD),
        "bad login root/[redacted]"
    );
    let e = parse(&json!({"status": "error", "error": "pass=abc failed"})).unwrap_err();
    assert_eq!(e, ModuleError::Remote("pass= [withheld]".into()));
}

#[test]
fn shared_ip_annotation_is_removed() {
    // The small input: "ip_address":["198.51.100.7 (Shared)"] → 198.51.100.7.
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["ip_address"] = json!(["198.51.100.7 (Shared)"]);
    assert_eq!(parse_one(d).unwrap().primary_ip, "198.51.100.7");
    for (raw, want) in [
        ("198.51.100.8 (On eth0)", "198.51.100.8"),
        ("198.51.100.9 (Private)", "198.51.100.9"),
        ("198.51.100.10", "198.51.100.10"),
        (" 198.51.100.11(Shared) ", "198.51.100.11"),
        ("", ""),
    ] {
        let mut d = dom("ann.test", "ann").to_value();
        d["values"]["ip_address"] = json!([raw]);
        assert_eq!(parse_one(d).unwrap().primary_ip, want, "{raw:?}");
    }
    // IPv6 when there is no IPv4 address.
    let mut d = dom("ann.test", "ann").to_value();
    d["values"].as_object_mut().unwrap().remove("ip_address");
    d["values"]["ipv6_address"] = json!(["2001:db8::7 (On eth0)"]);
    assert_eq!(parse_one(d).unwrap().primary_ip, "2001:db8::7");
    // IPv4 wins when both are listed; the NAT address is not used.
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["ipv6_address"] = json!(["2001:db8::7"]);
    d["values"]["external_ip_address"] = json!(["203.0.113.9"]);
    assert_eq!(parse_one(d).unwrap().primary_ip, "192.0.2.20");
    // Not an address: reported with the value.
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["ip_address"] = json!(["on eth0"]);
    let s = parse_one(d).unwrap_err();
    assert_eq!(
        s.reason,
        "ip_address \"on eth0\" is not an IP address with an optional (note)"
    );
    assert_eq!(s.identifier.as_deref(), Some("ann.test"));
}

#[test]
fn only_top_level_servers_are_accounts() {
    let top = dom("ann.test", "ann").to_value();
    let mut sub = dom("blog.test", "ann");
    sub.kind = DomainKind::SubServer {
        parent: "ann.test".into(),
    };
    let mut alias = dom("ann.example", "ann");
    alias.kind = DomainKind::Alias {
        real: "ann.test".into(),
    };
    let mut alias_mail = dom("ann.example2", "ann");
    alias_mail.kind = DomainKind::AliasWithOwnEmail {
        real: "ann.test".into(),
    };
    // An alias has no parent_domain: filtering on parent_domain alone would let it through.
    let alias_v = alias.to_value();
    assert!(alias_v["values"].get("parent_domain").is_none());
    // Without `type`, parent_domain / real_domain still tell.
    let mut untyped_sub = sub.to_value();
    untyped_sub["values"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let mut untyped_alias = alias.to_value();
    untyped_alias["values"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let p = parse(&success(&[
        top,
        sub.to_value(),
        alias_v,
        alias_mail.to_value(),
        untyped_sub,
        untyped_alias,
        dom("bob.test", "bob").to_value(),
    ]))
    .unwrap();
    let names: Vec<&str> = p
        .listing
        .accounts
        .iter()
        .map(|a| a.domain.as_str())
        .collect();
    assert_eq!(names, ["ann.test", "bob.test"]);
    assert!(p.listing.skipped.is_empty(), "{:?}", p.listing.skipped);
    assert_eq!(p.not_top_level, 5);
}

#[test]
fn contradictory_or_unknown_types_are_skipped() {
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["real_domain"] = json!(["bob.test"]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "type is \"Top-level server\" but it has a real_domain"
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["parent_domain"] = json!(["bob.test"]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "type is \"Top-level server\" but it has a parent_domain"
    );
    // An empty parent_domain is no parent.
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["parent_domain"] = json!([""]);
    assert!(parse_one(d).is_ok());
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["type"] = json!(["Serveur principal"]);
    assert!(parse_one(d)
        .unwrap_err()
        .reason
        .starts_with("type \"Serveur principal\" is not a Virtualmin server type"));
    let mut d = dom("ann.test", "ann").to_value();
    d["values"].as_object_mut().unwrap().remove("type");
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "type is missing: it cannot be told from a sub-server or an alias"
    );
}

#[test]
fn disabled_is_suspended_only_when_present() {
    let a = parse_one(dom("ann.test", "ann").to_value()).unwrap();
    assert_eq!((a.status, a.status_detail), (RemoteStatus::Active, None));
    let a = parse_one(
        dom("ann.test", "ann")
            .disabled("Manually (non-payment)", 1_700_000_500)
            .to_value(),
    )
    .unwrap();
    assert_eq!(a.status, RemoteStatus::Suspended);
    assert_eq!(a.status_detail.as_deref(), Some("Manually (non-payment)"));
    for v in [
        json!([""]),
        json!([]),
        json!("For exceeding bandwidth limit"),
    ] {
        let mut d = dom("ann.test", "ann").to_value();
        d["values"]["disabled"] = v.clone();
        assert_eq!(parse_one(d).unwrap().status, RemoteStatus::Suspended, "{v}");
    }
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["disabled"] = Value::Null;
    assert!(parse_one(d)
        .unwrap_err()
        .reason
        .starts_with("disabled is null"));
}

#[test]
fn created_unix_time_is_preferred_and_created_on_never_read() {
    let mut d = dom("ann.test", "ann").created(1_631_350_537).to_value();
    d["values"]["created_on"] = json!(["1/1/1999 00:00"]);
    let a = parse_one(d).unwrap();
    assert_eq!(
        a.created.map(format_created).as_deref(),
        Some("2021-09-11 08:55:37")
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]
        .as_object_mut()
        .unwrap()
        .remove("created_unix_time");
    assert_eq!(parse_one(d).unwrap().created, None);
    for zero in ["0", "", " "] {
        let mut d = dom("ann.test", "ann").to_value();
        d["values"]["created_unix_time"] = json!([zero]);
        assert_eq!(parse_one(d).unwrap().created, None, "{zero:?}");
    }
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["created_unix_time"] = json!([1_631_350_537u64]);
    let a = parse_one(d).unwrap();
    assert!(a.created.is_some());
    assert_eq!(a.notes, ["created_unix_time was a number, read as text"]);
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["created_unix_time"] = json!(["11/Sep/2021"]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "created_unix_time \"11/Sep/2021\" is not a time in epoch seconds"
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["created_unix_time"] = json!(["-5"]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "created_unix_time -5 is before 1970"
    );
}

#[test]
fn fields_map_to_the_account() {
    let mut d = dom("xn--mnchen-3ya.test", "munich").plan("1600000002", "Silver");
    d.reseller = Some("res1  res2".into());
    d.contact_email = "Munich@Mail.test".into();
    let a = parse_one(d.to_value()).unwrap();
    assert_eq!(a.domain, "xn--mnchen-3ya.test");
    assert_eq!(a.unique_identifier, "xn--mnchen-3ya.test");
    assert_eq!(a.username, "munich");
    assert_eq!(a.product, "Silver");
    assert_eq!(a.owner.as_deref(), Some("res1 res2"));
    assert_eq!(a.email.as_deref(), Some("Munich@Mail.test"));
    // No plan, no reseller, placeholder e-mails.
    for mail in ["", "ann@localhost", "  "] {
        let mut d = dom("ann.test", "ann");
        d.contact_email = mail.into();
        let a = parse_one(d.to_value()).unwrap();
        assert_eq!((a.email, a.product.as_str(), a.owner), (None, "", None));
    }
}

#[test]
fn an_over_long_email_skips_the_server() {
    let mut d = dom("ann.test", "ann");
    d.contact_email = format!("{}@mail.test", "a".repeat(300));
    let s = parse_one(d.to_value()).unwrap_err();
    assert_eq!(
        s.reason,
        "email is 310 bytes long, more than the 254 allowed"
    );
}

#[test]
fn bare_strings_numbers_and_repeated_values() {
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["username"] = json!("ann");
    d["values"]["plan"] = json!(["Basic", "Basic"]);
    d["values"]["type"] = json!("Top-level server");
    let a = parse_one(d).unwrap();
    assert_eq!((a.username.as_str(), a.product.as_str()), ("ann", "Basic"));
    assert_eq!(
        a.notes,
        [
            "type was a bare value, not a list of strings",
            "username was a bare value, not a list of strings",
            "plan was listed 2 times"
        ]
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["plan"] = json!(["Basic", "Gold"]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "plan has 2 different values, expected one"
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["username"] = json!({"x": 1});
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "username is an object, not a list of strings"
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["username"] = json!([["ann"]]);
    assert_eq!(
        parse_one(d).unwrap_err().reason,
        "username is a list, not a string"
    );
    let mut d = dom("ann.test", "ann").to_value();
    d["values"]["username"] = json!([]);
    let s = parse_one(d).unwrap_err();
    assert_eq!(s.reason, "username is missing");
    assert_eq!(s.identifier.as_deref(), Some("ann.test"));
    let mut d = dom("ann.test", "ann").to_value();
    d["name"] = json!("");
    let s = parse_one(d).unwrap_err();
    assert_eq!(s.reason, "name (the domain) is empty");
    assert_eq!(s.identifier.as_deref(), Some("ann"));
}

#[test]
fn odd_entries_are_skipped_with_their_position() {
    let p = parse(&success(&[
        dom("ann.test", "ann").to_value(),
        json!("bob.test"),
        json!({"name": "Warning", "value": "something odd"}),
        json!({"name": "carol.test", "values": ["x"]}),
        json!({"name": "dave.test"}),
        dom("erin.test", "erin").to_value(),
    ]))
    .unwrap();
    let names: Vec<&str> = p
        .listing
        .accounts
        .iter()
        .map(|a| a.domain.as_str())
        .collect();
    assert_eq!(names, ["ann.test", "erin.test"]);
    let skipped: Vec<(usize, Option<&str>, &str)> = p
        .listing
        .skipped
        .iter()
        .map(|s| (s.index, s.identifier.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, None, "entry is a string, not a virtual server object"),
            (
                2,
                Some("Warning"),
                "a `Key: value` line of list-domains' output, not a virtual server"
            ),
            (3, Some("carol.test"), "values is a list, not an object"),
            (4, Some("dave.test"), "values is missing"),
        ]
    );
}

#[test]
fn latin1_bytes_fail_only_the_record_that_uses_them() {
    let body = success(&[
        dom("ann.test", "ann").to_value(),
        dom("bob.test", "bob").to_value(),
    ]);
    let text = serde_json::to_string(&body).unwrap();
    // A Latin-1 "é" in ann's (unused) description and in bob's username.
    let text = text
        .replacen(
            "\"description\":[\"\"]",
            "\"description\":[\"Caf\u{1}\"]",
            1,
        )
        .replace("\"username\":[\"bob\"]", "\"username\":[\"b\u{2}b\"]");
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| match b {
            1 | 2 => 0xE9,
            b => b,
        })
        .collect();
    assert!(std::str::from_utf8(&bytes).is_err());
    let p = parse_listing(&bytes, PASSWORD).unwrap();
    assert_eq!(p.listing.accounts.len(), 1);
    assert_eq!(p.listing.accounts[0].domain, "ann.test");
    assert_eq!(p.listing.skipped.len(), 1);
    assert_eq!(p.listing.skipped[0].reason, "username is not valid UTF-8");
}

#[test]
fn secrets_never_reach_the_listing() {
    let all = generate_virtualmin_accounts(300, 5);
    let body = serde_json::to_vec(&success(&all)).unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    assert!(text.contains("\"password\"") && text.contains("\"hashed_password\""));
    assert!(text.contains("\"password_for_mysql\""));
    let p = parse_listing(&body, PASSWORD).unwrap();
    assert_eq!(p.listing.accounts.len(), 300);
    assert!(p.listing.skipped.is_empty(), "{:?}", p.listing.skipped);
    let shown = format!("{:?}", p.listing);
    for secret in ["pw-", "$6$", "db-"] {
        assert!(!shown.contains(secret), "{secret} reached the listing");
    }
}

#[test]
fn generated_listing_values() {
    let all = generate_virtualmin_accounts(2_000, 9);
    let p = parse_listing(&serde_json::to_vec(&success(&all)).unwrap(), PASSWORD).unwrap();
    let top: Vec<&Value> = all
        .iter()
        .filter(|d| d["values"]["type"][0] == "Top-level server")
        .collect();
    assert_eq!(p.listing.accounts.len(), 2_000);
    assert_eq!(p.not_top_level, all.len() - 2_000);
    for (a, d) in p.listing.accounts.iter().zip(top) {
        let v = &d["values"];
        assert_eq!(a.domain, d["name"].as_str().unwrap());
        assert_eq!(a.username, v["username"][0].as_str().unwrap());
        assert_eq!(a.product, v["plan"][0].as_str().unwrap_or(""));
        assert_eq!(
            a.status == RemoteStatus::Suspended,
            v.get("disabled").is_some()
        );
        let ip = v["ip_address"][0]
            .as_str()
            .or(v["ipv6_address"][0].as_str())
            .unwrap();
        assert_eq!(a.primary_ip, ip.split(' ').next().unwrap());
        assert!(!a.primary_ip.contains('('));
        assert!(a.notes.is_empty(), "{:?}", a.notes);
    }
}

// ---------------------------------------------------------------------------------------
// Fuzz-style: random bytes and mutated real payloads never panic, and every failure is a
// clean error or a skipped record.

fn sample_body() -> Vec<u8> {
    let mut entries = generate_virtualmin_accounts(12, 3);
    let mut sub = dom("blog.test", "ann");
    sub.kind = DomainKind::SubServer {
        parent: "ann.test".into(),
    };
    entries.push(sub.to_value());
    entries.push(json!({"name": "Warning", "value": "x"}));
    serde_json::to_vec_pretty(&success(&entries)).unwrap()
}

fn check(body: &[u8]) {
    match parse_listing(body, PASSWORD) {
        Ok(p) => {
            for s in &p.listing.skipped {
                assert!(!s.reason.is_empty());
                assert!(s.reason.chars().count() < 400, "{:.200}", s.reason);
                assert_secret_free(&s.reason);
            }
            for a in &p.listing.accounts {
                assert!(!a.domain.is_empty() && !a.username.is_empty());
                assert!(!a.primary_ip.contains(' '));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            assert!(msg.chars().count() < 600, "{msg}");
            assert!(!msg.chars().any(char::is_control), "{msg:?}");
            assert_secret_free(&msg);
            assert!(
                matches!(e, ModuleError::Malformed(_) | ModuleError::Remote(_)),
                "{e:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&body);
    }

    #[test]
    fn random_json_text_never_panics(body in "[{}\\[\\]\",:a-z0-9 \\n]{0,400}") {
        check(body.as_bytes());
    }

    #[test]
    fn mutated_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut body = sample_body();
        for (at, byte, op) in edits {
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => { body.remove(i); }
            }
        }
        if do_cut {
            let at = cut.index(body.len());
            body.truncate(at);
        }
        check(&body);
    }

    #[test]
    fn any_value_in_any_used_field_is_an_account_or_a_reason(
        field in prop::sample::select(vec!["type", "username", "contact_email", "plan",
            "created_unix_time", "disabled", "ip_address", "ipv6_address", "reseller",
            "parent_domain", "real_domain"]),
        value in prop_oneof![
            Just(json!(null)), Just(json!([])), Just(json!({})), Just(json!([[]])),
            any::<i64>().prop_map(|n| json!([n])),
            any::<bool>().prop_map(|b| json!(b)),
            ".{0,30}".prop_map(|s| json!([s])),
            (".{0,10}", ".{0,10}").prop_map(|(a, b)| json!([a, b])),
        ],
    ) {
        let mut d = dom("ann.test", "ann").to_value();
        d["values"][field] = value;
        let p = parse(&success(&[d])).expect("the envelope is fine");
        prop_assert!(p.listing.accounts.len() + p.listing.skipped.len() + p.not_top_level == 1);
    }
}
