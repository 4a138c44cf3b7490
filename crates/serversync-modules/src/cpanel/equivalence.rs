//! The page parse that converts records while it reads them gives what the earlier parse
//! ([`super::reference`]: owned values collected, then converted) gave: the same total, the
//! same accounts and skipped records in the same order, or the same error — on generated
//! records of every JSON kind, strings with and without escapes, pages past their record
//! limit, bodies that are not UTF-8 and mutated real pages.

use proptest::prelude::*;
use serde_json::{json, Value};
use serversync_core::module::Listing;

use super::fuzz::{arb_record, mutate, REAL_PAGE};
use super::*;

const TOKEN: &str = "SECRET-TOKEN-42";

type Outcome = Result<(Option<u64>, Listing), ModuleError>;

/// The earlier parse, its records converted at position 3 onwards.
fn before(body: &[u8], max: usize) -> Outcome {
    let (total, records) = reference::parse_page_limited(body, TOKEN, max)?;
    let mut l = Listing::default();
    reference::convert_page(records, 3, &mut l);
    Ok((total, l))
}

/// The parse as it runs now, its records placed at position 3 onwards.
fn now(body: &[u8], max: usize) -> Outcome {
    let page = parse_page_limited(body, TOKEN, max)?;
    assert_eq!(
        page.records.len(),
        page.records.accounts.len() + page.records.skipped.len()
    );
    let mut l = Listing::default();
    convert_page(page.records, 3, &mut l);
    Ok((page.total, l))
}

fn envelope(records: &[Value], total: Option<u64>) -> Vec<u8> {
    let mut meta = json!({"command": "listaccts", "result": 1, "reason": "OK", "version": 1});
    if let Some(t) = total {
        meta["chunk"] = json!({"start": 1, "size": 5000, "records": t});
    }
    serde_json::to_vec(&json!({"metadata": meta, "data": {"acct": records}})).unwrap()
}

/// A plausible record whose strings may need escapes (quotes, backslashes, control and
/// non-ASCII characters, `\u` forms).
fn arb_escaped_record() -> impl Strategy<Value = Value> {
    let text = "[a-z0-9@. \"\\\\\\n\\t\\x01é€😀/-]{0,30}";
    (
        text,
        text,
        text,
        text,
        0u8..3,
        prop::option::of(0i64..2_000_000_000),
    )
        .prop_map(|(user, domain, email, plan, suspended, start)| {
            let mut r = json!({"user": user, "domain": domain, "email": email, "plan": plan,
                "owner": "root", "ip": " 192.0.2.1 ", "suspendreason": "why\n",
                "startdate": "18 Jun 26 07:11"});
            r["suspended"] = match suspended {
                0 => json!(0),
                1 => json!("1"),
                _ => json!(" 0 "),
            };
            if let Some(s) = start {
                r["unix_startdate"] = json!(s.to_string());
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn generated_records_convert_as_before(
        records in prop::collection::vec(arb_record(), 0..15),
        total in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        max in prop_oneof![Just(usize::MAX), 0usize..12],
    ) {
        let body = envelope(&records, total);
        prop_assert_eq!(now(&body, max), before(&body, max));
    }

    #[test]
    fn escaped_strings_convert_as_before(
        records in prop::collection::vec(arb_escaped_record(), 1..10),
    ) {
        let body = envelope(&records, Some(records.len() as u64));
        let out = now(&body, usize::MAX);
        prop_assert!(out.is_ok());
        prop_assert_eq!(out, before(&body, usize::MAX));
    }

    #[test]
    fn mutated_real_pages_parse_as_before(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..10),
    ) {
        let body = mutate(REAL_PAGE.as_bytes(), &edits);
        prop_assert_eq!(now(&body, usize::MAX), before(&body, usize::MAX));
    }
}

#[test]
fn a_body_not_utf8_in_a_skipped_value_parses_as_before() {
    let mut body = REAL_PAGE.as_bytes().to_vec();
    let at = REAL_PAGE.find("\"ipv6\":[]").unwrap() + "\"ipv6\":[".len();
    body.splice(at..at, b"\"\xff\xfe\"".iter().copied());
    let out = now(&body, usize::MAX);
    assert_eq!(out, before(&body, usize::MAX));
    assert_eq!(out.unwrap().1.accounts.len(), 2);

    // Not UTF-8 in a value that is read: the same error as before.
    let bad = REAL_PAGE.replace("\"ann.test\"", "\"ann\u{1}.test\"");
    let mut bad = bad.into_bytes();
    let at = bad.iter().position(|b| *b == 1).unwrap();
    bad[at] = 0xff;
    let out = now(&bad, usize::MAX);
    assert!(out.is_err());
    assert_eq!(out, before(&bad, usize::MAX));
}
