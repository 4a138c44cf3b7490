//! Analysis benchmark (DESIGN.md §6): 1,000,000 remote accounts × 1,000,000 services.
//!
//! `cargo bench -p serversync-core --bench analysis` (add `-- --quick` or set
//! `BENCH_QUICK=1` for 100,000 × 100,000).
//!
//! Prints, from one run: the median (and min) of `analyse` (two threads) and of
//! `analyse_threads(_, 1)` (one thread) over a few iterations; the median of a plain hash join
//! of the same normalised keys (an `FxHashMap` of the services' keys probed with every
//! account's key, one thread, keys normalised outside its timing), run interleaved with the
//! analyses so that load from other jobs hits them alike; the ratios; the RSS before the
//! analysis and the peak RSS (`VmHWM`) during it — against the targets (≤ 1 s, ≤ 2× the
//! join, peak RSS ≤ 1.5 GB). Then (unless `BENCH_PHASES=0`) the phases of the real function
//! as `analyse_observed` reports them, on one thread and on two.
//!
//! `BENCH_ONLY_THREADS=T` runs nothing but `BENCH_ITERS` analyses on `T` threads after
//! generating the inputs, for `perf stat` and `valgrind --tool=callgrind` (compare two runs
//! that differ in `BENCH_ITERS` only: instruction and cycle counts do not depend on the load
//! from other jobs the way wall time does).
//!
//! No timed assertions: this prints figures only.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use serversync_core::analysis::{
    analyse, analyse_observed, analyse_threads, billing_identifier, AnalysisInput, BillingRecord,
    Phase,
};
use serversync_core::model::{Service, ServiceStatus};
use serversync_core::module::{MetaData, RemoteAccount, RemoteStatus, UniqueIdField};
use serversync_core::normalize::domain_key_cow;
use time::{Date, Duration as TDuration, Month, PrimitiveDateTime, Time};

const TARGET_SECS: f64 = 1.0;
const TARGET_RSS_BYTES: f64 = 1.5e9;
/// The analysis may take at most this many times the plain hash join of the same keys.
const TARGET_JOIN_RATIO: f64 = 2.0;
const SERVER_IP: &str = "192.0.2.10";

const WORDS: &[&str] = &[
    "bakery", "garage", "studio", "shop", "clinic", "design", "travel", "books", "garden", "photo",
];
const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "rupert", "sybil", "trent", "victor", "walter",
];
const IDN: &[&str] = &["bücher", "münchen", "köln", "café", "zürich"];
const PLANS: &[&str] = &["basic", "silver", "gold", "default"];

fn meta() -> MetaData {
    MetaData {
        display_name: "cPanel".into(),
        unique_identifier_display_name: "Domain".into(),
        unique_identifier_field: UniqueIdField::Domain,
        product_field: "configoption1".into(),
        default_secure_port: 2087,
        default_plain_port: 2086,
    }
}

/// What the generator produced, for the printout.
#[derive(Default, Debug)]
struct Mix {
    matched: usize,
    differ_status: usize,
    differ_product: usize,
    differ_ip: usize,
    www: usize,
    case_dot: usize,
    idn: usize,
    duplicates: usize,
    closed_only: usize,
    not_in_billing: usize,
    not_on_server: usize,
    shared_remote_key: usize,
}

struct Data {
    accounts: Vec<RemoteAccount>,
    services: Vec<BillingRecord>,
    mix: Mix,
}

/// `n` remote accounts and about `n` services (deterministic): ~95% of the accounts have a
/// service (≈90% of all items are matched pairs), ~5% of the accounts are not in billing, and
/// ~5% extra services are not on the server; among the pairs a few percent differ in
/// status/product/IP, some billing domains are `www.`/upper-case/trailing-dot/IDN-Unicode
/// forms, a few keys have two services, and a few remote keys are shared by two accounts.
fn generate(n: usize, seed: u64) -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mix = Mix::default();
    let base = PrimitiveDateTime::new(
        Date::from_calendar_date(2015, Month::January, 1).expect("valid date"),
        Time::MIDNIGHT,
    );
    let mut accounts = Vec::with_capacity(n);
    let mut services = Vec::with_capacity(n + n / 100);
    let mut next_id: i64 = 1;
    let n_paired = n * 95 / 100;
    let n_extra = n - n_paired; // services not on the server: keeps both sides at ~n

    let mk_service = |id: i64,
                      domain: String,
                      user: &str,
                      plan: &str,
                      status: ServiceStatus,
                      ip: &str,
                      regdate: Option<Date>,
                      email: &str| BillingRecord {
        service: Service {
            id,
            client_id: 1 + id % 50_000,
            product_id: 10,
            server_id: Some(1),
            domain,
            username: user.to_string(),
            dedicated_ip: ip.to_string(),
            regdate,
            status,
            billing_cycle: "Monthly".into(),
            amount: "9.99".into(),
            next_due_date: Date::from_calendar_date(2026, Month::December, 31).ok(),
            termination_date: None,
            custom_fields: BTreeMap::new(),
            version: 1,
        },
        package: Some(plan.to_string()),
        client_email: Some(email.to_string()),
    };

    for i in 0..n {
        let name = NAMES[rng.gen_range(0..NAMES.len())];
        let user = format!("{name}{i}");
        let plan = PLANS[rng.gen_range(0..PLANS.len())];
        let created = base + TDuration::seconds(rng.gen_range(0..315_000_000));
        let email = format!("{user}@mail.test");
        let roll = rng.gen_range(0..1000);
        let (domain, billing_domain) = if roll < 3 {
            // The panel has the IDNA ASCII form, billing the Unicode form.
            let u = IDN[rng.gen_range(0..IDN.len())];
            mix.idn += 1;
            let unicode = format!("{u}{i}.test");
            let ascii = idna::domain_to_ascii(&unicode).expect("valid IDN");
            (ascii, unicode)
        } else {
            let d = if rng.gen_bool(0.7) {
                format!("{user}.test")
            } else {
                format!("{user}-{}.test", WORDS[rng.gen_range(0..WORDS.len())])
            };
            let b = match roll {
                3..=7 => {
                    mix.www += 1;
                    format!("www.{d}")
                }
                8..=12 => {
                    mix.case_dot += 1;
                    format!("{}.", d.to_uppercase())
                }
                _ => d.clone(),
            };
            (d, b)
        };
        let suspended = rng.gen_ratio(5, 100);
        let acc = RemoteAccount {
            email: Some(email.clone()),
            username: user.clone(),
            domain: domain.clone(),
            unique_identifier: domain.clone(),
            product: plan.to_string(),
            primary_ip: SERVER_IP.to_string(),
            created: Some(created),
            status: if suspended {
                RemoteStatus::Suspended
            } else {
                RemoteStatus::Active
            },
            owner: Some("root".into()),
            status_detail: suspended.then(|| "Suspended for nonpayment.".to_string()),
            notes: Vec::new(),
        };
        if i < n_paired {
            mix.matched += 1;
            let mut status = if suspended {
                ServiceStatus::Suspended
            } else {
                ServiceStatus::Active
            };
            let mut bplan = plan;
            let mut ip = "";
            match rng.gen_range(0..100) {
                0..=2 => {
                    mix.differ_status += 1;
                    status = if suspended {
                        ServiceStatus::Active
                    } else {
                        ServiceStatus::Suspended
                    };
                }
                3..=4 => {
                    mix.differ_product += 1;
                    bplan = if plan == "gold" { "silver" } else { "gold" };
                }
                5 => {
                    mix.differ_ip += 1;
                    ip = "198.51.100.7";
                }
                6 if rng.gen_ratio(1, 5) => {
                    mix.closed_only += 1;
                    status = ServiceStatus::Terminated;
                }
                _ => {}
            }
            services.push(mk_service(
                next_id,
                billing_domain.clone(),
                &user,
                bplan,
                status,
                ip,
                Some(created.date()),
                &email,
            ));
            next_id += 1;
            // ~0.2%: a second service with the same domain (a duplicate, live or closed).
            if rng.gen_ratio(2, 1000) {
                mix.duplicates += 1;
                let st = if rng.gen_bool(0.5) {
                    ServiceStatus::Active
                } else {
                    ServiceStatus::Cancelled
                };
                services.push(mk_service(
                    next_id,
                    billing_domain,
                    &format!("{user}x"),
                    plan,
                    st,
                    "",
                    Some(created.date()),
                    &email,
                ));
                next_id += 1;
            }
        } else {
            mix.not_in_billing += 1;
        }
        accounts.push(acc);
    }
    // A few remote accounts sharing one key (conflicts): 0.01%.
    for k in 0..(n / 10_000) {
        let mut twin = accounts[k * 7].clone();
        twin.username.push('z');
        accounts.push(twin);
        mix.shared_remote_key += 1;
    }
    for j in 0..n_extra {
        let user = format!("gone{j}");
        let st = match rng.gen_range(0..10) {
            0 => ServiceStatus::Pending,
            1 => ServiceStatus::Terminated,
            _ => ServiceStatus::Active,
        };
        services.push(mk_service(
            next_id,
            format!("{user}.test"),
            &user,
            "basic",
            st,
            "",
            None,
            &format!("{user}@mail.test"),
        ));
        next_id += 1;
        mix.not_on_server += 1;
    }
    // Neither side arrives in key order.
    accounts.shuffle(&mut rng);
    services.shuffle(&mut rng);
    Data {
        accounts,
        services,
        mix,
    }
}

fn proc_status(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets `VmHWM` to the current RSS (Linux: writing 5 to `clear_refs`); false if refused.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn gb(b: u64) -> String {
    format!("{:.2} GB", b as f64 / 1e9)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 7 } else { 5 });
    // Zero runs only make sense for `BENCH_ONLY_THREADS` (see `only`).
    let iters = if std::env::var("BENCH_ONLY_THREADS").is_ok() {
        iters
    } else {
        iters.max(1)
    };

    println!("== analysis benchmark: {n} remote accounts x ~{n} services, {iters} iterations ==");
    println!(
        "load average at start: {} (figures are noisy when other jobs share the CPUs)",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "machine: {} CPUs available; analyse() uses 2 threads from {} accounts, \
         analyse_threads(_, 1) one",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        20_000
    );
    let rss_start = proc_status("VmRSS:").unwrap_or(0);
    let (data, gen_t) = time(|| generate(n, 42));
    let meta = meta();
    let input = AnalysisInput {
        meta: &meta,
        server_ip: SERVER_IP,
        accounts: &data.accounts,
        listing_complete: true,
        services: &data.services,
        other_live: &[],
    };
    let rss_inputs = proc_status("VmRSS:").unwrap_or(0);
    if let Some(threads) = std::env::var("BENCH_ONLY_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        only(&input, threads, iters);
        return;
    }
    println!(
        "inputs: {} accounts, {} services, generated in {:.2} s; mix: {:?}",
        data.accounts.len(),
        data.services.len(),
        secs(gen_t),
        data.mix
    );
    println!(
        "RSS before the analysis: {} (process start {}, inputs ≈ {})",
        gb(rss_inputs),
        gb(rss_start),
        gb(rss_inputs.saturating_sub(rss_start))
    );

    // The peak must be the analysis' own: reset VmHWM to the current RSS first.
    let hwm_reset = reset_hwm();
    let hwm_before = proc_status("VmHWM:").unwrap_or(0);

    // First run, alone, for the peak RSS (the result is alive while the peak is read).
    let (first, t_first) = time(|| analyse(&input));
    let hwm_first = proc_status("VmHWM:").unwrap_or(0);
    let rss_with_result = proc_status("VmRSS:").unwrap_or(0);
    let items = first.items.len();
    println!("result: {} items, counts {:?}", items, first.counts);
    let (_, t_drop) = time(|| drop(black_box(first)));

    // The join's keys are normalised outside its timing (it is the floor of "find the
    // pairs"), after the first run so that they are not part of its peak.
    let rss_pre_join = proc_status("VmRSS:").unwrap_or(0);
    let (join_keys, t_norm) = time(|| JoinKeys::new(&input));
    let join_rss = proc_status("VmRSS:").unwrap_or(0);

    // The three are interleaved, so that load from other jobs hits them alike.
    let mut runs = vec![secs(t_first)];
    let mut runs1 = Vec::new();
    let mut joins = Vec::new();
    let mut drops = vec![secs(t_drop)];
    let mut matched = 0usize;
    for i in 0..iters {
        if i > 0 {
            let (a, t) = time(|| analyse(&input));
            runs.push(secs(t));
            let (_, d) = time(|| drop(black_box(a)));
            drops.push(secs(d));
        }
        let (a, t) = time(|| analyse_threads(&input, 1));
        runs1.push(secs(t));
        drop(black_box(a));
        let (m, t) = time(|| join_keys.join());
        matched = m;
        joins.push(secs(t));
    }
    let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let fmt_runs = |v: &[f64]| -> String {
        v.iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("analyse() runs (s): [{}]", fmt_runs(&runs));
    println!("analyse_threads(_, 1) runs (s): [{}]", fmt_runs(&runs1));
    println!("plain hash join runs (s): [{}]", fmt_runs(&joins));
    let med = median(&mut runs);
    let med1 = median(&mut runs1);
    let med_join = median(&mut joins);
    let med_drop = median(&mut drops);
    let total_in = data.accounts.len() + data.services.len();

    println!(
        "analyse(): min {:.3} s, median {:.3} s; {:.2} M input records/s ({:.2} M items/s); \
         dropping the result: median {:.3} s more",
        min,
        med,
        total_in as f64 / med / 1e6,
        items as f64 / med / 1e6,
        med_drop
    );
    println!(
        "plain hash join of the same normalised keys (FxHashMap<&str, u32> of the services' \
         keys, probed with every account's; one thread): median {:.3} s, {} accounts with a \
         match; normalising the keys for it (outside its timing): {:.3} s, {} of keys",
        med_join,
        matched,
        secs(t_norm),
        gb(join_rss.saturating_sub(rss_pre_join))
    );
    // The first run's peak: later runs share the process with the join's keys.
    let peak = hwm_first;
    println!(
        "memory: RSS before {}; peak during analysis {}{}; analysis' own share ≈ {} \
         (result alone ≈ {})",
        gb(rss_inputs),
        gb(peak),
        if hwm_reset {
            ""
        } else {
            " (VmHWM could not be reset: includes input generation)"
        },
        gb(peak.saturating_sub(hwm_before.max(rss_inputs))),
        gb(rss_with_result.saturating_sub(rss_inputs)),
    );
    println!();
    let (na, ns) = (fmt_n(data.accounts.len()), fmt_n(data.services.len()));
    println!(
        "analysis {na} x {ns}: {:.3} s median (2 threads), {:.3} s min (target ≤ {:.0} s) {}",
        med,
        min,
        TARGET_SECS,
        verdict(med <= TARGET_SECS, med / TARGET_SECS),
    );
    println!(
        "analysis {na} x {ns}, one thread: {:.3} s median (target ≤ {:.0} s) {}",
        med1,
        TARGET_SECS,
        verdict(med1 <= TARGET_SECS, med1 / TARGET_SECS),
    );
    println!(
        "vs the plain hash join ({:.3} s): 2 threads {:.2}×, one thread {:.2}× (target ≤ {:.0}×) {} / {}",
        med_join,
        med / med_join,
        med1 / med_join,
        TARGET_JOIN_RATIO,
        verdict(
            med / med_join <= TARGET_JOIN_RATIO,
            med / med_join / TARGET_JOIN_RATIO
        ),
        verdict(
            med1 / med_join <= TARGET_JOIN_RATIO,
            med1 / med_join / TARGET_JOIN_RATIO
        ),
    );
    // For context only (the target is against the join alone): the join plus normalising
    // its keys, which the analysis must do too (this normalisation is the plain one, one
    // record after the other).
    let floor = med_join + secs(t_norm);
    println!(
        "   for context: join + normalising its keys {:.3} s → 2 threads {:.2}×, one thread {:.2}×",
        floor,
        med / floor,
        med1 / floor
    );
    println!(
        "peak RSS {} (target ≤ {:.1} GB) {}",
        gb(peak),
        TARGET_RSS_BYTES / 1e9,
        verdict(
            peak as f64 <= TARGET_RSS_BYTES,
            peak as f64 / TARGET_RSS_BYTES
        ),
    );
    println!();
    drop(join_keys);

    if std::env::var("BENCH_PHASES").map_or(true, |v| v != "0") {
        phases(&input);
    }
}

/// `BENCH_ONLY_THREADS=T`: nothing but `iters` runs of `analyse_threads(_, T)` after the
/// input generation (`BENCH_ITERS=0`: none), for profilers and counters (`perf stat`,
/// `valgrind --tool=callgrind`): the difference of two such runs is the analysis alone.
fn only(input: &AnalysisInput<'_>, threads: usize, iters: usize) {
    let runs: Vec<String> = (0..iters)
        .map(|_| {
            let (a, t) = time(|| analyse_threads(input, threads));
            drop(black_box(a));
            format!("{:.3}", secs(t))
        })
        .collect();
    println!(
        "analyse_threads(_, {threads}) runs (s): [{}]",
        runs.join(", ")
    );
}

/// The normalised keys of both sides, borrowed where the record already holds its key
/// (as the analysis does), for the plain hash join.
struct JoinKeys<'a> {
    services: Vec<Cow<'a, str>>,
    accounts: Vec<Cow<'a, str>>,
}

impl<'a> JoinKeys<'a> {
    fn new(input: &AnalysisInput<'a>) -> Self {
        let field = &input.meta.unique_identifier_field;
        JoinKeys {
            services: input
                .services
                .iter()
                .filter_map(|r| domain_key_cow(billing_identifier(field, &r.service)))
                .collect(),
            accounts: input
                .accounts
                .iter()
                .filter_map(|a| domain_key_cow(&a.unique_identifier))
                .collect(),
        }
    }

    /// Build a map of the services' keys (sized from their count), probe it with every
    /// account's key; returns how many accounts found a service.
    fn join(&self) -> usize {
        let mut map: FxHashMap<&str, u32> =
            FxHashMap::with_capacity_and_hasher(self.services.len(), Default::default());
        for (i, k) in self.services.iter().enumerate() {
            map.entry(k.as_ref()).or_insert(i as u32);
        }
        let mut hits = 0usize;
        for k in &self.accounts {
            if let Some(&i) = map.get(k.as_ref()) {
                hits += 1;
                black_box(i);
            }
        }
        black_box(&map);
        hits
    }
}

fn verdict(ok: bool, ratio: f64) -> String {
    format!(
        "[{} — {:.2}× target]",
        if ok { "MEETS" } else { "MISSES" },
        ratio
    )
}

fn fmt_n(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The phases of the real function ([`analyse_observed`] reports the end of each), on one
/// thread and on two: the median of 3 runs per phase.
fn phases(input: &AnalysisInput<'_>) {
    for threads in [1usize, 2] {
        println!("-- phases of analyse_threads(_, {threads}), median of 3 runs --");
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); Phase::ALL.len()];
        let mut totals = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let mut last = start;
            let mut seen = Vec::new();
            let a = analyse_observed(input, threads, &mut |p| {
                let now = Instant::now();
                seen.push((p, secs(now - last)));
                last = now;
            });
            totals.push(secs(start.elapsed()));
            drop(black_box(a));
            for (p, t) in seen {
                if let Some(i) = Phase::ALL.iter().position(|q| *q == p) {
                    per[i].push(t);
                }
            }
        }
        for (p, v) in Phase::ALL.iter().zip(per.iter_mut()) {
            println!("   {:<40} {:>7.3} s", p.as_str(), median(v));
        }
        println!("   {:<40} {:>7.3} s", "total", median(&mut totals));
    }
}
