//! Listing 5,000 users on the DirectAdmin simulator with 20 ms per request, one per-user
//! call at a time and at the module's default concurrency, in one run (DESIGN.md §6: a
//! per-user-call panel should list ≥ 8 × faster at the default).
//!
//! `cargo bench -p serversync-modules --bench directadmin_listing` (set `DA_BENCH_USERS` or
//! `DA_BENCH_DELAY_MS` to change the size or the delay). Prints both times and the ratio.

use std::time::{Duration, Instant};

use panel_sim::{spawn_directadmin, DirectAdminSimConfig};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::directadmin::DirectAdminModule;
use serversync_modules::{Module, ModuleOptions, NoProgress, Shared};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let users = env_or("DA_BENCH_USERS", 5_000) as usize;
    let delay = Duration::from_millis(env_or("DA_BENCH_DELAY_MS", 20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = DirectAdminSimConfig {
            delay,
            ..DirectAdminSimConfig::generated(users, 1)
        };
        let sim = spawn_directadmin("127.0.0.1:0".parse().expect("addr"), cfg)
            .await
            .expect("simulator");
        let params = ServerParams {
            server_id: 11,
            ip: "192.0.2.11".into(),
            hostname: sim.addr.ip().to_string(),
            username: "admin".into(),
            password: Secret::new("PASSWORD"),
            access_hash: Secret::new(""),
            secure: false,
            tls_verify: true,
            port: Some(sim.addr.port()),
        };
        let shared = Shared::new(&ModuleOptions::default());
        let default = DirectAdminModule::new(&shared);
        let n_default = default.user_concurrency();
        let one = DirectAdminModule::new(&shared).with_user_concurrency(1);

        let mut times = Vec::new();
        for (label, m) in [("1", &one), ("default", &default)] {
            let before = sim.request_count();
            let started = Instant::now();
            let l = m
                .list_accounts(&params, &NoProgress)
                .await
                .expect("listing succeeds");
            let took = started.elapsed();
            assert_eq!(l.accounts.len(), users);
            assert!(l.skipped.is_empty());
            println!(
                "directadmin listing, {users} users, {} ms per request, concurrency {label}{}: \
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
