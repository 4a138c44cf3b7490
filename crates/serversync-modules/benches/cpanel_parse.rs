//! The cPanel listing's CPU work alone: parsing and converting the `listaccts` pages of a
//! 100,000-account server (20 pages of 5,000, as the module asks for them), against a plain
//! `serde_json::Value` parse of the same bytes measured in the same run.
//!
//! `cargo bench -p serversync-modules --bench cpanel_parse`
//!
//! Environment: `PARSE_BENCH_ACCOUNTS` (default 100000), `PARSE_BENCH_ROUNDS` (default 7).
//! Prints the median of each and their ratio; no timed assertion. For an instruction count
//! that does not depend on the machine's load, run the bench binary under
//! `valgrind --tool=callgrind` with `PARSE_BENCH_ROUNDS=1`.

use std::time::Instant;

use serde_json::{json, Value};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n = env_or("PARSE_BENCH_ACCOUNTS", 100_000);
    let rounds = env_or("PARSE_BENCH_ROUNDS", 7).max(1);
    let size = 5_000;
    let accounts = panel_sim::generate_cpanel_accounts(n, 1);
    let pages: Vec<Vec<u8>> = accounts
        .chunks(size)
        .enumerate()
        .map(|(k, chunk)| {
            serde_json::to_vec(&json!({
                "metadata": {"command": "listaccts", "result": 1, "reason": "OK", "version": 1,
                    "chunk": {"start": k * size + 1, "size": size, "records": n,
                              "chunks": n.div_ceil(size), "current": k + 1}},
                "data": {"acct": chunk},
            }))
            .expect("page")
        })
        .collect();
    drop(accounts);
    let bytes: usize = pages.iter().map(Vec::len).sum();
    println!(
        "== cPanel parse: {n} accounts in {} pages, {:.1} MB, {rounds} rounds ==",
        pages.len(),
        bytes as f64 / 1e6
    );

    let (mut ours, mut plain) = (Vec::new(), Vec::new());
    let mut listed = (0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        listed = serversync_modules::cpanel::bench_parse_pages(&pages).expect("pages parse");
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let values: usize = pages
            .iter()
            .map(|p| {
                let v: Value = serde_json::from_slice(p).expect("json");
                v["data"]["acct"].as_array().map_or(0, Vec::len)
            })
            .sum();
        plain.push(t.elapsed().as_secs_f64());
        assert_eq!(values, n);
    }
    assert_eq!(
        listed.0 + listed.1,
        n,
        "every record is an account or skipped"
    );
    let (o, p) = (median(ours), median(plain));
    println!("{} accounts, {} skipped", listed.0, listed.1);
    println!(
        "parse + convert (the module's path)    median {:.1} ms  ({:.0} ns an account)",
        o * 1e3,
        o * 1e9 / n as f64
    );
    println!(
        "plain serde_json::Value parse          median {:.1} ms  ({:.0} ns an account)",
        p * 1e3,
        p * 1e9 / n as f64
    );
    println!("ratio (ours / plain parse) = {:.2}", o / p);
}
