//! End to end through the `serversync` binary against the HestiaCP simulator: records
//! import, analyse, apply, analyse again (access key and user/password); a user whose `NAME`
//! breaks the JSON; a failing per-user call; a user without a web domain; refusals in one
//! line; the `panel-sim hestiacp` binary as a separate process.

mod common;

use std::time::Duration;

use common::*;
use panel_sim::{
    hestia_admin, hestia_date_time, hestia_user, spawn_hestiacp, Fault, HestiaSimConfig, SimHandle,
    HESTIA_SHARED_IP, HESTIA_TEST_ACCESS_KEY,
};
use serde_json::{json, Value};

/// An active user created 2024-01-31 13:15:00 (the simulator's local time is UTC), contact
/// `ann@mail.test`, package `basic`, one web domain on the shared IP.
fn user(name: &str, domain: &str) -> Value {
    let mut v = hestia_user(name, domain);
    let (date, time) = hestia_date_time(CREATED);
    v["PACKAGE"] = json!("basic");
    v["CONTACT"] = json!("ann@mail.test");
    v["DATE"] = json!(date);
    v["TIME"] = json!(time);
    v
}

/// Server 14 `hestia1` on `port`: access key when `access_hash` is set, else admin/PASSWORD.
fn hestia_server(port: u16, access_hash: &str) -> Value {
    json!({"id": 14, "name": "hestia1", "module": "hestiacp", "hostname": "127.0.0.1",
           "ip_address": HESTIA_SHARED_IP, "port": port, "secure": false, "tls_verify": true,
           "username": "admin", "password": "PASSWORD", "access_hash": access_hash})
}

/// Clients 1 and 5, products 140 `basic` and 141 `pro` (module hestiacp), server 14, and
/// `services`.
fn hestia_doc(port: u16, access_hash: &str, services: Vec<Value>) -> Value {
    let product = |id: i64, name: &str, pkg: &str| {
        json!({"id": id, "name": name, "module": "hestiacp",
               "config_options": {"configoption1": pkg}})
    };
    json!({
        "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
        "products": [product(140, "Hestia Basic", "basic"), product(141, "Hestia Pro", "pro")],
        "servers": [hestia_server(port, access_hash)],
        "services": services,
    })
}

async fn hestia_sim(users: Vec<Value>) -> SimHandle {
    spawn_hestiacp(
        "127.0.0.1:0".parse().unwrap(),
        HestiaSimConfig::with_accounts(users),
    )
    .await
    .expect("spawn hestiacp simulator")
}

/// admin (left out), ann (in sync), bob (suspended on the server), dan (in sync), carol
/// (package pro, billed as basic), ed (not in billing); billing also has gone.test (not on
/// the server).
fn users_and_services() -> (Vec<Value>, Vec<Value>) {
    let mut bob = user("bob", "bob.test");
    bob["SUSPENDED"] = json!("yes");
    let mut carol = user("carol", "carol.test");
    carol["PACKAGE"] = json!("pro");
    let mut ed = user("ed", "ed.test");
    ed["CONTACT"] = json!("ed@mail.test");
    let users = vec![
        hestia_admin(),
        user("ann", "ann.test"),
        bob,
        user("dan", "dan.test"),
        carol,
        ed,
    ];
    let services = vec![
        service(1400, 1, 140, 14, "ann.test", "ann", "Active"),
        service(1401, 1, 140, 14, "bob.test", "bob", "Active"),
        service(1402, 1, 140, 14, "dan.test", "dan", "Active"),
        service(1403, 1, 140, 14, "carol.test", "carol", "Active"),
        service(1404, 1, 140, 14, "gone.test", "gone", "Active"),
    ];
    (users, services)
}

/// import → analyse → apply → analyse, for a server at `port` with `users_and_services()`.
async fn import_analyse_apply_analyse(env: &Env, port: u16, access_hash: &str) {
    let (_, services) = users_and_services();
    let out = env.import(&hestia_doc(port, access_hash, services)).await;
    assert!(out.stdout.contains("inserted"), "{out:#?}");

    let an = env.analyse("hestia1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": true, "accounts": 5, "error": null, "skipped": []})
    );
    assert_eq!(
        an["server"],
        json!({"id": 14, "name": "hestia1", "module": "hestiacp"})
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
    assert_eq!(bob["remote"]["created"], "2024-01-31 13:15:00");
    assert_eq!(bob["remote"]["primaryip"], HESTIA_SHARED_IP);
    let carol = item(&an, "carol.test");
    assert_eq!(
        carol["diffs"],
        json!([{"field": "product", "remote": "pro", "billing": "basic"}])
    );
    assert_eq!(item(&an, "gone.test")["actions"], json!(["terminate"]));
    assert_eq!(item(&an, "ed.test")["remote"]["email"], "ed@mail.test");
    // Secrets never reach the analysis.
    let text = an.to_string();
    for u in users_and_services().0 {
        let rkey = u["RKEY"].as_str().unwrap();
        assert!(!text.contains(rkey), "{rkey} in {text}");
    }

    let out = env
        .apply(
            "hestia1",
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
            ("terminate".into(), "1404".into(), "applied".into()),
        ]
    );
    assert_eq!(env.service(1401).await["status"], "Suspended");
    assert_eq!(env.service(1403).await["product_id"], 141);
    let gone = env.service(1404).await;
    assert_eq!(gone["status"], "Terminated");
    assert_eq!(gone["termination_date"], today());
    let services = env.services().await;
    let ed = services
        .iter()
        .find(|s| s["domain"] == "ed.test")
        .expect("ed.test imported");
    assert_eq!(ed["username"], "ed");
    assert_eq!(ed["server_id"], 14);
    assert_eq!(ed["product_id"], 140);
    assert_eq!(ed["regdate"], "2024-01-31");

    let out = env
        .run(&["analyse", "hestia1", "--json", "--exit-code"])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(nonzero_counts(&out.json()), counts(&[("in_sync", 5)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync_with_an_access_key() {
    let env = Env::new();
    let (users, _) = users_and_services();
    let sim = hestia_sim(users).await;
    import_analyse_apply_analyse(&env, sim.addr.port(), HESTIA_TEST_ACCESS_KEY).await;
    // One user list plus five web-domains calls per listing (none for admin); two listings
    // (apply works from the stored analysis).
    assert_eq!(sim.request_count(), 12);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync_with_user_and_password() {
    let env = Env::new();
    let (users, _) = users_and_services();
    let sim = hestia_sim(users).await;
    import_analyse_apply_analyse(&env, sim.addr.port(), "").await;
    sim.shutdown().await;
}

fn five_services() -> Vec<Value> {
    let mut services: Vec<Value> = (1..=5)
        .map(|i| {
            service(
                1400 + i,
                1,
                140,
                14,
                &format!("u{i}.test"),
                &format!("u{i}"),
                "Active",
            )
        })
        .collect();
    services.push(service(1409, 1, 140, 14, "gone.test", "gone", "Active"));
    services
}

fn five_users() -> Vec<Value> {
    let mut users = vec![hestia_admin()];
    users.extend((1..=5).map(|i| user(&format!("u{i}"), &format!("u{i}.test"))));
    users
}

/// Neither `u3.test` (not listed) nor `gone.test` may be terminated, and apply refuses.
async fn no_termination_offered(env: &Env, an: &Value) {
    assert_eq!(
        nonzero_counts(an),
        counts(&[("in_sync", 4), ("not_on_server", 2)])
    );
    for uid in ["u3.test", "gone.test"] {
        let it = items(an)
            .iter()
            .find(|i| i["billing"]["domain"] == uid)
            .unwrap_or_else(|| panic!("no item for {uid}"));
        assert_eq!(it["category"], "not_on_server");
        assert_eq!(it["actions"], json!([]), "{it:#}");
    }
    let out = env.apply("hestia1", &["--terminate", "all"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("incomplete"), "{}", out.stderr);
    assert_eq!(env.service(1403).await["status"], "Active");
    assert_eq!(env.service(1409).await["status"], "Active");
}

#[tokio::test(flavor = "multi_thread")]
async fn hestia_name_with_a_quote_is_skipped_and_no_termination_is_offered() {
    let env = Env::new();
    let mut users = five_users();
    users[3]["_quirk"] = json!("quote");
    let sim = hestia_sim(users).await;
    env.import(&hestia_doc(
        sim.addr.port(),
        HESTIA_TEST_ACCESS_KEY,
        five_services(),
    ))
    .await;
    let an = env.analyse("hestia1").await;
    assert_eq!(an["listing"]["complete"], false);
    assert_eq!(an["listing"]["accounts"], 4);
    let skipped = an["listing"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0]["index"], 3);
    assert_eq!(skipped[0]["identifier"], "u3");
    assert_eq!(
        skipped[0]["reason"],
        "the v-list-users object of this user is not valid JSON (line 2, column 30 of the \
         object; a `\"` inside a value, which Hestia does not escape?)"
    );
    // The users before and after it are listed.
    for u in ["u1.test", "u2.test", "u4.test", "u5.test"] {
        assert_eq!(item(&an, u)["category"], "in_sync", "{u}");
    }
    no_termination_offered(&env, &an).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_web_domains_call_makes_the_listing_incomplete() {
    let env = Env::new();
    let mut users = five_users();
    users[3]["_web_domains_error"] = json!({"exit": 12, "text": "Error: can't parse web.conf"});
    let sim = hestia_sim(users).await;
    env.import(&hestia_doc(sim.addr.port(), "", five_services()))
        .await;
    let an = env.analyse("hestia1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": false, "accounts": 4, "error": null, "skipped": [
            {"index": 3, "identifier": "u3",
             "reason": "v-list-web-domains failed: can't parse web.conf"}]})
    );
    no_termination_offered(&env, &an).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_web_domain_is_a_conflict() {
    let env = Env::new();
    let mut users = five_users();
    users[2]["_web_domains"] = json!([]);
    let sim = hestia_sim(users).await;
    let mut services = five_services();
    services.pop();
    env.import(&hestia_doc(
        sim.addr.port(),
        HESTIA_TEST_ACCESS_KEY,
        services,
    ))
    .await;
    let an = env.analyse("hestia1").await;
    assert_eq!(an["listing"]["complete"], true);
    let conflicts: Vec<&Value> = items(&an)
        .iter()
        .filter(|i| i["category"] == "conflict")
        .collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    assert_eq!(conflicts[0]["remote"]["username"], "u2");
    assert_eq!(conflicts[0]["actions"], json!([]));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_and_failures_are_one_clear_line() {
    let env = Env::new();
    let sim = hestia_sim(five_users()).await;
    env.import(&hestia_doc(sim.addr.port(), HESTIA_TEST_ACCESS_KEY, vec![]))
        .await;
    for (fault, expect) in [
        (Fault::BadAuth, "refused"),
        (
            Fault::ErrorIn200,
            "can't parse /usr/local/hestia/data/users",
        ),
        (Fault::Http500, "HTTP 500"),
    ] {
        sim.set_fault(Some(fault));
        let out = env.run(&["analyse", "hestia1", "--json"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains("hestia1") && lines[0].contains(expect),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("panelsimsecretkey"), "{}", lines[0]);
    }
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// `panel-sim hestiacp` as a separate process.
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
async fn panel_sim_hestiacp_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let (users, _) = users_and_services();
    let accounts_file = env.write_json("users.json", &Value::Array(users));
    let mut child = std::process::Command::new(panel_sim_binary())
        .args([
            "hestiacp",
            "--listen",
            "127.0.0.1:0",
            "--token",
            HESTIA_TEST_ACCESS_KEY,
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
    assert_ne!(addr.port(), 0);
    import_analyse_apply_analyse(&env, addr.port(), HESTIA_TEST_ACCESS_KEY).await;
}
