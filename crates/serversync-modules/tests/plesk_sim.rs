//! The Plesk module against the Plesk simulator of `panel-sim`.

use std::time::Duration;

use panel_sim::{plesk_subscription, spawn_plesk, Fault, PleskSimConfig, SimHandle};
use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{Listing, RemoteStatus, ServerParams, SkippedRecord};
use serversync_modules::{ModuleError, ModuleOptions, ModuleRegistry, NoProgress, TimeoutPhase};

async fn sim(cfg: PleskSimConfig) -> SimHandle {
    spawn_plesk("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator starts")
}

/// Login `admin` with `password`; `key` as the access hash (the secret key) when not empty.
fn params(sim: &SimHandle, password: &str, key: &str) -> ServerParams {
    ServerParams {
        server_id: 12,
        ip: "192.0.2.12".into(),
        hostname: sim.addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(password),
        access_hash: Secret::new(key),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    }
}

fn registry(read_timeout: Duration) -> ModuleRegistry {
    ModuleRegistry::builtin(ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout,
        ..ModuleOptions::default()
    })
}

async fn list(sim: &SimHandle) -> Result<Listing, ModuleError> {
    let r = registry(Duration::from_secs(10));
    let m = r.get("plesk").unwrap();
    r.list_accounts(m.as_ref(), &params(sim, "PASSWORD", ""), &NoProgress)
        .await
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Subscriptions s1..sN of customer `cust` (id 2).
fn subs(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let mut v = plesk_subscription(i, &format!("s{i}.test"), "cust");
            v["ftp_login"] = json!(format!("sys{i}"));
            v
        })
        .collect()
}

#[tokio::test]
async fn lists_every_simulated_subscription_with_its_values() {
    let sim = sim(PleskSimConfig::generated(1_000, 7)).await;
    let l = list(&sim).await.expect("listing succeeds");
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    assert_eq!(l.accounts.len(), 1_000);
    let raw = sim.accounts();
    let (mut suspended, mut backup, mut v6_first, mut custom, mut reseller_plans, mut admin) =
        (0, 0, 0, 0, 0, 0);
    for (a, r) in l.accounts.iter().zip(raw.iter()) {
        assert_eq!(Some(a.domain.as_str()), text(r, "name"));
        assert_eq!(a.unique_identifier, a.domain);
        match text(r, "ftp_login") {
            Some(f) => assert_eq!(a.username, f),
            None => assert_eq!(Some(a.username.as_str()), text(r, "owner_login")),
        }
        assert_eq!(a.owner.as_deref(), text(r, "owner_login"));
        match (text(r, "owner_type"), text(r, "owner_email")) {
            (Some("admin"), _) => {
                admin += 1;
                assert_eq!(a.email, None);
                assert!(a
                    .notes
                    .iter()
                    .any(|n| n.contains("neither a customer nor a reseller")));
            }
            (_, Some("")) => assert_eq!(a.email, None),
            (_, e) => assert_eq!(a.email.as_deref(), e),
        }
        match text(r, "plan") {
            Some(p) => assert_eq!(a.product, p),
            None => {
                custom += 1;
                assert_eq!(a.product, "");
            }
        }
        if text(r, "plan_owner") != Some("admin") {
            reseller_plans += 1;
        }
        assert_eq!(a.primary_ip, "192.0.2.12", "{}", a.domain);
        if r["ips"][0] == "2001:db8::12" {
            v6_first += 1;
        }
        let status = r["status"].as_u64().unwrap();
        match status {
            0 => assert_eq!(
                (a.status, a.status_detail.as_deref()),
                (RemoteStatus::Active, None)
            ),
            4 => {
                backup += 1;
                assert_eq!(a.status, RemoteStatus::Active);
                assert!(a
                    .status_detail
                    .as_deref()
                    .unwrap()
                    .contains("backup/restore"));
            }
            _ => {
                suspended += 1;
                assert_eq!(a.status, RemoteStatus::Suspended, "{status}");
                assert!(a
                    .status_detail
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("status {status}: ")));
            }
        }
        let date = time::Date::parse(
            text(r, "cr_date").unwrap(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap();
        assert_eq!(a.created, Some(date.midnight()));
    }
    // The mix really exercised the quirks.
    assert!(suspended > 0 && backup > 0 && v6_first > 0 && custom > 0);
    assert!(reseller_plans > 0 && admin > 0);
    sim.shutdown().await;
}

/// The small input: statuses 256, 272 and 4 (and an undocumented bit, 1024).
#[tokio::test]
async fn status_256_272_and_4_are_never_silently_active() {
    let mut s = subs(4);
    s[0]["status"] = json!(256);
    s[1]["status"] = json!(272);
    s[2]["status"] = json!(4);
    s[3]["status"] = json!(1024);
    let sim = sim(PleskSimConfig::with_accounts(s)).await;
    let l = list(&sim).await.unwrap();
    let got: Vec<_> = l
        .accounts
        .iter()
        .map(|a| (a.domain.as_str(), a.status, a.status_detail.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "s1.test",
                RemoteStatus::Suspended,
                Some("status 256: expired (256)")
            ),
            (
                "s2.test",
                RemoteStatus::Suspended,
                Some("status 272: expired (256), disabled by the administrator (16)")
            ),
            (
                "s3.test",
                RemoteStatus::Active,
                Some("status 4: under backup/restore (4)")
            ),
        ]
    );
    assert_eq!(
        l.accounts[2].notes,
        ["status 4: under backup/restore (4): the subscription works, listed as Active"]
    );
    assert_eq!(
        l.skipped,
        [SkippedRecord {
            index: 3,
            identifier: Some("s4.test".into()),
            reason: "status 1024 has bits Plesk does not document (1024): neither Active nor \
                     Suspended can be known"
                .into(),
        }]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn plans_of_resellers_add_ons_and_custom_subscriptions() {
    let mut s = subs(3);
    s[0]["plan"] = json!("Reseller Pro");
    s[0]["plan_owner"] = json!("res1");
    s[1]["addons"] = json!(["Extra Storage", "SSL Pack"]);
    s[2]["plan"] = Value::Null;
    let sim = sim(PleskSimConfig::with_accounts(s)).await;
    let l = list(&sim).await.unwrap();
    assert!(l.is_complete(), "{:?}", l.skipped);
    let products: Vec<_> = l.accounts.iter().map(|a| a.product.as_str()).collect();
    assert_eq!(products, ["Reseller Pro", "Basic", ""]);
    assert_eq!(
        l.accounts[1].notes,
        ["add-on plans: Extra Storage, SSL Pack"]
    );
    assert_eq!(
        l.accounts[2].notes,
        ["no service plan (a custom subscription): the product is empty"]
    );
    // One listing, one customer batch, one service-plan batch, one add-on batch.
    assert_eq!(sim.request_count(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_plan_guid_found_nowhere_skips_its_subscription() {
    let mut s = subs(2);
    s[1]["_plan_guids"] = json!(["00000000-dead-beef-0000-000000000000"]);
    let sim = sim(PleskSimConfig::with_accounts(s)).await;
    let l = list(&sim).await.unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(
        l.skipped[0].reason,
        "plan GUID 00000000-dead-beef-0000-000000000000 is neither a service plan nor an \
         add-on (searched with owner-all)"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn owners_are_customers_resellers_or_neither() {
    let mut s = subs(4);
    s[1]["owner_id"] = json!(1001);
    s[1]["owner_login"] = json!("res1");
    s[1]["owner_type"] = json!("reseller");
    s[1]["owner_email"] = json!("res1@mail.test");
    s[2]["owner_id"] = json!(1);
    s[2]["owner_login"] = json!("admin");
    s[2]["owner_type"] = json!("admin");
    s[3]["owner_id"] = json!(9);
    s[3]["owner_login"] = json!("locked");
    s[3]["_owner_error"] = json!([1006, "Permission denied"]);
    let sim = sim(PleskSimConfig::with_accounts(s)).await;
    let l = list(&sim).await.unwrap();
    let got: Vec<_> = l
        .accounts
        .iter()
        .map(|a| (a.owner.as_deref(), a.email.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("cust"), Some("cust@mail.test")),
            (Some("res1"), Some("res1@mail.test")),
            (Some("admin"), None),
        ]
    );
    assert_eq!(
        l.accounts[2].notes,
        [
            "owner admin (id 1) is neither a customer nor a reseller (the administrator?): no \
          e-mail"
        ]
    );
    // A lookup error other than 1013 is that subscription's problem, not the listing's.
    assert_eq!(
        l.skipped,
        [SkippedRecord {
            index: 3,
            identifier: Some("s4.test".into()),
            reason: "the owner lookup failed: customer get: error 1006: Permission denied".into(),
        }]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_error_result_in_the_listing_fails_it() {
    let mut s = subs(3);
    s[1]["_error"] = json!([1013, "Domain does not exist"]);
    let sim = sim(PleskSimConfig::with_accounts(s)).await;
    let e = list(&sim).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("webspace get answered error 1013: Domain does not exist".into())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_secret_key_is_used_when_set_else_the_login() {
    let sim = sim(PleskSimConfig::with_accounts(subs(2))).await;
    let m = registry(Duration::from_secs(5)).get("plesk").unwrap();
    // The key wins: a wrong password does not matter.
    let l = m
        .list_accounts(&params(&sim, "WRONG", "TOKEN"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 2);
    let e = m
        .list_accounts(&params(&sim, "PASSWORD", "BADKEY"), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "agent.php system error 11003: Secret key validation failed (the secret key was \
             refused)"
                .into()
        )
    );
    assert!(!format!("{e} {e:?}").contains("BADKEY"));
    let e = m
        .list_accounts(&params(&sim, "WRONG-PASSWORD", ""), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "agent.php system error 1001: Authentication failed - wrong password (the login \
             or password was refused)"
                .into()
        )
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn simulator_faults_map_to_clear_errors() {
    let sim = sim(PleskSimConfig::with_accounts(subs(5))).await;
    let r = registry(Duration::from_millis(300));
    let m = r.get("plesk").unwrap();
    let p = params(&sim, "PASSWORD", "");

    sim.set_fault(Some(Fault::ErrorIn200));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(format!(
            "webspace get answered error 1023: {}",
            panel_sim::plesk::FAULT_ERRTEXT
        ))
    );

    sim.set_fault(Some(Fault::Http500));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Http { status: 500, snippet } if snippet.contains("Internal Server Error")),
        "{e:?}"
    );

    sim.set_fault(Some(Fault::Truncated));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.contains("cut off")),
        "{e:?}"
    );

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
    assert!(
        matches!(&e, ModuleError::Remote(m) if m.starts_with("agent.php system error 1001")),
        "{e:?}"
    );

    sim.set_fault(None);
    assert_eq!(
        m.list_accounts(&p, &NoProgress)
            .await
            .unwrap()
            .accounts
            .len(),
        5
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_server_lists_no_subscription() {
    let sim = sim(PleskSimConfig::with_accounts(Vec::new())).await;
    let l = list(&sim).await.unwrap();
    assert!(l.accounts.is_empty() && l.is_complete());
    assert_eq!(sim.request_count(), 1);
    sim.shutdown().await;
}

/// Owners and plans are looked up 100 per request, not one by one.
#[tokio::test]
async fn lookups_are_batched() {
    let sim = sim(PleskSimConfig::generated(2_000, 3)).await;
    let l = list(&sim).await.unwrap();
    assert_eq!(l.accounts.len(), 2_000);
    let raw = sim.accounts();
    let set = |f: &dyn Fn(&Value) -> Option<String>| {
        raw.iter()
            .filter_map(f)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let owners = set(&|a| Some(a["owner_id"].to_string()));
    let customers = set(&|a| (a["owner_type"] == "customer").then(|| a["owner_id"].to_string()));
    let plans = set(&|a| Some(format!("{}/{}", a["plan_owner"], a.get("plan")?.as_str()?)));
    let addons = set(&|a| Some(a["addons"].get(0)?.as_str()?.to_string()));
    assert!(owners > 500 && customers < owners && plans > 3 && addons == 1);
    // 1 listing, customer batches, reseller batches for the rest, service-plan batches,
    // add-on batches for GUIDs that are no service plan.
    let expected = 1
        + owners.div_ceil(100)
        + (owners - customers).div_ceil(100)
        + (plans + addons).div_ceil(100)
        + addons.div_ceil(100);
    assert_eq!(sim.request_count() as usize, expected);
    sim.shutdown().await;
}

/// `cargo test --release -p serversync-modules --test plesk_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hundred_thousand_subscriptions() {
    let sim = sim(PleskSimConfig::generated(100_000, 1)).await;
    let started = std::time::Instant::now();
    let l = list(&sim).await.unwrap();
    println!(
        "listed {} subscriptions in {:?} ({} requests)",
        l.accounts.len(),
        started.elapsed(),
        sim.request_count()
    );
    assert_eq!(l.accounts.len(), 100_000);
    assert!(l.skipped.is_empty());
    sim.shutdown().await;
}
