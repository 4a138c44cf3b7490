//! The HestiaCP module against the HestiaCP simulator of `panel-sim`, in both login modes.

use std::sync::Mutex;
use std::time::Duration;

use panel_sim::{
    hestia_admin, hestia_user, hestia_web_domain, spawn_hestiacp, Fault, HestiaSimConfig,
    SimHandle, HESTIA_TEST_ACCESS_KEY,
};
use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{format_created, Listing, RemoteStatus, ServerParams, SkippedRecord};
use serversync_modules::{
    ListingProgress, ModuleError, ModuleOptions, ModuleRegistry, NoProgress, TimeoutPhase,
};

async fn sim(cfg: HestiaSimConfig) -> SimHandle {
    spawn_hestiacp("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator starts")
}

/// Access-key mode with `hash`, or user/password mode when `hash` is empty.
fn params(sim: &SimHandle, hash: &str, password: &str) -> ServerParams {
    ServerParams {
        server_id: 14,
        ip: "192.0.2.14".into(),
        hostname: sim.addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(password),
        access_hash: Secret::new(hash),
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

async fn list_with(p: &ServerParams) -> Result<Listing, ModuleError> {
    let r = registry(Duration::from_secs(5));
    let m = r.get("hestiacp").unwrap();
    r.list_accounts(m.as_ref(), p, &NoProgress).await
}

async fn list(sim: &SimHandle) -> Result<Listing, ModuleError> {
    list_with(&params(sim, HESTIA_TEST_ACCESS_KEY, "")).await
}

struct Count(Mutex<(u64, u64)>);
impl ListingProgress for Count {
    fn total(&self, total: u64) {
        self.0.lock().unwrap().0 = total;
    }
    fn advanced(&self, received: u64) {
        self.0.lock().unwrap().1 = received;
    }
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `admin` and five users u1..u5.
fn five() -> Vec<Value> {
    let mut v = vec![hestia_admin()];
    v.extend((1..=5).map(|i| hestia_user(&format!("u{i}"), &format!("u{i}.test"))));
    v
}

fn usernames(l: &Listing) -> Vec<&str> {
    l.accounts.iter().map(|a| a.username.as_str()).collect()
}

#[tokio::test]
async fn lists_every_simulated_user_in_order_with_its_values() {
    let sim = sim(HestiaSimConfig::generated(1_000, 7)).await;
    let progress = Count(Mutex::new((0, 0)));
    let m = registry(Duration::from_secs(5)).get("hestiacp").unwrap();
    let l = m
        .list_accounts(&params(&sim, HESTIA_TEST_ACCESS_KEY, ""), &progress)
        .await
        .expect("listing succeeds");
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    // admin is left out.
    assert_eq!(l.accounts.len(), 1_000);
    assert_eq!(*progress.0.lock().unwrap(), (1_000, 1_000));
    // One user list plus one web-domains call per listed user.
    assert_eq!(sim.request_count(), 1_001);

    let raw = sim.accounts();
    let (mut suspended, mut no_domain, mut several) = (0, 0, 0);
    for (a, r) in l.accounts.iter().zip(raw[1..].iter()) {
        assert_eq!(Some(a.username.as_str()), text(r, "USER"));
        assert_eq!(Some(a.product.as_str()), text(r, "PACKAGE"));
        let domains = r["_web_domains"].as_array().unwrap();
        match domains.first() {
            Some(d) => {
                assert_eq!(Some(a.domain.as_str()), text(d, "DOMAIN"));
                assert_eq!(Some(a.primary_ip.as_str()), text(d, "IP"));
            }
            None => {
                no_domain += 1;
                assert_eq!(a.domain, "");
            }
        }
        if domains.len() > 1 {
            several += 1;
            assert!(a.notes[0].contains(text(&domains[1], "DOMAIN").unwrap()));
        }
        assert_eq!(a.unique_identifier, a.domain);
        match text(r, "CONTACT") {
            Some("") => assert_eq!(a.email, None),
            e => assert_eq!(a.email.as_deref(), e),
        }
        let susp = text(r, "SUSPENDED") == Some("yes");
        suspended += usize::from(susp);
        assert_eq!(a.status == RemoteStatus::Suspended, susp);
        assert_eq!(
            a.created.map(format_created),
            Some(format!(
                "{} {}",
                text(r, "DATE").unwrap(),
                text(r, "TIME").unwrap()
            ))
        );
        assert_eq!(a.owner, None);
    }
    assert!(suspended > 0 && no_domain > 0 && several > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn user_password_mode_lists_the_same() {
    let sim = sim(HestiaSimConfig::generated(50, 3)).await;
    let keyed = list(&sim).await.unwrap();
    let legacy = list_with(&params(&sim, "", "PASSWORD")).await.unwrap();
    assert_eq!(keyed, legacy);
    assert_eq!(legacy.accounts.len(), 50);
    sim.shutdown().await;
}

#[tokio::test]
async fn hestia_name_with_a_quote_skips_that_record() {
    let mut users = five();
    users[3]["_quirk"] = json!("quote");
    let sim = sim(HestiaSimConfig::with_accounts(users)).await;
    let l = list(&sim).await.unwrap();
    assert_eq!(usernames(&l), ["u1", "u2", "u4", "u5"]);
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(l.skipped[0].index, 3);
    assert_eq!(l.skipped[0].identifier.as_deref(), Some("u3"));
    assert!(
        l.skipped[0].reason.contains("is not valid JSON"),
        "{}",
        l.skipped[0].reason
    );
    assert!(!l.is_complete());
    // No web-domains call for the user that could not be read.
    assert_eq!(sim.request_count(), 1 + 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn one_failed_web_domains_call_makes_the_listing_incomplete() {
    let mut users = five();
    users[2]["_web_domains_error"] = json!({"exit": 12, "text": "Error: can't parse web.conf"});
    let sim = sim(HestiaSimConfig::with_accounts(users)).await;
    // Access key: HTTP 400 with Hestia-Exit-Code 12.
    let l = list(&sim).await.unwrap();
    assert_eq!(usernames(&l), ["u1", "u3", "u4", "u5"]);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 2,
            identifier: Some("u2".into()),
            reason: "v-list-web-domains failed: can't parse web.conf (exit code 12, E_PARSING)"
                .into(),
        }]
    );
    // User/password: HTTP 200 with the same text (no exit code).
    let l = list_with(&params(&sim, "", "PASSWORD")).await.unwrap();
    assert_eq!(
        l.skipped[0].reason,
        "v-list-web-domains failed: can't parse web.conf"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn several_domains_and_none() {
    let mut users = five();
    users[1]["_web_domains"] = json!([
        hestia_web_domain("zz-first.test", "198.51.100.7"),
        hestia_web_domain("aa-second.test", "192.0.2.14")
    ]);
    users[2]["_web_domains"] = json!([]);
    let sim = sim(HestiaSimConfig::with_accounts(users)).await;
    let l = list(&sim).await.unwrap();
    assert!(l.is_complete());
    assert_eq!(l.accounts[0].domain, "zz-first.test");
    assert_eq!(l.accounts[0].primary_ip, "198.51.100.7");
    assert!(l.accounts[0].notes[0].ends_with("the user also has aa-second.test"));
    assert_eq!(l.accounts[1].domain, "");
    assert_eq!(l.accounts[1].notes, ["the user has no web domain"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn simulator_faults_map_to_clear_errors() {
    let sim = sim(HestiaSimConfig::with_accounts(five())).await;
    let r = registry(Duration::from_millis(300));
    let m = r.get("hestiacp").unwrap();
    let keyed = params(&sim, HESTIA_TEST_ACCESS_KEY, "");
    let legacy = params(&sim, "", "PASSWORD");

    sim.set_fault(Some(Fault::ErrorIn200));
    let e = m.list_accounts(&keyed, &NoProgress).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "v-list-users: can't parse /usr/local/hestia/data/users: Resource temporarily \
             unavailable (panel-sim fault error-in-200) (exit code 12, E_PARSING)"
                .into()
        )
    );
    let e = m.list_accounts(&legacy, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Remote(m) if m.starts_with("v-list-users: can't parse") && !m.contains("exit code")),
        "{e:?}"
    );

    sim.set_fault(Some(Fault::Http500));
    let e = m.list_accounts(&keyed, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Http { status: 500, snippet } if snippet.contains("500 Internal Server Error")),
        "{e:?}"
    );

    sim.set_fault(Some(Fault::Truncated));
    for p in [&keyed, &legacy] {
        let e = m.list_accounts(p, &NoProgress).await.unwrap_err();
        assert!(
            matches!(&e, ModuleError::Malformed(m) if m.contains("cut off")),
            "{e:?}"
        );
    }

    sim.set_fault(Some(Fault::Slow(Duration::from_secs(3))));
    let e = m.list_accounts(&keyed, &NoProgress).await.unwrap_err();
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
    for p in [&keyed, &legacy] {
        let e = m.list_accounts(p, &NoProgress).await.unwrap_err();
        assert_eq!(e, ModuleError::AuthRefused { status: 401 });
    }

    sim.set_fault(None);
    let e = m
        .list_accounts(&params(&sim, "", "WRONG-PASSWORD"), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });
    assert!(!format!("{e} {e:?}").contains("WRONG-PASSWORD"));
    let wrong_key = "PSIMACCESSKEY0000001:wrongsecretwrongsecretwrongsecretwrong00";
    let e = m
        .list_accounts(&params(&sim, wrong_key, ""), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });

    assert_eq!(
        m.list_accounts(&keyed, &NoProgress)
            .await
            .unwrap()
            .accounts
            .len(),
        5
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hash_that_is_not_a_key_pair_is_a_legacy_api_key() {
    // Not 20 + 40 characters: Hestia takes the whole hash as a legacy API key, with the
    // legacy mode's status rules.
    let cfg = HestiaSimConfig {
        token: "legacy:LEGACYAPIKEY123".into(),
        ..HestiaSimConfig::with_accounts(five())
    };
    let sim = sim(cfg).await;
    let l = list_with(&params(&sim, "legacy:LEGACYAPIKEY123", ""))
        .await
        .unwrap();
    assert_eq!(usernames(&l), ["u1", "u2", "u3", "u4", "u5"]);
    let e = list_with(&params(&sim, "legacy:WRONG", "")).await;
    assert_eq!(e.unwrap_err(), ModuleError::AuthRefused { status: 401 });
    sim.shutdown().await;
}

/// Throughput check (not a timed test): `cargo test --release -p serversync-modules
/// --test hestiacp_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hundred_thousand_users() {
    let sim = sim(HestiaSimConfig::generated(100_000, 1)).await;
    let started = std::time::Instant::now();
    // The simulator renders the ~90 MB user list on the first call (as Hestia itself runs
    // v-list-users): a longer read time-out than the small tests'.
    let r = registry(Duration::from_secs(60));
    let m = r.get("hestiacp").unwrap();
    let l = r
        .list_accounts(
            m.as_ref(),
            &params(&sim, HESTIA_TEST_ACCESS_KEY, ""),
            &NoProgress,
        )
        .await
        .unwrap();
    println!(
        "listed {} users in {:?} ({} requests)",
        l.accounts.len(),
        started.elapsed(),
        sim.request_count()
    );
    assert_eq!(l.accounts.len(), 100_000);
    assert!(l.skipped.is_empty());
    sim.shutdown().await;
}
