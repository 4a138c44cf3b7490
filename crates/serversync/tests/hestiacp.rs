//! End to end through the `serversync` binary against the HestiaCP simulator: records
//! import, analyse, apply, analyse again (access key and user/password); a user whose `NAME`
//! breaks the JSON; a failing per-user call; a user without a web domain; refusals in one
//! line; the `panel-sim hestiacp` binary as a separate process.

mod common;

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

/// Server 14 `hestia1`, clients 1 and 5, products 140 `basic` and 141 `pro` (module
/// hestiacp), billed services from 1400.
const HESTIA: PanelCase = PanelCase {
    server: "hestia1",
    server_id: 14,
    module: "hestiacp",
    products: (140, 141),
    product_names: ("Hestia Basic", "Hestia Pro"),
    packages: ("basic", "pro"),
    first_service: 1400,
    ip: HESTIA_SHARED_IP,
    created: "2024-01-31 13:15:00",
};

/// [`HESTIA`]'s records with server `hestia1` on `port` (access key when `access_hash` is
/// set, else admin/PASSWORD), and `services`.
fn hestia_doc(port: u16, access_hash: &str, services: Vec<Value>) -> Value {
    HESTIA.doc(port, "PASSWORD", access_hash, services)
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
/// (package pro, billed as basic), ed (not in billing); billing ([`PanelCase::services`]) also
/// has gone.test (not on the server).
fn users() -> Vec<Value> {
    let mut bob = user("bob", "bob.test");
    bob["SUSPENDED"] = json!("yes");
    let mut carol = user("carol", "carol.test");
    carol["PACKAGE"] = json!("pro");
    let mut ed = user("ed", "ed.test");
    ed["CONTACT"] = json!("ed@mail.test");
    vec![
        hestia_admin(),
        user("ann", "ann.test"),
        bob,
        user("dan", "dan.test"),
        carol,
        ed,
    ]
}

/// import → analyse → apply → analyse, for a server at `port` with `users()`.
async fn import_analyse_apply_analyse(env: &Env, port: u16, access_hash: &str) {
    let an = HESTIA
        .import_and_analyse(env, &hestia_doc(port, access_hash, HESTIA.services()))
        .await;
    assert_eq!(
        an["unique_identifier"],
        json!({"field": "domain", "display_name": "Domain"})
    );
    assert_eq!(item(&an, "bob.test")["category"], "out_of_sync");
    assert_eq!(item(&an, "gone.test")["actions"], json!(["terminate"]));
    // Secrets never reach the analysis.
    let text = an.to_string();
    for u in users() {
        let rkey = u["RKEY"].as_str().unwrap();
        assert!(!text.contains(rkey), "{rkey} in {text}");
    }

    HESTIA.apply_all(env).await;
    assert_eq!(env.service(1404).await["termination_date"], today());

    assert_all_in_sync(env, "hestia1", 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync_with_an_access_key() {
    let env = Env::new();
    let sim = hestia_sim(users()).await;
    import_analyse_apply_analyse(&env, sim.addr.port(), HESTIA_TEST_ACCESS_KEY).await;
    // One user list plus five web-domains calls per listing (none for admin); two listings
    // (apply works from the stored analysis).
    assert_eq!(sim.request_count(), 12);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync_with_user_and_password() {
    let env = Env::new();
    let sim = hestia_sim(users()).await;
    import_analyse_apply_analyse(&env, sim.addr.port(), "").await;
    sim.shutdown().await;
}

fn five_users() -> Vec<Value> {
    let mut users = vec![hestia_admin()];
    users.extend((1..=5).map(|i| user(&format!("u{i}"), &format!("u{i}.test"))));
    users
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
        HESTIA.numbered_services(),
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
    HESTIA.assert_no_termination_offered(&env, &an).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_web_domains_call_makes_the_listing_incomplete() {
    let env = Env::new();
    let mut users = five_users();
    users[3]["_web_domains_error"] = json!({"exit": 12, "text": "Error: can't parse web.conf"});
    let sim = hestia_sim(users).await;
    env.import(&hestia_doc(sim.addr.port(), "", HESTIA.numbered_services()))
        .await;
    let an = env.analyse("hestia1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": false, "accounts": 4, "error": null, "skipped": [
            {"index": 3, "identifier": "u3",
             "reason": "v-list-web-domains failed: can't parse web.conf"}]})
    );
    HESTIA.assert_no_termination_offered(&env, &an).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_web_domain_is_a_conflict() {
    let env = Env::new();
    let mut users = five_users();
    users[2]["_web_domains"] = json!([]);
    let sim = hestia_sim(users).await;
    let mut services = HESTIA.numbered_services();
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
    assert_faults_are_one_clear_line(
        &env,
        &sim,
        "hestia1",
        &[
            (Fault::BadAuth, "refused"),
            (
                Fault::ErrorIn200,
                "can't parse /usr/local/hestia/data/users",
            ),
            (Fault::Http500, "HTTP 500"),
        ],
        "panelsimsecretkey",
    )
    .await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// `panel-sim hestiacp` as a separate process.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn panel_sim_hestiacp_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let accounts_file = env.write_json("users.json", &Value::Array(users()));
    let (_panel_sim, addr) = start_panel_sim(
        &[
            "hestiacp",
            "--listen",
            "127.0.0.1:0",
            "--token",
            HESTIA_TEST_ACCESS_KEY,
        ],
        &accounts_file,
    );
    assert_ne!(addr.port(), 0);
    import_analyse_apply_analyse(&env, addr.port(), HESTIA_TEST_ACCESS_KEY).await;
}
