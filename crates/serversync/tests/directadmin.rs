//! End to end through the `serversync` binary against the DirectAdmin simulator: records
//! import, analyse, apply, analyse again; a failing per-user call; the `panel-sim
//! directadmin` binary as a separate process (CONTRACT.md "Panel simulators").

mod common;

use std::time::Duration;

use common::*;
use panel_sim::{
    da_date_created, directadmin_user, spawn_directadmin, DirectAdminSimConfig, Fault, SimHandle,
};
use serde_json::{json, Value};

/// The DirectAdmin simulator's shared IP, used as the server's IP.
const DA_IP: &str = panel_sim::directadmin::DA_SHARED_IP;

/// An active user of `admin`, created 2024-01-31 13:15:00 (the simulator's local time is
/// UTC), e-mail `ann@mail.test`, package `basic`.
fn user(name: &str, domain: &str) -> Value {
    let mut v = directadmin_user(name, domain);
    v["package"] = json!("basic");
    v["email"] = json!("ann@mail.test");
    v["date_created"] = json!(da_date_created(CREATED));
    v
}

fn da_server(port: u16) -> Value {
    json!({"id": 11, "name": "da1", "module": "directadmin", "hostname": "127.0.0.1",
           "ip_address": DA_IP, "port": port, "secure": false, "tls_verify": true,
           "username": "admin", "password": "PASSWORD", "access_hash": ""})
}

/// Clients 1 and 5, products 10 `basic` and 11 `silver` (module directadmin), server 11
/// `da1` on `port`, and `services`.
fn da_doc(port: u16, services: Vec<Value>) -> Value {
    let product = |id: i64, name: &str, pkg: &str| {
        json!({"id": id, "name": name, "module": "directadmin",
               "config_options": {"configoption1": pkg}})
    };
    json!({
        "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
        "products": [product(10, "DA Basic", "basic"), product(11, "DA Silver", "silver")],
        "servers": [da_server(port)],
        "services": services,
    })
}

async fn da_sim(users: Vec<Value>) -> SimHandle {
    spawn_directadmin(
        "127.0.0.1:0".parse().unwrap(),
        DirectAdminSimConfig::with_accounts(users),
    )
    .await
    .expect("spawn directadmin simulator")
}

/// ann (in sync), bob (suspended on the server), dan (in sync), carol (package silver,
/// billed as basic), ed (not in billing); billing also has gone.test (not on the server).
fn users_and_services() -> (Vec<Value>, Vec<Value>) {
    let mut bob = user("bob", "bob.test");
    bob["suspended"] = json!("yes");
    let mut carol = user("carol", "carol.test");
    carol["package"] = json!("silver");
    carol["_entities"] = json!("semicolon");
    let mut ed = user("ed", "ed.test");
    ed["email"] = json!("ed@mail.test");
    let users = vec![
        user("ann", "ann.test"),
        bob,
        user("dan", "dan.test"),
        carol,
        ed,
    ];
    let services = vec![
        service(1000, 1, 10, 11, "ann.test", "ann", "Active"),
        service(1001, 1, 10, 11, "bob.test", "bob", "Active"),
        service(1002, 1, 10, 11, "dan.test", "dan", "Active"),
        service(1003, 1, 10, 11, "carol.test", "carol", "Active"),
        service(1004, 1, 10, 11, "gone.test", "gone", "Active"),
    ];
    (users, services)
}

/// import → analyse → apply → analyse, for a server at `port` with `users_and_services()`.
async fn import_analyse_apply_analyse(env: &Env, port: u16) {
    let (_, services) = users_and_services();
    let out = env.import(&da_doc(port, services)).await;
    assert!(out.stdout.contains("inserted"), "{out:#?}");

    let an = env.analyse("da1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": true, "accounts": 5, "error": null, "skipped": []})
    );
    assert_eq!(
        an["server"],
        json!({"id": 11, "name": "da1", "module": "directadmin"})
    );
    assert_eq!(
        an["unique_identifier"],
        json!({"field": "domain", "display_name": "Domain"})
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
    assert_eq!(bob["category"], "out_of_sync");
    assert_eq!(
        bob["diffs"],
        json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
    );
    assert_eq!(bob["remote"]["owner"], "admin");
    assert_eq!(bob["remote"]["created"], "2024-01-31 13:15:00");
    assert_eq!(bob["remote"]["primaryip"], DA_IP);
    let carol = item(&an, "carol.test");
    assert_eq!(
        carol["diffs"],
        json!([{"field": "product", "remote": "silver", "billing": "basic"}])
    );
    // `&#64;` decoded.
    assert_eq!(carol["remote"]["email"], "ann@mail.test");
    assert_eq!(item(&an, "gone.test")["actions"], json!(["terminate"]));
    assert_eq!(item(&an, "ed.test")["remote"]["email"], "ed@mail.test");

    let out = env
        .apply(
            "da1",
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
            ("terminate".into(), "1004".into(), "applied".into()),
        ]
    );
    assert_eq!(env.service(1001).await["status"], "Suspended");
    assert_eq!(env.service(1003).await["product_id"], 11);
    let gone = env.service(1004).await;
    assert_eq!(gone["status"], "Terminated");
    assert_eq!(gone["termination_date"], today());
    let services = env.services().await;
    let ed = services
        .iter()
        .find(|s| s["domain"] == "ed.test")
        .expect("ed.test imported");
    assert_eq!(ed["username"], "ed");
    assert_eq!(ed["server_id"], 11);
    assert_eq!(ed["product_id"], 10);
    assert_eq!(ed["regdate"], "2024-01-31");

    let out = env.run(&["analyse", "da1", "--json", "--exit-code"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(nonzero_counts(&out.json()), counts(&[("in_sync", 5)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync() {
    let env = Env::new();
    let (users, _) = users_and_services();
    let sim = da_sim(users).await;
    import_analyse_apply_analyse(&env, sim.addr.port()).await;
    // One user list plus five configs per analysis, three analyses (`--exit-code` too).
    assert_eq!(sim.request_count(), 12);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_user_config_makes_the_listing_incomplete_and_offers_no_termination() {
    let env = Env::new();
    let mut users: Vec<Value> = (1..=5)
        .map(|i| user(&format!("u{i}"), &format!("u{i}.test")))
        .collect();
    users[2]["_config"] = json!("error=1&text=Cannot%20show%20user");
    let sim = da_sim(users).await;
    let mut services: Vec<Value> = (1..=5)
        .map(|i| {
            service(
                1000 + i,
                1,
                10,
                11,
                &format!("u{i}.test"),
                &format!("u{i}"),
                "Active",
            )
        })
        .collect();
    services.push(service(1009, 1, 10, 11, "gone.test", "gone", "Active"));
    env.import(&da_doc(sim.addr.port(), services)).await;

    let an = env.analyse("da1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": false, "accounts": 4, "error": null, "skipped": [
            {"index": 2, "identifier": "u3",
             "reason": "CMD_API_SHOW_USER_CONFIG answered error=1: Cannot show user"}]})
    );
    assert_eq!(
        nonzero_counts(&an),
        counts(&[("in_sync", 4), ("not_on_server", 2)])
    );
    // Neither u3 (not listed because its call failed) nor gone.test may be terminated.
    for uid in ["u3.test", "gone.test"] {
        let it = items(&an)
            .iter()
            .find(|i| i["billing"]["domain"] == uid)
            .unwrap_or_else(|| panic!("no item for {uid}"));
        assert_eq!(it["category"], "not_on_server");
        assert_eq!(it["actions"], json!([]), "{it:#}");
    }
    let out = env.apply("da1", &["--terminate", "all"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("incomplete"), "{}", out.stderr);
    assert_eq!(env.service(1003).await["status"], "Active");
    assert_eq!(env.service(1009).await["status"], "Active");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_is_one_clear_line() {
    let env = Env::new();
    let sim = da_sim(vec![user("ann", "ann.test")]).await;
    env.import(&da_doc(sim.addr.port(), vec![])).await;
    for (fault, expect) in [
        (Fault::BadAuth, "refused"),
        (Fault::ErrorIn200, "Unable to read the user list"),
    ] {
        sim.set_fault(Some(fault));
        let out = env.run(&["analyse", "da1", "--json"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains("da1") && lines[0].contains(expect),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("PASSWORD"), "{}", lines[0]);
    }
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// `panel-sim directadmin` as a separate process.
// ---------------------------------------------------------------------------------------------

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
        // `cargo test -p serversync` builds only serversync's binaries: build the simulator.
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
async fn panel_sim_directadmin_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let (users, _) = users_and_services();
    let accounts_file = env.write_json("users.json", &Value::Array(users));
    let mut child = std::process::Command::new(panel_sim_binary())
        .args([
            "directadmin",
            "--listen",
            "127.0.0.1:0",
            "--password",
            "PASSWORD",
        ])
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
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    import_analyse_apply_analyse(&env, addr.port()).await;
}
