//! End to end through the `serversync` binary against a Virtualmin simulator started
//! in-process: records import with a `virtualmin` server, analyse, apply, analyse again.

mod common;

use common::*;
use panel_sim::virtualmin::DomainKind;
use panel_sim::{spawn_virtualmin, Fault, SimHandle, VirtualminDomain, VirtualminSimConfig};
use serde_json::{json, Value};

/// The server's address: list-domains annotates it `(Shared)`.
const SERVER_IP: &str = "192.0.2.20";

fn domain(name: &str, user: &str, plan: &str, email: &str) -> VirtualminDomain {
    let mut d = VirtualminDomain::new(name, user)
        .plan(
            if plan == "Basic" {
                "1600000001"
            } else {
                "1600000002"
            },
            plan,
        )
        .created(CREATED);
    d.contact_email = email.into();
    d.ip_address = Some(format!("{SERVER_IP} (Shared)"));
    d.password = panel_sim::virtualmin::DomainPassword::Plain(format!("pw-secret-{user}"));
    d
}

/// ann (in billing, in sync), bob (disabled on the server, Active in billing), carol (not in
/// billing), dave and erin (in sync), plus a sub-server and an alias of ann that are no
/// accounts of their own.
fn domains() -> Vec<Value> {
    let mut sub = domain("blog.test", "ann", "Basic", "ann@mail.test");
    sub.kind = DomainKind::SubServer {
        parent: "ann.test".into(),
    };
    let mut alias = domain("ann.example", "ann", "Basic", "ann@mail.test");
    alias.kind = DomainKind::Alias {
        real: "ann.test".into(),
    };
    vec![
        domain("ann.test", "ann", "Basic", "ann@mail.test").to_value(),
        sub.to_value(),
        alias.to_value(),
        domain("bob.test", "bob", "Basic", "ann@mail.test")
            .disabled("Manually (non-payment)", CREATED + 3600)
            .to_value(),
        domain("carol.test", "carol", "Silver", "carol@mail.test").to_value(),
        domain("dave.test", "dave", "Basic", "ann@mail.test").to_value(),
        domain("erin.test", "erin", "Basic", "ann@mail.test").to_value(),
    ]
}

async fn sim(accounts: Vec<Value>) -> SimHandle {
    spawn_virtualmin(
        "127.0.0.1:0".parse().unwrap(),
        VirtualminSimConfig::with_accounts(accounts),
    )
    .await
    .expect("spawn virtualmin simulator")
}

/// Server 130 `vmin1` (module `virtualmin`, root/PASSWORD), products 131 (`Basic`) and 132
/// (`Silver`) in `configoption2` (WHMCS's Virtualmin module's "Plan Name"), client 1.
fn doc(port: u16, services: Vec<Value>) -> Value {
    json!({
        "clients": [client(1, "ann@mail.test")],
        "products": [
            {"id": 131, "name": "Virtualmin Basic", "module": "virtualmin",
             "config_options": {"configoption1": "Default Settings", "configoption2": "Basic"}},
            {"id": 132, "name": "Virtualmin Silver", "module": "virtualmin",
             "config_options": {"configoption1": "Default Settings", "configoption2": "Silver"}},
        ],
        "servers": [{"id": 130, "name": "vmin1", "module": "virtualmin", "hostname": "127.0.0.1",
                     "ip_address": SERVER_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "root", "password": "PASSWORD", "access_hash": ""}],
        "services": services,
    })
}

fn services() -> Vec<Value> {
    [
        (1300, "ann.test", "ann"),
        (1301, "bob.test", "bob"),
        (1302, "dave.test", "dave"),
        (1303, "erin.test", "erin"),
        (1304, "gone.test", "gone"),
    ]
    .iter()
    .map(|(id, d, u)| service(*id, 1, 131, 130, d, u, "Active"))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_and_analyse_again_in_sync() {
    let env = Env::new();
    let sim = sim(domains()).await;
    env.import(&doc(sim.addr.port(), services())).await;

    let an = env.analyse("vmin1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": true, "accounts": 5, "error": null, "skipped": []})
    );
    assert_eq!(
        an["server"],
        json!({"id": 130, "name": "vmin1", "module": "virtualmin"})
    );
    assert_eq!(
        nonzero_counts(&an),
        counts(&[
            ("in_sync", 3),
            ("not_in_billing", 1),
            ("not_on_server", 1),
            ("out_of_sync", 1)
        ])
    );
    // Sub-servers and aliases are no accounts.
    assert!(items(&an)
        .iter()
        .all(|i| i["unique_identifier"] != "blog.test" && i["unique_identifier"] != "ann.example"));
    let ann = item(&an, "ann.test");
    assert_eq!(ann["category"], "in_sync");
    assert_eq!(
        ann["remote"],
        json!({"email": "ann@mail.test", "username": "ann", "domain": "ann.test",
               "uniqueIdentifier": "ann.test", "product": "Basic", "primaryip": SERVER_IP,
               "created": "2024-01-31 13:15:00", "status": "Active"})
    );
    let bob = item(&an, "bob.test");
    assert_eq!(bob["category"], "out_of_sync");
    assert_eq!(
        bob["diffs"],
        json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
    );
    assert_eq!(bob["remote"]["status_detail"], "Manually (non-payment)");
    assert_eq!(item(&an, "carol.test")["category"], "not_in_billing");
    assert_eq!(item(&an, "carol.test")["remote"]["product"], "Silver");
    assert_eq!(item(&an, "gone.test")["category"], "not_on_server");

    let out = env
        .apply(
            "vmin1",
            &["--sync", "all", "--import", "all", "--terminate", "all"],
        )
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        outcomes(&out.json()),
        vec![
            ("import".into(), "carol.test".into(), "applied".into()),
            ("sync".into(), "bob.test".into(), "applied".into()),
            ("terminate".into(), "1304".into(), "applied".into()),
        ]
    );
    assert_eq!(env.service(1301).await["status"], "Suspended");
    assert_eq!(env.service(1304).await["status"], "Terminated");
    let carol = env
        .services()
        .await
        .into_iter()
        .find(|s| s["domain"] == "carol.test")
        .expect("carol.test imported");
    assert_eq!(carol["product_id"], 132, "product found by configoption2");
    assert_eq!(carol["username"], "carol");
    assert_eq!(carol["regdate"], "2024-01-31");
    assert_eq!(carol["server_id"], 130);

    let out = env
        .run(&["analyse", "vmin1", "--json", "--exit-code"])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(nonzero_counts(&out.json()), counts(&[("in_sync", 5)]));

    // The domains' passwords were in every answer; none reached the database or the output.
    let mut stored = Vec::new();
    for f in ["t.db", "t.db-wal"] {
        stored.extend(std::fs::read(env.path(f)).unwrap_or_default());
    }
    assert!(!stored.is_empty());
    assert!(
        !stored.windows(10).any(|w| w == b"pw-secret-"),
        "a domain password reached the database"
    );
    assert!(!out.stdout.contains("pw-secret-"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_listing_is_one_clear_error_and_no_run_to_apply() {
    let env = Env::new();
    let sim = sim(domains()).await;
    env.import(&doc(sim.addr.port(), services())).await;
    sim.set_fault(Some(Fault::ErrorIn200));
    let out = env.run(&["analyse", "vmin1", "--json"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stdout, "");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("vmin1"), "{}", lines[0]);
    assert!(lines[0].contains("list-domains failed"), "{}", lines[0]);
    assert!(!lines[0].contains("PASSWORD"), "{}", lines[0]);
    let apply = env.apply("vmin1", &["--terminate", "all"]).await;
    assert_eq!(apply.code, 2, "{apply:#?}");
    assert_eq!(env.service(1304).await["status"], "Active");

    // A wrong password: refused by miniserv, the password never shown.
    sim.set_fault(None);
    let mut d = doc(sim.addr.port(), services());
    d["servers"][0]["password"] = json!("WRONG-pass");
    env.import(&d).await;
    let out = env.run(&["analyse", "vmin1"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("HTTP 401"), "{}", out.stderr);
    assert!(!out.stderr.contains("WRONG-pass"), "{}", out.stderr);
    sim.shutdown().await;
}
