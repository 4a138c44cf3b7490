//! The scan scheduler of `serve` (issue 11, "With two instances, each of 40 servers is
//! scanned exactly once per interval"): two real `serve` processes on one PostgreSQL
//! database, `[scan] enabled` with a 3 s interval and 1 s jitter, 40 servers on panel-sim.
//! Runs through `scripts/pg-test.sh`; without SERVERSYNC_TEST_POSTGRES_URL it skips (fails
//! with CI=true).

mod common;
#[path = "multi_instance/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use common::*;
use harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_instances_each_of_40_servers_is_scanned_exactly_once_per_interval() {
    let Some(db) = Db::new().await else { return };
    let sim = sim(vec![]).await;
    let mut doc = base_doc(sim.addr.port(), vec![]);
    doc["servers"] = json!((1..=40)
        .map(|i| server(
            100 + i,
            &format!("web{i}"),
            sim.addr.port(),
            &format!("192.0.2.{i}")
        ))
        .collect::<Vec<_>>());
    let f = db.dir.path().join("records.json");
    std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
    db.ok(&["records", "import", f.to_str().unwrap()]).await;
    std::fs::write(
        db.dir.path().join("serversync.toml"),
        "[scan]\nenabled = true\ninterval_secs = 3\njitter_secs = 1\nconcurrency = 8\n",
    )
    .unwrap();

    let mut a = db.serve(None).await;
    let mut b = db.serve(None).await;
    // Two intervals and a bit: every server at least once, at most three times.
    tokio::time::sleep(Duration::from_secs(7)).await;
    a.kill();
    b.kill();

    let mut c = db.connect().await;
    let scanned = count(&mut c, "SELECT count(DISTINCT server_id) FROM sync_runs").await;
    assert_eq!(scanned, 40, "{}\n{}", a.output(), b.output());
    let most = count(
        &mut c,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM sync_runs GROUP BY server_id) r",
    )
    .await;
    assert!(most <= 3, "a server has {most} runs in 7 s");
    // No two runs of one server less than an interval apart (1 ms: the stored precision).
    let close = count(
        &mut c,
        "SELECT count(*) FROM (SELECT started_at::timestamptz - lag(started_at::timestamptz) \
         OVER (PARTITION BY server_id ORDER BY started_at) AS gap FROM sync_runs) g \
         WHERE gap < interval '2.999 seconds'",
    )
    .await;
    assert_eq!(close, 0, "runs within one interval");
    let total = count(&mut c, "SELECT count(*) FROM sync_runs").await;
    println!("serve scheduler: 2 instances, 40 servers, 7 s, interval 3 s: {total} runs");
}
