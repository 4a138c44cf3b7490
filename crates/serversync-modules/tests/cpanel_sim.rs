//! The cPanel module against the WHM simulator of `panel-sim`.

use std::time::Duration;

use panel_sim::{spawn_cpanel, CpanelSimConfig, Fault, SimHandle};
use serde_json::Value;
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use serversync_modules::{
    ListingProgress, ModuleError, ModuleOptions, ModuleRegistry, NoProgress, TimeoutPhase,
};

async fn sim(n: usize) -> SimHandle {
    spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::generated(n, 7),
    )
    .await
    .expect("simulator starts")
}

fn params(sim: &SimHandle, token: &str) -> ServerParams {
    ServerParams {
        server_id: 1,
        ip: "192.0.2.10".into(),
        hostname: sim.addr.ip().to_string(),
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new(token),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    }
}

fn opts(chunk_size: usize) -> ModuleOptions {
    ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        chunk_size,
        max_concurrency: 4,
        ..ModuleOptions::default()
    }
}

struct Count(std::sync::Mutex<(u64, u64)>);
impl ListingProgress for Count {
    fn total(&self, total: u64) {
        self.0.lock().unwrap().0 = total;
    }
    fn advanced(&self, received: u64) {
        self.0.lock().unwrap().1 = received;
    }
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

#[tokio::test]
async fn lists_every_simulated_account_in_order_with_its_values() {
    let sim = sim(1_000).await;
    let progress = Count(Default::default());
    let m = ModuleRegistry::builtin(opts(128)).get("cpanel").unwrap();
    let l = m
        .list_accounts(&params(&sim, "TOKEN"), &progress)
        .await
        .expect("listing succeeds");
    let raw = sim.accounts();
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    assert_eq!(l.accounts.len(), 1_000);
    assert_eq!(*progress.0.lock().unwrap(), (1_000, 1_000));
    // 1,000 / 128 = 8 pages.
    assert_eq!(sim.request_count(), 8);

    let (mut suspended_str, mut unknown_email, mut zero_date, mut reseller) = (0, 0, 0, 0);
    for (a, r) in l.accounts.iter().zip(raw.iter()) {
        assert_eq!(a.username, text(r, "user"));
        assert_eq!(a.domain, text(r, "domain"));
        assert_eq!(a.unique_identifier, a.domain);
        assert_eq!(a.product, text(r, "plan"));
        assert_eq!(a.owner.as_deref(), Some(text(r, "owner")));
        assert_eq!(a.primary_ip, text(r, "ip"));
        let email = text(r, "email");
        if email == "*unknown*" || email.is_empty() {
            unknown_email += 1;
            assert_eq!(a.email, None);
        } else {
            assert_eq!(a.email.as_deref(), Some(email));
        }
        let susp = match &r["suspended"] {
            Value::String(s) => {
                suspended_str += 1;
                s == "1"
            }
            v => v.as_i64() == Some(1),
        };
        assert_eq!(a.status == RemoteStatus::Suspended, susp, "{}", a.username);
        if susp {
            assert_eq!(a.status_detail.as_deref(), Some(text(r, "suspendreason")));
        }
        let secs = match &r["unix_startdate"] {
            Value::String(s) => s.parse::<i64>().unwrap(),
            v => v.as_i64().unwrap(),
        };
        if secs == 0 {
            zero_date += 1;
            assert_eq!(a.created, None);
        } else {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            assert_eq!(
                a.created.map(format_created),
                Some(format_created(time::PrimitiveDateTime::new(
                    t.date(),
                    t.time()
                )))
            );
        }
        if a.owner
            .as_deref()
            .is_some_and(|o| o != "root" && o != a.username)
        {
            reseller += 1;
            assert!(
                a.product
                    .starts_with(&format!("{}_", a.owner.as_deref().unwrap()))
                    || a.product == "basic"
            );
        }
    }
    // The mix really exercised the quirks.
    assert!(suspended_str > 0 && unknown_email > 0 && zero_date > 0 && reseller > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn simulator_faults_map_to_clear_errors() {
    let sim = sim(30).await;
    let m = ModuleRegistry::builtin(ModuleOptions {
        read_timeout: Duration::from_millis(300),
        ..opts(10)
    })
    .get("cpanel")
    .unwrap();
    let p = params(&sim, "TOKEN");

    sim.set_fault(Some(Fault::ErrorIn200));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "Failed to load the account list: Resource temporarily unavailable".into()
        )
    );

    sim.set_fault(Some(Fault::Http500));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Http { status: 500, snippet } if !snippet.is_empty()),
        "{e:?}"
    );

    sim.set_fault(Some(Fault::Truncated));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(matches!(e, ModuleError::Malformed(_)), "{e:?}");

    sim.set_fault(Some(Fault::Slow(Duration::from_secs(3))));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(
            e,
            ModuleError::Timeout {
                phase: TimeoutPhase::Read,
                ..
            }
        ),
        "{e:?}"
    );

    sim.set_fault(Some(Fault::BadAuth));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 403 });

    sim.set_fault(None);
    let e = m
        .list_accounts(&params(&sim, "WRONG"), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 403 });
    assert!(!format!("{e} {e:?}").contains("WRONG"));

    assert_eq!(
        m.list_accounts(&p, &NoProgress)
            .await
            .unwrap()
            .accounts
            .len(),
        30
    );
    sim.shutdown().await;
}

/// Throughput check (not a timed test): `cargo test --release -p serversync-modules
/// --test cpanel_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hundred_thousand_accounts() {
    let sim = sim(100_000).await;
    let m = ModuleRegistry::builtin(ModuleOptions::default())
        .get("cpanel")
        .unwrap();
    let p = params(&sim, "TOKEN");
    // Warm the simulator's cache, then time a listing.
    let _ = m.list_accounts(&p, &NoProgress).await.unwrap();
    let started = std::time::Instant::now();
    let l = m.list_accounts(&p, &NoProgress).await.unwrap();
    println!(
        "listed {} accounts in {:?}",
        l.accounts.len(),
        started.elapsed()
    );
    assert_eq!(l.accounts.len(), 100_000);
    assert!(l.skipped.is_empty());
    sim.shutdown().await;
}
