//! `serversync demo --fleet N` (issue 11, "Done when"): a fleet of simulated cPanel servers,
//! scanned once with `--once`, and kept scanned by the scheduler of the served demo.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread")]
async fn demo_fleet_once_scans_every_server_of_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["demo", "--fleet", "12", "--accounts", "40", "--once"];
    let out = run_in(dir.path(), args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(out.code, 0, "{out:#?}");
    // 40 accounts a server, every 20th from the 8th unbilled: 38 services, 2 not_in_billing.
    assert!(
        out.stdout.contains(
            "12 simulated cPanel servers on 127.0.0.1 (40 accounts each, 20 ms a request), \
             456 services loaded"
        ),
        "{}",
        out.stdout
    );
    let rows: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" web0")).collect();
    assert_eq!(rows.len(), 12, "{}", out.stdout);
    for r in &rows {
        assert!(
            r.contains("not_in_billing 2") && r.contains(" ok "),
            "row {r:?}"
        );
    }
    assert!(
        out.stdout
            .contains("12 servers: 12 ok, 0 failed, 0 busy; 24 drift items"),
        "{}",
        out.stdout
    );
}

/// The served fleet demo runs the scan scheduler: with a 2 s interval from the folder's
/// serversync.toml every server has runs within seconds, stored in the demo database.
#[tokio::test(flavor = "multi_thread")]
async fn demo_fleet_serve_keeps_the_fleet_scanned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serversync.toml"),
        "[scan]\ninterval_secs = 2\njitter_secs = 1\n",
    )
    .unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_serversync"))
        .args([
            "demo",
            "--fleet",
            "5",
            "--accounts",
            "20",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env_remove("SERVERSYNC_DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drains stdout for the demo's whole life (a closed pipe would end it).
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("Web page:")) {
        let l = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no web page line: {lines:#?}"));
        lines.push(l);
    }
    assert!(
        lines.iter().any(|l| l
            == "Every server is scanned every 2 s (16 at once); the fleet changes every 60 s."),
        "{lines:#?}"
    );
    let url = format!(
        "sqlite://{}",
        dir.path().join("serversync-demo.db").display()
    );
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // A liveness bound, not a timing check: every server scanned at least twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let least = loop {
        let least: i64 = sqlx::query_scalar(
            "SELECT coalesce(min(n), 0) FROM (SELECT s.id, (SELECT count(*) FROM sync_runs r \
             WHERE r.server_id = s.id) AS n FROM servers s)",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if least >= 2 || Instant::now() > deadline {
            break least;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        least >= 2,
        "every fleet server scanned twice: least {least}"
    );
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sync_runs WHERE listing_status = 'failed'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(failed, 0, "the fleet changes only after a minute");
}
