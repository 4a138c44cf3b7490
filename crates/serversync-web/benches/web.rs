//! Web benchmarks (DESIGN.md §6: "web: one page of an analysis with 100,000 items, p95 ≤
//! 150 ms"). Prints figures; asserts nothing about time.
//!
//! Everything runs in this process: a simulated cPanel server with 100,000 generated accounts
//! (`panel_sim`), an SQLite store in a temporary directory holding billing records for ~95% of
//! them (with some drift), the real router served on loopback, and a reqwest client.
//!
//! (b) "Sync accounts" to the first run page: `POST /servers/{id}/sync` (page, session
//!     cookie + CSRF) then the job page until it redirects to the run page, and
//!     `POST /api/servers/{id}/runs` then `GET /api/jobs/{id}` until done, then
//!     `GET /api/runs/{id}/items`.
//! (a) One page of the 100,000-item run: after one warm-up request (which parses and caches
//!     the run), N requests (default 200) of `/runs/{id}?page=…` and of
//!     `/api/runs/{id}/items?page=…` — random pages, some with a category filter, some with a
//!     search — p50 / p95 / max.
//!
//! `cargo bench -p serversync-web --bench web` (release). Environment: `BENCH_ACCOUNTS`
//! (default 100000), `BENCH_REQUESTS` (default 200), `BENCH_SYNCS` (default 3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use panel_sim::{generate_cpanel_accounts, spawn_cpanel, CpanelSimConfig};
use serde_json::{json, Value};
use serversync_app::App;
use serversync_store::Role;
use serversync_web::{router, WebConfig, WebState};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SHARED_IP: &str = "192.0.2.10";
const PASSWORD: &str = "bench-password-123";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), enough to pick pages.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench())
}

/// `YYYY-MM-DD` of an epoch time (`None` for 0 / unreadable).
fn date_of(v: &Value) -> Option<String> {
    let secs = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    if secs <= 0 {
        return None;
    }
    let d = time::OffsetDateTime::from_unix_timestamp(secs).ok()?.date();
    Some(format!(
        "{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    ))
}

/// Billing records for ~95% of `accounts` (every 20th account is left out → not_in_billing),
/// ~2% of them drifted (status), plus 1,000 services not on the server.
fn records(accounts: &[Value], port: u16) -> Value {
    let packages = ["basic", "silver", "gold", "default", "starter", "pro"];
    let products: Vec<Value> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": 10 + i, "name": format!("{p} hosting"), "module": "cpanel", "config_options": {"configoption1": p}}))
        .collect();
    let product_of = |plan: &str| -> usize {
        let base = plan.rsplit_once('_').map_or(plan, |(_, p)| p);
        10 + packages.iter().position(|p| *p == base).unwrap_or(0)
    };
    let mut clients = vec![
        json!({"id": 1, "email": "unassigned@provider.test", "first_name": "Un", "last_name": "Assigned"}),
    ];
    let mut services = Vec::with_capacity(accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        if i % 20 == 7 {
            continue;
        }
        let email = a["email"].as_str().unwrap_or("");
        let client_id = if email.contains('@') {
            let id = clients.len() + 1;
            clients.push(
                json!({"id": id, "email": email, "first_name": a["user"], "last_name": "Bench"}),
            );
            id
        } else {
            1
        };
        let suspended = a["suspended"] == 1 || a["suspended"] == "1";
        let mut status = if suspended { "Suspended" } else { "Active" };
        if i % 50 == 3 {
            status = if suspended { "Active" } else { "Suspended" };
        }
        let ip = a["ip"].as_str().unwrap_or("");
        let mut s = json!({
            "id": 100_000 + i, "client_id": client_id, "product_id": product_of(a["plan"].as_str().unwrap_or("")),
            "server_id": 1, "domain": a["domain"], "username": a["user"],
            "dedicated_ip": if ip == SHARED_IP { "" } else { ip },
            "status": status, "billing_cycle": "Monthly", "amount": "9.99",
        });
        if let Some(d) = date_of(&a["unix_startdate"]) {
            s["regdate"] = json!(d);
        }
        services.push(s);
    }
    for k in 0..1000 {
        services.push(
            json!({"id": 1_000_000 + k, "client_id": 1, "product_id": 10, "server_id": 1,
            "domain": format!("gone{k}.test"), "username": format!("gone{k}"), "status": "Active",
            "regdate": "2020-01-01", "billing_cycle": "Monthly", "amount": "9.99"}),
        );
    }
    json!({
        "clients": clients,
        "products": products,
        "servers": [{"id": 1, "name": "big1", "module": "cpanel", "hostname": "127.0.0.1",
                     "ip_address": SHARED_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "root", "password": "", "access_hash": "TOKEN"}],
        "services": services,
    })
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let n = v.len();
    if n == 0 {
        println!("{label}: no samples");
        return;
    }
    let pct = |p: f64| v[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    let mean = v.iter().sum::<Duration>() / n as u32;
    println!(
        "{label:<58} n={n:<4} p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  mean {:>7.1} ms{}",
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(v[n - 1]),
        ms(mean),
        if ms(pct(0.95)) <= 150.0 {
            "  (p95 target ≤ 150 ms: met)"
        } else {
            "  (p95 target ≤ 150 ms: NOT met)"
        }
    );
}

async fn bench() -> Result<()> {
    let n_accounts = env_num("BENCH_ACCOUNTS", 100_000);
    let n_requests = env_num("BENCH_REQUESTS", 200);
    let n_syncs = env_num("BENCH_SYNCS", 3).max(1);
    println!("serversync-web bench: {n_accounts} accounts, {n_requests} requests per page kind, {n_syncs} syncs per kind");

    // The simulated server and the billing records.
    let t = Instant::now();
    let accounts = generate_cpanel_accounts(n_accounts, 1);
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse()?,
        CpanelSimConfig::with_accounts(accounts.clone()),
    )
    .await?;
    let doc = records(&accounts, sim.addr.port());
    let n_services = doc["services"].as_array().map_or(0, Vec::len);
    let dir = tempfile::tempdir()?;
    let store = serversync_store::open_with_default_key(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    let app = App::new(store, "bench");
    let t_import = Instant::now();
    let counts = app.import_records(&serde_json::to_vec(&doc)?).await?;
    println!(
        "setup: {n_accounts} accounts generated, {n_services} services imported ({} inserted) in {:.1} s (import {:.1} s)",
        counts.inserted,
        t.elapsed().as_secs_f64(),
        t_import.elapsed().as_secs_f64()
    );
    drop(doc);
    app.add_user("admin", PASSWORD, Role::Admin).await?;
    let (api_token, _) = app.add_api_token("bench", Role::Admin).await?;

    // The web server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let state = WebState::new(app.clone(), WebConfig::default());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    let base = format!("http://{addr}");

    // A signed-in page client and an API client.
    let page = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(600))
        .build()?;
    let login = page
        .get(format!("{base}/login"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let csrf = csrf_of(&login).ok_or("no CSRF field on /login")?;
    let r = page
        .post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await?;
    if !r.url().path().starts_with("/servers") {
        return Err(format!("sign-in failed: ended on {} ({})", r.url(), r.status()).into());
    }
    let api = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let bearer = format!("Bearer {api_token}");

    // (b) "Sync accounts" → first run page.
    println!("\n(b) \"Sync accounts\" to the first run page, {n_accounts}-account server ({n_services} services in billing):");
    let mut run_id = None;
    for k in 0..n_syncs {
        let server_page = page
            .get(format!("{base}/servers/1"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let csrf = csrf_of(&server_page).ok_or("no CSRF field on /servers/1")?;
        let t0 = Instant::now();
        let r = page
            .post(format!("{base}/servers/1/sync"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await?
            .error_for_status()?;
        let job_url = r.url().clone();
        let mut polls = 0;
        let (run_url, bytes) = loop {
            if job_url.path().starts_with("/runs/") && polls == 0 {
                break (job_url.clone(), r.content_length().unwrap_or(0) as usize);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            polls += 1;
            let r = page.get(job_url.clone()).send().await?.error_for_status()?;
            let url = r.url().clone();
            let body = r.text().await?;
            if url.path().starts_with("/runs/") {
                break (url, body.len());
            }
            if body.contains("id=\"job-error\"") {
                return Err(format!("the sync job failed: {body}").into());
            }
            if t0.elapsed() > Duration::from_secs(600) {
                return Err("the sync job did not finish within 600 s".into());
            }
        };
        let took = t0.elapsed();
        println!(
            "  page #{}: POST /servers/1/sync → {} → {} ({} bytes) in {:>7.0} ms ({polls} job-page polls at 50 ms; a browser refreshes the job page every 1 s)",
            k + 1,
            job_url.path(),
            run_url.path(),
            bytes,
            ms(took)
        );
        run_id = run_url
            .path()
            .trim_start_matches("/runs/")
            .parse::<i64>()
            .ok();
    }
    for k in 0..n_syncs {
        let t0 = Instant::now();
        let r = api
            .post(format!("{base}/api/servers/1/runs"))
            .header("Authorization", &bearer)
            .send()
            .await?
            .error_for_status()?;
        let job: Value = r.json().await?;
        let job_id = job["id"].as_u64().ok_or("no job id")?;
        let run = loop {
            let s: Value = api
                .get(format!("{base}/api/jobs/{job_id}"))
                .header("Authorization", &bearer)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            match s["state"].as_str() {
                Some("done") => break s["run_id"].as_i64().ok_or("no run_id")?,
                Some("failed") => return Err(format!("the sync job failed: {s}").into()),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let t_done = t0.elapsed();
        let first: Value = api
            .get(format!("{base}/api/runs/{run}/items?page=1"))
            .header("Authorization", &bearer)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!(
            "  API  #{}: POST /api/servers/1/runs → job {job_id} done (run {run}) in {:>7.0} ms; first items page ({} of {}) at {:>7.0} ms",
            k + 1,
            ms(t_done),
            first["items"].as_array().map_or(0, Vec::len),
            first["total"],
            ms(t0.elapsed())
        );
        run_id = Some(run);
    }
    let run_id = run_id.ok_or("no run")?;

    // (a) One page of the 100,000-item run.
    let run: Value = api
        .get(format!("{base}/api/runs/{run_id}"))
        .header("Authorization", &bearer)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let counts: HashMap<String, u64> =
        serde_json::from_value(run["counts"].clone()).unwrap_or_default();
    let total: u64 = counts.values().sum();
    println!("\n(a) one page of run {run_id}: {total} items, counts {counts:?}");
    // A second web state on the same store: its run cache is empty, so the warm-up request
    // parses the stored 100,000-item analysis (the first state's cache already holds it).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let cold_addr = listener.local_addr()?;
    let cold_state = WebState::new(app.clone(), WebConfig::default());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(cold_state)).await;
    });
    let base = format!("http://{cold_addr}");
    let t0 = Instant::now();
    let probe: Value = api
        .get(format!("{base}/api/runs/{run_id}/items?page=1"))
        .header("Authorization", &bearer)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!(
        "  warm-up request on a fresh web state (reads, parses and caches the run): {:.0} ms",
        ms(t0.elapsed())
    );
    let per_page = probe["per_page"].as_u64().unwrap_or(100).max(1) as usize;
    let categories: Vec<(String, u64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (c.clone(), *n))
        .collect();
    let searches = [
        "ann",
        "bakery",
        "xn--",
        "mail.test",
        "res3",
        "198.51.100",
        "zoe9",
    ];

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // (kind, query string) — the same mix for the page and the API.
    let mut queries = Vec::with_capacity(n_requests);
    for i in 0..n_requests {
        let q = match i % 8 {
            6 => {
                let (c, n) = &categories[rng.below(categories.len())];
                let pages = (*n as usize).div_ceil(per_page).max(1);
                (
                    "category",
                    format!("category={c}&page={}", 1 + rng.below(pages)),
                )
            }
            7 => (
                "search",
                format!("q={}&page=1", searches[rng.below(searches.len())]),
            ),
            _ => {
                let pages = (total as usize).div_ceil(per_page).max(1);
                ("page", format!("page={}", 1 + rng.below(pages)))
            }
        };
        queries.push(q);
    }
    let _ = page
        .get(format!("{base}/runs/{run_id}"))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;

    for (label, is_api) in [
        ("page /runs/{id}", false),
        ("API /api/runs/{id}/items", true),
    ] {
        let mut by_kind: HashMap<&str, Vec<Duration>> = HashMap::new();
        let mut all = Vec::with_capacity(queries.len());
        let mut bytes = 0usize;
        for (kind, q) in &queries {
            let t = Instant::now();
            let body = if is_api {
                api.get(format!("{base}/api/runs/{run_id}/items?{q}"))
                    .header("Authorization", &bearer)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?
            } else {
                let r = page
                    .get(format!("{base}/runs/{run_id}?{q}"))
                    .send()
                    .await?
                    .error_for_status()?;
                if !r.url().path().starts_with("/runs/") {
                    return Err(format!(
                        "/runs/{run_id}?{q} ended on {} (not signed in?)",
                        r.url()
                    )
                    .into());
                }
                r.bytes().await?
            };
            let d = t.elapsed();
            bytes += body.len();
            all.push(d);
            by_kind.entry(kind).or_default().push(d);
        }
        println!(
            "  {label}: {} requests, {} KiB per response on average ({per_page} items per page)",
            queries.len(),
            bytes / queries.len().max(1) / 1024
        );
        report(&format!("    {label}, all"), all);
        for kind in ["page", "category", "search"] {
            if let Some(v) = by_kind.remove(kind) {
                report(&format!("    {label}, {kind}"), v);
            }
        }
    }
    sim.shutdown().await;
    Ok(())
}
