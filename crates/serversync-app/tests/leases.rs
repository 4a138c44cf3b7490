//! Server leases in the application (issue 6 kinds 3 and 10): a review takes no lock, `Busy`
//! names the holder and its expiry, a lease is renewed while its work runs, a lease released
//! by hand stops the work before it writes, and a cancelled apply writes nothing.

use std::sync::Arc;
use std::time::Duration;

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::json;
use serversync_app::{App, AppError, ApplyRequest, Cancel, Selection, Selector};
use serversync_modules::NoProgress;
use serversync_store::Store;

struct World {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn Store>,
    sim: SimHandle,
    app: App,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let mut fresh = CpanelAccount::new("fresh", "fresh.test").created(1_706_706_900);
    fresh.plan = "basic".into();
    fresh.email = "ann@mail.test".into();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(vec![fresh.into_value()]),
    )
    .await
    .unwrap();
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "A", "last_name": "L", "company": "", "status": "Active"}],
        "products": [{"id": 10, "name": "Basic", "module": "cpanel", "config_options": {"configoption1": "basic"}}],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1", "ip_address": "192.0.2.10",
                     "port": sim.addr.port(), "secure": false, "tls_verify": true, "username": "root", "password": "",
                     "access_hash": "TOKEN"}],
        "services": [],
    });
    let app = App::new(store.clone(), "cli:tester");
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        url,
        store,
        sim,
        app,
    }
}

fn import_all(dry_run: bool) -> ApplyRequest {
    ApplyRequest {
        server: "web1".into(),
        selection: Selection {
            import: Some(Selector::All),
            ..Default::default()
        },
        dry_run,
        ..Default::default()
    }
}

/// Another process: its own store handle on the same file, its own instance.
async fn other(w: &World, actor: &str) -> App {
    App::new(
        serversync_store::open_with_default_key(&w.url)
            .await
            .unwrap(),
        actor,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_takes_no_lock_and_busy_names_the_holder() {
    let w = world().await;
    w.app.analyse_server("web1", &NoProgress).await.unwrap();
    let other = other(&w, "cli:other").await;
    let server = other.server("web1").await.unwrap();
    let lease = other.take_lease(&server).await.unwrap();

    // The review (dry run) reads only: it works while another process holds the server.
    let review = w.app.apply(&import_all(true)).await.unwrap();
    assert_eq!(review.results.len(), 1);
    assert!(w.store.locks().await.unwrap().len() == 1);

    // The apply and the analysis wait for the holder, and say who it is and until when.
    for err in [
        w.app.apply(&import_all(false)).await.unwrap_err(),
        w.app.analyse_server("web1", &NoProgress).await.unwrap_err(),
    ] {
        match &err {
            AppError::Busy {
                server,
                holder,
                until,
            } => {
                assert_eq!(server, "web1");
                assert!(
                    holder.starts_with(&format!("cli:other (pid {} on ", std::process::id())),
                    "{holder}"
                );
                assert!(until.ends_with(" UTC"), "{until}");
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("serversync locks release web1"), "{msg}");
    }
    lease.release().await.unwrap();
    let applied = w.app.apply(&import_all(false)).await.unwrap();
    assert_eq!(
        applied.count(serversync_app::ItemOutcome::Applied),
        1,
        "{applied:?}"
    );
    assert!(w.store.locks().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_renewed_while_its_analysis_runs_and_released_after() {
    let mut w = world().await;
    w.app.lease_ttl = Duration::from_secs(2);
    w.sim.set_fault(Some(Fault::Slow(Duration::from_secs(5))));
    let app = w.app.clone();
    let job = tokio::spawn(async move { app.analyse_server("web1", &NoProgress).await });
    // Past the 2 s lease: without renewals it would have run out by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = other(&w, "cli:other").await;
    let server = other.server("web1").await.unwrap();
    match other.take_lease(&server).await {
        Err(AppError::Busy { holder, .. }) => assert!(holder.starts_with("cli:tester")),
        Err(e) => panic!("expected Busy, got {e:?}"),
        Ok(_) => panic!("the lease was not renewed"),
    }
    let out = job.await.unwrap().unwrap();
    assert!(out.complete);
    assert!(w.store.locks().await.unwrap().is_empty());
    w.app.lease_ttl = serversync_app::DEFAULT_LEASE_TTL;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_released_by_hand_stops_the_analysis_before_it_writes() {
    let mut w = world().await;
    w.app.lease_ttl = Duration::from_secs(1);
    w.sim.set_fault(Some(Fault::Slow(Duration::from_secs(30))));
    let app = w.app.clone();
    let job = tokio::spawn(async move { app.analyse_server("web1", &NoProgress).await });
    let admin = other(&w, "cli:admin").await;
    // Wait until the lease is there (a liveness bound, not a timing assertion).
    for _ in 0..100 {
        if !w.store.locks().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let removed = admin.release_lock("web1").await.unwrap().expect("a lock");
    assert!(removed.holder.actor == "cli:tester");
    // The next renewal (within a third of the lease) finds it lost; the listing is dropped.
    let err = tokio::time::timeout(Duration::from_secs(20), job)
        .await
        .expect("the analysis stopped")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, AppError::LockLost(ref s) if s == "web1"),
        "{err:?}"
    );
    assert!(
        w.store.runs(100, 0).await.unwrap().is_empty(),
        "no run stored"
    );
    let events = w
        .store
        .audit_events(Some(100), None, None, 0)
        .await
        .unwrap();
    assert_eq!(events[0].action, "lock_release");
    assert_eq!(events[0].actor, "cli:admin");
    assert!(events[0].before.as_deref().unwrap().contains("cli:tester"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_apply_writes_nothing_and_frees_the_server() {
    let w = world().await;
    w.app.analyse_server("web1", &NoProgress).await.unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let err = w
        .app
        .apply_with(&import_all(false), cancel)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("interrupted before anything was written"),
        "{err}"
    );
    assert!(w.store.services(Some(100)).await.unwrap().is_empty());
    assert!(w.store.locks().await.unwrap().is_empty());
    let applied = w.app.apply(&import_all(false)).await.unwrap();
    assert_eq!(applied.count(serversync_app::ItemOutcome::Applied), 1);
}

/// A lease that ran out is taken over by the next analysis, and the takeover is counted in
/// the metrics (`serversync_lease_takeovers_total`); taking a free lease is not a takeover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_of_a_lease_that_ran_out_is_counted() {
    let w = world().await;
    let takeovers = |app: &App| -> String {
        app.metrics
            .render()
            .unwrap()
            .lines()
            .find(|l| l.starts_with("serversync_lease_takeovers_total "))
            .unwrap()
            .to_string()
    };
    w.app.analyse_server("web1", &NoProgress).await.unwrap();
    assert_eq!(takeovers(&w.app), "serversync_lease_takeovers_total 0");
    // Held by another holder with a lifetime that has already run out (never released).
    let holder = serversync_store::LockHolder {
        id: "gone-holder".into(),
        actor: "cli:gone".into(),
        host: "elsewhere".into(),
        process: None,
    };
    w.store
        .lock_server(100, &holder, Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    w.app.analyse_server("web1", &NoProgress).await.unwrap();
    assert_eq!(takeovers(&w.app), "serversync_lease_takeovers_total 1");
}
