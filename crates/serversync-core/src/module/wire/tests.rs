use proptest::prelude::*;

use super::*;
use crate::module::format_created;

fn one(record: &str) -> Result<RemoteAccount, String> {
    let body = format!(r#"{{"success":true,"accounts":[{record}]}}"#);
    let mut l = parse_wire(body.as_bytes()).unwrap();
    match (l.accounts.pop(), l.skipped.pop()) {
        (Some(a), None) => Ok(a),
        (None, Some(s)) => Err(s.reason),
        other => panic!("expected one account or one skipped record, got {other:?}"),
    }
}

fn malformed(body: &[u8]) -> String {
    match parse_wire(body) {
        Err(WireError::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn clean_records_parse_without_notes_and_placeholder_email_is_none() {
    let body = br#"{"success":true,"accounts":[
      {"email":"*unknown*","username":"ann","domain":"ann.test","uniqueIdentifier":"ann.test",
       "product":"Basic","primaryip":"192.0.2.10","created":"2024-01-31 13:15:00","status":"Active"},
      {"email":"bob@mail.test","username":"bob","domain":"bob.test","uniqueIdentifier":"bob.test",
       "product":"Basic","primaryip":"192.0.2.10","created":"","status":"Suspended","owner":"res1"}]}"#;
    let l = parse_wire(body).unwrap();
    assert!(l.is_complete());
    assert_eq!(l.accounts.len(), 2);
    let (a, b) = (&l.accounts[0], &l.accounts[1]);
    assert_eq!(a.email, None);
    assert_eq!(a.unique_identifier, "ann.test");
    assert_eq!(a.product, "Basic");
    assert_eq!(a.primary_ip, "192.0.2.10");
    assert_eq!(
        a.created.map(format_created).as_deref(),
        Some("2024-01-31 13:15:00")
    );
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(a.owner, None);
    assert!(a.notes.is_empty(), "{:?}", a.notes);
    assert_eq!(b.email.as_deref(), Some("bob@mail.test"));
    assert_eq!(b.created, None);
    assert_eq!(b.status, RemoteStatus::Suspended);
    assert_eq!(b.owner.as_deref(), Some("res1"));
    assert!(b.notes.is_empty(), "{:?}", b.notes);
}

#[test]
fn failure_carries_the_modules_own_message() {
    assert_eq!(
        parse_wire(br#"{"success":false,"error":"Invalid API key"}"#),
        Err(WireError::Failure("Invalid API key".into()))
    );
    // Even with accounts beside it: a failure is never a listing.
    assert_eq!(
        parse_wire(br#"{"accounts":[],"success":false,"error":" Authentication failed "}"#),
        Err(WireError::Failure("Authentication failed".into()))
    );
    assert_eq!(
        parse_wire(br#"{"success":false}"#),
        Err(WireError::Failure("no error message given".into()))
    );
    assert_eq!(
        parse_wire(br#"{"success":false,"error":{"code":5}}"#),
        Err(WireError::Failure("no error message given".into()))
    );
    assert_eq!(
        parse_wire(br#"{"success":false,"error":403}"#),
        Err(WireError::Failure("403".into()))
    );
    let long = format!(r#"{{"success":false,"error":"{}"}}"#, "x".repeat(5000));
    match parse_wire(long.as_bytes()) {
        Err(WireError::Failure(m)) => {
            assert_eq!(m.chars().count(), MAX_ERROR_CHARS + 1);
            assert!(m.ends_with('…'));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn success_true_without_accounts_is_a_failed_listing() {
    assert_eq!(
        malformed(br#"{"success":true}"#),
        "\"success\" is true but \"accounts\" is missing (a server without accounts answers \"accounts\": [])"
    );
}

#[test]
fn a_bare_list_is_never_an_empty_listing() {
    assert_eq!(
        malformed(b"[]"),
        "the answer is a list, not an object {\"success\": …, \"accounts\": […]} (a bare list is never taken as the account list)"
    );
    assert_eq!(
        malformed(br#"[{"uniqueIdentifier":"a.test","status":"Active"}]"#),
        "the answer is a list, not an object {\"success\": …, \"accounts\": […]} (a bare list is never taken as the account list)"
    );
    assert_eq!(
        malformed(b"\"ok\""),
        "the answer is a string, not an object {\"success\": …, \"accounts\": […]}"
    );
    assert_eq!(
        malformed(b"null"),
        "the answer is null, not an object {\"success\": …, \"accounts\": […]}"
    );
}

#[test]
fn empty_output_and_non_json_fail() {
    assert_eq!(parse_wire(b""), Err(WireError::Empty));
    assert_eq!(parse_wire(b" \n\t"), Err(WireError::Empty));
    assert_eq!(parse_wire(b"\xEF\xBB\xBF\n"), Err(WireError::Empty));
    match parse_wire(b"<html>Fatal error</html>") {
        Err(WireError::NotJson(m)) => assert_eq!(m, "expected value at line 1 column 1"),
        other => panic!("{other:?}"),
    }
    match parse_wire(br#"{"success":true,"accounts":[{"uniqueIdentifier":"a"#) {
        Err(WireError::NotJson(m)) => assert!(m.starts_with("EOF while parsing"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_wire(br#"{"success":true,"accounts":[]} trailing"#),
        Err(WireError::NotJson(_))
    ));
}

#[test]
fn success_must_be_a_boolean_and_keys_appear_once() {
    assert_eq!(
        malformed(br#"{"success":"1","accounts":[]}"#),
        "\"success\" is \"1\", expected true or false"
    );
    assert_eq!(
        malformed(br#"{"success":1,"accounts":[]}"#),
        "\"success\" is the number 1, expected true or false"
    );
    assert_eq!(
        malformed(br#"{"accounts":[]}"#),
        "\"success\" is missing (expected {\"success\": true, \"accounts\": […]})"
    );
    assert_eq!(
        malformed(br#"{"success":true,"accounts":"none"}"#),
        "\"accounts\" is a string, expected a list of accounts"
    );
    assert_eq!(
        malformed(br#"{"success":true,"accounts":[],"accounts":[{"uniqueIdentifier":"a","status":"Active"}]}"#),
        "\"accounts\" appears twice"
    );
}

#[test]
fn a_bom_and_unknown_top_level_keys_are_fine() {
    let l = parse_wire(
        b"\xEF\xBB\xBF {\"message\":\"ok\",\"total\":1,\"success\":true,\"accounts\":[{\"uniqueIdentifier\":\"a.test\",\"status\":\"Active\",\"domain\":\"a.test\",\"username\":\"a\",\"email\":\"\",\"product\":\"p\",\"primaryip\":\"\",\"created\":null}]}",
    )
    .unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert!(l.accounts[0].notes.is_empty(), "{:?}", l.accounts[0].notes);
}

#[test]
fn numbers_where_text_is_expected_are_their_decimal_text() {
    let a = one(
        r#"{"uniqueIdentifier":1001,"username":"ann","domain":"ann.test","email":"a@mail.test",
            "product":3,"primaryip":"192.0.2.1","created":"2024-01-31 00:00:00","status":"Active","owner":-7}"#,
    )
    .unwrap();
    assert_eq!(a.unique_identifier, "1001");
    assert_eq!(a.product, "3");
    assert_eq!(a.owner.as_deref(), Some("-7"));
    assert_eq!(
        a.notes,
        vec![
            "uniqueIdentifier was the number 1001, taken as the text \"1001\"",
            "product was the number 3, taken as the text \"3\"",
            "owner was the number -7, taken as the text \"-7\"",
        ]
    );
}

#[test]
fn a_date_without_time_is_midnight() {
    let a = one(r#"{"uniqueIdentifier":"a.test","status":"Active","domain":"a.test","username":"a",
                    "email":"a@mail.test","product":"p","primaryip":"192.0.2.1","created":"2024-01-31"}"#)
    .unwrap();
    assert_eq!(
        a.created.map(format_created).as_deref(),
        Some("2024-01-31 00:00:00")
    );
    assert_eq!(
        a.notes,
        vec!["created \"2024-01-31\" has no time: taken as 00:00:00"]
    );
}

#[test]
fn empty_null_missing_and_zero_created_are_no_date() {
    for created in [
        r#","created":"""#,
        r#","created":null"#,
        "",
        r#","created":"0000-00-00 00:00:00""#,
        r#","created":"0000-00-00""#,
    ] {
        let a = one(&format!(
            r#"{{"uniqueIdentifier":"a.test","status":"Active","domain":"a.test","username":"a","email":"a@mail.test","product":"p","primaryip":"192.0.2.1"{created}}}"#
        ))
        .unwrap();
        assert_eq!(a.created, None, "{created}");
        assert!(a.notes.is_empty(), "{created}: {:?}", a.notes);
    }
}

#[test]
fn status_in_another_case_is_read_and_noted() {
    for (given, want) in [
        ("active", RemoteStatus::Active),
        (" SUSPENDED ", RemoteStatus::Suspended),
        ("Suspended", RemoteStatus::Suspended),
    ] {
        let a = one(&format!(
            r#"{{"uniqueIdentifier":"a.test","status":"{given}","domain":"a.test","username":"a","email":"a@mail.test","product":"p","primaryip":"192.0.2.1","created":""}}"#
        ))
        .unwrap();
        assert_eq!(a.status, want);
        if given == want.as_str() {
            assert!(a.notes.is_empty());
        } else {
            assert_eq!(a.notes, vec![format!("status {given:?} read as {want}")]);
        }
    }
}

#[test]
fn missing_or_null_other_fields_are_none_and_noted() {
    let a = one(r#"{"uniqueIdentifier":"a.test","status":"Active","username":null}"#).unwrap();
    assert_eq!(a.username, "");
    assert_eq!(a.domain, "");
    assert_eq!(a.email, None);
    assert_eq!(a.product, "");
    assert_eq!(a.primary_ip, "");
    assert_eq!(a.created, None);
    assert_eq!(a.owner, None);
    assert_eq!(
        a.notes,
        vec![
            "not given by the module (shown empty, not compared): username, domain, email, product, primaryip"
        ]
    );
}

#[test]
fn what_would_need_a_guess_is_skipped_with_its_reason() {
    let cases: &[(&str, &str)] = &[
        (r#"{"status":"Active","domain":"a.test"}"#, "uniqueIdentifier is missing"),
        (r#"{"uniqueIdentifier":"  ","status":"Active"}"#, "uniqueIdentifier is empty"),
        (r#"{"uniqueIdentifier":null,"status":"Active"}"#, "uniqueIdentifier is missing"),
        (
            r#"{"uniqueidentifier":"a.test","status":"Active"}"#,
            "uniqueIdentifier is missing (the record has \"uniqueidentifier\"; keys are case-sensitive)",
        ),
        (r#"{"uniqueIdentifier":"a.test"}"#, "status is missing"),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Terminated"}"#,
            "status \"Terminated\" is not Active or Suspended",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":1}"#,
            "status is the number 1, not Active or Suspended",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","created":"31/01/2024"}"#,
            "created \"31/01/2024\" is not \"Y-m-d H:i:s\" or \"Y-m-d\"",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","created":"2024-02-30"}"#,
            "created \"2024-02-30\" is not \"Y-m-d H:i:s\" or \"Y-m-d\"",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","created":"2024-01-31T13:15:00"}"#,
            "created \"2024-01-31T13:15:00\" is not \"Y-m-d H:i:s\" or \"Y-m-d\"",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","created":"2024-01-31 25:00:00"}"#,
            "created \"2024-01-31 25:00:00\" is not \"Y-m-d H:i:s\" or \"Y-m-d\"",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","created":1706706900}"#,
            "created is the number 1706706900, not a \"Y-m-d H:i:s\" date",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","email":false}"#,
            "email is the boolean false, not a string",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","product":1.5}"#,
            "product is the fractional number 1.5, not a string",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","domain":["a.test"]}"#,
            "domain is a list, not a string",
        ),
        (
            r#"{"uniqueIdentifier":"a.test","status":"Active","status":"Suspended"}"#,
            "\"status\" appears twice",
        ),
    ];
    for (record, reason) in cases {
        assert_eq!(one(record).unwrap_err(), *reason, "{record}");
    }
}

#[test]
fn a_bad_record_among_good_ones_is_skipped_alone() {
    let body = br#"{"success":true,"accounts":[
      {"uniqueIdentifier":"a.test","username":"a","status":"Active"},
      {"uniqueIdentifier":"b.test","username":"bob","status":"Active","created":"31/01/2024"},
      "not a record",
      {"uniqueIdentifier":"c.test","username":"c","status":"Suspended"}]}"#;
    let l = parse_wire(body).unwrap();
    let ids: Vec<&str> = l
        .accounts
        .iter()
        .map(|a| a.unique_identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["a.test", "c.test"]);
    assert_eq!(
        l.skipped,
        vec![
            SkippedRecord {
                index: 1,
                identifier: Some("bob".into()),
                reason: "created \"31/01/2024\" is not \"Y-m-d H:i:s\" or \"Y-m-d\"".into(),
            },
            SkippedRecord {
                index: 2,
                identifier: None,
                reason: "record is a string, not an account object".into(),
            },
        ]
    );
    assert!(!l.is_complete());
}

#[test]
fn accounts_as_an_object_are_its_values_in_order() {
    let l = parse_wire(
        br#"{"success":true,"accounts":{"0":{"uniqueIdentifier":"a.test","status":"Active"},"2":{"uniqueIdentifier":"b.test","status":"Active"}}}"#,
    )
    .unwrap();
    let ids: Vec<&str> = l
        .accounts
        .iter()
        .map(|a| a.unique_identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["a.test", "b.test"]);
    assert!(parse_wire(br#"{"success":true,"accounts":{}}"#)
        .unwrap()
        .accounts
        .is_empty());
}

#[test]
fn secret_carrying_fields_are_dropped_unread() {
    let body = br#"{"success":true,"accounts":[{"uniqueIdentifier":"a.test","status":"Active",
      "password":"hunter2-pw","pass":"p4ss-value","api_key":"KEY-123","AccessToken":"tok-9",
      "clientSecret":{"x":"deep-secret"},"ApiKey":"ak-1","dbPasswd":"dbpw-1"}]}"#;
    let l = parse_wire(body).unwrap();
    let shown = format!("{l:?} {}", serde_json::to_string(&l.accounts).unwrap());
    for secret in [
        "hunter2-pw",
        "p4ss-value",
        "KEY-123",
        "tok-9",
        "deep-secret",
        "ak-1",
        "dbpw-1",
    ] {
        assert!(!shown.contains(secret), "{secret} kept: {shown}");
    }
    assert_eq!(
        l.accounts[0].notes,
        vec![
            "not given by the module (shown empty, not compared): username, domain, email, product, primaryip",
            "secret-carrying field dropped: \"password\", \"pass\", \"api_key\", \"AccessToken\""
        ]
    );
    assert!(is_secret_key("serverPassword"));
    assert!(is_secret_key("PASS"));
    assert!(!is_secret_key("passive"));
    assert!(!is_secret_key("username"));
}

#[test]
fn long_values_are_cut_in_reasons() {
    let long = "x".repeat(10_000);
    let reason = one(&format!(
        r#"{{"uniqueIdentifier":"a.test","status":"{long}"}}"#
    ))
    .unwrap_err();
    assert!(reason.len() < 100, "{reason}");
    assert!(reason.starts_with("status \"xxxxxxxx"));
}

fn arb_scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("Active"),
            Just("suspended"),
            Just("2024-01-31"),
            Just("2024-01-31 13:15:00"),
            Just("31/01/2024"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.into())),
        Just(json!([1, {"a": []}])),
        Just(json!({"k": "v"})),
    ]
}

fn arb_record() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop_oneof![
        Just("uniqueIdentifier"),
        Just("username"),
        Just("domain"),
        Just("email"),
        Just("product"),
        Just("primaryip"),
        Just("created"),
        Just("status"),
        Just("owner"),
        Just("other"),
        Just("UniqueIdentifier"),
    ];
    prop_oneof![
        8 => proptest::collection::vec((keys, arb_scalar()), 0..10).prop_map(|kv| {
            let mut m = serde_json::Map::new();
            for (k, v) in kv {
                m.insert(k.to_string(), v);
            }
            m.insert("password".into(), serde_json::json!("SECRET-MARKER-1"));
            serde_json::Value::Object(m)
        }),
        1 => arb_scalar(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes: an error or a listing, never a panic.
    #[test]
    fn any_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_wire(&body);
    }

    /// Any list of records: each record is either an account (with a usable identifier and
    /// no secret) or skipped with a reason — never dropped, never doubled.
    #[test]
    fn every_record_is_listed_or_skipped(records in proptest::collection::vec(arb_record(), 0..20)) {
        let body = serde_json::to_vec(&serde_json::json!({"success": true, "accounts": records})).unwrap();
        let l = parse_wire(&body).unwrap();
        prop_assert_eq!(l.accounts.len() + l.skipped.len(), records.len());
        for a in &l.accounts {
            prop_assert!(!a.unique_identifier.trim().is_empty());
        }
        let mut indexes: Vec<usize> = l.skipped.iter().map(|s| s.index).collect();
        indexes.dedup();
        prop_assert_eq!(indexes.len(), l.skipped.len());
        for s in &l.skipped {
            prop_assert!(s.index < records.len());
            prop_assert!(!s.reason.is_empty());
        }
        let shown = format!("{l:?}");
        prop_assert!(!shown.contains("SECRET-MARKER"));
    }

    /// Cutting a valid answer anywhere never yields a listing that looks whole.
    #[test]
    fn a_truncated_answer_is_never_a_listing(cut_at in 0usize..120) {
        let body = br#"{"success":true,"accounts":[{"uniqueIdentifier":"a.test","status":"Active"},{"uniqueIdentifier":"b.test","status":"Active"}]}"#;
        let cut_at = cut_at.min(body.len() - 1);
        prop_assert!(parse_wire(&body[..cut_at]).is_err());
    }
}

/// A real answer of a WHMCS-style module (two accounts), mutated by the fuzz tests below.
const REAL_WIRE: &str = r#"{"success":true,"accounts":[
{"email":"ann@mail.test","username":"ann","domain":"ann.test","uniqueIdentifier":"ann.test",
 "product":"Basic","primaryip":"192.0.2.10","created":"2024-01-31 13:15:00","status":"Active"},
{"email":"*unknown*","username":"bob","domain":"bob.test","uniqueIdentifier":"bob.test",
 "product":"Gold","primaryip":"192.0.2.11","created":"","status":"Suspended","owner":"res1"}]}"#;

/// Every answer is a listing whose records (after the field limits) are bounded, or one
/// bounded, printable error.
fn check_clean(body: &[u8]) {
    match parse_wire(body) {
        Ok(mut l) => {
            l.enforce_field_limits();
            for s in &l.skipped {
                assert!(!s.reason.is_empty());
                assert!(s.reason.chars().count() <= crate::module::MAX_SKIPPED_REASON + 1);
                assert!(!s.reason.chars().any(char::is_control), "{:?}", s.reason);
            }
            for a in &l.accounts {
                assert!(a.domain.len() <= 253 && a.unique_identifier.len() <= 255);
                assert!(a.email.as_deref().map_or(0, str::len) <= 254);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            assert!(
                msg.chars().count() <= MAX_ERROR_CHARS + 40,
                "{} chars: {msg:.200}",
                msg.len()
            );
        }
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_answers_are_listings_or_clean_errors(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..10),
    ) {
        check_clean(&mutate(REAL_WIRE.as_bytes(), &edits));
    }

    /// Long values (with control characters) in any field: the record is kept within the
    /// limits or skipped with a short reason; a long `error` is cut.
    #[test]
    fn long_values_are_bounded(
        field in prop::sample::select(vec!["email", "username", "domain", "uniqueIdentifier",
            "product", "primaryip", "created", "status", "owner"]),
        value in "[a-z0-9@.\\n\\x1b-]{250,3000}",
    ) {
        let mut doc: serde_json::Value = serde_json::from_str(REAL_WIRE).unwrap();
        doc["accounts"][0][field] = serde_json::Value::String(value.clone());
        check_clean(&serde_json::to_vec(&doc).unwrap());
        let failed = serde_json::to_vec(&serde_json::json!({"success": false, "error": value})).unwrap();
        check_clean(&failed);
    }
}
