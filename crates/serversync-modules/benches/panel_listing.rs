//! Listing time of every built-in panel module with per-request latency, at concurrency 1
//! and at the module's default, in one run, with the ratio (issue 8 "Measure"; DESIGN.md
//! §6: a per-user-call panel should list ≥ 8 × faster at the default).
//!
//! `cargo bench -p serversync-modules --bench panel_listing`
//!
//! Each panel's simulator serves 5,000 generated accounts and waits 20 ms before every
//! answer. Environment: `PANEL_BENCH_ACCOUNTS` (default 5000), `PANEL_BENCH_DELAY_MS`
//! (default 20), `PANEL_BENCH_PANELS` (comma-separated subset of `directadmin,plesk,
//! virtualmin,hestiacp`). cPanel is left out: its simulator serves a whole chunk per request
//! and ignores the delay (the cPanel listing is measured end to end by the `e2e` bench).
//!
//! Each listing is preceded by one untimed warm-up (the simulators build and cache their
//! full answer on the first request). Prints, per panel, both times, the requests each
//! listing made and the ratio, then a summary table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use panel_sim::{
    spawn_directadmin, spawn_hestiacp, spawn_plesk, spawn_virtualmin, DirectAdminSimConfig,
    HestiaSimConfig, PleskSimConfig, SimHandle, VirtualminSimConfig, HESTIA_TEST_ACCESS_KEY,
};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::directadmin::DirectAdminModule;
use serversync_modules::hestiacp::HestiaModule;
use serversync_modules::plesk::PleskModule;
use serversync_modules::virtualmin::VirtualminModule;
use serversync_modules::{Module, ModuleOptions, NoProgress, Shared};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One panel under test: its simulator, the server parameters for it, and the module at
/// concurrency 1 and at its default (with the default's number).
struct Case {
    panel: &'static str,
    unit: &'static str,
    sim: SimHandle,
    params: ServerParams,
    one: Arc<dyn Module>,
    default: Arc<dyn Module>,
    default_n: usize,
}

fn params(sim: &SimHandle, user: &str, password: &str, access_hash: &str) -> ServerParams {
    ServerParams {
        server_id: 1,
        ip: "192.0.2.10".into(),
        hostname: sim.addr.ip().to_string(),
        username: user.into(),
        password: Secret::new(password),
        access_hash: Secret::new(access_hash),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    }
}

async fn case(panel: &str, accounts: usize, delay: Duration, shared: &Shared) -> Option<Case> {
    let listen = "127.0.0.1:0".parse().expect("address");
    Some(match panel {
        "directadmin" => {
            let cfg = DirectAdminSimConfig {
                delay,
                ..DirectAdminSimConfig::generated(accounts, 1)
            };
            let sim = spawn_directadmin(listen, cfg).await.expect("simulator");
            let default = DirectAdminModule::new(shared);
            Case {
                panel: "directadmin",
                unit: "users",
                params: params(&sim, "admin", "PASSWORD", ""),
                default_n: default.user_concurrency(),
                one: Arc::new(DirectAdminModule::new(shared).with_user_concurrency(1)),
                default: Arc::new(default),
                sim,
            }
        }
        "plesk" => {
            let cfg = PleskSimConfig {
                delay,
                ..PleskSimConfig::generated(accounts, 1)
            };
            let sim = spawn_plesk(listen, cfg).await.expect("simulator");
            let default = PleskModule::new(shared);
            Case {
                panel: "plesk",
                unit: "subscriptions",
                params: params(&sim, "admin", "", "TOKEN"),
                default_n: default.concurrency(),
                one: Arc::new(PleskModule::new(shared).with_concurrency(1)),
                default: Arc::new(default),
                sim,
            }
        }
        "virtualmin" => {
            let cfg = VirtualminSimConfig {
                delay,
                ..VirtualminSimConfig::generated(accounts, 1)
            };
            let sim = spawn_virtualmin(listen, cfg).await.expect("simulator");
            let default_n = ModuleOptions::default().max_concurrency;
            let one = Shared::new(&ModuleOptions {
                max_concurrency: 1,
                ..ModuleOptions::default()
            });
            Case {
                panel: "virtualmin",
                unit: "servers",
                params: params(&sim, "root", "PASSWORD", ""),
                default_n,
                one: Arc::new(VirtualminModule::new(&one)),
                default: Arc::new(VirtualminModule::new(shared)),
                sim,
            }
        }
        "hestiacp" => {
            let cfg = HestiaSimConfig {
                delay,
                ..HestiaSimConfig::generated(accounts, 1)
            };
            let sim = spawn_hestiacp(listen, cfg).await.expect("simulator");
            let default = HestiaModule::new(shared);
            Case {
                panel: "hestiacp",
                unit: "users",
                params: params(&sim, "", "", HESTIA_TEST_ACCESS_KEY),
                default_n: default.user_concurrency(),
                one: Arc::new(HestiaModule::new(shared).with_user_concurrency(1)),
                default: Arc::new(default),
                sim,
            }
        }
        _ => return None,
    })
}

/// One timed listing: (seconds, requests it made). Every generated account must be listed.
async fn timed(c: &Case, m: &dyn Module, accounts: usize) -> (f64, u64) {
    let before = c.sim.request_count();
    let started = Instant::now();
    let l = m
        .list_accounts(&c.params, &NoProgress)
        .await
        .unwrap_or_else(|e| panic!("{} listing: {e}", c.panel));
    let took = started.elapsed().as_secs_f64();
    assert_eq!(
        l.accounts.len(),
        accounts,
        "{}: every account listed",
        c.panel
    );
    assert!(l.skipped.is_empty(), "{}: nothing skipped", c.panel);
    (took, c.sim.request_count() - before)
}

fn main() {
    let accounts = env_or("PANEL_BENCH_ACCOUNTS", 5_000) as usize;
    let delay = Duration::from_millis(env_or("PANEL_BENCH_DELAY_MS", 20));
    let panels = std::env::var("PANEL_BENCH_PANELS")
        .unwrap_or_else(|_| "directadmin,plesk,virtualmin,hestiacp".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let shared = Shared::new(&ModuleOptions::default());
        let mut rows = Vec::new();
        for panel in panels.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(c) = case(panel, accounts, delay, &shared).await else {
                eprintln!("panel_listing: unknown panel {panel:?}, skipped");
                continue;
            };
            c.default
                .list_accounts(&c.params, &NoProgress)
                .await
                .unwrap_or_else(|e| panic!("{panel} warm-up listing: {e}"));
            let (t1, r1) = timed(&c, c.one.as_ref(), accounts).await;
            println!(
                "{panel}: {accounts} {}, {} ms per request, concurrency 1: {t1:.2} s \
                 ({r1} requests)",
                c.unit,
                delay.as_millis()
            );
            let (td, rd) = timed(&c, c.default.as_ref(), accounts).await;
            println!(
                "{panel}: {accounts} {}, {} ms per request, concurrency default ({}): \
                 {td:.2} s ({rd} requests); ratio {:.1} ×",
                c.unit,
                delay.as_millis(),
                c.default_n,
                t1 / td
            );
            rows.push((c.panel, c.default_n, t1, td, r1));
            c.sim.shutdown().await;
        }
        println!();
        println!("| panel | requests | concurrency 1 | default | ratio |");
        println!("|---|---|---|---|---|");
        for (panel, n, t1, td, r) in rows {
            println!(
                "| {panel} | {r} | {t1:.2} s | {td:.2} s ({n}) | {:.1} × |",
                t1 / td
            );
        }
    });
}
