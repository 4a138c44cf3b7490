//! Listing 5,000 Virtualmin servers from the simulator with 20 ms per request, at
//! concurrency 1 and at the default, in one run (issue 8 "Measure").
//!
//! `cargo bench -p serversync-modules --bench virtualmin_listing`
//!
//! Virtualmin lists a whole server in one `list-domains` request (no paging, no per-domain
//! call), so concurrency cannot change the time: the ratio is expected near 1. The figures
//! are printed anyway, with the requests each listing made.

use std::time::{Duration, Instant};

use panel_sim::{spawn_virtualmin, VirtualminSimConfig};
use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use serversync_modules::{ModuleOptions, ModuleRegistry, NoProgress};

const SERVERS: usize = 5_000;
const DELAY: Duration = Duration::from_millis(20);
const ROUNDS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let sim = spawn_virtualmin(
        "127.0.0.1:0".parse().expect("address"),
        VirtualminSimConfig {
            delay: DELAY,
            ..VirtualminSimConfig::generated(SERVERS, 1)
        },
    )
    .await
    .expect("simulator starts");
    let params = ServerParams {
        server_id: 13,
        ip: "192.0.2.20".into(),
        hostname: sim.addr.ip().to_string(),
        username: "root".into(),
        password: Secret::new("PASSWORD"),
        access_hash: Secret::new(""),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    };
    let default = ModuleOptions::default().max_concurrency;
    let mut medians = Vec::new();
    for concurrency in [1, default] {
        let m = ModuleRegistry::builtin(ModuleOptions {
            max_concurrency: concurrency,
            ..ModuleOptions::default()
        })
        .get("virtualmin")
        .expect("built in");
        // Warm-up: the simulator builds and caches its answer on the first request.
        let _ = m.list_accounts(&params, &NoProgress).await;
        let mut times = Vec::with_capacity(ROUNDS);
        let before = sim.request_count();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let l = m
                .list_accounts(&params, &NoProgress)
                .await
                .expect("listing succeeds");
            times.push(started.elapsed());
            assert_eq!(l.accounts.len(), SERVERS);
        }
        let requests = (sim.request_count() - before) / ROUNDS as u64;
        times.sort();
        let median = times[ROUNDS / 2];
        println!(
            "virtualmin: {SERVERS} servers, {} ms per request, concurrency {concurrency}: \
             median {:.1} ms over {ROUNDS} rounds (min {:.1}, max {:.1}), {requests} request(s) per listing",
            DELAY.as_millis(),
            ms(median),
            ms(times[0]),
            ms(times[ROUNDS - 1]),
        );
        medians.push(median);
    }
    println!(
        "virtualmin: concurrency 1 / default ({default}) = {:.2}x (one request per listing: \
         concurrency does not apply)",
        medians[0].as_secs_f64() / medians[1].as_secs_f64()
    );
    sim.shutdown().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
