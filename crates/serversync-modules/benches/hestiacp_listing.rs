//! Listing 5,000 users on the HestiaCP simulator with 20 ms per request, one per-user
//! `v-list-web-domains` call at a time and at the module's default concurrency, in one run
//! (DESIGN.md §6: a per-user-call panel should list ≥ 8 × faster at the default).
//!
//! `cargo bench -p serversync-modules --bench hestiacp_listing` (set `HESTIA_BENCH_USERS` or
//! `HESTIA_BENCH_DELAY_MS` to change the size or the delay). Prints both times and the ratio.

use std::time::{Duration, Instant};

use panel_sim::{spawn_hestiacp, HestiaSimConfig, HESTIA_TEST_ACCESS_KEY};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::hestiacp::HestiaModule;
use serversync_modules::{Module, ModuleOptions, NoProgress, Shared};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let users = env_or("HESTIA_BENCH_USERS", 5_000) as usize;
    let delay = Duration::from_millis(env_or("HESTIA_BENCH_DELAY_MS", 20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = HestiaSimConfig {
            delay,
            ..HestiaSimConfig::generated(users, 1)
        };
        let sim = spawn_hestiacp("127.0.0.1:0".parse().expect("addr"), cfg)
            .await
            .expect("simulator");
        let params = ServerParams {
            server_id: 14,
            ip: "192.0.2.14".into(),
            hostname: sim.addr.ip().to_string(),
            username: String::new(),
            password: Secret::new(""),
            access_hash: Secret::new(HESTIA_TEST_ACCESS_KEY),
            secure: false,
            tls_verify: true,
            port: Some(sim.addr.port()),
        };
        let shared = Shared::new(&ModuleOptions::default());
        let default = HestiaModule::new(&shared);
        let n_default = default.user_concurrency();
        let one = HestiaModule::new(&shared).with_user_concurrency(1);

        let mut times = Vec::new();
        for (label, m) in [("1", &one), ("default", &default)] {
            let before = sim.request_count();
            let started = Instant::now();
            let l = m
                .list_accounts(&params, &NoProgress)
                .await
                .expect("listing succeeds");
            let took = started.elapsed();
            // Every generated user is listed (admin is left out).
            assert_eq!(l.accounts.len(), users);
            assert!(l.skipped.is_empty());
            println!(
                "hestiacp listing, {users} users, {} ms per request, concurrency {label}{}: \
                 {:.2} s ({} requests)",
                delay.as_millis(),
                if label == "default" {
                    format!(" ({n_default})")
                } else {
                    String::new()
                },
                took.as_secs_f64(),
                sim.request_count() - before
            );
            times.push(took);
        }
        println!(
            "ratio (concurrency 1 / default): {:.1} ×",
            times[0].as_secs_f64() / times[1].as_secs_f64()
        );
        sim.shutdown().await;
    });
}
