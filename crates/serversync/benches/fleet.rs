//! Fleet scan benchmark (issue 11, DESIGN.md §6): 500 simulated cPanel servers × 1,000
//! accounts, 20 ms per panel request, one `serversync scan --all --json` of the release
//! binary. Prints its wall time (target ≤ 30 s) and peak RSS (target ≤ 512 MB), then the same
//! scan at `--concurrency 1` over a smaller fleet (default 50 servers), extrapolated to the
//! whole fleet, and the ratio. No timed assertions: it prints figures.
//!
//! `cargo bench -p serversync --bench fleet` after `cargo build --release -p serversync`
//! (bench/fleet.sh does both). The simulators run in this process (panel-sim's library, on
//! its own runtime); billing records are imported in this process too. Peak RSS is GNU
//! time's (`/usr/bin/time`, Debian package `time`) figure for the scan process alone.
//!
//! Environment: `BENCH_SERVERS` (500), `BENCH_ACCOUNTS` (1000), `BENCH_DELAY_MS` (20),
//! `BENCH_CONCURRENCY` (16), `BENCH_SERIAL_SERVERS` (50; 0 skips the concurrency-1 scan).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TARGET_SECS: f64 = 30.0;
const TARGET_RSS_MB: f64 = 512.0;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary() -> std::path::PathBuf {
    // target/release/deps/fleet-HASH → target/release/serversync
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("exe dir");
    let p = deps.parent().unwrap_or(deps).join("serversync");
    if !p.is_file() {
        eprintln!(
            "fleet: {} not found; build it first: cargo build --release -p serversync",
            p.display()
        );
        std::process::exit(2);
    }
    p
}

/// GNU time, which reports the peak RSS of the process it runs. getrusage(RUSAGE_CHILDREN)
/// cannot be used: a child started from this process (gigabytes of simulator data) keeps
/// this process's high-water mark across its exec.
const GNU_TIME: &str = "/usr/bin/time";

/// Runs `serversync --database DB scan ARGS… --json` under GNU time; returns (seconds,
/// summary, peak RSS in MB — NaN without GNU time).
fn scan(db: &str, args: &[&str], tmp: &Path) -> (f64, Value, f64) {
    let rss_file = tmp.join("rss");
    let _ = std::fs::remove_file(&rss_file);
    let timed = Path::new(GNU_TIME).is_file();
    let mut cmd = if timed {
        let mut c = Command::new(GNU_TIME);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(binary());
        c
    } else {
        Command::new(binary())
    };
    let t = Instant::now();
    let out = cmd
        .args(["--database", db, "scan"])
        .args(args)
        .arg("--json")
        .env("SERVERSYNC_LOG", "error")
        .stderr(Stdio::inherit())
        .output()
        .expect("run serversync scan");
    let secs = t.elapsed().as_secs_f64();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if doc.is_null() {
        eprintln!("fleet: scan printed no JSON (exit {:?})", out.status.code());
        std::process::exit(2);
    }
    for f in doc["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["result"] != "ok")
        .take(3)
    {
        println!("  not ok: {} {}: {}", f["server"], f["result"], f["cause"]);
    }
    let mut by_category: std::collections::BTreeMap<String, u64> = Default::default();
    for s in doc["servers"].as_array().into_iter().flatten() {
        for (k, n) in s["counts"].as_object().into_iter().flatten() {
            *by_category.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    by_category.retain(|_, n| *n > 0);
    println!("  items by category: {by_category:?}");
    if timed && !rss_file.is_file() {
        println!("  (GNU time wrote no figure to {})", rss_file.display());
    }
    let rss_kb: f64 = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(f64::NAN);
    (secs, doc["summary"].clone(), rss_kb / 1024.0)
}

fn main() {
    let servers = env_num("BENCH_SERVERS", 500);
    let accounts = env_num("BENCH_ACCOUNTS", 1000);
    let delay = Duration::from_millis(env_num("BENCH_DELAY_MS", 20) as u64);
    let concurrency = env_num("BENCH_CONCURRENCY", 16);
    let serial = env_num("BENCH_SERIAL_SERVERS", 50).min(servers);
    println!(
        "== fleet scan benchmark: {servers} simulated cPanel servers x {accounts} accounts, \
         {} ms per request, concurrency {concurrency} ==",
        delay.as_millis()
    );
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("temp dir");
    let db_path: &Path = &tmp.path().join("fleet.db");
    let db = format!("sqlite://{}", db_path.display());

    let t_setup = Instant::now();
    let fleet = rt
        .block_on(panel_sim::fleet::spawn_cpanel_fleet(
            servers, accounts, delay,
        ))
        .expect("spawn cpanel simulators");
    let (sims, doc) = (fleet.sims, fleet.records);
    let services_total = doc["services"].as_array().map_or(0, Vec::len);
    let bytes = serde_json::to_vec(&doc).expect("json");
    drop(doc);
    rt.block_on(async {
        let store = serversync_store::open_with_default_key(&db)
            .await
            .expect("open store");
        let app = serversync_app::App::new(store, "bench");
        app.import_records(&bytes).await.expect("import records");
    });
    drop(bytes);
    println!(
        "setup: {servers} simulators started and {services_total} services imported in {:.1} s",
        t_setup.elapsed().as_secs_f64()
    );

    let conc = concurrency.to_string();
    let (secs, summary, rss) = scan(&db, &["--all", "--concurrency", &conc], tmp.path());
    println!(
        "scan --all --concurrency {conc}: {secs:.2} s wall (target <= {TARGET_SECS} s: {}), \
         peak RSS {rss:.0} MB (target <= {TARGET_RSS_MB} MB: {})",
        if secs <= TARGET_SECS { "met" } else { "MISSED" },
        if rss <= TARGET_RSS_MB {
            "met"
        } else {
            "MISSED"
        },
    );
    println!("  summary: {summary}");
    let requests: u64 = sims.iter().map(|s| s.request_count()).sum();
    println!(
        "  panel requests: {requests} ({:.1} per server)",
        requests as f64 / servers.max(1) as f64
    );

    if serial > 0 {
        let names: Vec<String> = (1..=serial)
            .map(panel_sim::fleet::fleet_server_name)
            .collect();
        let mut args: Vec<&str> = names.iter().map(String::as_str).collect();
        args.extend(["--concurrency", "1"]);
        let (s1, summary1, rss1) = scan(&db, &args, tmp.path());
        let whole = s1 * servers as f64 / serial as f64;
        println!(
            "scan of {serial} servers --concurrency 1: {s1:.2} s wall (peak RSS {rss1:.0} MB); \
             extrapolated to {servers} servers: {whole:.1} s"
        );
        println!("  summary: {summary1}");
        println!(
            "ratio concurrency 1 / concurrency {conc} (whole fleet, extrapolated): {:.1}x",
            whole / secs
        );
    }
    rt.block_on(async {
        for s in sims {
            s.shutdown().await;
        }
    });
}
