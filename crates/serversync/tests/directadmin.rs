//! End to end through the `serversync` binary against the DirectAdmin simulator: records
//! import, analyse, apply, analyse again; a failing per-user call; the `panel-sim
//! directadmin` binary as a separate process (CONTRACT.md "Panel simulators").

mod common;

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

/// Server 11 `da1` (user admin/PASSWORD), clients 1 and 5, products 10 `basic` and 11
/// `silver` (module directadmin), billed services from 1000.
const DA: PanelCase = PanelCase {
    server: "da1",
    server_id: 11,
    module: "directadmin",
    products: (10, 11),
    product_names: ("DA Basic", "DA Silver"),
    packages: ("basic", "silver"),
    first_service: 1000,
    ip: DA_IP,
    created: "2024-01-31 13:15:00",
};

/// [`DA`]'s records with server `da1` on `port`, and `services`.
fn da_doc(port: u16, services: Vec<Value>) -> Value {
    DA.doc(port, "PASSWORD", "", services)
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
/// billed as basic), ed (not in billing); billing ([`PanelCase::services`]) also has gone.test
/// (not on the server).
fn users() -> Vec<Value> {
    let mut bob = user("bob", "bob.test");
    bob["suspended"] = json!("yes");
    let mut carol = user("carol", "carol.test");
    carol["package"] = json!("silver");
    carol["_entities"] = json!("semicolon");
    let mut ed = user("ed", "ed.test");
    ed["email"] = json!("ed@mail.test");
    vec![
        user("ann", "ann.test"),
        bob,
        user("dan", "dan.test"),
        carol,
        ed,
    ]
}

/// import → analyse → apply → analyse, for a server at `port` with `users()`.
async fn import_analyse_apply_analyse(env: &Env, port: u16) {
    let an = DA
        .import_and_analyse(env, &da_doc(port, DA.services()))
        .await;
    assert_eq!(
        an["unique_identifier"],
        json!({"field": "domain", "display_name": "Domain"})
    );
    let bob = item(&an, "bob.test");
    assert_eq!(bob["category"], "out_of_sync");
    assert_eq!(bob["remote"]["owner"], "admin");
    // `&#64;` decoded.
    assert_eq!(item(&an, "carol.test")["remote"]["email"], "ann@mail.test");
    assert_eq!(item(&an, "gone.test")["actions"], json!(["terminate"]));

    DA.apply_all(env).await;
    assert_eq!(env.service(1004).await["termination_date"], today());

    assert_all_in_sync(env, "da1", 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync() {
    let env = Env::new();
    let sim = da_sim(users()).await;
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
    env.import(&da_doc(sim.addr.port(), DA.numbered_services()))
        .await;

    let an = env.analyse("da1").await;
    assert_eq!(
        an["listing"],
        json!({"complete": false, "accounts": 4, "error": null, "skipped": [
            {"index": 2, "identifier": "u3",
             "reason": "CMD_API_SHOW_USER_CONFIG answered error=1: Cannot show user"}]})
    );
    // Neither u3 (not listed because its call failed) nor gone.test may be terminated.
    DA.assert_no_termination_offered(&env, &an).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_is_one_clear_line() {
    let env = Env::new();
    let sim = da_sim(vec![user("ann", "ann.test")]).await;
    env.import(&da_doc(sim.addr.port(), vec![])).await;
    assert_faults_are_one_clear_line(
        &env,
        &sim,
        "da1",
        &[
            (Fault::BadAuth, "refused"),
            (Fault::ErrorIn200, "Unable to read the user list"),
        ],
        "PASSWORD",
    )
    .await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// `panel-sim directadmin` as a separate process.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn panel_sim_directadmin_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let accounts_file = env.write_json("users.json", &Value::Array(users()));
    let (_panel_sim, addr) = start_panel_sim(
        &[
            "directadmin",
            "--listen",
            "127.0.0.1:0",
            "--password",
            "PASSWORD",
        ],
        &accounts_file,
    );
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    import_analyse_apply_analyse(&env, addr.port()).await;
}
