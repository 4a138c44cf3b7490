//! End to end through the `serversync` binary against the Plesk simulator: records import,
//! analyse, apply, analyse again; a refused key and an error in HTTP 200; the `panel-sim
//! plesk` binary as a separate process (CONTRACT.md "Panel simulators").

mod common;

use std::time::Duration;

use common::*;
use panel_sim::{plesk_subscription, spawn_plesk, Fault, PleskSimConfig, SimHandle};
use serde_json::{json, Value};

const PLESK_IP: &str = panel_sim::plesk::PLESK_SHARED_IP;

/// An active subscription `USER.test` of its own customer (e-mail ann@mail.test), plan
/// Basic, system user `user`, created 2024-01-31.
fn sub(id: u64, user: &str) -> Value {
    let mut v = plesk_subscription(id, &format!("{user}.test"), user);
    v["owner_id"] = json!(100 + id);
    v["owner_email"] = json!("ann@mail.test");
    v["cr_date"] = json!("2024-01-31");
    v
}

/// Server 12 `plesk1` on `port`, authenticating with the secret key `key`.
fn plesk_doc(port: u16, key: &str, services: Vec<Value>) -> Value {
    let product = |id: i64, name: &str, plan: &str| {
        json!({"id": id, "name": name, "module": "plesk",
               "config_options": {"configoption1": plan}})
    };
    json!({
        "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
        "products": [product(120, "Plesk Basic", "Basic"), product(121, "Plesk Silver", "Silver")],
        "servers": [{"id": 12, "name": "plesk1", "module": "plesk", "hostname": "127.0.0.1",
                     "ip_address": PLESK_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "admin", "password": "", "access_hash": key}],
        "services": services,
    })
}

async fn plesk_sim(subs: Vec<Value>) -> SimHandle {
    spawn_plesk(
        "127.0.0.1:0".parse().unwrap(),
        PleskSimConfig::with_accounts(subs),
    )
    .await
    .expect("spawn plesk simulator")
}

/// ann (in sync), bob (272: expired + disabled), dan (4: backup, Active), carol (Silver,
/// billed as Basic), ed (not in billing); billing also has gone.test (not on the server).
fn subs_and_services() -> (Vec<Value>, Vec<Value>) {
    let mut bob = sub(2, "bob");
    bob["status"] = json!(272);
    let mut dan = sub(3, "dan");
    dan["status"] = json!(4);
    dan["ips"] = json!(["2001:db8::12", PLESK_IP]);
    let mut carol = sub(4, "carol");
    carol["plan"] = json!("Silver");
    let mut ed = sub(5, "ed");
    ed["owner_email"] = json!("ed@mail.test");
    let subs = vec![sub(1, "ann"), bob, dan, carol, ed];
    let services = vec![
        service(1200, 1, 120, 12, "ann.test", "ann", "Active"),
        service(1201, 1, 120, 12, "bob.test", "bob", "Active"),
        service(1202, 1, 120, 12, "dan.test", "dan", "Active"),
        service(1203, 1, 120, 12, "carol.test", "carol", "Active"),
        service(1204, 1, 120, 12, "gone.test", "gone", "Active"),
    ];
    (subs, services)
}

async fn import_analyse_apply_analyse(env: &Env, port: u16) {
    let (_, services) = subs_and_services();
    let out = env.import(&plesk_doc(port, "TOKEN", services)).await;
    assert!(out.stdout.contains("inserted"), "{out:#?}");

    let an = env.analyse("plesk1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": true, "accounts": 5, "error": null, "skipped": []})
    );
    assert_eq!(
        an["server"],
        json!({"id": 12, "name": "plesk1", "module": "plesk"})
    );
    assert_eq!(
        nonzero_counts(&an),
        counts(&[
            ("in_sync", 2),
            ("not_in_billing", 1),
            ("not_on_server", 1),
            ("out_of_sync", 2)
        ])
    );
    let bob = item(&an, "bob.test");
    assert_eq!(
        bob["diffs"],
        json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
    );
    assert_eq!(bob["remote"]["owner"], "bob");
    assert_eq!(bob["remote"]["created"], "2024-01-31 00:00:00");
    assert_eq!(bob["remote"]["primaryip"], PLESK_IP);
    let dan = item(&an, "dan.test");
    assert_eq!(dan["category"], "in_sync");
    assert_eq!(dan["remote"]["primaryip"], PLESK_IP);
    assert_eq!(
        item(&an, "carol.test")["diffs"],
        json!([{"field": "product", "remote": "Silver", "billing": "Basic"}])
    );
    assert_eq!(item(&an, "ed.test")["remote"]["email"], "ed@mail.test");

    let out = env
        .apply(
            "plesk1",
            &["--sync", "all", "--import", "all", "--terminate", "all"],
        )
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        outcomes(&out.json()),
        vec![
            ("import".into(), "ed.test".into(), "applied".into()),
            ("sync".into(), "bob.test".into(), "applied".into()),
            ("sync".into(), "carol.test".into(), "applied".into()),
            ("terminate".into(), "1204".into(), "applied".into()),
        ]
    );
    assert_eq!(env.service(1201).await["status"], "Suspended");
    assert_eq!(env.service(1203).await["product_id"], 121);
    assert_eq!(env.service(1204).await["status"], "Terminated");
    let services = env.services().await;
    let ed = services
        .iter()
        .find(|s| s["domain"] == "ed.test")
        .expect("ed.test imported");
    assert_eq!(ed["username"], "ed");
    assert_eq!(ed["server_id"], 12);
    assert_eq!(ed["product_id"], 120);
    assert_eq!(ed["regdate"], "2024-01-31");

    let out = env
        .run(&["analyse", "plesk1", "--json", "--exit-code"])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(nonzero_counts(&out.json()), counts(&[("in_sync", 5)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync() {
    let env = Env::new();
    let (subs, _) = subs_and_services();
    let sim = plesk_sim(subs).await;
    import_analyse_apply_analyse(&env, sim.addr.port()).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_or_an_error_in_200_is_one_clear_line() {
    let env = Env::new();
    let sim = plesk_sim(vec![sub(1, "ann")]).await;
    env.import(&plesk_doc(sim.addr.port(), "TOKEN", vec![]))
        .await;
    for (fault, expect) in [
        (Fault::BadAuth, "11003"),
        (Fault::ErrorIn200, "webspace get answered error 1023"),
    ] {
        sim.set_fault(Some(fault));
        let out = env.run(&["analyse", "plesk1", "--json"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains("plesk1") && lines[0].contains(expect),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("TOKEN"), "{}", lines[0]);
    }
    sim.shutdown().await;
}

/// Kills (by its own handle) and reaps the child on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn panel_sim_binary() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_serversync"))
        .with_file_name(format!("panel-sim{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "panel-sim", "--bin", "panel-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p panel-sim");
        assert!(status.success(), "cargo build -p panel-sim failed");
    }
    assert!(path.exists(), "no panel-sim binary at {}", path.display());
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn panel_sim_plesk_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let (subs, _) = subs_and_services();
    let accounts_file = env.write_json("subscriptions.json", &Value::Array(subs));
    let mut child = std::process::Command::new(panel_sim_binary())
        .args(["plesk", "--listen", "127.0.0.1:0", "--token", "TOKEN"])
        .arg("--accounts-file")
        .arg(&accounts_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start panel-sim");
    let stdout = child.stdout.take().unwrap();
    let _guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("panel-sim printed nothing within 30 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"));
    import_analyse_apply_analyse(&env, addr.port()).await;
}
