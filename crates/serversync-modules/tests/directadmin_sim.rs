//! The DirectAdmin module against the DirectAdmin simulator of `panel-sim`.

use std::sync::Mutex;
use std::time::Duration;

use panel_sim::{directadmin_user, spawn_directadmin, DirectAdminSimConfig, Fault, SimHandle};
use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{RemoteStatus, ServerParams, SkippedRecord};
use serversync_modules::{
    ListingProgress, ModuleError, ModuleOptions, ModuleRegistry, NoProgress, TimeoutPhase,
};
use time::macros::format_description;

async fn sim(cfg: DirectAdminSimConfig) -> SimHandle {
    spawn_directadmin("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator starts")
}

fn params(sim: &SimHandle, password: &str) -> ServerParams {
    ServerParams {
        server_id: 11,
        ip: "192.0.2.11".into(),
        hostname: sim.addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(password),
        access_hash: Secret::new(""),
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

async fn list(sim: &SimHandle) -> Result<serversync_core::module::Listing, ModuleError> {
    let r = registry(Duration::from_secs(5));
    let m = r.get("directadmin").unwrap();
    r.list_accounts(m.as_ref(), &params(sim, "PASSWORD"), &NoProgress)
        .await
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

/// Five users u1..u5 (u3 with `config` served verbatim when given).
fn five(third: Option<&str>) -> Vec<Value> {
    (1..=5)
        .map(|i| {
            let u = format!("u{i}");
            let mut v = directadmin_user(&u, &format!("{u}.test"));
            if let (3, Some(raw)) = (i, third) {
                v["_config"] = json!(raw);
            }
            v
        })
        .collect()
}

#[tokio::test]
async fn lists_every_simulated_user_in_order_with_its_values() {
    let sim = sim(DirectAdminSimConfig::generated(1_000, 7)).await;
    let progress = Count(Mutex::new((0, 0)));
    let m = registry(Duration::from_secs(5)).get("directadmin").unwrap();
    let l = m
        .list_accounts(&params(&sim, "PASSWORD"), &progress)
        .await
        .expect("listing succeeds");
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    assert_eq!(l.accounts.len(), 1_000);
    assert_eq!(*progress.0.lock().unwrap(), (1_000, 1_000));
    // One user list plus one config per user.
    assert_eq!(sim.request_count(), 1_001);

    let raw = sim.accounts();
    let ctime = format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] [year]"
    );
    let (mut suspended, mut no_email, mut no_date, mut by_reseller, mut styles) =
        (0, 0, 0, 0, std::collections::BTreeSet::new());
    for (a, r) in l.accounts.iter().zip(raw.iter()) {
        assert_eq!(Some(a.username.as_str()), text(r, "username"));
        assert_eq!(Some(a.domain.as_str()), text(r, "domain"));
        assert_eq!(a.unique_identifier, a.domain);
        assert_eq!(Some(a.product.as_str()), text(r, "package"));
        assert_eq!(a.owner.as_deref(), text(r, "creator"));
        assert_eq!(Some(a.primary_ip.as_str()), text(r, "ip"));
        assert_eq!(a.status_detail, None);
        match text(r, "email") {
            Some(e) if !e.is_empty() => assert_eq!(a.email.as_deref(), Some(e)),
            _ => {
                no_email += 1;
                assert_eq!(a.email, None);
            }
        }
        let susp = text(r, "suspended") == Some("yes");
        suspended += usize::from(susp);
        assert_eq!(a.status == RemoteStatus::Suspended, susp, "{}", a.username);
        match text(r, "date_created") {
            Some(d) => assert_eq!(
                a.created,
                Some(time::PrimitiveDateTime::parse(d, ctime).unwrap()),
                "{d}"
            ),
            None => {
                no_date += 1;
                assert_eq!(a.created, None);
            }
        }
        if a.owner.as_deref().is_some_and(|o| o.starts_with("res")) {
            by_reseller += 1;
        }
        styles.insert(text(r, "_entities").unwrap_or("bare").to_string());
    }
    // The mix really exercised the quirks.
    assert!(suspended > 0 && no_email > 0 && no_date > 0 && by_reseller > 0);
    assert_eq!(styles.len(), 3, "{styles:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn third_of_five_failing_is_an_incomplete_listing() {
    let sim = sim(DirectAdminSimConfig::with_accounts(five(Some(
        "error=1&text=Cannot%20show%20user",
    ))))
    .await;
    let l = list(&sim).await.unwrap();
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["u1", "u2", "u4", "u5"]);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 2,
            identifier: Some("u3".into()),
            reason: "CMD_API_SHOW_USER_CONFIG answered error=1: Cannot show user".into(),
        }]
    );
    assert!(!l.is_complete());
    sim.shutdown().await;
}

#[tokio::test]
async fn email_bare_entity_decodes() {
    let sim = sim(DirectAdminSimConfig::with_accounts(five(Some(
        "username=u3&domain=u3.test&email=ann&#64mail.test&suspended=no",
    ))))
    .await;
    let l = list(&sim).await.unwrap();
    assert!(l.is_complete());
    assert_eq!(l.accounts[2].email.as_deref(), Some("ann@mail.test"));
    sim.shutdown().await;
}

#[tokio::test]
async fn email_entity_with_semicolon_decodes() {
    let sim = sim(DirectAdminSimConfig::with_accounts(five(Some(
        "username=u3&domain=u3.test&email=ann&#64;mail.test&suspended=no",
    ))))
    .await;
    let l = list(&sim).await.unwrap();
    assert!(l.is_complete());
    assert_eq!(l.accounts[2].email.as_deref(), Some("ann@mail.test"));
    sim.shutdown().await;
}

#[tokio::test]
async fn suspended_values_other_than_yes_or_no_are_reported() {
    let mut users = five(None);
    users[1]["suspended"] = json!("1");
    users[3]["suspended"] = json!("YES");
    let sim = sim(DirectAdminSimConfig::with_accounts(users)).await;
    let l = list(&sim).await.unwrap();
    assert_eq!(l.accounts.len(), 4);
    assert_eq!(l.accounts[2].username, "u4");
    assert_eq!(l.accounts[2].status, RemoteStatus::Suspended);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 1,
            identifier: Some("u2".into()),
            reason: "suspended value \"1\" is not yes or no".into(),
        }]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn simulator_faults_map_to_clear_errors() {
    let sim = sim(DirectAdminSimConfig::with_accounts(five(None))).await;
    let r = registry(Duration::from_millis(300));
    let m = r.get("directadmin").unwrap();
    let p = params(&sim, "PASSWORD");

    sim.set_fault(Some(Fault::ErrorIn200));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "CMD_API_SHOW_ALL_USERS: Unable to read the user list: Resource temporarily \
             unavailable (panel-sim fault error-in-200)"
                .into()
        )
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
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });

    sim.set_fault(None);
    let e = m
        .list_accounts(&params(&sim, "WRONG-PASSWORD"), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });
    assert!(!format!("{e} {e:?}").contains("WRONG-PASSWORD"));

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
async fn a_login_key_works_as_the_password() {
    let cfg = DirectAdminSimConfig {
        login_key: Some("LOGINKEY123".into()),
        ..DirectAdminSimConfig::with_accounts(five(None))
    };
    let sim = sim(cfg).await;
    let m = registry(Duration::from_secs(5)).get("directadmin").unwrap();
    let l = m
        .list_accounts(&params(&sim, "LOGINKEY123"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_server_lists_no_user() {
    let sim = sim(DirectAdminSimConfig::with_accounts(Vec::new())).await;
    let l = list(&sim).await.unwrap();
    assert!(l.accounts.is_empty() && l.is_complete());
    assert_eq!(sim.request_count(), 1);
    sim.shutdown().await;
}

/// Throughput check (not a timed test): `cargo test --release -p serversync-modules
/// --test directadmin_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hundred_thousand_users() {
    let sim = sim(DirectAdminSimConfig::generated(100_000, 1)).await;
    let started = std::time::Instant::now();
    let l = list(&sim).await.unwrap();
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
