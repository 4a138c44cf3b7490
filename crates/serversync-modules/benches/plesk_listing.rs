//! Listing 5,000 subscriptions on the Plesk simulator with 20 ms per request, the owner and
//! plan lookups one batch at a time and at the module's default concurrency, in one run
//! (after one untimed warm-up listing).
//!
//! `cargo bench -p serversync-modules --bench plesk_listing` (set `PLESK_BENCH_SUBS` or
//! `PLESK_BENCH_DELAY_MS` to change the size or the delay). Prints both times, the request
//! counts and the ratio.

use std::time::{Duration, Instant};

use panel_sim::{spawn_plesk, PleskSimConfig};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::plesk::PleskModule;
use serversync_modules::{Module, ModuleOptions, NoProgress, Shared};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let subs = env_or("PLESK_BENCH_SUBS", 5_000) as usize;
    let delay = Duration::from_millis(env_or("PLESK_BENCH_DELAY_MS", 20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = PleskSimConfig {
            delay,
            ..PleskSimConfig::generated(subs, 1)
        };
        let sim = spawn_plesk("127.0.0.1:0".parse().expect("addr"), cfg)
            .await
            .expect("simulator");
        let params = ServerParams {
            server_id: 12,
            ip: "192.0.2.12".into(),
            hostname: sim.addr.ip().to_string(),
            username: "admin".into(),
            password: Secret::new(""),
            access_hash: Secret::new("TOKEN"),
            secure: false,
            tls_verify: true,
            port: Some(sim.addr.port()),
        };
        let shared = Shared::new(&ModuleOptions::default());
        let default = PleskModule::new(&shared);
        let n_default = default.concurrency();
        let one = PleskModule::new(&shared).with_concurrency(1);

        // One untimed listing first: the simulator builds (and caches) its full `webspace
        // get` document on the first request, which would otherwise count against the first
        // timed run only.
        default
            .list_accounts(&params, &NoProgress)
            .await
            .expect("warm-up listing succeeds");

        let mut times = Vec::new();
        for (label, m) in [("1", &one), ("default", &default)] {
            let before = sim.request_count();
            let started = Instant::now();
            let l = m
                .list_accounts(&params, &NoProgress)
                .await
                .expect("listing succeeds");
            let took = started.elapsed();
            assert_eq!(l.accounts.len(), subs);
            assert!(l.skipped.is_empty());
            println!(
                "plesk listing, {subs} subscriptions, {} ms per request, concurrency {label}{}: \
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
