//! Store checks of issue 6: leases (expiry, renewal, a gone holder, release by hand),
//! change sets under a lease, the unique-identifier re-checks of imports, writes and their
//! audit events in one transaction, and the single first administrator.

use std::collections::BTreeMap;
use std::time::Duration;

use serversync_core::model::{Secret, Server, Service, ServiceStatus};
use serversync_core::module::UniqueIdField;
use time::OffsetDateTime;

use crate::{fixture, load, module, service, HASH_A, HASH_B};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{
    AuditFilter, ChangeSet, ClientRef, HeldLock, IdentifierClash, IdentifierFields, LockHolder,
    NewAuditEvent, Op, ProcessId, Records, Role, SetupOffer, Store, StoreError,
};

const LONG: Duration = Duration::from_secs(600);

/// A holder without a process (only its expiry can free its lease).
fn holder(id: &str) -> LockHolder {
    LockHolder {
        id: id.into(),
        actor: format!("cli:{id}"),
        host: "test-host".into(),
        process: None,
    }
}

fn busy_holder(r: serversync_store::Result<serversync_store::ServerLock>) -> String {
    match r {
        Err(StoreError::Busy(l)) => l.holder.id,
        other => panic!("expected Busy, got {other:?}"),
    }
}

fn event(actor: &str, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.into(),
        action: action.into(),
        ..Default::default()
    }
}

async fn actions_of(store: &dyn Store, actor: &str) -> Vec<String> {
    store
        .audit_query(&AuditFilter {
            actor: Some(actor.into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect()
}

/// Leases: busy while held (with who and until when), per server, not re-entrant, released
/// by their holder only; an expired lease is taken over at once, and its old holder can
/// neither renew nor release it; renewing moves the expiry; `locks` lists them;
/// `release_lock` removes any holder's lease and audits it in the same transaction.
pub async fn lease_busy_expiry_renew_release(store: &dyn Store) {
    let base = 14_000_000;
    let (a, b, c) = (base + 100, base + 101, base + 102);
    let before = OffsetDateTime::now_utc();
    let l = store.lock_server(a, &holder("h1"), LONG).await.unwrap();
    assert_eq!((l.server_id, &l.holder), (a, &holder("h1")));
    assert!(l.taken_at >= before - time::Duration::seconds(1));
    let ahead = l.expires_at - l.taken_at;
    assert_eq!(ahead, time::Duration::seconds(600));
    match store.lock_server(a, &holder("h2"), LONG).await {
        Err(StoreError::Busy(got)) => {
            assert_eq!(*got, l, "Busy carries the stored lease");
            let msg = StoreError::Busy(got).to_string();
            assert!(
                msg.starts_with(&format!(
                    "server {a} is busy: cli:h1 (on test-host) holds its lock until "
                )),
                "{msg}"
            );
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // Not re-entrant; per server.
    assert_eq!(
        busy_holder(store.lock_server(a, &holder("h1"), LONG).await),
        "h1"
    );
    store.lock_server(b, &holder("h2"), LONG).await.unwrap();
    // Release by someone else does nothing.
    store.unlock_server(a, "h2").await.unwrap();
    assert_eq!(
        busy_holder(store.lock_server(a, &holder("h2"), LONG).await),
        "h1"
    );
    store.unlock_server(a, "h1").await.unwrap();
    store.lock_server(a, &holder("h2"), LONG).await.unwrap();
    store.unlock_server(base + 555, "h1").await.unwrap();

    // Expiry: a lease that ran out is taken over at once; the old holder lost it.
    store
        .lock_server(c, &holder("h3"), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = store.lock_server(c, &holder("h4"), LONG).await.unwrap();
    // The takeover is reported (for the metric); a lease taken from nobody is not.
    assert!(taken.took_over && !l.took_over);
    assert!(matches!(
        store.renew_lock(c, "h3", LONG).await,
        Err(StoreError::LockLost(id)) if id == c
    ));
    store.unlock_server(c, "h3").await.unwrap();
    assert_eq!(
        busy_holder(store.lock_server(c, &holder("h3"), LONG).await),
        "h4"
    );

    // Renewing moves the expiry, also of a lease that ran out but was not taken.
    let d = base + 103;
    let short = store
        .lock_server(d, &holder("h5"), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let renewed = store.renew_lock(d, "h5", LONG).await.unwrap();
    assert!(renewed > short.expires_at + time::Duration::seconds(590));
    assert_eq!(
        busy_holder(store.lock_server(d, &holder("h6"), LONG).await),
        "h5"
    );

    let mine: Vec<(i64, String)> = store
        .locks()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| (base..base + 1000).contains(&l.server_id))
        .map(|l| (l.server_id, l.holder.id))
        .collect();
    assert_eq!(
        mine,
        vec![
            (a, "h2".to_string()),
            (b, "h2".into()),
            (c, "h4".into()),
            (d, "h5".into())
        ]
    );
    let listed = store.locks().await.unwrap();
    let dl = listed.iter().find(|l| l.server_id == d).unwrap();
    assert_eq!(dl.expires_at, renewed);

    // By hand: whoever holds it, audited with the holder removed, in the same transaction.
    let actor = format!("cli:release-{base}");
    let removed = store
        .release_lock(d, &|l: &serversync_store::ServerLock| NewAuditEvent {
            server_id: Some(l.server_id),
            note: Some(format!("removed the lock of {}", l.holder.describe())),
            ..event(&actor, "lock_release")
        })
        .await
        .unwrap()
        .expect("a lease was there");
    assert_eq!(removed.holder.id, "h5");
    let ev = store
        .audit_query(&AuditFilter {
            actor: Some(actor.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (
            ev[0].action.as_str(),
            ev[0].server_id,
            ev[0].note.as_deref()
        ),
        (
            "lock_release",
            Some(d),
            Some("removed the lock of cli:h5 (on test-host)")
        )
    );
    assert!(matches!(
        store.renew_lock(d, "h5", LONG).await,
        Err(StoreError::LockLost(_))
    ));
    store.lock_server(d, &holder("h6"), LONG).await.unwrap();
    // Nothing to release: None, and no event.
    assert_eq!(
        store
            .release_lock(base + 556, &|_: &serversync_store::ServerLock| event(
                &actor, "x"
            ))
            .await
            .unwrap(),
        None
    );
    assert_eq!(actions_of(store, &actor).await, vec!["lock_release"]);
    for (s, h) in [(a, "h2"), (b, "h2"), (c, "h4"), (d, "h6")] {
        store.unlock_server(s, h).await.unwrap();
    }
}

/// A lease whose holder is a process of this machine that no longer exists — or whose pid
/// now names a process started at another time (a reused pid) — is taken over at once, long
/// before it runs out; a live holder's is not. Skipped where `/proc` cannot tell.
pub async fn lease_of_a_gone_process_is_taken_over(store: &dyn Store) {
    let base = 14_100_000;
    let Some(me) = ProcessId::current() else {
        eprintln!("no /proc here: gone-holder checks skipped");
        return;
    };
    let a = base + 100;
    // This very process is alive: busy.
    let alive = LockHolder {
        process: Some(me.clone()),
        ..holder("alive")
    };
    store.lock_server(a, &alive, LONG).await.unwrap();
    assert_eq!(
        busy_holder(store.lock_server(a, &holder("x"), LONG).await),
        "alive"
    );
    store.unlock_server(a, "alive").await.unwrap();

    // The same pid, started at another time: a reused pid, so the holder is gone.
    let reused = LockHolder {
        process: Some(ProcessId {
            start_ticks: me.start_ticks + 7,
            ..me.clone()
        }),
        ..holder("reused")
    };
    store.lock_server(a, &reused, LONG).await.unwrap();
    store.lock_server(a, &holder("next"), LONG).await.unwrap();
    store.unlock_server(a, "next").await.unwrap();

    // A child process that is killed.
    let Ok(mut child) = std::process::Command::new("sleep").arg("60").spawn() else {
        eprintln!("no sleep binary: child holder check skipped");
        return;
    };
    let Some(p) = ProcessId::of_pid(child.id()) else {
        let _ = child.kill();
        panic!("the child has no /proc entry although this process has one");
    };
    let child_holder = LockHolder {
        process: Some(p),
        ..holder("child")
    };
    store.lock_server(a, &child_holder, LONG).await.unwrap();
    assert_eq!(
        busy_holder(store.lock_server(a, &holder("x"), LONG).await),
        "child"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let l = store.lock_server(a, &holder("after"), LONG).await.unwrap();
    assert_eq!(l.holder.id, "after");
    store.unlock_server(a, "after").await.unwrap();
}

/// A change set carrying the lease it runs under is written only while that lease is its
/// holder's (checked in the write transaction).
pub async fn change_set_under_a_lost_lease_writes_nothing(store: &dyn Store) {
    let base = 14_200_000;
    let r = load(store, base).await;
    let server = base + 100;
    let mut s: Service = r.services[0].clone();
    s.status = ServiceStatus::Suspended;
    let cs = |holder_id: &str| ChangeSet {
        ops: vec![Op::UpdateService {
            expected_version: 1,
            service: s.clone(),
        }],
        under_lock: Some(HeldLock {
            server_id: server,
            holder_id: holder_id.into(),
        }),
        ..Default::default()
    };
    // Nobody holds it.
    assert!(matches!(
        store.apply(&cs("h1")).await,
        Err(StoreError::LockLost(id)) if id == server
    ));
    store
        .lock_server(server, &holder("h1"), LONG)
        .await
        .unwrap();
    assert!(matches!(
        store.apply(&cs("h2")).await,
        Err(StoreError::LockLost(_))
    ));
    assert_eq!(store.service(s.id).await.unwrap().version, 1);
    store.apply(&cs("h1")).await.unwrap();
    let got = store.service(s.id).await.unwrap();
    assert_eq!((got.version, got.status), (2, ServiceStatus::Suspended));
    store.unlock_server(server, "h1").await.unwrap();
}

fn new_service(base: i64, domain: &str) -> Service {
    let mut s = service(
        0,
        0,
        base + 10,
        Some(base + 100),
        domain,
        ServiceStatus::Active,
    );
    s.custom_fields = BTreeMap::new();
    s
}

/// An apply's imports re-check, in the write transaction, that no live service of the server
/// has the new service's key (normalised as the analysis: case, trailing dot, a billing
/// `www.` form); every clash is listed and nothing is written. Closed services, other servers
/// and modules without a field are no clash.
pub async fn import_refuses_a_second_live_service_per_key(store: &dyn Store) {
    let base = 14_300_000;
    let r = load(store, base).await;
    let m = module(base);
    // A billing `www.` domain on the server too.
    let mut www = r.clone();
    let mut w = service(
        base + 1010,
        base + 1,
        base + 10,
        Some(base + 100),
        &format!("www.shop{base}.test"),
        ServiceStatus::Suspended,
    );
    w.custom_fields.clear();
    www.services.push(w);
    store
        .import_records(&www, &IdentifierFields::new(), &super::records_event)
        .await
        .unwrap();
    let fields = IdentifierFields::from([(m.clone(), UniqueIdField::Domain)]);
    let before = store.services(Some(base + 100)).await.unwrap().len();
    let creates = |domains: &[String]| ChangeSet {
        ops: domains
            .iter()
            .map(|d| Op::CreateService {
                client: ClientRef::Existing(base + 1),
                product_created_by: None,
                service: new_service(base, d),
            })
            .collect(),
        identifier_fields: fields.clone(),
        ..Default::default()
    };
    let taken = creates(&[
        format!("fresh{base}.test"),
        format!("ANN{base}.test."),
        format!("shop{base}.test"),
    ]);
    match store.apply(&taken).await {
        Err(StoreError::IdentifierTaken(c)) => assert_eq!(
            c,
            vec![
                IdentifierClash {
                    op: 1,
                    key: format!("ann{base}.test"),
                    service_id: base + 1000
                },
                IdentifierClash {
                    op: 2,
                    key: format!("shop{base}.test"),
                    service_id: base + 1010
                },
            ]
        ),
        other => panic!("expected IdentifierTaken, got {other:?}"),
    }
    assert_eq!(
        store.services(Some(base + 100)).await.unwrap().len(),
        before,
        "nothing written"
    );
    // A terminated service's key (old…) and a key live only on another server are free.
    let ok = creates(&[format!("old{base}.test"), format!("bob{base}.test")]);
    let applied = store.apply(&ok).await.unwrap();
    assert_eq!(applied.created_ids.len(), 2);
    // Without identifier fields nothing is checked (the module is unknown to the caller).
    let unchecked = ChangeSet {
        identifier_fields: IdentifierFields::new(),
        ..creates(&[format!("ann{base}.test")])
    };
    store.apply(&unchecked).await.unwrap();
    // A username-keyed module compares usernames, case-insensitively.
    let by_user = ChangeSet {
        identifier_fields: IdentifierFields::from([(m, UniqueIdField::Username)]),
        ..creates(&[format!("ANN{base}.other")])
    };
    match store.apply(&by_user).await {
        Err(StoreError::IdentifierTaken(c)) => {
            assert_eq!((c.len(), c[0].key.clone()), (1, format!("ann{base}")))
        }
        other => panic!("expected IdentifierTaken, got {other:?}"),
    }
}

/// A records import that would add a live service under a key a stored live service of the
/// same server has — one the document does not contain — is refused whole with the path;
/// duplicates within the document, and re-imports, are not.
pub async fn records_import_refuses_a_live_duplicate_it_does_not_contain(store: &dyn Store) {
    let base = 14_400_000;
    let r = load(store, base).await;
    let fields = IdentifierFields::from([(module(base), UniqueIdField::Domain)]);
    // Loading the same document again, checked: nothing to refuse.
    store
        .import_records(&r, &fields, &super::records_event)
        .await
        .unwrap();
    let mut dup = service(
        base + 2000,
        base + 1,
        base + 10,
        Some(base + 100),
        &format!("Ann{base}.TEST"),
        ServiceStatus::Active,
    );
    dup.custom_fields.clear();
    let alone = Records {
        services: vec![dup.clone()],
        ..Default::default()
    };
    match store
        .import_records(&alone, &fields, &super::records_event)
        .await
    {
        Err(StoreError::Invalid(m)) => assert!(
            m.starts_with(&format!(
                "services[0].domain: server {} already has live service {} with the unique \
                 identifier \"ann{base}.test\", which this document does not contain",
                base + 100,
                base + 1000
            )),
            "{m}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(
        store.service(base + 2000).await,
        Err(StoreError::NotFound(_))
    ));
    // The same service closed is no clash, nor is it when the document holds both.
    let mut closed = alone.clone();
    closed.services[0].status = ServiceStatus::Cancelled;
    store
        .import_records(&closed, &fields, &super::records_event)
        .await
        .unwrap();
    let mut both = r.clone();
    both.services.push(dup);
    store
        .import_records(&both, &fields, &super::records_event)
        .await
        .unwrap();
    assert_eq!(
        store.service(base + 2000).await.unwrap().status,
        ServiceStatus::Active
    );
}

/// Every write method writes its audit event in its own transaction: an event for each
/// write, none for a refused one.
pub async fn writes_and_their_audit_are_one_transaction(store: &dyn Store) {
    let base = 14_500_000;
    let actor = format!("test-{base}");
    let r = fixture(base);
    let ev = |action: &str| event(&actor, action);
    let counts = store
        .import_records(
            &r,
            &IdentifierFields::new(),
            &|c: &serversync_store::ImportCounts| NewAuditEvent {
                note: Some(format!("{} inserted", c.inserted)),
                ..ev("records_import")
            },
        )
        .await
        .unwrap();
    assert!(counts.inserted > 0);
    let mut bad = r.clone();
    bad.services[0].client_id = base + 99;
    assert!(store
        .import_records(
            &bad,
            &IdentifierFields::new(),
            &|_: &serversync_store::ImportCounts| ev("refused_import")
        )
        .await
        .is_err());
    let events = store
        .audit_query(&AuditFilter {
            actor: Some(actor.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].note.as_deref(),
        Some(format!("{} inserted", counts.inserted).as_str())
    );

    let server = Server {
        id: 0,
        name: format!("web9-{base}"),
        module: module(base),
        hostname: "h.test".into(),
        ip_address: String::new(),
        port: None,
        secure: true,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new("tok"),
        disabled: false,
    };
    let saved = store
        .save_server(&server, &|id: &i64| NewAuditEvent {
            server_id: Some(*id),
            ..ev("server_add")
        })
        .await
        .unwrap();
    let clash = Server {
        name: format!("web1-{base}"),
        ..server.clone()
    };
    assert!(store
        .save_server(&clash, &|_: &i64| ev("refused_server"))
        .await
        .is_err());
    let product = r.products[0].clone();
    store
        .save_product(&product, &|_: &i64| ev("product_edit"))
        .await
        .unwrap();
    assert!(store
        .save_product(
            &serversync_core::model::Product {
                id: base + 999,
                ..product
            },
            &|_: &i64| ev("refused_product")
        )
        .await
        .is_err());
    let name = format!("gina-{base}");
    store
        .create_user(&name, HASH_A, Role::Admin, &|_| ev("user_add"))
        .await
        .unwrap();
    assert!(store
        .create_user(&name, HASH_B, Role::Admin, &|_| ev("refused_user"))
        .await
        .is_err());
    store
        .create_api_token(&name, &format!("{:064x}", base), Role::Admin, &|_| {
            ev("token_add")
        })
        .await
        .unwrap();
    assert!(store
        .create_api_token(&name, &format!("{:064x}", base + 1), Role::Admin, &|_| {
            ev("refused_token")
        })
        .await
        .is_err());
    assert_eq!(
        actions_of(store, &actor).await,
        vec![
            "records_import",
            "server_add",
            "product_edit",
            "user_add",
            "token_add"
        ]
    );
    let added = store
        .audit_query(&AuditFilter {
            actor: Some(actor),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(added[3].server_id, Some(saved));
}

/// The first-run setup token (on a store without administrators): one token, insert-if-
/// absent; only it creates the first administrator, once, consuming it with the user insert
/// and its audit event; afterwards no token is needed or accepted.
pub async fn setup_token_makes_exactly_one_first_admin(store: &dyn Store) {
    let actor = "setup-check";
    let (t1, t2) = ("aa".repeat(32), "bb".repeat(32));
    assert_eq!(
        store.offer_setup_token(&t1).await.unwrap(),
        SetupOffer::Created
    );
    match store.offer_setup_token(&t2).await.unwrap() {
        SetupOffer::Exists { created_at } => {
            assert!(created_at <= OffsetDateTime::now_utc())
        }
        other => panic!("expected Exists, got {other:?}"),
    }
    assert!(store.setup_token_valid(&t1).await.unwrap());
    assert!(!store.setup_token_valid(&t2).await.unwrap());
    assert!(!store.setup_token_valid("").await.unwrap());
    let audit = |u: &serversync_store::AdminUser| NewAuditEvent {
        note: Some(u.username.clone()),
        ..event(actor, "user_add")
    };
    // The other token, a blank name: refused, token still valid.
    assert_eq!(
        store
            .create_first_admin(&t2, "root1", HASH_A, &audit)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.create_first_admin(&t1, " ", HASH_A, &audit).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.setup_token_valid(&t1).await.unwrap());
    let first = store
        .create_first_admin(&t1, "root1", HASH_A, &audit)
        .await
        .unwrap()
        .expect("the first administrator");
    assert_eq!(
        (first.username.as_str(), first.role),
        ("root1", Role::Admin)
    );
    assert_eq!(
        store
            .create_first_admin(&t1, "root2", HASH_B, &audit)
            .await
            .unwrap(),
        None
    );
    assert!(!store.setup_token_valid(&t1).await.unwrap());
    assert_eq!(
        store.offer_setup_token(&t2).await.unwrap(),
        SetupOffer::NotNeeded
    );
    assert_eq!(store.user_by_name("root2").await.unwrap(), None);
    assert_eq!(actions_of(store, actor).await, vec!["user_add"]);
}
