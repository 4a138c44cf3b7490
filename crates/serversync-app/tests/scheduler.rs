//! The scan scheduler (issue 11): two instances on one database scan each server once per
//! interval, and a server whose latest run is recent is not scanned again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use panel_sim::{spawn_cpanel, CpanelSimConfig, SimHandle};
use serde_json::json;
use serversync_app::scheduler::{DueScan, ScheduleOptions};
use serversync_app::{App, Cancel};
use serversync_store::Store;

struct World {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn Store>,
    _sim: SimHandle,
}

/// `n` servers `web1..` on one cPanel simulator, in a SQLite file.
async fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(vec![]),
    )
    .await
    .unwrap();
    let servers: Vec<_> = (1..=n)
        .map(|i| {
            json!({"id": 100 + i, "name": format!("web{i}"), "module": "cpanel",
                   "hostname": "127.0.0.1", "ip_address": format!("192.0.2.{i}"),
                   "port": sim.addr.port(), "secure": false, "tls_verify": true,
                   "username": "root", "password": "", "access_hash": "TOKEN"})
        })
        .collect();
    let doc = json!({"clients": [], "products": [], "servers": servers, "services": []});
    App::new(store.clone(), "cli:tester")
        .import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        url,
        store,
        _sim: sim,
    }
}

fn options(interval: Duration, jitter: Duration) -> ScheduleOptions {
    ScheduleOptions {
        interval,
        intervals: HashMap::new(),
        jitter,
        concurrency: 8,
        deadline: Duration::from_secs(30),
        deadlines: HashMap::new(),
        refresh: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_instances_each_of_40_servers_is_scanned_exactly_once_per_interval() {
    let w = world(40).await;
    let interval = Duration::from_secs(3);
    // Two instances: each its own store handle on the file, its own lease holder.
    let a = App::new(
        serversync_store::open_with_default_key(&w.url)
            .await
            .unwrap(),
        "serve:a",
    );
    let b = App::new(
        serversync_store::open_with_default_key(&w.url)
            .await
            .unwrap(),
        "serve:b",
    );
    let stop = Cancel::new();
    let opts = options(interval, Duration::from_secs(1));
    let (ta, tb) = (
        tokio::spawn({
            let (opts, stop) = (opts.clone(), stop.clone());
            async move { a.run_scheduler(opts, stop).await }
        }),
        tokio::spawn({
            let (opts, stop) = (opts.clone(), stop.clone());
            async move { b.run_scheduler(opts, stop).await }
        }),
    );
    // Two intervals and a bit: every server is scanned at least once, at most three times.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    stop.cancel();
    ta.await.unwrap();
    tb.await.unwrap();

    let mut total = 0;
    for s in w.store.servers().await.unwrap() {
        let mut runs = w.store.runs(s.id, 100).await.unwrap();
        runs.sort_by_key(|r| r.started_at);
        assert!(
            (1..=3).contains(&runs.len()),
            "{}: {} runs",
            s.name,
            runs.len()
        );
        for pair in runs.windows(2) {
            let gap = pair[1].started_at - pair[0].started_at;
            // Never twice within one interval (1 ms: the stored time's precision).
            assert!(
                gap >= time::Duration::try_from(interval).unwrap()
                    - time::Duration::milliseconds(1),
                "{}: runs {} and {} only {gap} apart",
                s.name,
                pair[0].id,
                pair[1].id
            );
        }
        total += runs.len();
    }
    println!("scheduler: 40 servers, 7 s, interval 3 s: {total} runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_scanned_less_than_an_interval_ago_is_skipped() {
    let w = world(1).await;
    let app = App::new(w.store.clone(), "scheduler");
    let server = w.store.server("web1").await.unwrap();
    let hour = Duration::from_secs(3600);
    // No run yet: due.
    assert_eq!(app.not_due_for(server.id, hour).await.unwrap(), None);
    let first = app
        .scan_if_due(&server, hour, &Cancel::new())
        .await
        .unwrap();
    assert!(matches!(first, DueScan::Scanned(_)), "{first:?}");
    let second = app
        .scan_if_due(&server, hour, &Cancel::new())
        .await
        .unwrap();
    match second {
        DueScan::NotDue(wait) => assert!(wait > Duration::from_secs(3500), "{wait:?}"),
        other => panic!("scanned again: {other:?}"),
    }
    assert_eq!(w.store.runs(server.id, 10).await.unwrap().len(), 1);
    // With a short interval it is due again once that has passed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = app
        .scan_if_due(&server, Duration::from_millis(200), &Cancel::new())
        .await
        .unwrap();
    assert!(matches!(third, DueScan::Scanned(_)), "{third:?}");
    assert_eq!(w.store.runs(server.id, 10).await.unwrap().len(), 2);
}
