//! The miss counter and `auto_apply` (issue 11, "Small inputs that must come out right"),
//! through the scheduler's own steps (`scan_if_due`, then `auto_apply_after_scan`) against a
//! simulated cPanel server.

use std::sync::Arc;
use std::time::Duration;

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::{json, Value};
use serversync_app::auto_apply::{AutoApply, AutoApplyPolicy};
use serversync_app::scheduler::DueScan;
use serversync_app::{AnalyseOutcome, App, AppError, Cancel, ItemOutcome};
use serversync_core::model::{Server, ServiceStatus};
use serversync_store::Store;

const IP: &str = "192.0.2.10";
const USERS: [&str; 4] = ["ann", "bob", "cat", "dan"];
/// bob's service.
const BOB: i64 = 1001;

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    sim: SimHandle,
    server: Server,
    app: App,
}

fn account(user: &str) -> Value {
    let mut a = CpanelAccount::new(user, &format!("{user}.test")).created(1_706_706_900);
    a.plan = "basic".into();
    a.ip = IP.into();
    a.into_value()
}

fn accounts(users: &[&str]) -> Vec<Value> {
    users.iter().map(|u| account(u)).collect()
}

/// web1 with four accounts and their four live services; the app acts as the scheduler
/// with `auto_apply = entries`.
async fn world(entries: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts(&USERS)),
    )
    .await
    .unwrap();
    let services: Vec<Value> = USERS
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({"id": 1000 + i, "client_id": 1, "product_id": 10, "server_id": 100,
                   "domain": format!("{u}.test"), "username": u, "dedicated_ip": "",
                   "regdate": "2024-01-31", "status": "Active", "billing_cycle": "Monthly",
                   "amount": "9.99", "next_due_date": "2026-12-31"})
        })
        .collect();
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "L",
                     "company": "", "status": "Active"}],
        "products": [{"id": 10, "name": "Basic", "module": "cpanel",
                      "config_options": {"configoption1": "basic"}}],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
                     "ip_address": IP, "port": sim.addr.port(), "secure": false,
                     "tls_verify": true, "username": "root", "password": "",
                     "access_hash": "TOKEN"}],
        "services": services,
    });
    let mut app = App::new(store.clone(), "scheduler");
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    app.auto_apply = AutoApplyPolicy {
        default: AutoApply::parse(&entries).unwrap(),
        ..Default::default()
    };
    let server = store.server("web1").await.unwrap();
    World {
        _dir: dir,
        store,
        sim,
        server,
        app,
    }
}

/// Whether every item of an auto-apply was refused (by the shrink guard).
fn all_refused(report: &serversync_app::ApplyReport) -> bool {
    report
        .results
        .iter()
        .all(|r| r.outcome == ItemOutcome::Refused)
}

impl World {
    /// One scheduled scan (always due) and its auto_apply: the outcome and what was
    /// applied (`None`: nothing qualified).
    async fn scheduled(&self) -> (AnalyseOutcome, Option<serversync_app::ApplyReport>) {
        let scan = self
            .app
            .scan_if_due(&self.server, Duration::ZERO, &Cancel::new())
            .await
            .unwrap();
        let DueScan::Scanned(o) = scan else {
            panic!("due every time: {scan:?}")
        };
        let applied = self
            .app
            .auto_apply_after_scan(&self.server, &o)
            .await
            .unwrap();
        (*o, applied)
    }

    /// One scheduled scan whose listing fails (a failed run is stored, nothing applied).
    async fn failed_scan(&self) {
        let failed = self
            .app
            .scan_if_due(&self.server, Duration::ZERO, &Cancel::new())
            .await;
        assert!(
            matches!(failed, Err(AppError::Listing { .. })),
            "{failed:?}"
        );
    }

    async fn bob_status(&self) -> ServiceStatus {
        self.store.service(BOB).await.unwrap().status
    }

    async fn stored_misses(&self) -> Vec<(i64, u32)> {
        self.store
            .service_misses(self.server.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.service_id, m.misses))
            .collect()
    }
}

/// bob's `not_on_server` item: (misses, gone_after, gone); `None` when there is none.
fn bob_item(o: &AnalyseOutcome) -> Option<(u64, u64, bool)> {
    let doc = o.document();
    let items = doc["items"].as_array()?.clone();
    let it = items
        .iter()
        .find(|i| i["category"] == "not_on_server" && i["service_id"] == BOB)?;
    Some((
        it["misses"].as_u64()?,
        it["gone_after"].as_u64()?,
        it["gone"].as_bool()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn present_absent_present_counts_1_then_0_and_is_never_terminated() {
    let w = world(&["terminate"]).await;
    let (o, applied) = w.scheduled().await;
    assert_eq!((bob_item(&o), applied.is_none()), (None, true));

    w.sim.set_accounts(accounts(&["ann", "cat", "dan"]));
    let (o, applied) = w.scheduled().await;
    assert_eq!(bob_item(&o), Some((1, 3, false)));
    assert!(applied.is_none(), "one miss is not gone: {applied:?}");
    assert_eq!(w.stored_misses().await, vec![(BOB, 1)]);

    w.sim.set_accounts(accounts(&USERS));
    let (o, applied) = w.scheduled().await;
    assert_eq!(bob_item(&o), None);
    assert!(applied.is_none());
    assert_eq!(w.stored_misses().await, vec![], "back: reset to 0");
    assert_eq!(w.bob_status().await, ServiceStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_in_three_complete_listings_is_auto_terminated_on_the_third_only() {
    let w = world(&["terminate"]).await;
    w.sim.set_accounts(accounts(&["ann", "cat", "dan"]));
    let (o, applied) = w.scheduled().await;
    assert_eq!(
        (bob_item(&o), applied.is_none()),
        (Some((1, 3, false)), true)
    );

    // A failed listing between changes nothing.
    w.sim.set_fault(Some(Fault::Http500));
    w.failed_scan().await;
    assert_eq!(w.stored_misses().await, vec![(BOB, 1)]);
    w.sim.set_fault(None);

    let (o, applied) = w.scheduled().await;
    assert_eq!(
        (bob_item(&o), applied.is_none()),
        (Some((2, 3, false)), true)
    );
    assert_eq!(w.bob_status().await, ServiceStatus::Active);

    let (o, applied) = w.scheduled().await;
    assert_eq!(bob_item(&o), Some((3, 3, true)));
    let report = applied.expect("gone on the third: terminated");
    let done: Vec<_> = report
        .results
        .iter()
        .map(|r| (r.action.as_str(), r.service_id, r.outcome))
        .collect();
    assert_eq!(done, vec![("terminate", Some(BOB), ItemOutcome::Applied)]);
    assert_eq!(
        report.results[0].notes,
        vec!["missing in 3 of 3 listings".to_string()]
    );
    assert_eq!(w.bob_status().await, ServiceStatus::Terminated);
    let events = w
        .store
        .audit_events(Some(w.server.id), Some(o.run_id), Some(BOB), 0)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect::<Vec<_>>(),
        vec![("scheduler", "terminate")]
    );
    // Terminated: it drops out of the counter.
    assert_eq!(w.stored_misses().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_terminate_in_auto_apply_a_gone_service_stays() {
    let w = world(&["sync:status"]).await;
    w.sim.set_accounts(accounts(&["ann", "cat", "dan"]));
    for _ in 0..3 {
        let (_, applied) = w.scheduled().await;
        assert!(applied.is_none(), "{applied:?}");
    }
    assert_eq!(w.stored_misses().await, vec![(BOB, 3)]);
    assert_eq!(w.bob_status().await, ServiceStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_apply_never_terminates_from_a_shrunken_listing() {
    let mut w = world(&["terminate"]).await;
    // Gone at the first miss, and no share limit: only the shrink guard is left to stop it.
    w.app.gone_after.default = 1;
    w.app.guards.max_termination_share = 1.0;
    w.scheduled().await;
    // 4 → 1 accounts: 75% missing at once, above the 50% limit.
    w.sim.set_accounts(accounts(&["ann"]));
    let (o, applied) = w.scheduled().await;
    assert_eq!(bob_item(&o), Some((1, 1, true)));
    let report = applied.expect("three gone services were chosen");
    assert_eq!(report.results.len(), 3);
    for r in &report.results {
        assert_eq!(r.outcome, ItemOutcome::Refused, "{r:?}");
        assert_eq!(
            r.notes.first().map(String::as_str),
            Some(
                "blocked: the listing shrank from 4 to 1 accounts (75% missing at once, above \
                 the 50% limit) (override the guards to go ahead)"
            )
        );
    }
    assert!(report.forced.is_empty());
    assert_eq!(w.bob_status().await, ServiceStatus::Active);
    // A panel that stays broken is still shrunk against the 4 accounts it had, for as long
    // as that listing is one of the last SHRINK_MEMORY complete ones.
    for _ in 1..serversync_app::SHRINK_MEMORY {
        let (_, applied) = w.scheduled().await;
        let report = applied.expect("gone services were chosen");
        assert!(all_refused(&report), "{report:?}");
        assert_eq!(w.bob_status().await, ServiceStatus::Active);
    }
    // Refusals of the scheduler are not written to the audit log scan after scan.
    let events = w
        .store
        .audit_query(&serversync_store::AuditFilter {
            actor: Some("scheduler".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == serversync_app::REFUSED_EVENT)
            .count(),
        0,
        "{events:?}"
    );
    // Then the last complete listings all have 1 account: the guard has nothing to compare
    // with any more, and only the share limit (here none) is left.
    let (_, applied) = w.scheduled().await;
    let report = applied.expect("gone services were chosen");
    assert!(
        report
            .results
            .iter()
            .all(|r| r.outcome != ItemOutcome::Refused),
        "{report:?}"
    );
    assert_eq!(w.bob_status().await, ServiceStatus::Terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_apply_sync_status_syncs_only_items_that_differ_in_status_alone() {
    let w = world(&["sync:status"]).await;
    // bob suspended on the panel (status only); cat suspended and on another package.
    let mut listed = accounts(&["ann", "dan"]);
    let mut bob = CpanelAccount::new("bob", "bob.test")
        .created(1_706_706_900)
        .suspended("nonpayment", 1_730_000_000);
    bob.plan = "basic".into();
    bob.ip = IP.into();
    let mut cat = bob.clone();
    cat.user = "cat".into();
    cat.domain = "cat.test".into();
    cat.plan = "gold".into();
    listed.extend([bob.into_value(), cat.into_value()]);
    w.sim.set_accounts(listed);
    let (_, applied) = w.scheduled().await;
    let report = applied.expect("bob's status is synced");
    let done: Vec<_> = report
        .results
        .iter()
        .map(|r| (r.action.as_str(), r.target.as_str(), r.outcome))
        .collect();
    assert_eq!(done, vec![("sync", "bob.test", ItemOutcome::Applied)]);
    assert_eq!(w.bob_status().await, ServiceStatus::Suspended);
    assert_eq!(
        w.store.service(1002).await.unwrap().status,
        ServiceStatus::Active,
        "cat differs in its package too: left for a person"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_runs_keep_and_failed_listings_do_not_end_the_shrink_guard_early() {
    let mut w = world(&["terminate"]).await;
    w.app.gone_after.default = 1;
    w.app.guards.max_termination_share = 1.0;
    // `[runs] keep = 2`: the failed listings below fill it, and the listing with all four
    // accounts must still stay for the guard to compare with.
    w.app.keep_runs = 2;
    w.scheduled().await;
    w.sim.set_fault(Some(Fault::Http500));
    for _ in 0..2 {
        w.failed_scan().await;
    }
    w.sim.set_fault(None);
    w.sim.set_accounts(accounts(&["ann"]));
    for scan in 1..=serversync_app::SHRINK_MEMORY {
        let (o, applied) = w.scheduled().await;
        assert!(
            o.document()["warnings"][0]
                .as_str()
                .is_some_and(|s| s.starts_with("the listing shrank from 4 to 1 accounts")),
            "scan {scan}: {}",
            o.document()["warnings"]
        );
        let report = applied.expect("gone services were chosen");
        assert!(all_refused(&report), "scan {scan}: {report:?}");
        assert_eq!(w.bob_status().await, ServiceStatus::Active, "scan {scan}");
    }
    // What the retention keeps: the newest two runs and the last six complete ones (the
    // newest and the five the guard compares it with); the failed listings are gone.
    let runs = w.store.runs(w.server.id, 0).await.unwrap();
    assert_eq!(runs.len(), serversync_app::SHRINK_MEMORY + 1, "{runs:?}");
    assert!(runs
        .iter()
        .all(|r| r.listing_status == serversync_store::ListingStatus::Complete));
}
