//! Unit tests of plans: selection, refusals, guards, client and product matching.
use super::*;
use crate::analysis::analyse;
use crate::analysis::tests::{acct, cpanel_meta, svc};

fn analysed(
    accounts: &[RemoteAccount],
    services: &[crate::analysis::BillingRecord],
    f: impl FnOnce(&Analysis, &AnalysisInput<'_>),
) {
    let meta = cpanel_meta();
    let input = AnalysisInput {
        meta: &meta,
        server_ip: "192.0.2.10",
        accounts,
        listing_complete: true,
        services,
        other_live: &[],
    };
    let a = analyse(&input);
    f(&a, &input)
}

#[test]
fn select_by_uid_and_refuse_with_reasons() {
    let mut changed = acct("b.test", "b", "basic");
    changed.status = RemoteStatus::Suspended;
    let accounts = [
        acct("a.test", "a", "basic"),
        changed,
        acct("new.test", "n", "basic"),
    ];
    let services = [
        svc(1, "a.test", "a", ServiceStatus::Active),
        svc(2, "b.test", "b", ServiceStatus::Active),
        svc(3, "gone.test", "g", ServiceStatus::Active),
    ];
    analysed(&accounts, &services, |a, input| {
        let sel = Selection {
            sync: Some(Selector::Only(vec![
                "B.TEST".into(),
                "a.test".into(),
                "zzz.test".into(),
            ])),
            import: Some(Selector::All),
            terminate: Some(Selector::Only(vec!["3".into(), "x".into()])),
            moves: None,
            reactivate: None,
        };
        let p = select(a, input, &sel);
        let planned: Vec<_> = p
            .actions
            .iter()
            .map(|pl| (pl.action, a.items[pl.item].key.clone()))
            .collect();
        assert_eq!(
            planned,
            vec![
                (Action::Import, "new.test".to_string()),
                (Action::Sync, "b.test".into()),
                (Action::Terminate, "gone.test".into())
            ]
        );
        let refused: Vec<_> = p.refused.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            refused,
            vec![
                "domain a.test is in_sync: nothing to sync",
                "no item for domain zzz.test in this run",
                "\"x\" is not a service id"
            ]
        );
    });
}

#[test]
fn zero_accounts_and_share_guards() {
    let services: Vec<_> = (1..=4)
        .map(|i| svc(i, &format!("s{i}.test"), "u", ServiceStatus::Active))
        .collect();
    analysed(&[], &services, |a, input| {
        let p = select(
            a,
            input,
            &Selection {
                terminate: Some(Selector::All),
                ..Default::default()
            },
        );
        assert_eq!(p.count(Action::Terminate), 4);
        let v = termination_guard_violations(a, 0, &p, &Guards::default());
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            "the server listed 0 accounts while billing has 4 live services on it"
        );
        assert_eq!(
            v[1],
            "4 terminations are 100% of the server's 4 live services, above the 25% limit"
        );
    });
    // One of four live services gone: 25% is allowed.
    let accounts: Vec<_> = (1..=3)
        .map(|i| acct(&format!("s{i}.test"), "u", "basic"))
        .collect();
    analysed(&accounts, &services, |a, input| {
        let p = select(
            a,
            input,
            &Selection {
                terminate: Some(Selector::All),
                ..Default::default()
            },
        );
        assert_eq!(p.count(Action::Terminate), 1);
        assert!(termination_guard_violations(a, 3, &p, &Guards::default()).is_empty());
    });
}

#[test]
fn reactivate_is_its_own_action() {
    let accounts = [acct("t.test", "t", "basic")];
    let services = [svc(1, "t.test", "t", ServiceStatus::Terminated)];
    analysed(&accounts, &services, |a, input| {
        let p = select(
            a,
            input,
            &Selection {
                sync: Some(Selector::All),
                ..Default::default()
            },
        );
        assert!(p.actions.is_empty(), "sync all must not reactivate");
        let p = select(
            a,
            input,
            &Selection {
                sync: Some(Selector::Only(vec!["t.test".into()])),
                ..Default::default()
            },
        );
        assert_eq!(
            p.refused[0].reason,
            "domain t.test is terminated_in_billing: reactivating it is its own action (reactivate)"
        );
        let p = select(
            a,
            input,
            &Selection {
                reactivate: Some(Selector::Only(vec!["T.TEST".into()])),
                ..Default::default()
            },
        );
        assert_eq!(
            p.actions,
            vec![Planned {
                action: Action::Reactivate,
                item: 0
            }]
        );
    });
}

#[test]
fn move_share_guard() {
    let meta = cpanel_meta();
    // Four live services here; two live on server 200 are listed here (moved).
    let here: Vec<_> = (1..=4)
        .map(|i| svc(i, &format!("s{i}.test"), "u", ServiceStatus::Active))
        .collect();
    let other: Vec<_> = (5..=6)
        .map(|i| {
            let mut r = svc(i, &format!("m{i}.test"), "u", ServiceStatus::Active);
            r.service.server_id = Some(200);
            r
        })
        .collect();
    let accounts: Vec<_> = ["s1", "s2", "s3", "s4", "m5", "m6"]
        .iter()
        .map(|d| acct(&format!("{d}.test"), "u", "basic"))
        .collect();
    let input = AnalysisInput {
        meta: &meta,
        server_ip: "192.0.2.10",
        accounts: &accounts,
        listing_complete: true,
        services: &here,
        other_live: &other,
    };
    let a = analyse(&input);
    let moves = |targets: Selector| {
        select(
            &a,
            &input,
            &Selection {
                moves: Some(targets),
                ..Default::default()
            },
        )
    };
    let p = moves(Selector::All);
    assert_eq!(p.count(Action::Move), 2);
    assert_eq!(
        move_guard_violation(&a, &p, &Guards::default()).as_deref(),
        Some("2 moves are 50% of the target server's 4 live services, above the 25% limit")
    );
    let p = moves(Selector::Only(vec!["5".into()]));
    assert_eq!(move_guard_violation(&a, &p, &Guards::default()), None);
    let strict = Guards {
        max_move_share: 0.2,
        ..Guards::default()
    };
    assert!(move_guard_violation(&a, &p, &strict).is_some());
}

#[test]
fn client_index_is_exact_and_case_insensitive() {
    let c = |id, e: &str| Client {
        id,
        email: e.into(),
        first_name: String::new(),
        last_name: String::new(),
        company: String::new(),
        status: "Active".into(),
    };
    let clients = [c(1, "Zed@Mail.test"), c(2, "other@mail.test")];
    let idx = ClientIndex::new(&clients);
    assert_eq!(
        idx.lookup("zed@mail.test")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert!(idx.lookup("ed@mail.test").is_empty());
    assert!(idx.lookup("mail.test").is_empty());
}

#[test]
fn products_match_with_reseller_rule() {
    let p = |id, v: &str| Product {
        id,
        name: format!("P{id}"),
        module: "cpanel".into(),
        config_options: [("configoption1".to_string(), v.to_string())].into(),
    };
    let products = [p(1, "silver"), p(2, "gold"), p(3, "")];
    let ids = |v: Vec<&Product>| v.iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(matching_products(
            &products,
            "configoption1",
            "res9_silver",
            Some("res9")
        )),
        vec![1]
    );
    assert!(matching_products(&products, "configoption1", "res8_silver", Some("res9")).is_empty());
    assert_eq!(
        ids(matching_products(
            &products,
            "configoption1",
            "GOLD",
            Some("root")
        )),
        vec![2]
    );
    assert!(matching_products(&products, "configoption1", "", None).is_empty());
}
