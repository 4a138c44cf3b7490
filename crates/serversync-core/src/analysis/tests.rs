use std::collections::BTreeMap;

use proptest::prelude::*;
use time::macros::{date, datetime};

use super::*;
use crate::model::Service;
use crate::module::RemoteStatus;

pub(crate) fn cpanel_meta() -> MetaData {
    MetaData {
        display_name: "cPanel".into(),
        unique_identifier_display_name: "Domain".into(),
        unique_identifier_field: UniqueIdField::Domain,
        product_field: "configoption1".into(),
        default_secure_port: 2087,
        default_plain_port: 2086,
    }
}

pub(crate) fn acct(domain: &str, user: &str, plan: &str) -> RemoteAccount {
    RemoteAccount {
        email: Some(format!("{user}@mail.test")),
        username: user.into(),
        domain: domain.into(),
        unique_identifier: domain.into(),
        product: plan.into(),
        primary_ip: "192.0.2.10".into(),
        created: Some(datetime!(2024-01-31 13:15:00)),
        status: RemoteStatus::Active,
        owner: Some("root".into()),
        status_detail: None,
        notes: Vec::new(),
    }
}

pub(crate) fn svc(id: i64, domain: &str, user: &str, status: ServiceStatus) -> BillingRecord {
    BillingRecord {
        service: Service {
            id,
            client_id: 1,
            product_id: 10,
            server_id: Some(100),
            domain: domain.into(),
            username: user.into(),
            dedicated_ip: String::new(),
            regdate: Some(date!(2024 - 01 - 31)),
            status,
            billing_cycle: "Monthly".into(),
            amount: "9.99".into(),
            next_due_date: None,
            termination_date: None,
            custom_fields: BTreeMap::new(),
            version: 1,
        },
        package: Some("basic".into()),
        client_email: Some(format!("{user}@mail.test")),
    }
}

fn run(accounts: &[RemoteAccount], services: &[BillingRecord]) -> Analysis {
    run_full(accounts, services, &[], true)
}

fn run_full(
    accounts: &[RemoteAccount],
    services: &[BillingRecord],
    other: &[BillingRecord],
    complete: bool,
) -> Analysis {
    let meta = cpanel_meta();
    analyse(&AnalysisInput {
        meta: &meta,
        server_ip: "192.0.2.10",
        accounts,
        listing_complete: complete,
        services,
        other_live: other,
    })
}

fn cats(a: &Analysis) -> Vec<(Category, String)> {
    a.items
        .iter()
        .map(|i| (i.category, i.key.clone()))
        .collect()
}

#[test]
fn identical_pair_is_in_sync() {
    let a = run(
        &[acct("ann.test", "ann", "basic")],
        &[svc(1, "ann.test", "ann", ServiceStatus::Active)],
    );
    assert_eq!(cats(&a), vec![(Category::InSync, "ann.test".into())]);
    assert!(a.items[0].diffs.is_empty());
}

#[test]
fn domain_forms_match_one_pair_each() {
    // Case + trailing dot, www. fallback, no stripping inside names, IDN.
    let accounts = [
        acct("example.org", "ex", "basic"),
        acct("shop.test", "shop", "basic"),
        acct("awww.test", "awww", "basic"),
        acct("xn--mnchen-3ya.test", "mu", "basic"),
    ];
    let services = [
        svc(1, "Example.ORG.", "ex", ServiceStatus::Active),
        svc(2, "www.shop.test", "shop", ServiceStatus::Active),
        svc(3, "awww.test", "awww", ServiceStatus::Active),
        svc(4, "münchen.test", "mu", ServiceStatus::Active),
    ];
    let a = run(&accounts, &services);
    assert_eq!(a.items.len(), 4, "{:?}", cats(&a));
    for it in &a.items {
        assert!(
            matches!(it.category, Category::InSync | Category::OutOfSync),
            "{it:?}"
        );
        assert!(it.remote.is_some() && it.billing.is_some());
    }
    let by_key = |k: &str| a.items.iter().find(|i| i.key == k).unwrap();
    assert_eq!(by_key("example.org").category, Category::InSync);
    assert_eq!(by_key("awww.test").category, Category::InSync);
    assert_eq!(by_key("xn--mnchen-3ya.test").category, Category::InSync);
    let shop = by_key("shop.test");
    assert_eq!(shop.billing, Some(BillingRef::ThisServer(1)));
    assert_eq!(
        shop.diffs,
        vec![Diff {
            field: Field::Domain,
            remote: "shop.test".into(),
            billing: "www.shop.test".into()
        }]
    );
}

#[test]
fn www_fallback_only_when_unique_and_never_steals_an_exact_match() {
    // Two billing services strip to the same key: no fallback match.
    let a = run(
        &[acct("shop.test", "shop", "basic")],
        &[
            svc(1, "www.shop.test", "a", ServiceStatus::Active),
            svc(2, "WWW.shop.test.", "b", ServiceStatus::Active),
        ],
    );
    assert_eq!(a.counts.not_in_billing, 1);
    // Service 1 www.shop.test is matched exactly by its own account; shop.test must not take it.
    let a = run(
        &[
            acct("shop.test", "shop", "basic"),
            acct("www.shop.test", "wshop", "basic"),
        ],
        &[svc(1, "www.shop.test", "wshop", ServiceStatus::Active)],
    );
    assert_eq!(a.counts.in_sync, 1);
    assert_eq!(a.counts.not_in_billing, 1);
    assert_eq!(
        a.items
            .iter()
            .find(|i| i.category == Category::NotInBilling)
            .unwrap()
            .key,
        "shop.test"
    );
    // mywww.test is never touched.
    let a = run(
        &[acct("test.test", "t", "basic")],
        &[svc(1, "mywww.test.test", "t", ServiceStatus::Active)],
    );
    assert_eq!(a.counts.not_in_billing, 1);
    assert_eq!(a.counts.not_on_server, 1);
}

#[test]
fn username_case_is_not_a_diff() {
    let a = run(
        &[acct("bob.test", "bob7", "basic")],
        &[svc(1, "bob.test", "Bob7", ServiceStatus::Active)],
    );
    assert_eq!(a.counts.in_sync, 1);
    assert!(a.items[0].diffs.is_empty());
}

#[test]
fn reseller_prefix_removed_only_for_the_owner() {
    let mut ok = acct("r.test", "r1", "res9_silver");
    ok.owner = Some("res9".into());
    let mut bad = acct("s.test", "s1", "res8_silver");
    bad.owner = Some("res9".into());
    let mut s1 = svc(1, "r.test", "r1", ServiceStatus::Active);
    s1.package = Some("silver".into());
    let mut s2 = svc(2, "s.test", "s1", ServiceStatus::Active);
    s2.package = Some("silver".into());
    let a = run(&[ok, bad], &[s1, s2]);
    assert_eq!(a.counts.in_sync, 1);
    let oos: Vec<_> = a
        .items
        .iter()
        .filter(|i| i.category == Category::OutOfSync)
        .collect();
    assert_eq!(oos.len(), 1);
    assert_eq!(oos[0].key, "s.test");
    assert_eq!(
        oos[0].diffs,
        vec![Diff {
            field: Field::Product,
            remote: "res8_silver".into(),
            billing: "silver".into()
        }]
    );
}

#[test]
fn missing_created_is_not_compared() {
    let mut a1 = acct("a.test", "a", "basic");
    a1.created = None;
    let mut s = svc(1, "a.test", "a", ServiceStatus::Active);
    s.service.regdate = Some(date!(2020 - 05 - 05));
    let a = run(&[a1.clone()], &[s]);
    assert_eq!(a.counts.in_sync, 1);
    // With a date, the date part is compared.
    a1.created = Some(datetime!(2020-05-06 00:30:00));
    let mut s = svc(1, "a.test", "a", ServiceStatus::Active);
    s.service.regdate = Some(date!(2020 - 05 - 05));
    let a = run(&[a1], &[s]);
    assert_eq!(
        a.items[0].diffs,
        vec![Diff {
            field: Field::Created,
            remote: "2020-05-06".into(),
            billing: "2020-05-05".into()
        }]
    );
}

#[test]
fn fields_a_module_did_not_give_are_never_diffs() {
    // A module that gives only the identifier and the status (issue 7 §4): every other field
    // is none, shown empty and not compared, so the pair is in sync however billing differs.
    let bare = RemoteAccount {
        email: None,
        username: String::new(),
        domain: String::new(),
        unique_identifier: "a.test".into(),
        product: String::new(),
        primary_ip: String::new(),
        created: None,
        status: RemoteStatus::Active,
        owner: None,
        status_detail: None,
        notes: Vec::new(),
    };
    let mut s = svc(1, "a.test", "someone", ServiceStatus::Active);
    s.service.dedicated_ip = "198.51.100.7".into();
    s.service.regdate = Some(date!(2019 - 01 - 01));
    s.package = Some("gold".into());
    let a = run(std::slice::from_ref(&bare), std::slice::from_ref(&s));
    assert_eq!(cats(&a), vec![(Category::InSync, "a.test".into())]);
    assert!(a.items[0].diffs.is_empty(), "{:?}", a.items[0].diffs);
    // The status is always compared.
    let mut suspended = bare;
    suspended.status = RemoteStatus::Suspended;
    let a = run(&[suspended], &[s]);
    assert_eq!(
        a.items[0].diffs,
        vec![Diff {
            field: Field::Status,
            remote: "Suspended".into(),
            billing: "Active".into()
        }]
    );
}

#[test]
fn lenient_reading_notes_show_on_the_accounts_item() {
    let mut noted = acct("a.test", "a", "basic");
    noted.notes = vec!["status \"active\" read as Active".into()];
    let mut dup = acct("d.test", "d", "basic");
    dup.notes = vec!["product was the number 3, taken as the text \"3\"".into()];
    let a = run(
        &[noted, dup, acct("new.test", "n", "basic")],
        &[
            svc(1, "a.test", "a", ServiceStatus::Active),
            svc(2, "d.test", "d", ServiceStatus::Active),
            svc(3, "d.test", "d", ServiceStatus::Active),
        ],
    );
    let notes: Vec<(Category, &str, Vec<String>)> = a
        .items
        .iter()
        .map(|i| (i.category, i.key.as_str(), i.notes.clone()))
        .collect();
    assert_eq!(
        notes,
        vec![
            (
                Category::InSync,
                "a.test",
                vec!["status \"active\" read as Active".to_string()]
            ),
            (
                Category::InSync,
                "d.test",
                vec!["product was the number 3, taken as the text \"3\"".to_string()]
            ),
            (
                Category::Duplicate,
                "d.test",
                vec!["service 3 also matches; service 2 is the better match".to_string()]
            ),
            (Category::NotInBilling, "new.test", vec![]),
        ]
    );
}

#[test]
fn pending_service_with_live_account_is_out_of_sync_on_status() {
    let a = run(
        &[acct("p.test", "p", "basic")],
        &[svc(1, "p.test", "p", ServiceStatus::Pending)],
    );
    assert_eq!(cats(&a), vec![(Category::OutOfSync, "p.test".into())]);
    assert_eq!(a.items[0].actions, vec![Action::Sync]);
    assert_eq!(
        a.items[0].diffs,
        vec![Diff {
            field: Field::Status,
            remote: "Active".into(),
            billing: "Pending".into()
        }]
    );
    assert_eq!(a.counts.not_in_billing, 0);
}

#[test]
fn terminated_service_with_live_account() {
    let a = run(
        &[acct("t.test", "t", "basic")],
        &[svc(1, "t.test", "t", ServiceStatus::Terminated)],
    );
    assert_eq!(
        cats(&a),
        vec![(Category::TerminatedInBilling, "t.test".into())]
    );
    assert_eq!(a.items[0].actions, vec![Action::Reactivate]);
}

#[test]
fn live_beats_closed_and_extra_live_candidates_are_duplicates() {
    let a = run(
        &[acct("d.test", "d", "basic")],
        &[
            svc(1, "d.test", "d", ServiceStatus::Cancelled),
            svc(2, "d.test", "other", ServiceStatus::Active),
            svc(3, "d.test", "d", ServiceStatus::Active),
        ],
    );
    assert_eq!(
        cats(&a),
        vec![
            (Category::InSync, "d.test".into()),
            (Category::Duplicate, "d.test".into())
        ]
    );
    assert_eq!(a.items[0].billing, Some(BillingRef::ThisServer(2)));
    assert_eq!(a.items[1].billing, Some(BillingRef::ThisServer(1)));
    assert_eq!(a.items[1].actions, vec![Action::Terminate]);
    assert_eq!(
        a.items[0].notes,
        vec!["also matches Cancelled service 1".to_string()]
    );
}

#[test]
fn moved_from_another_server() {
    let mut other = svc(7, "m.test", "m", ServiceStatus::Active);
    other.service.server_id = Some(200);
    let a = run_full(&[acct("m.test", "m", "basic")], &[], &[other], true);
    assert_eq!(cats(&a), vec![(Category::Moved, "m.test".into())]);
    assert_eq!(a.items[0].actions, vec![Action::Move]);
    assert_eq!(a.items[0].billing, Some(BillingRef::OtherServer(0)));
}

#[test]
fn shared_and_missing_keys_are_conflicts() {
    let mut nokey = acct("", "x", "basic");
    nokey.unique_identifier = "".into();
    let a = run(
        &[
            acct("c.test", "c1", "basic"),
            acct("C.test", "c2", "basic"),
            nokey,
        ],
        &[svc(1, "c.test", "c1", ServiceStatus::Active)],
    );
    assert_eq!(a.counts.conflict, 3);
    assert_eq!(
        a.counts.not_on_server, 0,
        "the service of a conflicting key is not offered for termination"
    );
    let with_related: Vec<_> = a
        .items
        .iter()
        .filter(|i| !i.related_service_ids.is_empty())
        .collect();
    assert_eq!(with_related.len(), 2);
    assert_eq!(with_related[0].related_service_ids, vec![1]);
}

#[test]
fn absent_services_by_status() {
    let a = run(
        &[],
        &[
            svc(1, "a.test", "a", ServiceStatus::Active),
            svc(2, "b.test", "b", ServiceStatus::Suspended),
            svc(3, "c.test", "c", ServiceStatus::Pending),
            svc(4, "d.test", "d", ServiceStatus::Terminated),
        ],
    );
    assert_eq!(a.counts.not_on_server, 2);
    assert_eq!(a.counts.pending_not_on_server, 1);
    assert_eq!(a.items.len(), 3);
    assert_eq!(a.live_services, 3);
    assert_eq!(a.warnings.len(), 1);
    assert!(a.warnings[0].contains("0 accounts"), "{:?}", a.warnings);
}

#[test]
fn incomplete_listing_never_offers_termination() {
    let a = run_full(
        &[acct("a.test", "a", "basic")],
        &[svc(2, "b.test", "b", ServiceStatus::Active)],
        &[],
        false,
    );
    let nos = a
        .items
        .iter()
        .find(|i| i.category == Category::NotOnServer)
        .unwrap();
    assert!(nos.actions.is_empty());
    assert!(!nos.notes.is_empty());
}

#[test]
fn not_on_server_item_view_carries_its_miss_count() {
    let meta = cpanel_meta();
    let services = [svc(2, "b.test", "b", ServiceStatus::Active)];
    let input = AnalysisInput {
        meta: &meta,
        server_ip: "192.0.2.10",
        accounts: &[],
        listing_complete: true,
        services: &services,
        other_live: &[],
    };
    let a = analyse(&input);
    assert_eq!(a.items[0].category, Category::NotOnServer);
    let view = |misses| {
        serde_json::to_value(ItemView {
            item: &a.items[0],
            input: &input,
            misses: Some(crate::misses::MissCount::new(misses, 3)),
        })
        .unwrap()
    };
    let once = view(1);
    assert_eq!(
        (&once["misses"], &once["gone_after"], &once["gone"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(3),
            &serde_json::json!(false)
        )
    );
    assert_eq!(view(3)["gone"], serde_json::json!(true));
}

#[test]
fn email_alone_is_informational() {
    let mut a1 = acct("e.test", "e", "basic");
    a1.email = Some("new@mail.test".into());
    let a = run(&[a1], &[svc(1, "e.test", "e", ServiceStatus::Active)]);
    assert_eq!(a.counts.in_sync, 1);
    assert_eq!(a.items[0].diffs.len(), 1);
    assert_eq!(a.items[0].diffs[0].field, Field::Email);
}

#[test]
fn item_view_serialises_contract_shape() {
    let meta = cpanel_meta();
    let mut remote = acct("ann.test", "ann", "basic");
    remote.status = RemoteStatus::Suspended;
    let accounts = [remote];
    let services = [svc(1000, "ann.test", "ann", ServiceStatus::Active)];
    let input = AnalysisInput {
        meta: &meta,
        server_ip: "192.0.2.10",
        accounts: &accounts,
        listing_complete: true,
        services: &services,
        other_live: &[],
    };
    let a = analyse(&input);
    let v = serde_json::to_value(ItemView {
        item: &a.items[0],
        input: &input,
        misses: None,
    })
    .unwrap();
    assert!(
        v.get("misses").is_none(),
        "only not_on_server items count misses"
    );
    assert_eq!(v["category"], "out_of_sync");
    assert_eq!(v["unique_identifier"], "ann.test");
    assert_eq!(v["service_id"], 1000);
    assert_eq!(v["remote"]["uniqueIdentifier"], "ann.test");
    assert_eq!(v["remote"]["created"], "2024-01-31 13:15:00");
    assert_eq!(v["remote"]["status"], "Suspended");
    assert_eq!(v["billing"]["regdate"], "2024-01-31");
    assert_eq!(v["billing"]["status"], "Active");
    assert_eq!(
        v["diffs"],
        serde_json::json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
    );
    assert_eq!(v["actions"], serde_json::json!(["sync"]));
}

// ---- properties ----

fn arb_status() -> impl Strategy<Value = ServiceStatus> {
    prop::sample::select(ServiceStatus::ALL.to_vec())
}

/// Small name pool so that keys collide often (shared keys, duplicates, www. forms, case).
fn arb_domain() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "a",
            "b",
            "c",
            "shop",
            "www.shop",
            "WWW.a",
            "B",
            "xn--mnchen-3ya",
            "münchen",
            "",
        ]),
        prop::sample::select(vec![".test", ".test.", ".TEST"]),
    )
        .prop_map(|(n, t)| {
            if n.is_empty() {
                String::new()
            } else {
                format!("{n}{t}")
            }
        })
}

pub(crate) fn arb_account() -> impl Strategy<Value = RemoteAccount> {
    (
        arb_domain(),
        prop::sample::select(vec!["u1", "u2", "U1"]),
        any::<bool>(),
        prop::sample::select(vec!["basic", "gold", "res1_basic"]),
    )
        .prop_map(|(d, u, susp, p)| {
            let mut a = acct(&d, u, p);
            a.unique_identifier = d;
            a.status = if susp {
                RemoteStatus::Suspended
            } else {
                RemoteStatus::Active
            };
            a.owner = Some(if p.starts_with("res1") {
                "res1".into()
            } else {
                "root".into()
            });
            a
        })
}

pub(crate) fn arb_service() -> impl Strategy<Value = (String, ServiceStatus, bool)> {
    (arb_domain(), arb_status(), any::<bool>())
}

pub(crate) fn build_services(
    raw: &[(String, ServiceStatus, bool)],
    id0: i64,
    server: i64,
) -> Vec<BillingRecord> {
    raw.iter()
        .enumerate()
        .map(|(i, (d, st, other_user))| {
            let mut r = svc(
                id0 + i as i64,
                d,
                if *other_user { "u2" } else { "u1" },
                *st,
            );
            r.service.server_id = Some(server);
            r
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_account_in_exactly_one_primary_item_and_every_live_service_once(
        accounts in prop::collection::vec(arb_account(), 0..12),
        services in prop::collection::vec(arb_service(), 0..12),
        others in prop::collection::vec(arb_service(), 0..4),
        complete in any::<bool>(),
    ) {
        let services = build_services(&services, 1, 100);
        let others: Vec<_> = build_services(&others, 1000, 200).into_iter().filter(|r| r.service.status.is_live()).collect();
        let a = run_full(&accounts, &services, &others, complete);

        let mut primary = vec![0usize; accounts.len()];
        for it in &a.items {
            if it.category.is_primary() {
                primary[it.remote.expect("primary items carry their account")] += 1;
            }
        }
        prop_assert!(primary.iter().all(|&n| n == 1), "primary counts {:?}", primary);

        for (si, rec) in services.iter().enumerate() {
            let id = rec.service.id;
            let as_item = a.items.iter().filter(|it| it.billing == Some(BillingRef::ThisServer(si))).count();
            let as_related = a.items.iter().any(|it| it.related_service_ids.contains(&id));
            if rec.service.status.is_live() {
                prop_assert!(
                    (as_item == 1 && !as_related) || (as_item == 0 && as_related),
                    "live service {} accounted {} times (related: {})", id, as_item, as_related
                );
            } else {
                prop_assert!(as_item <= 1);
            }
        }
        // No termination without a complete listing.
        if !complete {
            prop_assert!(a.items.iter().all(|it| it.category != Category::NotOnServer || it.actions.is_empty()));
        }
        let total: usize = Category::ALL.iter().map(|c| a.counts.get(*c)).sum();
        prop_assert_eq!(total, a.items.len());
    }

    #[test]
    fn result_does_not_depend_on_input_order(
        accounts in prop::collection::vec(arb_account(), 0..10),
        services in prop::collection::vec(arb_service(), 0..10),
        seed in any::<u64>(),
    ) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let services = build_services(&services, 1, 100);
        let a = run(&accounts, &services);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut acc2 = accounts.clone();
        acc2.shuffle(&mut rng);
        let mut svc2 = services.clone();
        svc2.shuffle(&mut rng);
        let b = run(&acc2, &svc2);
        // Compare by content (indexes differ after shuffling).
        let view = |an: &Analysis, acc: &[RemoteAccount], svc: &[BillingRecord]| -> Vec<String> {
            an.items.iter().map(|it| {
                let sid = it.billing.map(|b| match b { BillingRef::ThisServer(i) => svc[i].service.id, BillingRef::OtherServer(i) => -(i as i64) });
                format!("{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}", it.category, it.key, sid, it.remote.map(|i| &acc[i]), it.diffs, it.actions, {
                    let mut r = it.related_service_ids.clone(); r.sort(); r })
            }).collect()
        };
        prop_assert_eq!(view(&a, &accounts, &services), view(&b, &acc2, &svc2));
        prop_assert_eq!(a.counts, b.counts);
    }
}

/// Large inputs take the two-thread path; it must give the same result as input order does
/// not matter, with exact counts.
#[test]
fn large_inputs_split_across_threads_give_exact_counts() {
    let n = 30_000;
    let accounts: Vec<RemoteAccount> = (0..n)
        .map(|i| {
            let mut a = acct(&format!("d{i}.test"), &format!("u{i}"), "basic");
            if i % 10 == 0 {
                a.status = RemoteStatus::Suspended; // out_of_sync on status
            }
            a
        })
        .collect();
    // Services for every account but the last 1,000 (not_in_billing), plus 500 absent ones.
    let mut services: Vec<BillingRecord> = (0..n - 1000)
        .map(|i| {
            svc(
                i as i64 + 1,
                &format!("d{i}.test"),
                &format!("u{i}"),
                ServiceStatus::Active,
            )
        })
        .collect();
    services.extend((0..500).map(|i| {
        svc(
            100_000 + i,
            &format!("gone{i}.test"),
            "g",
            ServiceStatus::Active,
        )
    }));
    let a = run(&accounts, &services);
    let out_of_sync = (0..n - 1000).filter(|i| i % 10 == 0).count();
    assert_eq!(a.counts.out_of_sync, out_of_sync);
    assert_eq!(a.counts.in_sync, n - 1000 - out_of_sync);
    assert_eq!(a.counts.not_in_billing, 1000);
    assert_eq!(a.counts.not_on_server, 500);
    assert_eq!(a.items.len(), n + 500);
    let mut rev_acc = accounts.clone();
    rev_acc.reverse();
    let mut rev_svc = services.clone();
    rev_svc.reverse();
    let b = run(&rev_acc, &rev_svc);
    let keys = |x: &Analysis| {
        x.items
            .iter()
            .map(|i| (i.category, i.key.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&a), keys(&b));
}

#[test]
fn a_www_service_of_a_conflicting_key_is_not_offered_for_termination() {
    let a = run(
        &[
            acct("shop.test", "s1", "basic"),
            acct("SHOP.test", "s2", "basic"),
        ],
        &[svc(7, "www.shop.test", "s1", ServiceStatus::Active)],
    );
    assert_eq!(a.counts.conflict, 2);
    assert_eq!(a.counts.not_on_server, 0);
    assert!(a.items.iter().all(|i| i.related_service_ids == vec![7]));
}

#[test]
fn category_labels_are_words_and_names_round_trip() {
    assert_eq!(Category::OutOfSync.label(), "Out of sync");
    assert_eq!(Category::NotInBilling.label(), "Not in billing");
    assert_eq!(
        Category::TerminatedInBilling.label(),
        "Terminated in billing but live"
    );
    let mut labels = std::collections::HashSet::new();
    for c in Category::ALL {
        assert_eq!(Category::from_name(c.as_str()), Some(c));
        assert!(!c.label().contains('_'), "{:?} label {:?}", c, c.label());
        assert!(
            labels.insert(c.label()),
            "two categories share {:?}",
            c.label()
        );
    }
    assert_eq!(Category::from_name("Out of sync"), None);
    assert_eq!(Category::from_name(""), None);
}

proptest! {
    /// The inline equality of compared fields equals `==` (lengths around the word size,
    /// differences anywhere).
    #[test]
    fn inline_equality_equals_the_plain_one(a in "[ab]{0,20}", b in "[ab]{0,20}") {
        prop_assert_eq!(super::same(&a, &b), a == b);
        prop_assert!(super::same(&a, &a.clone()));
    }
}
