//! End-to-end benchmark (DESIGN.md §6): one 100,000-account simulated cPanel server,
//! listing + analysis end to end, against the plain HTTP transfer of the same payload in the
//! same run. Target: end to end ≤ 3 × the plain transfer.
//!
//! `cargo bench -p serversync --bench e2e` after `cargo build --release -p panel-sim -p
//! serversync` (bench/run.sh does both). The simulator runs as a child process
//! (`target/release/panel-sim`), so it does not share the benchmark's runtime.
//!
//! Alternating, N times each (after one warm-up round):
//!   a. `curl` of the module's `listaccts` URL and `want=` list, unchunked (one request);
//!   b. the cPanel module's `list_accounts` alone, in process (chunked, as it runs);
//!   c. `serversync analyse web1 --json > /dev/null` against a temp SQLite database whose
//!      records match ~95% of the accounts.
//! Then the steps of (c) are timed in process (listing, store loads, analyse, document,
//! run insert, pretty JSON) to show where the time goes.
//!
//! Environment: `BENCH_ACCOUNTS` (default 100000), `BENCH_ROUNDS` (default 5),
//! `BENCH_QUICK=1` / `--quick` (10,000 accounts, 3 rounds), `BENCH_SETUP_ONLY=1` (set up, print
//! the database and simulator, wait: for profiling by hand). No timed assertions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};
use serversync_core::analysis::{analyse, AnalysisInput, BillingRecord};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::{ModuleOptions, ModuleRegistry, NoProgress};
use serversync_store::{ListingStatus, NewRun};

/// The module's `want=` list (crates/serversync-modules/src/cpanel.rs, `WANT`).
const WANT: &str =
    "user,domain,owner,plan,email,ip,ipv6,suspended,suspendreason,unix_startdate,startdate";
const TOKEN: &str = "TOKEN";
const SHARED_IP: &str = "192.0.2.10";
const TARGET_RATIO: f64 = 3.0;

/// The simulator child; killed (by its own handle) when dropped.
struct Sim {
    child: Child,
    addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release_dir() -> PathBuf {
    // target/release/deps/e2e-HASH → target/release
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("exe dir");
    deps.parent().unwrap_or(deps).to_path_buf()
}

fn binary(name: &str) -> PathBuf {
    let p = release_dir().join(name);
    if !p.is_file() {
        eprintln!(
            "e2e: {} not found; build it first: cargo build --release -p panel-sim -p serversync",
            p.display()
        );
        std::process::exit(2);
    }
    p
}

fn start_sim(n: usize) -> Sim {
    let mut child = Command::new(binary("panel-sim"))
        .args(["cpanel", "--listen", "127.0.0.1:0", "--accounts"])
        .arg(n.to_string())
        .args(["--seed", "1", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start panel-sim");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read panel-sim's first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected panel-sim output {line:?}"))
        .to_string();
    Sim { child, addr }
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, k: &str) -> i64 {
    match v.get(k) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(x) => x.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// A records document for `accounts` (the simulator's own list): services for ~95% of them
/// with matching domain, username, product (configoption1 = plan), status, IP and regdate
/// (~2% with a drifted status or regdate), plus ~5% services not on the server.
fn records_for(accounts: &[Value], port: u16) -> (Value, usize) {
    let mut plans: BTreeMap<String, i64> = BTreeMap::new();
    let mut clients = Vec::new();
    let mut services = Vec::new();
    let mut next_client = 1i64;
    let mut next_service = 1i64;
    for (i, a) in accounts.iter().enumerate() {
        let plan = text(a, "plan").to_string();
        let n = plans.len() as i64;
        plans.entry(plan.clone()).or_insert(100 + n);
        if i % 20 == 7 {
            continue; // not_in_billing
        }
        let user = text(a, "user");
        let cid = next_client;
        next_client += 1;
        clients.push(json!({"id": cid, "email": format!("{user}@mail.test"),
                            "first_name": user, "last_name": "Bench", "company": "", "status": "Active"}));
        let suspended = num(a, "suspended") == 1;
        let mut status = if suspended { "Suspended" } else { "Active" };
        let start = num(a, "unix_startdate");
        let mut regdate = if start > 0 {
            time::OffsetDateTime::from_unix_timestamp(start)
                .map(|t| serversync_core::model::format_date(t.date()))
                .ok()
        } else {
            None
        };
        match i % 100 {
            13 => status = if suspended { "Active" } else { "Suspended" },
            57 => regdate = Some("2014-06-01".into()),
            _ => {}
        }
        let ip = text(a, "ip");
        services.push(json!({
            "id": next_service, "client_id": cid, "product_id": plans[&plan], "server_id": 1,
            "domain": text(a, "domain"), "username": user,
            "dedicated_ip": if ip == SHARED_IP { "" } else { ip },
            "regdate": regdate, "status": status, "billing_cycle": "Monthly", "amount": "9.99",
            "next_due_date": "2026-12-31"}));
        next_service += 1;
    }
    let matched = services.len();
    for j in 0..accounts.len() / 20 {
        let cid = next_client;
        next_client += 1;
        clients.push(json!({"id": cid, "email": format!("gone{j}@mail.test"), "status": "Active"}));
        services.push(json!({
            "id": next_service, "client_id": cid, "product_id": plans["basic"], "server_id": 1,
            "domain": format!("gone{j}.test"), "username": format!("gone{j}"),
            "regdate": "2020-01-01", "status": if j % 10 == 0 { "Pending" } else { "Active" },
            "billing_cycle": "Monthly", "amount": "9.99", "next_due_date": "2026-12-31"}));
        next_service += 1;
    }
    let products: Vec<Value> = plans
        .iter()
        .map(|(p, id)| {
            json!({"id": id, "name": format!("Hosting {p}"), "module": "cpanel",
                             "config_options": {"configoption1": p}})
        })
        .collect();
    let doc = json!({
        "clients": clients,
        "products": products,
        "servers": [{"id": 1, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
                     "ip_address": SHARED_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "root", "password": "", "access_hash": TOKEN}],
        "services": services,
    });
    (doc, matched)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn fmt_list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct CurlResult {
    wall: f64,
    curl_total: f64,
    bytes: u64,
}

fn curl(urls: &[String]) -> CurlResult {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-H", &format!("Authorization: whm root:{TOKEN}")]);
    for u in urls {
        cmd.args([
            "-o",
            "/dev/null",
            "-w",
            "%{time_total} %{size_download} %{http_code}\\n",
            u,
        ]);
    }
    let t = Instant::now();
    let out = cmd.output().expect("run curl");
    let wall = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "curl failed: {:?}", out.status);
    let mut curl_total = 0.0;
    let mut bytes = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.get(2), Some(&"200"), "curl: HTTP status {line:?}");
        curl_total += f[0].parse::<f64>().unwrap_or(0.0);
        bytes += f[1].parse::<u64>().unwrap_or(0);
    }
    CurlResult {
        wall,
        curl_total,
        bytes,
    }
}

fn params(addr: &str) -> ServerParams {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    ServerParams {
        server_id: 1,
        ip: SHARED_IP.into(),
        hostname: host.into(),
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new(TOKEN),
        secure: false,
        tls_verify: true,
        port: Some(port.parse().expect("port")),
    }
}

fn serversync(db_url: &str, args: &[&str], stdout: Stdio) -> (f64, std::process::ExitStatus) {
    let t = Instant::now();
    let status = Command::new(binary("serversync"))
        .arg("--database")
        .arg(db_url)
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .env_remove("SERVERSYNC_LOG")
        .status()
        .expect("run serversync");
    (t.elapsed().as_secs_f64(), status)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let n: usize = std::env::var("BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 100_000 });
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 3 } else { 5 });
    if Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("e2e: curl is required");
        std::process::exit(2);
    }

    println!("== end-to-end benchmark: one simulated cPanel server with {n} accounts, {rounds} rounds ==");
    println!(
        "load average at start: {} (figures are noisy when other jobs share the CPUs)",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let sim = start_sim(n);
    let base = format!("http://{}", sim.addr);
    let port: u16 = sim
        .addr
        .rsplit_once(':')
        .map_or(0, |(_, p)| p.parse().unwrap_or(0));
    println!("panel-sim (child process {}) at {base}", sim.child.id());

    // Records matching ~95% of the accounts, imported with the real CLI.
    let tmp = tempfile::tempdir().expect("temp dir");
    let db_path: &Path = &tmp.path().join("bench.db");
    let db_url = format!("sqlite://{}", db_path.display());
    let accounts = panel_sim::generate_cpanel_accounts(n, 1);
    let (doc, matched) = records_for(&accounts, port);
    let rec_path = tmp.path().join("records.json");
    std::fs::write(&rec_path, serde_json::to_vec(&doc).expect("json")).expect("write records");
    let services_total = doc["services"].as_array().map_or(0, Vec::len);
    drop(doc);
    drop(accounts);
    let (t_import, st) = serversync(
        &db_url,
        &["records", "import", rec_path.to_str().expect("utf-8 path")],
        Stdio::null(),
    );
    assert!(st.success(), "records import failed: {st}");
    println!(
        "records: {services_total} services ({matched} match an account, {} not on the server), imported in {t_import:.2} s",
        services_total - matched
    );

    // `BENCH_SETUP_ONLY=1`: keep the simulator and the database for profiling by hand
    // (e.g. `perf record serversync --database URL analyse web1 --json`) until killed.
    if std::env::var("BENCH_SETUP_ONLY").is_ok_and(|v| v == "1") {
        let keep = tmp.keep();
        println!(
            "setup only: database sqlite://{}/bench.db, panel-sim at {base}; Ctrl-C ends it",
            keep.display()
        );
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }

    let url_plain = format!("{base}/json-api/listaccts?api.version=1&want={WANT}");
    let size = ModuleOptions::default().chunk_size;
    let page_urls: Vec<String> = (0..n.div_ceil(size))
        .map(|k| {
            format!(
                "{base}/json-api/listaccts?api.version=1&want={WANT}&api.chunk.enable=1\
                 &api.chunk.verbose=1&api.chunk.size={size}&api.chunk.start={}",
                k * size + 1
            )
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let m = ModuleRegistry::builtin(ModuleOptions::default())
        .get("cpanel")
        .expect("cpanel module");
    let p = params(&sim.addr);

    let (mut a, mut a_curl, mut a2, mut b, mut c) = (vec![], vec![], vec![], vec![], vec![]);
    let mut payload = 0u64;
    let mut paged_payload = 0u64;
    let mut listed = 0usize;
    for round in 0..=rounds {
        let warm = round == 0;
        // a. the plain transfer, one request.
        let r = curl(std::slice::from_ref(&url_plain));
        payload = r.bytes;
        // a2 (informative). the module's pages, sequentially on one connection.
        let r2 = curl(&page_urls);
        paged_payload = r2.bytes;
        // b. the module's listing alone.
        let t = Instant::now();
        let listing = rt
            .block_on(m.list_accounts(&p, &NoProgress))
            .expect("listing");
        let tb = t.elapsed().as_secs_f64();
        listed = listing.accounts.len();
        drop(listing);
        // c. end to end, as a user runs it.
        let (tc, st) = serversync(&db_url, &["analyse", "web1", "--json"], Stdio::null());
        assert!(st.success(), "serversync analyse failed: {st}");
        if warm {
            println!(
                "warm-up: a {:.3} s, paged {:.3} s, b {tb:.3} s, c {tc:.3} s",
                r.wall, r2.wall
            );
            continue;
        }
        a.push(r.wall);
        a_curl.push(r.curl_total);
        a2.push(r2.wall);
        b.push(tb);
        c.push(tc);
        println!(
            "round {round}: a {:.3} s (curl {:.3}), a2 {:.3} s, b {tb:.3} s, c {tc:.3} s",
            r.wall, r.curl_total, r2.wall
        );
    }

    let (ma, mac, ma2, mb, mc) = (
        median(&a),
        median(&a_curl),
        median(&a2),
        median(&b),
        median(&c),
    );
    println!();
    println!(
        "payload: {:.2} MB unchunked ({payload} bytes), {:.2} MB in {} pages of {size}; {listed} accounts listed",
        payload as f64 / 1e6,
        paged_payload as f64 / 1e6,
        page_urls.len()
    );
    println!("a. plain HTTP transfer (curl, one request)   median {ma:.3} s  [{}]  curl time_total median {mac:.3} s", fmt_list(&a));
    println!(
        "a2. the module's {} pages via curl, serial   median {ma2:.3} s  [{}]  (informative)",
        page_urls.len(),
        fmt_list(&a2)
    );
    println!(
        "b. module list_accounts (in process)         median {mb:.3} s  [{}]",
        fmt_list(&b)
    );
    println!(
        "c. serversync analyse web1 --json >/dev/null median {mc:.3} s  [{}]",
        fmt_list(&c)
    );
    println!();
    let verdict = |r: f64| {
        if r <= TARGET_RATIO {
            "MEETS"
        } else {
            "MISSES"
        }
    };
    println!(
        "end to end (c)/(a) = {:.1} x the plain transfer (target ≤ {TARGET_RATIO} x) [{}]",
        mc / ma,
        verdict(mc / ma)
    );
    println!(
        "listing    (b)/(a) = {:.1} x the plain transfer (target ≤ {TARGET_RATIO} x) [{}]",
        mb / ma,
        verdict(mb / ma)
    );
    println!(
        "(ratios against curl's own time_total instead: (c) {:.1} x, (b) {:.1} x)",
        mc / mac,
        mb / mac
    );
    println!();

    profiled(&db_url);
    breakdown(&rt, m.as_ref(), &p, &db_url);
    drop(sim);
}

/// One more `analyse --json` with the app's own timing log (`SERVERSYNC_LOG`): its
/// `analysed` line splits the wall time into listing, analysis + documents and storing.
fn profiled(db_url: &str) {
    let t = Instant::now();
    let out = Command::new(binary("serversync"))
        .arg("--database")
        .arg(db_url)
        .args(["analyse", "web1", "--json"])
        .env("SERVERSYNC_LOG", "serversync_app=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run serversync");
    let wall = t.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("analysed"))
        .unwrap_or("(no `analysed` line logged)");
    println!("-- one profiled run: {wall:.3} s wall; the app logged --");
    println!("   {}", line.trim());
    println!();
}

/// The steps of `serversync analyse` (serversync-app `analyse_locked` + the CLI's printing),
/// in process, best of 3, to show where (c)'s time goes.
fn breakdown(
    rt: &tokio::runtime::Runtime,
    m: &dyn serversync_modules::Module,
    p: &ServerParams,
    db_url: &str,
) {
    println!("-- where (c) goes: the steps of `serversync analyse`, in process (median of 3) --");
    let mut steps: BTreeMap<usize, (&str, Vec<f64>)> = BTreeMap::new();
    let pool = rt.block_on(async {
        sqlx::SqlitePool::connect(&db_url.replace("sqlite://", "sqlite:"))
            .await
            .expect("bench database")
    });
    let mut bytes: Vec<(i64, i64, i64, i64)> = Vec::new();
    let mut rec = |i: usize, name: &'static str, t: Instant| {
        steps
            .entry(i)
            .or_insert_with(|| (name, Vec::new()))
            .1
            .push(t.elapsed().as_secs_f64());
    };
    for _ in 0..3 {
        rt.block_on(async {
            let t = Instant::now();
            let store = serversync_store::open_with_default_key(db_url)
                .await
                .expect("open store");
            rec(0, "open store (+ migrations check)", t);
            let t = Instant::now();
            let server = store.server("web1").await.expect("server");
            rec(1, "store.server", t);
            let t = Instant::now();
            let listing = m.list_accounts(p, &NoProgress).await.expect("listing");
            rec(2, "module list_accounts", t);
            let t = Instant::now();
            let services = store.services(Some(server.id)).await.expect("services");
            rec(3, "store.services(server)", t);
            let t = Instant::now();
            let others = store
                .live_services_of_module(&server.module, server.id)
                .await
                .expect("others");
            let products = store.products().await.expect("products");
            rec(4, "store.live_services_of_module + products", t);
            let t = Instant::now();
            // What `analyse` reads of the clients: their e-mails.
            let email = store.client_emails().await.expect("client e-mails");
            rec(5, "store.client_emails (all clients)", t);
            let t = Instant::now();
            let meta = m.meta();
            let package: std::collections::HashMap<i64, Option<String>> = products
                .iter()
                .map(|p| {
                    (
                        p.id,
                        p.config_option(&meta.product_field).map(str::to_string),
                    )
                })
                .collect();
            let mk = |s: serversync_core::model::Service| BillingRecord {
                package: package.get(&s.product_id).cloned().flatten(),
                client_email: email.get(&s.client_id).cloned(),
                service: s,
            };
            let services: Vec<BillingRecord> = services.into_iter().map(mk).collect();
            let other_live: Vec<BillingRecord> = others.into_iter().map(mk).collect();
            rec(6, "billing records (join product/client)", t);
            let input = AnalysisInput {
                meta,
                server_ip: &server.ip_address,
                accounts: &listing.accounts,
                listing_complete: listing.is_complete(),
                services: &services,
                other_live: &other_live,
            };
            let t = Instant::now();
            let analysis = analyse(&input);
            rec(7, "analyse()", t);
            let t = Instant::now();
            let doc_text =
                serversync_app::analysis_document_json(None, &server, &listing, &analysis, &input)
                    .expect("document");
            rec(8, "analysis_document_json (the --json output)", t);
            let t = Instant::now();
            let stored_text = serversync_app::stored_document_json(
                &server,
                &listing,
                &analysis,
                &input,
                &Default::default(),
            )
            .expect("stored document");
            rec(9, "stored_document_json (what the run keeps)", t);
            let pages_before = db_bytes(&pool).await;
            let t = Instant::now();
            let run = NewRun {
                server_id: server.id,
                started_at: time::OffsetDateTime::now_utc(),
                finished_at: time::OffsetDateTime::now_utc(),
                listing_status: ListingStatus::Complete,
                error: None,
                accounts: listing.accounts.clone(),
                skipped: listing.skipped.clone(),
                analysis_json: Some(stored_text),
                counts_json: serde_json::to_string(&analysis.counts).expect("counts"),
                service_versions: services
                    .iter()
                    .chain(&other_live)
                    .map(|r| (r.service.id, r.service.version))
                    .collect(),
                misses: None,
            };
            let id = store.insert_run(&run).await.expect("insert run");
            rec(
                10,
                "store.insert_run (compressed accounts + stored analysis)",
                t,
            );
            let after = db_bytes(&pool).await - pages_before;
            // The same run as the format before issue 11 stored it: the remote list and the
            // whole document as JSON text columns (a row that format's reader still reads).
            let accounts_json = serde_json::to_string(&run.accounts).expect("accounts");
            let before_db = db_bytes(&pool).await;
            let old_id: i64 = sqlx::query_scalar(
                "INSERT INTO sync_runs (server_id, started_at, finished_at, listing_status, \
                 accounts_count, accounts, skipped, analysis_json, counts_json, \
                 service_versions) SELECT server_id, started_at, finished_at, listing_status, \
                 accounts_count, ?, skipped, ?, counts_json, service_versions FROM sync_runs \
                 WHERE id = ? RETURNING id",
            )
            .bind(&accounts_json)
            .bind(doc_text.to_string())
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("an old-format run");
            let before = db_bytes(&pool).await - before_db;
            let (cols_now, cols_old): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT length(accounts) + length(accounts_zstd) + length(skipped) \
                 + length(analysis_zstd) + length(counts_json) + length(service_versions) \
                 FROM sync_runs WHERE id = ?), (SELECT length(accounts) + length(skipped) \
                 + length(analysis_json) + length(counts_json) + length(service_versions) \
                 FROM sync_runs WHERE id = ?)",
            )
            .bind(id)
            .bind(old_id)
            .fetch_one(&pool)
            .await
            .expect("column sizes");
            sqlx::query("DELETE FROM sync_runs WHERE id IN (?, ?)")
                .bind(id)
                .bind(old_id)
                .execute(&pool)
                .await
                .expect("delete the measured runs");
            bytes.push((before, after, cols_old, cols_now));
            let t = Instant::now();
            drop((doc_text, accounts_json, analysis, run));
            rec(11, "drops", t);
            let _ = json!(null);
        });
    }
    let mut sum = 0.0;
    for (name, v) in steps.values() {
        let md = median(v);
        sum += md;
        println!("   {:<48} {:>7.3} s", name, md);
    }
    println!(
        "   {:<48} {:>7.3} s (+ process start, runtime, printing to /dev/null)",
        "sum", sum
    );
    println!();
    if let Some(&(before, after, cols_old, cols_now)) = bytes.last() {
        let mb = |b: i64| b as f64 / 1e6;
        println!("-- bytes stored per run of this server (SQLite) --");
        println!(
            "   before (JSON columns: remote list + whole document): {:>8.2} MB database growth, {:>8.2} MB in its columns",
            mb(before),
            mb(cols_old)
        );
        println!(
            "   after  (compact: zstd remote list + drift items):    {:>8.2} MB database growth, {:>8.2} MB in its columns",
            mb(after),
            mb(cols_now)
        );
        if after > 0 {
            println!(
                "   {:.1} x fewer bytes per run",
                before as f64 / after as f64
            );
        }
        // The line bench/run.sh's summary reads.
        println!("bytes stored per run: {after} bytes (database growth; before: {before} bytes)");
    }
}

/// The bytes the database's pages take (page count × page size; WAL frames included, as
/// the connection sees the database).
async fn db_bytes(pool: &sqlx::SqlitePool) -> i64 {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await
        .expect("page_count");
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(pool)
        .await
        .expect("freelist_count");
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await
        .expect("page_size");
    (pages - free) * size
}
