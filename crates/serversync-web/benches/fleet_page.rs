//! The servers page and `/metrics` of a fleet (issue 11: "readable at 500 servers"). Prints
//! figures; asserts nothing about time.
//!
//! An SQLite store in a temporary directory with `BENCH_SERVERS` servers (default 500), each
//! with `BENCH_RUNS` stored runs (default 12, the trend's length) written straight into the
//! store; the real router on loopback; a signed-in reqwest client. Then `BENCH_REQUESTS`
//! (default 50) requests of `/servers` (first page, 100 servers), of `/servers?page=5` and of
//! `/metrics` after one recorded scan per server: p50 / p95 / max and the page's size.
//!
//! `cargo bench -p serversync-web --bench fleet_page`.

use std::time::{Duration, Instant};

use serde_json::json;
use serversync_app::App;
use serversync_core::analysis::Counts;
use serversync_store::{ListingStatus, NewRun, Role};
use serversync_web::metrics::MetricsAccess;
use serversync_web::{router, WebConfig, WebState};
use time::OffsetDateTime;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "bench-password-123";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(label: &str, mut v: Vec<Duration>, bytes: usize) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label:<34} n={:<4} p50 {:>8.1} ms  p95 {:>8.1} ms  max {:>8.1} ms  {:>8} bytes",
        v.len(),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
        bytes
    );
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> Result<()> {
    let servers = env_num("BENCH_SERVERS", 500);
    let runs = env_num("BENCH_RUNS", 12);
    let requests = env_num("BENCH_REQUESTS", 50).max(1);
    let dir = tempfile::tempdir()?;
    let store = serversync_store::open_with_default_key(&format!(
        "sqlite://{}",
        dir.path().join("b.db").display()
    ))
    .await?;
    let list: Vec<_> = (0..servers)
        .map(|i| {
            json!({"id": i + 1, "name": format!("web{i:03}"), "module": "cpanel",
                   "hostname": format!("web{i:03}.example"), "ip_address": "192.0.2.10",
                   "port": 2087, "secure": true, "tls_verify": true, "username": "root",
                   "password": "", "access_hash": "TOKEN"})
        })
        .collect();
    let doc = json!({"clients": [], "products": [], "servers": list, "services": []});
    let app = App::new(store.clone(), "bench");
    app.import_records(doc.to_string().as_bytes()).await?;
    app.add_user("admin", PASSWORD, Role::Admin).await?;
    let t = Instant::now();
    for s in 0..servers {
        for r in 0..runs {
            let failed = (s + r) % 17 == 0;
            let counts = Counts {
                in_sync: 900,
                out_of_sync: (s + r) % 7,
                not_in_billing: (s * 3 + r) % 11,
                not_on_server: r % 4,
                ..Counts::default()
            };
            store
                .insert_run(&NewRun {
                    server_id: s as i64 + 1,
                    started_at: OffsetDateTime::now_utc(),
                    finished_at: OffsetDateTime::now_utc(),
                    listing_status: if failed {
                        ListingStatus::Failed
                    } else {
                        ListingStatus::Complete
                    },
                    error: failed.then(|| "timeout".to_string()),
                    accounts: Vec::new(),
                    skipped: Vec::new(),
                    analysis_json: None,
                    counts_json: if failed {
                        "{}".into()
                    } else {
                        serde_json::to_string(&counts)?
                    },
                    service_versions: Vec::new(),
                    misses: None,
                })
                .await?;
            if r + 1 == runs && !failed {
                app.metrics.scan_done(
                    &format!("web{s:03}"),
                    "cpanel",
                    Duration::from_millis(200 + s as u64),
                    1000,
                    &counts,
                );
            }
        }
    }
    println!(
        "fleet: {servers} servers x {runs} runs stored in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = WebConfig {
        metrics: MetricsAccess::new(listener.local_addr()?, None),
        ..WebConfig::default()
    };
    let r = router(WebState::new(app, config));
    tokio::spawn(async move { axum::serve(listener, r).await });
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = login
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or("no csrf field on the sign-in page")?
        .to_string();
    http.post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await?;
    for (label, path) in [
        ("GET /servers (page 1 of the fleet)", "/servers"),
        ("GET /servers?page=5", "/servers?page=5"),
        ("GET /metrics", "/metrics"),
    ] {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let t = Instant::now();
            let resp = http.get(format!("{base}{path}")).send().await?;
            if !resp.status().is_success() {
                return Err(format!("{path}: HTTP {}", resp.status()).into());
            }
            bytes = resp.bytes().await?.len();
            times.push(t.elapsed());
        }
        report(label, times, bytes);
    }
    Ok(())
}
