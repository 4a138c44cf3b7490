//! The Virtualmin module against the Virtualmin simulator of `panel-sim`.

use std::time::Duration;

use panel_sim::{
    spawn_virtualmin, virtualmin::DomainKind, Fault, SimHandle, VirtualminDomain,
    VirtualminSimConfig,
};
use serde_json::{json, Value};
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams};
use serversync_modules::{
    ListingProgress, ModuleError, ModuleOptions, ModuleRegistry, NoProgress, TimeoutPhase,
};

async fn sim(cfg: VirtualminSimConfig) -> SimHandle {
    spawn_virtualmin("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator starts")
}

fn params(sim: &SimHandle, password: &str) -> ServerParams {
    ServerParams {
        server_id: 13,
        ip: "192.0.2.20".into(),
        hostname: sim.addr.ip().to_string(),
        username: "root".into(),
        password: Secret::new(password),
        access_hash: Secret::new(""),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    }
}

fn opts() -> ModuleOptions {
    ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }
}

fn module(o: ModuleOptions) -> std::sync::Arc<dyn serversync_modules::Module> {
    ModuleRegistry::builtin(o).get("virtualmin").unwrap()
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

fn first<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v["values"][k][0].as_str()
}

#[tokio::test]
async fn lists_every_top_level_server_in_order_with_its_values() {
    let sim = sim(VirtualminSimConfig::generated(1_000, 7)).await;
    let progress = Count(Default::default());
    let l = module(opts())
        .list_accounts(&params(&sim, "PASSWORD"), &progress)
        .await
        .expect("listing succeeds");
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    assert_eq!(l.accounts.len(), 1_000);
    assert_eq!(*progress.0.lock().unwrap(), (1_000, 1_000));
    assert_eq!(sim.request_count(), 1, "one request lists the whole server");

    let raw = sim.accounts();
    let top: Vec<&Value> = raw
        .iter()
        .filter(|d| first(d, "type") == Some("Top-level server"))
        .collect();
    assert!(raw.len() > 1_100, "sub-servers and aliases are served too");
    let (mut disabled, mut no_mail, mut no_plan, mut resold, mut no_date, mut idn) =
        (0, 0, 0, 0, 0, 0);
    for (a, d) in l.accounts.iter().zip(top) {
        let name = d["name"].as_str().unwrap();
        assert_eq!(a.domain, name);
        assert_eq!(a.unique_identifier, name);
        idn += usize::from(name.starts_with("xn--"));
        assert_eq!(Some(a.username.as_str()), first(d, "username"));
        match first(d, "plan") {
            Some(p) => assert_eq!(a.product, p),
            None => {
                no_plan += 1;
                assert_eq!(a.product, "");
            }
        }
        match first(d, "reseller") {
            Some(r) => {
                resold += 1;
                assert_eq!(a.owner.as_deref(), Some(r));
            }
            None => assert_eq!(a.owner, None),
        }
        let mail = first(d, "contact_email").unwrap();
        if mail.is_empty() || mail.ends_with("@localhost") {
            no_mail += 1;
            assert_eq!(a.email, None);
        } else {
            assert_eq!(a.email.as_deref(), Some(mail));
        }
        match first(d, "disabled") {
            Some(why) => {
                disabled += 1;
                assert_eq!(a.status, RemoteStatus::Suspended);
                assert_eq!(a.status_detail.as_deref(), Some(why));
            }
            None => {
                assert_eq!(a.status, RemoteStatus::Active);
                assert_eq!(a.status_detail, None);
            }
        }
        match first(d, "created_unix_time") {
            Some(t) => {
                let at = time::OffsetDateTime::from_unix_timestamp(t.parse().unwrap()).unwrap();
                assert_eq!(
                    a.created.map(format_created),
                    Some(format_created(time::PrimitiveDateTime::new(
                        at.date(),
                        at.time()
                    )))
                );
            }
            None => {
                no_date += 1;
                assert_eq!(a.created, None, "created_on is never read");
            }
        }
        let ip = first(d, "ip_address")
            .or_else(|| first(d, "ipv6_address"))
            .unwrap();
        assert_eq!(a.primary_ip, ip.split(' ').next().unwrap());
    }
    // The mix really exercised the quirks.
    assert!(
        disabled > 0 && no_mail > 0 && no_plan > 0 && resold > 0 && no_date > 0 && idn > 0,
        "{disabled} {no_mail} {no_plan} {resold} {no_date} {idn}"
    );
    // No secret of the payload reached the listing.
    let shown = format!("{l:?}");
    assert!(!shown.contains("pw-") && !shown.contains("$6$") && !shown.contains("db-"));
    sim.shutdown().await;
}

#[tokio::test]
async fn every_fault_maps_to_a_clear_error() {
    let sim = sim(VirtualminSimConfig::generated(30, 1)).await;
    let m = module(ModuleOptions {
        read_timeout: Duration::from_millis(300),
        ..opts()
    });
    let p = params(&sim, "PASSWORD");

    sim.set_fault(Some(Fault::ErrorIn200));
    assert_eq!(
        m.list_accounts(&p, &NoProgress).await.unwrap_err(),
        ModuleError::Remote(format!(
            "list-domains failed: {}",
            panel_sim::virtualmin::FAULT_ERROR
        ))
    );

    sim.set_fault(Some(Fault::Http500));
    let e = m.list_accounts(&p, &NoProgress).await.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Http { status: 500, snippet } if snippet.contains("Perl execution failed")),
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
    assert_eq!(
        m.list_accounts(&p, &NoProgress).await.unwrap_err(),
        ModuleError::AuthRefused { status: 401 }
    );

    sim.set_fault(None);
    let e = m
        .list_accounts(&params(&sim, "WRONG-secret"), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });
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

#[tokio::test]
async fn a_login_that_may_not_run_remote_commands_is_refused_in_plain_text() {
    let sim = sim(VirtualminSimConfig {
        master_admin: false,
        ..VirtualminSimConfig::generated(3, 1)
    })
    .await;
    assert_eq!(
        module(opts())
            .list_accounts(&params(&sim, "PASSWORD"), &NoProgress)
            .await
            .unwrap_err(),
        ModuleError::Remote("You are not allowed to run remote commands".into())
    );
    sim.shutdown().await;
}

/// The small input: a domain with `"ip_address":["198.51.100.7 (Shared)"]` lists
/// primary IP `198.51.100.7`.
#[tokio::test]
async fn shared_ip_annotation_is_removed_from_the_primary_ip() {
    let mut d = VirtualminDomain::new("ann.test", "ann").to_value();
    d["values"]["ip_address"] = json!(["198.51.100.7 (Shared)"]);
    let sim = sim(VirtualminSimConfig::with_accounts(vec![d])).await;
    let l = module(opts())
        .list_accounts(&params(&sim, "PASSWORD"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(l.accounts[0].primary_ip, "198.51.100.7");
    sim.shutdown().await;
}

#[tokio::test]
async fn aliases_without_parent_domain_and_sub_servers_are_not_accounts() {
    let mut sub = VirtualminDomain::new("blog.test", "ann");
    sub.kind = DomainKind::SubServer {
        parent: "ann.test".into(),
    };
    let mut alias = VirtualminDomain::new("ann.example", "ann");
    alias.kind = DomainKind::Alias {
        real: "ann.test".into(),
    };
    let alias = alias.to_value();
    assert!(alias["values"].get("parent_domain").is_none());
    let sim = sim(VirtualminSimConfig::with_accounts(vec![
        VirtualminDomain::new("ann.test", "ann").to_value(),
        sub.to_value(),
        alias,
    ]))
    .await;
    let l = module(opts())
        .list_accounts(&params(&sim, "PASSWORD"), &NoProgress)
        .await
        .unwrap();
    let names: Vec<&str> = l.accounts.iter().map(|a| a.domain.as_str()).collect();
    assert_eq!(names, ["ann.test"]);
    assert!(l.is_complete());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_record_makes_the_listing_incomplete_not_shorter() {
    let mut bad = VirtualminDomain::new("bob.test", "bob").to_value();
    bad["values"]["created_unix_time"] = json!(["yesterday"]);
    let sim = sim(VirtualminSimConfig::with_accounts(vec![
        VirtualminDomain::new("ann.test", "ann").to_value(),
        bad,
        VirtualminDomain::new("carol.test", "carol").to_value(),
    ]))
    .await;
    let l = module(opts())
        .list_accounts(&params(&sim, "PASSWORD"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 2);
    assert!(!l.is_complete());
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(l.skipped[0].index, 1);
    assert_eq!(l.skipped[0].identifier.as_deref(), Some("bob.test"));
    sim.shutdown().await;
}

/// Throughput check (not a timed test): `cargo test --release -p serversync-modules
/// --test virtualmin_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hundred_thousand_servers() {
    let sim = sim(VirtualminSimConfig::generated(100_000, 1)).await;
    let m = module(ModuleOptions::default());
    let p = params(&sim, "PASSWORD");
    let _ = m.list_accounts(&p, &NoProgress).await.unwrap();
    let started = std::time::Instant::now();
    let l = m.list_accounts(&p, &NoProgress).await.unwrap();
    println!(
        "listed {} servers in {:?}",
        l.accounts.len(),
        started.elapsed()
    );
    assert!(
        l.skipped.is_empty(),
        "{:?}",
        &l.skipped[..l.skipped.len().min(3)]
    );
    assert_eq!(l.accounts.len(), 100_000);
    sim.shutdown().await;
}
