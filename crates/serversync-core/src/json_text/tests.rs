//! The hand-written JSON against serde_json's, on generated values: any difference is a bug
//! here.

use proptest::prelude::*;
use time::{Date, Month, PrimitiveDateTime, Time};

use super::*;
use crate::analysis::tests::{arb_account, arb_service, build_services, cpanel_meta};
use crate::analysis::{analyse, AnalysisInput};
use crate::misses::MissCount;
use crate::module::RemoteStatus;

fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).expect("UTF-8")
}

/// Text with every kind of character serde_json treats apart: controls, quotes,
/// backslashes, DEL, multi-byte UTF-8, plus runs long enough for the word-wise scan.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é€😀 /]{0,40}",
        Just(String::new()),
    ]
}

fn arb_date() -> impl Strategy<Value = Date> {
    (-9999i32..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
        Date::from_calendar_date(y, Month::try_from(m).expect("month"), d).expect("date")
    })
}

fn arb_remote() -> impl Strategy<Value = RemoteAccount> {
    (
        (
            prop::option::of(arb_text()),
            arb_text(),
            arb_text(),
            arb_text(),
            arb_text(),
        ),
        (
            prop::option::of((arb_date(), 0u8..24, 0u8..60, 0u8..60)),
            any::<bool>(),
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
            prop::collection::vec(arb_text(), 0..3),
        ),
    )
        .prop_map(
            |((email, username, domain, uid, product), (created, susp, owner, detail, notes))| {
                RemoteAccount {
                    email,
                    username,
                    domain,
                    unique_identifier: uid,
                    product,
                    primary_ip: "192.0.2.1".into(),
                    created: created.map(|(d, h, mi, s)| {
                        PrimitiveDateTime::new(d, Time::from_hms(h, mi, s).expect("time"))
                    }),
                    status: if susp {
                        RemoteStatus::Suspended
                    } else {
                        RemoteStatus::Active
                    },
                    owner,
                    status_detail: detail,
                    notes,
                }
            },
        )
}

#[test]
fn every_ascii_and_some_wider_characters_escape_as_serde_json_escapes_them() {
    let mut all: String = (0u8..=0x7f).map(char::from).collect();
    all.push_str("é€😀\u{2028}\u{fffd}");
    for s in [
        all.as_str(),
        "",
        "plain",
        "\"",
        "\\",
        "12345678\"",
        "1234567\u{1}x",
    ] {
        assert_eq!(
            written(|o| string(o, s)),
            serde_json::to_string(s).unwrap(),
            "{s:?}"
        );
    }
}

#[test]
fn numbers_dates_and_nulls_are_serde_jsons() {
    for n in [0i64, -1, 42, i64::MIN, i64::MAX] {
        assert_eq!(written(|o| int(o, n)), serde_json::to_string(&n).unwrap());
    }
    assert_eq!(written(|o| opt_int(o, None::<i64>)), "null");
    assert_eq!(written(|o| opt_string(o, None)), "null");
    for (y, m, d) in [
        (2024, 1, 31),
        (5, 3, 9),
        (0, 1, 1),
        (9999, 12, 31),
        (-1, 6, 15),
        (-9999, 1, 1),
    ] {
        let day = Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap();
        // `time`'s own formatter is the reference (`format_date` is made of `date_digits`).
        let by_time = day.format(crate::model::DATE_FORMAT).unwrap();
        assert_eq!(
            written(|o| date(o, day)),
            format!("\"{by_time}\""),
            "{y}-{m}-{d}"
        );
        assert_eq!(crate::model::format_date(day), by_time);
        let at = PrimitiveDateTime::new(day, Time::from_hms(7, 5, 59).unwrap());
        assert_eq!(
            crate::module::format_created(at),
            format!("{by_time} 07:05:59")
        );
    }
    assert_eq!(
        crate::model::format_date(Date::from_calendar_date(2024, Month::January, 31).unwrap()),
        "2024-01-31"
    );
    assert_eq!(written(|o| opt_date(o, None)), "null");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_string_escapes_as_serde_json_escapes_it(s in arb_text()) {
        prop_assert_eq!(written(|o| string(o, &s)), serde_json::to_string(&s).unwrap());
    }

    #[test]
    fn an_account_list_is_the_text_serde_json_writes(list in prop::collection::vec(arb_remote(), 0..4)) {
        prop_assert_eq!(accounts(&list), serde_json::to_string(&list).unwrap());
    }

    #[test]
    fn every_item_of_an_analysis_is_the_text_serde_json_writes(
        accounts in prop::collection::vec(arb_account(), 0..10),
        odd in prop::collection::vec(arb_remote(), 0..3),
        services in prop::collection::vec(arb_service(), 0..10),
        others in prop::collection::vec(arb_service(), 0..3),
        texts in prop::collection::vec(arb_text(), 3),
        regdate in prop::option::of(arb_date()),
        complete in any::<bool>(),
        misses in prop::option::of((0u32..5, 0u32..4)),
    ) {
        let mut accounts = accounts;
        accounts.extend(odd);
        let mut services = build_services(&services, 1, 100);
        // Billing values with every kind of character, on one record.
        if let Some(r) = services.first_mut() {
            r.service.dedicated_ip = texts[0].clone();
            r.service.username = texts[1].clone();
            r.client_email = Some(texts[2].clone());
            r.service.regdate = regdate;
            r.service.server_id = None;
        }
        let others: Vec<_> = build_services(&others, 1000, 200)
            .into_iter()
            .filter(|r| r.service.status.is_live())
            .collect();
        let meta = cpanel_meta();
        let input = AnalysisInput {
            meta: &meta,
            server_ip: "192.0.2.10",
            accounts: &accounts,
            listing_complete: complete,
            services: &services,
            other_live: &others,
        };
        let analysis = analyse(&input);
        for item in &analysis.items {
            let view = ItemView {
                item,
                input: &input,
                misses: misses.map(|(m, g)| MissCount::new(m, g)),
            };
            prop_assert_eq!(written(|o| view.write_json(o)), serde_json::to_string(&view).unwrap());
        }
    }
}
