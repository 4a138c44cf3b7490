//! Analysis benchmark (DESIGN.md §6): 1,000,000 remote accounts × 1,000,000 services.
//!
//! `cargo bench -p serversync-core --bench analysis` (add `-- --quick` or set
//! `BENCH_QUICK=1` for 100,000 × 100,000).
//!
//! Prints the time of `analyse` (min and median of a few iterations), items per second, the
//! RSS before the analysis and the peak RSS (`VmHWM`) after it, against the targets
//! (≤ 1 s, peak RSS ≤ 1.5 GB). It then times the phases the analysis goes through, rebuilt
//! from the crate's public functions (key normalisation, hash indexes, field comparison,
//! item construction/sort, result drop), so the time can be attributed.
//!
//! No timed assertions: this prints figures only.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serversync_core::analysis::{
    analyse, billing_identifier, compare, identifier_key, Analysis, AnalysisInput, BillingRecord,
    BillingRef, Item,
};
use serversync_core::model::{Service, ServiceStatus};
use serversync_core::module::{MetaData, RemoteAccount, RemoteStatus, UniqueIdField};
use serversync_core::normalize::domain_key;
use time::{Date, Duration as TDuration, Month, PrimitiveDateTime, Time};

const TARGET_SECS: f64 = 1.0;
const TARGET_RSS_BYTES: f64 = 1.5e9;
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

    println!("== analysis benchmark: {n} remote accounts x ~{n} services, {iters} iterations ==");
    println!(
        "load average at start: {} (figures are noisy when other jobs share the CPUs)",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "machine: {} CPUs available; analyse() is single-threaded",
        std::thread::available_parallelism().map_or(0, |n| n.get())
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

    let mut runs = vec![secs(t_first)];
    let mut drops = vec![secs(t_drop)];
    for _ in 1..iters {
        let (a, t) = time(|| analyse(&input));
        runs.push(secs(t));
        let (_, d) = time(|| drop(black_box(a)));
        drops.push(secs(d));
    }
    let hwm_after = proc_status("VmHWM:").unwrap_or(0);
    let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let runs_str: Vec<String> = runs.iter().map(|r| format!("{r:.3}")).collect();
    let med = median(&mut runs);
    let med_drop = median(&mut drops);
    let total_in = data.accounts.len() + data.services.len();

    println!("analyse() runs (s): [{}]", runs_str.join(", "));
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
        "memory: RSS before {}; peak during analysis {}{}; analysis' own share ≈ {} \
         (result alone ≈ {})",
        gb(rss_inputs),
        gb(hwm_first.max(hwm_after)),
        if hwm_reset {
            ""
        } else {
            " (VmHWM could not be reset: includes input generation)"
        },
        gb(hwm_first
            .max(hwm_after)
            .saturating_sub(hwm_before.max(rss_inputs))),
        gb(rss_with_result.saturating_sub(rss_inputs)),
    );
    let peak = hwm_first.max(hwm_after);
    println!();
    println!(
        "analysis {} x {}: {:.2} s median, {:.2} s min (target ≤ {:.0} s) {}, peak RSS {} (target ≤ {:.1} GB) {}",
        fmt_n(data.accounts.len()),
        fmt_n(data.services.len()),
        med,
        min,
        TARGET_SECS,
        verdict(med <= TARGET_SECS, med / TARGET_SECS),
        gb(peak),
        TARGET_RSS_BYTES / 1e9,
        verdict(peak as f64 <= TARGET_RSS_BYTES, peak as f64 / TARGET_RSS_BYTES),
    );
    println!();

    if std::env::var("BENCH_PHASES").map_or(true, |v| v != "0") {
        phases(&input, &data);
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

/// Phases of the analysis, rebuilt from public functions (approximate: the real function
/// interleaves them). Each phase is timed alone; best of 3.
fn phases(input: &AnalysisInput<'_>, data: &Data) {
    println!("-- phases (rebuilt from public API; best of 3) --");
    let field = &input.meta.unique_identifier_field;
    let best = |f: &mut dyn FnMut() -> Duration| -> f64 {
        (0..3).map(|_| secs(f())).fold(f64::INFINITY, f64::min)
    };
    let mut report = Vec::<(&str, f64)>::new();

    // 1. Key normalisation (remote side, then billing side).
    let t_rkeys = best(&mut || {
        let (v, t) = time(|| {
            input
                .accounts
                .iter()
                .map(|a| identifier_key(field, &a.unique_identifier))
                .collect::<Vec<_>>()
        });
        drop(black_box(v));
        t
    });
    report.push((
        "domain_key, remote side (alloc Vec<Option<String>>)",
        t_rkeys,
    ));
    let t_skeys = best(&mut || {
        let (v, t) = time(|| {
            input
                .services
                .iter()
                .map(|r| identifier_key(field, billing_identifier(field, &r.service)))
                .collect::<Vec<_>>()
        });
        drop(black_box(v));
        t
    });
    report.push(("domain_key, billing side", t_skeys));
    // domain_key alone on ASCII (fast path) vs the non-plain inputs (IDNA path).
    let plain: Vec<&str> = input
        .services
        .iter()
        .map(|r| r.service.domain.as_str())
        .collect();
    let (idna_inputs, ascii_inputs): (Vec<&str>, Vec<&str>) = plain.iter().partition(|d| {
        !d.is_ascii()
            || d.chars().any(|c| c.is_ascii_uppercase())
            || d.ends_with('.')
            || d.contains("xn--")
    });
    let t_ascii = best(&mut || {
        time(|| {
            for d in &ascii_inputs {
                black_box(domain_key(d));
            }
        })
        .1
    });
    let t_idna = best(&mut || {
        time(|| {
            for d in &idna_inputs {
                black_box(domain_key(d));
            }
        })
        .1
    });
    let t_lower = best(&mut || {
        time(|| {
            for d in &ascii_inputs {
                black_box(d.trim().to_ascii_lowercase());
            }
        })
        .1
    });
    println!(
        "   baseline: trim + to_ascii_lowercase (one String alloc) on the plain inputs {:.3} s ({:.0} ns each)",
        t_lower,
        t_lower * 1e9 / ascii_inputs.len().max(1) as f64
    );
    println!(
        "   domain_key: {} plain inputs {:.3} s ({:.0} ns each); {} non-plain (upper/dot/IDN) {:.3} s ({:.0} ns each)",
        ascii_inputs.len(),
        t_ascii,
        t_ascii * 1e9 / ascii_inputs.len().max(1) as f64,
        idna_inputs.len(),
        t_idna,
        t_idna * 1e9 / idna_inputs.len().max(1) as f64
    );

    let remote_keys: Vec<Option<String>> = input
        .accounts
        .iter()
        .map(|a| identifier_key(field, &a.unique_identifier))
        .collect();
    let service_keys: Vec<Option<String>> = input
        .services
        .iter()
        .map(|r| identifier_key(field, billing_identifier(field, &r.service)))
        .collect();

    // 2. Hash indexes (as analyse builds them: &str keys, SipHash).
    let t_index = best(&mut || {
        let (v, t) = time(|| {
            let mut count: HashMap<&str, u32> = HashMap::with_capacity(remote_keys.len());
            for k in remote_keys.iter().flatten() {
                *count.entry(k.as_str()).or_insert(0) += 1;
            }
            let mut by_key: HashMap<&str, Vec<usize>> = HashMap::with_capacity(service_keys.len());
            for (i, k) in service_keys.iter().enumerate() {
                if let Some(k) = k {
                    by_key.entry(k.as_str()).or_default().push(i);
                }
            }
            (count, by_key)
        });
        drop(black_box(v));
        t
    });
    report.push((
        "hash indexes (remote counts + by_key Vec<usize> per key)",
        t_index,
    ));

    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::with_capacity(service_keys.len());
    for (i, k) in service_keys.iter().enumerate() {
        if let Some(k) = k {
            by_key.entry(k.as_str()).or_default().push(i);
        }
    }
    // 3. Lookups + compare() of every candidate.
    let t_lookup = best(&mut || {
        time(|| {
            let mut hits = 0usize;
            for k in remote_keys.iter().flatten() {
                if let Some(v) = by_key.get(k.as_str()) {
                    hits += v.len();
                }
            }
            black_box(hits)
        })
        .1
    });
    report.push(("hash lookups (one per remote account)", t_lookup));
    let pairs: Vec<(usize, usize)> = remote_keys
        .iter()
        .enumerate()
        .filter_map(|(ai, k)| {
            let k = k.as_deref()?;
            by_key.get(k).map(|v| v.iter().map(move |&si| (ai, si)))
        })
        .flatten()
        .collect();
    let t_compare = best(&mut || {
        let (v, t) = time(|| {
            pairs
                .iter()
                .map(|&(ai, si)| {
                    compare(
                        input.meta,
                        input.server_ip,
                        &input.accounts[ai],
                        &input.services[si],
                    )
                })
                .collect::<Vec<_>>()
        });
        drop(black_box(v));
        t
    });
    report.push(("compare() of every candidate pair", t_compare));
    println!(
        "   compare(): {} pairs, {:.0} ns per pair",
        pairs.len(),
        t_compare * 1e9 / pairs.len().max(1) as f64
    );
    // compare() sub-costs on the pairs: date formatting, e-mail lower-casing, IP parse.
    let t_dates = best(&mut || {
        time(|| {
            for &(ai, si) in &pairs {
                if let Some(c) = input.accounts[ai].created {
                    black_box(serversync_core::model::format_date(c.date()));
                }
                if let Some(d) = input.services[si].service.regdate {
                    black_box(serversync_core::model::format_date(d));
                }
            }
        })
        .1
    });
    let t_email = best(&mut || {
        time(|| {
            for &(ai, si) in &pairs {
                let a = input.accounts[ai].email.as_deref().unwrap_or("");
                let b = input.services[si].client_email.as_deref().unwrap_or("");
                black_box(a.trim().to_lowercase() == b.trim().to_lowercase());
            }
        })
        .1
    });
    let t_dk2 = best(&mut || {
        time(|| {
            for &(ai, si) in &pairs {
                black_box(
                    domain_key(&input.accounts[ai].domain)
                        == domain_key(&input.services[si].service.domain),
                );
            }
        })
        .1
    });
    println!(
        "   inside compare(): 2× format_date {:.3} s; e-mail to_lowercase ×2 {:.3} s; domain_key ×2 again {:.3} s",
        t_dates, t_email, t_dk2
    );

    // 4. Item construction: key.to_string() + Vec allocations per item.
    let t_items = best(&mut || {
        let (v, t) = time(|| {
            remote_keys
                .iter()
                .enumerate()
                .map(|(ai, k)| Item {
                    category: serversync_core::analysis::Category::InSync,
                    key: k.clone().unwrap_or_default(),
                    remote: Some(ai),
                    billing: Some(BillingRef::ThisServer(
                        ai.min(input.services.len().saturating_sub(1)),
                    )),
                    diffs: Vec::new(),
                    actions: &[],
                    notes: Vec::new(),
                    related_service_ids: Vec::new(),
                })
                .collect::<Vec<_>>()
        });
        drop(black_box(v));
        t
    });
    report.push(("Item construction (key String copy per item)", t_items));

    // 5. The final sort, on a shuffled copy of a real result.
    let analysis: Analysis = analyse(input);
    let mut items = analysis.items.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sid = |it: &Item| it.service_id(input);
    let t_sort = best(&mut || {
        items.shuffle(&mut rng);
        time(|| {
            items.sort_unstable_by(|a, b| {
                a.category
                    .cmp(&b.category)
                    .then_with(|| a.key.cmp(&b.key))
                    .then_with(|| sid(a).cmp(&sid(b)))
                    .then_with(|| {
                        let ra = a
                            .remote_account(input)
                            .map(|r| (&r.unique_identifier, &r.username));
                        let rb = b
                            .remote_account(input)
                            .map(|r| (&r.unique_identifier, &r.username));
                        ra.cmp(&rb)
                    })
            })
        })
        .1
    });
    report.push((
        "final sort of the items (category, key, service id, …)",
        t_sort,
    ));
    let (_, t_drop) = time(|| drop(black_box(analysis)));
    report.push(("dropping the result (outside analyse)", secs(t_drop)));
    drop(items);

    let sum: f64 = report.iter().take(report.len() - 1).map(|r| r.1).sum();
    for (name, t) in &report {
        println!("   {:<62} {:>7.3} s", name, t);
    }
    println!(
        "   {:<62} {:>7.3} s (phases inside analyse, approximate)",
        "sum", sum
    );
    let _ = data;
}
