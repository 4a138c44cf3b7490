//! Fuzz-style tests (proptest) of the records document parser: random bytes, mutated real
//! documents and documents of generated values. Nothing panics; every failure is one
//! [`AppError::Records`] line, bounded and printable, that never shows a server's secret.

use proptest::prelude::*;
use serde_json::{json, Value};
use serversync_app::records::parse_records;
use serversync_app::AppError;

const MODULES: &[&str] = &["cpanel", "directadmin"];
const SECRET: &str = "SECRET-PW-77";

fn real_doc() -> Value {
    json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "L",
                     "company": "", "status": "Active"}],
        "products": [{"id": 10, "name": "Basic", "module": "cpanel",
                      "config_options": {"configoption1": "basic"}}],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "web1.test",
                     "ip_address": "192.0.2.10", "port": 2087, "secure": true,
                     "tls_verify": true, "username": "root", "password": SECRET,
                     "access_hash": SECRET}],
        "services": [{"id": 1000, "client_id": 1, "product_id": 10, "server_id": 100,
                      "domain": "ann.test", "username": "ann", "dedicated_ip": "",
                      "regdate": "2024-01-31", "status": "Active", "billing_cycle": "Monthly",
                      "amount": "9.99", "next_due_date": "2026-12-31"}]
    })
}

fn check(bytes: &[u8]) {
    match parse_records(bytes, MODULES) {
        // What an accepted document holds is checked where the test knows the document.
        Ok(_) => {}
        Err(AppError::Records(msg)) => {
            assert!(!msg.is_empty());
            assert!(
                msg.chars().count() < 1000,
                "{} chars: {msg:.200}",
                msg.len()
            );
            assert!(!msg.chars().any(char::is_control), "{msg:?}");
            assert!(!msg.contains(SECRET), "secret in {msg}");
        }
        Err(other) => panic!("not a records error: {other:?}"),
    }
}

fn mutate(base: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    let mut b = base.to_vec();
    for (at, byte, op) in edits {
        if b.is_empty() {
            b.push(*byte);
            continue;
        }
        let i = at.index(b.len());
        match op % 4 {
            0 => b[i] = *byte,
            1 => b.insert(i, *byte),
            2 => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::from),
        "[a-z0-9@. \\n\\t\\x1b-]{300,2000}".prop_map(Value::from),
        Just(json!([1])),
        Just(json!({"a": 1})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..500)) {
        check(&body);
    }

    #[test]
    fn mutated_real_documents_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..10),
    ) {
        let base = serde_json::to_vec(&real_doc()).unwrap();
        check(&mutate(&base, &edits));
    }

    /// One field of the real document replaced by any value (long strings with control
    /// characters included): accepted, or refused in one clean line.
    #[test]
    fn any_value_in_any_field_is_accepted_or_refused_cleanly(
        section in prop::sample::select(vec!["clients", "products", "servers", "services"]),
        field in prop::sample::select(vec![
            "id", "email", "first_name", "name", "module", "hostname", "ip_address", "port",
            "secure", "username", "password", "client_id", "product_id", "server_id", "domain",
            "regdate", "status", "amount", "next_due_date", "config_options", "extra",
        ]),
        value in arb_value(),
    ) {
        let mut doc = real_doc();
        doc[section][0][field] = value;
        let bytes = serde_json::to_vec(&doc).unwrap();
        check(&bytes);
        // Accepted means every record kept: one field changed drops none of them.
        if let Ok(r) = parse_records(&bytes, MODULES) {
            prop_assert_eq!(
                (r.clients.len(), r.products.len(), r.servers.len(), r.services.len()),
                (1, 1, 1, 1)
            );
        }
    }
}

#[test]
fn the_real_document_parses() {
    let r = parse_records(&serde_json::to_vec(&real_doc()).unwrap(), MODULES).expect("parses");
    assert_eq!(
        (
            r.clients.len(),
            r.products.len(),
            r.servers.len(),
            r.services.len()
        ),
        (1, 1, 1, 1)
    );
}
