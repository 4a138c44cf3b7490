//! Every bad value the records document rules refuse, one row each: the whole document is
//! refused and the message starts with the path of the value.

use serde_json::{json, Value};

use super::parse_records;

/// A valid document: one client, product, two servers and a service.
fn good() -> Value {
    json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann"}],
        "products": [{"id": 10, "name": "Basic", "module": "cpanel"}],
        "servers": [
            {"id": 100, "name": "web1", "module": "cpanel", "hostname": "web1.example.test",
             "ip_address": "192.0.2.10", "port": 2087},
            {"id": 101, "name": "web2", "module": "cpanel", "hostname": "2001:db8::1"}
        ],
        "services": [{"id": 1000, "client_id": 1, "product_id": 10, "server_id": 100,
                      "domain": "ann.test", "username": "ann", "regdate": "2024-01-31",
                      "status": "Active", "billing_cycle": "Monthly", "amount": "9.99",
                      "next_due_date": "2024-12-31", "termination_date": null}]
    })
}

fn refused(doc: &Value) -> String {
    let bytes = serde_json::to_vec(doc).unwrap();
    match parse_records(&bytes, &["cpanel"]) {
        Ok(_) => panic!("accepted: {doc:#}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_document_parses() {
    let bytes = serde_json::to_vec(&good()).unwrap();
    let r = parse_records(&bytes, &["cpanel"]).unwrap();
    assert_eq!(r.services[0].amount, "9.99");
    assert_eq!(r.servers[1].hostname, "2001:db8::1");
    // Edge values that are fine.
    let mut doc = good();
    doc["services"][0]["amount"] = json!("12345678901234.50");
    doc["services"][0]["billing_cycle"] = json!("Free Account");
    doc["services"][0]["regdate"] = json!("0000-00-00");
    doc["services"][0]["next_due_date"] = json!("1900-01-01");
    doc["servers"][0]["port"] = json!(65535);
    doc["servers"][0]["hostname"] = json!("bücher.example");
    let r = parse_records(&serde_json::to_vec(&doc).unwrap(), &["cpanel"]).unwrap();
    assert_eq!(r.services[0].regdate, None);
    assert_eq!(r.servers[0].port, Some(65535));
}

#[test]
fn each_bad_value_is_refused_with_its_path() {
    // (what, path inside the document, value, expected start of the message after the path)
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "NaN amount",
            "/services/0/amount",
            json!("NaN"),
            "\"NaN\" is not an amount like 9.99",
        ),
        (
            "inf amount",
            "/services/0/amount",
            json!("inf"),
            "\"inf\" is not an amount",
        ),
        (
            "negative amount",
            "/services/0/amount",
            json!("-9.99"),
            "\"-9.99\" is not an amount",
        ),
        (
            "exponent amount",
            "/services/0/amount",
            json!("1e400"),
            "\"1e400\" is not an amount",
        ),
        (
            "huge amount",
            "/services/0/amount",
            json!("1".repeat(400)),
            "\"1111",
        ),
        (
            "three decimals",
            "/services/0/amount",
            json!("9.999"),
            "\"9.999\" is not an amount",
        ),
        (
            "amount as a number",
            "/services/0/amount",
            json!(1e300),
            "invalid type",
        ),
        (
            "misspelt cycle",
            "/services/0/billing_cycle",
            json!("Montly"),
            "unknown billing cycle \"Montly\"",
        ),
        (
            "lower-case cycle",
            "/services/0/billing_cycle",
            json!("monthly"),
            "unknown billing cycle \"monthly\"",
        ),
        (
            "port 0",
            "/servers/0/port",
            json!(0),
            "0 is not a port number",
        ),
        (
            "port 65536",
            "/servers/0/port",
            json!(65536),
            "invalid value: integer `65536`",
        ),
        (
            "negative port",
            "/servers/0/port",
            json!(-1),
            "invalid value: integer `-1`",
        ),
        (
            "hostname with a scheme",
            "/servers/0/hostname",
            json!("https://web1.example.test"),
            "\"https://web1.example.test\" is not a host name",
        ),
        (
            "hostname with a path",
            "/servers/0/hostname",
            json!("web1.example.test/whm"),
            "\"web1.example.test/whm\" is not a host name",
        ),
        (
            "hostname with a port",
            "/servers/0/hostname",
            json!("web1.example.test:2087"),
            "\"web1.example.test:2087\" is not a host name",
        ),
        (
            "hostname with a user",
            "/servers/0/hostname",
            json!("root@web1"),
            "\"root@web1\" is not a host name",
        ),
        (
            "ip that is not one",
            "/servers/0/ip_address",
            json!("192.0.2.300"),
            "\"192.0.2.300\" is not an IP address",
        ),
        (
            "year 0000 regdate",
            "/services/0/regdate",
            json!("0000-01-31"),
            "\"0000-01-31\" is before the year 1900",
        ),
        (
            "year 0000 due date",
            "/services/0/next_due_date",
            json!("0000-12-31"),
            "\"0000-12-31\" is before the year 1900",
        ),
        (
            "year 0000 termination",
            "/services/0/termination_date",
            json!("0000-06-30"),
            "\"0000-06-30\" is before the year 1900",
        ),
        (
            "escape in a domain",
            "/services/0/domain",
            json!("evil.test\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "\"evil.test\\\\u{1b}]0;owned\\\\u{7}\\\\u{1b}[2J\" holds control characters",
        ),
        (
            "newline in a domain",
            "/services/0/domain",
            json!("a.test\nb.test"),
            "\"a.test\\\\nb.test\" holds control characters",
        ),
        (
            "escape in a username",
            "/services/0/username",
            json!("ann\u{1b}[2J"),
            "\"ann\\\\u{1b}[2J\" holds control characters",
        ),
        (
            "escape in a server name",
            "/servers/0/name",
            json!("web1\u{1b}[2J"),
            "\"web1\\\\u{1b}[2J\" holds control characters",
        ),
        (
            "escape in a client name",
            "/clients/0/first_name",
            json!("Ann\u{9b}2J"),
            "\"Ann\\\\u{9b}2J\" holds control characters",
        ),
        (
            "escape in a product name",
            "/products/0/name",
            json!("Basic\u{1b}[2J"),
            "\"Basic\\\\u{1b}[2J\" holds control characters",
        ),
        (
            "web1 and WEB1 ",
            "/servers/1/name",
            json!("WEB1 "),
            "duplicate name \"WEB1 \": servers[0] is \"web1\" (names differing only in case",
        ),
        (
            "web1 twice",
            "/servers/1/name",
            json!("web1"),
            "duplicate name \"web1\": servers[0] is \"web1\"",
        ),
        (
            "bad status",
            "/services/0/status",
            json!("active "),
            "unknown status \"active \"",
        ),
    ];
    for (what, pointer, value, expected) in cases {
        let mut doc = good();
        *doc.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{what}: no {pointer}")) = value;
        let m = refused(&doc);
        // `/services/0/amount` → `services[0].amount`.
        let mut path = String::new();
        for part in pointer.trim_start_matches('/').split('/') {
            if part.bytes().all(|b| b.is_ascii_digit()) {
                path.push_str(&format!("[{part}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(part);
            }
        }
        let head = format!("invalid records document: {path}: ");
        assert!(
            m.starts_with(&head),
            "{what}: {m:?} should start with {head:?}"
        );
        assert!(
            m[head.len()..].starts_with(expected),
            "{what}: {:?} should start with {expected:?}",
            &m[head.len()..]
        );
        // The message shows control characters escaped, never raw.
        assert!(!m.chars().any(char::is_control), "{what}: {m:?}");
    }
}

#[test]
fn a_control_character_in_custom_fields_is_refused_too() {
    let mut doc = good();
    doc["services"][0]["custom_fields"] = json!({"Instance ID": "i-1\u{1b}[2J"});
    let m = refused(&doc);
    assert!(
        m.starts_with("invalid records document: services[0].custom_fields.Instance ID: "),
        "{m}"
    );
}

/// A server entered by hand (web page, API) follows the same rules.
#[tokio::test]
async fn a_server_entered_by_hand_is_held_to_the_same_rules() {
    use crate::edits::ServerInput;
    let store = serversync_store::open(
        "sqlite::memory:",
        serversync_store::secrets::SecretKey::ephemeral(),
    )
    .await
    .unwrap();
    let app = crate::App::new(store, "web:test");
    let good = ServerInput {
        name: "web1".into(),
        module: "cpanel".into(),
        hostname: "web1.example.test".into(),
        port: Some(2087),
        password: "Pa55/w?rd@x".into(),
        ..Default::default()
    };
    for (change, expected) in [
        (
            ServerInput {
                hostname: "https://web1.example.test".into(),
                ..good.clone()
            },
            "hostname: \"https://web1.example.test\" is not a host name",
        ),
        (
            ServerInput {
                port: Some(0),
                ..good.clone()
            },
            "port: 0 is not a port number",
        ),
        (
            ServerInput {
                name: "web1\u{1b}[2J".into(),
                ..good.clone()
            },
            "name: \"web1\\\\u{1b}[2J\" holds control characters",
        ),
    ] {
        let e = app
            .save_server_input(&change)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(expected),
            "{e:?} should start with {expected:?}"
        );
    }
    assert!(
        app.store.servers().await.unwrap().is_empty(),
        "nothing written"
    );
    let id = app.save_server_input(&good).await.unwrap();
    let s = app.store.server_by_id(id).await.unwrap();
    assert_eq!(s.password.expose(), "Pa55/w?rd@x");
    // WEB1 with a space is the same name.
    let e = app
        .save_server_input(&ServerInput {
            name: "WEB1 ".into(),
            ..good.clone()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("already used by server"), "{e}");
}
