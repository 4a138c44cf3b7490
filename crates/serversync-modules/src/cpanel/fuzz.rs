//! Fuzz-style tests (proptest) of the WHM API 1 envelope and record parsing: random bytes,
//! mutated real pages and generated records of any JSON kind and length. Nothing panics,
//! every failure is one bounded, printable error, and every record is either an account
//! within the field limits or a skipped record with a bounded reason.

use proptest::prelude::*;
use serde_json::{json, Value};
use serversync_core::module::{Listing, FIELD_LIMITS, MAX_SKIPPED_REASON};

use super::*;

const TOKEN: &str = "SECRET-TOKEN-42";

/// A real `listaccts` page (cPanel 11.124, `want=` our keys, chunked), two accounts.
pub(super) const REAL_PAGE: &str = r#"{"metadata":{"command":"listaccts","result":1,"reason":"OK","version":1,
"chunk":{"start":1,"size":5000,"records":2,"chunks":1,"current":1}},
"data":{"acct":[{"user":"ann","domain":"ann.test","owner":"root","plan":"basic",
"email":"ann@mail.test","ip":"192.0.2.10","ipv6":[],"suspended":0,"suspendreason":"not suspended",
"unix_startdate":1529997060,"startdate":"18 Jun 26 07:11"},
{"user":"bob","domain":"bob.test","owner":"res1","plan":"res1_gold","email":"*unknown*",
"ip":"192.0.2.10","suspended":1,"suspendreason":"unpaid","unix_startdate":"0",
"startdate":"18 Jun 26 07:11"}]}}"#;

/// An error is one line, bounded, printable, without the token.
fn assert_clean(e: &ModuleError) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(msg.chars().count() < 600, "{} chars: {msg:.200}", msg.len());
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
    assert!(!msg.contains(TOKEN), "{msg}");
}

/// Parses `body` as one page and converts its records as a listing would be.
fn check(body: &[u8]) {
    match parse_page(body, TOKEN) {
        Err(e) => assert_clean(&e),
        Ok(page) => {
            let n = page.records.len();
            let mut listing = Listing::default();
            convert_page(page.records, 0, &mut listing);
            listing.enforce_field_limits();
            assert_eq!(listing.accounts.len() + listing.skipped.len(), n);
            for a in &listing.accounts {
                assert!(!a.username.is_empty());
                let lens = [
                    ("domain", a.domain.len()),
                    ("email", a.email.as_deref().map_or(0, str::len)),
                    ("username", a.username.len()),
                    ("product", a.product.len()),
                    ("primaryip", a.primary_ip.len()),
                ];
                for (name, len) in lens {
                    let max = FIELD_LIMITS.iter().find(|(n, _)| *n == name).unwrap().1;
                    assert!(len <= max, "{name} of {len} bytes kept");
                }
            }
            for s in &listing.skipped {
                assert!(!s.reason.is_empty());
                assert!(s.reason.chars().count() <= MAX_SKIPPED_REASON + 1);
                assert!(!s.reason.chars().any(char::is_control), "{:?}", s.reason);
                if let Some(id) = &s.identifier {
                    assert!(id.chars().count() <= 61, "{id:?}");
                }
            }
            if let Err(e) = check_duplicates(&listing) {
                assert_clean(&e);
            }
        }
    }
}

pub(super) fn mutate(base: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
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

/// Any JSON value a field might hold, strings up to 600 characters of any kind.
pub(super) fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        "[a-z0-9@.\\n\\t\\x00\\x1b-]{200,600}".prop_map(Value::from),
        Just(json!([1, "a"])),
        Just(json!({"a": 1})),
    ]
}

pub(super) fn arb_record() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "user",
        "domain",
        "owner",
        "plan",
        "email",
        "ip",
        "suspended",
        "suspendreason",
        "unix_startdate",
        "startdate",
        "other",
    ]);
    prop_oneof![
        8 => prop::collection::vec((keys, arb_value()), 0..12).prop_map(|kv| {
            let mut m = serde_json::Map::new();
            for (k, v) in kv {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        }),
        1 => arb_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&body);
    }

    #[test]
    fn json_alphabet_never_panics(body in "[{}\\[\\]\",:a-z0-9 .\\n-]{0,400}") {
        check(body.as_bytes());
    }

    #[test]
    fn mutated_real_pages_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..10),
    ) {
        check(&mutate(REAL_PAGE.as_bytes(), &edits));
    }

    /// Generated records in the real envelope: each is an account within the limits or a
    /// skipped record with a bounded reason (checked in `check`), never lost.
    #[test]
    fn generated_records_are_accounts_or_skipped(
        records in prop::collection::vec(arb_record(), 0..15),
        total in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
    ) {
        let mut meta = json!({"command": "listaccts", "result": 1, "reason": "OK", "version": 1});
        if let Some(t) = total {
            meta["chunk"] = json!({"start": 1, "size": 5000, "records": t});
        }
        let body = serde_json::to_vec(&json!({"metadata": meta, "data": {"acct": records}})).unwrap();
        let page = parse_page(&body, TOKEN).expect("a well-formed envelope parses");
        prop_assert_eq!(page.total, total);
        prop_assert_eq!(page.records.len(), records.len());
        check(&body);
    }

    /// Whatever total a page claims, `check_total` answers without sizing anything by it,
    /// and only totals whose pages fit pass.
    #[test]
    fn any_total_is_checked_without_allocating(total in any::<u64>(), size in 1u64..10_000) {
        let opts = ModuleOptions { max_listing_bytes: 64 << 20, ..ModuleOptions::default() };
        match check_total(total, size, &opts, "h:1") {
            Ok(()) => {
                prop_assert!(total.saturating_mul(MIN_RECORD_BYTES) <= opts.max_listing_bytes);
                prop_assert!(total.div_ceil(size) <= MAX_PAGES);
                prop_assert!(total <= MAX_ACCOUNTS);
            }
            Err(e) => assert_clean(&e),
        }
    }
}

#[test]
fn the_real_page_parses_to_two_accounts() {
    let page = parse_page(REAL_PAGE.as_bytes(), TOKEN).expect("parses");
    assert_eq!(page.total, Some(2));
    let mut l = Listing::default();
    convert_page(page.records, 0, &mut l);
    assert_eq!(l.accounts.len(), 2);
    assert!(l.skipped.is_empty());
}

#[test]
fn envelopes_that_are_not_objects_fail() {
    let list = serde_json::to_vec(&json!([{"metadata": {"result": 1}}, {"acct": []}])).unwrap();
    assert_eq!(
        parse_page(&list, TOKEN).err(),
        Some(ModuleError::Malformed(
            "the response is a JSON list, not the WHM API 1 envelope {\"metadata\": …, \
             \"data\": {\"acct\": […]}}"
                .into()
        ))
    );
    assert_eq!(
        parse_page(b"  ", TOKEN).err(),
        Some(ModuleError::Malformed("the response body is empty".into()))
    );
}

#[test]
fn a_long_email_skips_its_record_without_its_value() {
    let long = format!("{}@mail.test", "a".repeat(300));
    let body = serde_json::to_vec(&json!({"metadata": {"result": 1},
        "data": {"acct": [{"user": "ann", "domain": "ann.test", "suspended": 0, "email": long}]}}))
    .unwrap();
    let page = parse_page(&body, TOKEN).unwrap();
    let mut l = Listing::default();
    convert_page(page.records, 0, &mut l);
    assert!(l.accounts.is_empty());
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(
        l.skipped[0].reason,
        "email is 310 bytes long, more than the 254 allowed"
    );
    assert_eq!(l.skipped[0].identifier.as_deref(), Some("ann"));
}

#[test]
fn a_page_with_more_records_than_asked_fails_while_parsing() {
    let body = format!(
        r#"{{"metadata":{{"result":1}},"data":{{"acct":[{}]}}}}"#,
        ["{}"; 5].join(",")
    );
    let e = parse_page_limited(body.as_bytes(), TOKEN, 4)
        .err()
        .expect("refused");
    assert!(
        e.to_string()
            .starts_with("invalid response from the panel: the response does not have the WHM API 1 shape: data.acct holds more than the 4 records asked for"),
        "{e}"
    );
    assert_eq!(
        parse_page_limited(body.as_bytes(), TOKEN, 5)
            .map(|p| p.records.len())
            .ok(),
        Some(5)
    );
}

#[test]
fn a_huge_value_in_the_envelope_is_not_echoed() {
    let body = format!(
        r#"{{"metadata": "{}", "data": {{"acct": []}}}}"#,
        "x".repeat(1_000_000)
    );
    let e = parse_page(body.as_bytes(), TOKEN).err().expect("refused");
    assert_clean(&e);
    assert!(
        e.to_string()
            .starts_with("invalid response from the panel: the response does not have the WHM API 1 shape: invalid type: string \"xxx"),
        "{e}"
    );
}

#[test]
fn totals_past_the_account_and_page_bounds_fail() {
    let opts = ModuleOptions {
        max_listing_bytes: u64::MAX,
        ..ModuleOptions::default()
    };
    assert_eq!(check_total(MAX_ACCOUNTS, 5_000, &opts, "h:1"), Ok(()));
    assert_eq!(
        check_total(MAX_ACCOUNTS + 1, 5_000, &opts, "h:1"),
        Err(ModuleError::Malformed(
            "h:1 announced 2000001 accounts (metadata.chunk.records), more than the 2000000 \
             one listing may hold"
                .into()
        ))
    );
    assert_eq!(
        check_total(1_000_001, 10, &opts, "h:1"),
        Err(ModuleError::Incomplete(
            "h:1 announced 1000001 accounts, 100001 pages of 10; at most 100000 pages are \
             asked for (raise the page size)"
                .into()
        ))
    );
}
