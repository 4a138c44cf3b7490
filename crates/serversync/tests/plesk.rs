//! End to end through the `serversync` binary against the Plesk simulator: records import,
//! analyse, apply, analyse again; a refused key and an error in HTTP 200; the `panel-sim
//! plesk` binary as a separate process (CONTRACT.md "Panel simulators").

mod common;

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

/// Server 12 `plesk1`, clients 1 and 5, products 120 `Basic` and 121 `Silver` (module
/// plesk), billed services from 1200.
const PLESK: PanelCase = PanelCase {
    server: "plesk1",
    server_id: 12,
    module: "plesk",
    products: (120, 121),
    product_names: ("Plesk Basic", "Plesk Silver"),
    packages: ("Basic", "Silver"),
    first_service: 1200,
    ip: PLESK_IP,
    created: "2024-01-31 00:00:00",
};

/// [`PLESK`]'s records with server `plesk1` on `port`, authenticating with the secret key
/// `key`, and `services`.
fn plesk_doc(port: u16, key: &str, services: Vec<Value>) -> Value {
    PLESK.doc(port, "", key, services)
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
/// billed as Basic), ed (not in billing); billing ([`PanelCase::services`]) also has
/// gone.test (not on the server).
fn subs() -> Vec<Value> {
    let mut bob = sub(2, "bob");
    bob["status"] = json!(272);
    let mut dan = sub(3, "dan");
    dan["status"] = json!(4);
    dan["ips"] = json!(["2001:db8::12", PLESK_IP]);
    let mut carol = sub(4, "carol");
    carol["plan"] = json!("Silver");
    let mut ed = sub(5, "ed");
    ed["owner_email"] = json!("ed@mail.test");
    vec![sub(1, "ann"), bob, dan, carol, ed]
}

async fn import_analyse_apply_analyse(env: &Env, port: u16) {
    let an = PLESK
        .import_and_analyse(env, &plesk_doc(port, "TOKEN", PLESK.services()))
        .await;
    assert_eq!(item(&an, "bob.test")["remote"]["owner"], "bob");
    let dan = item(&an, "dan.test");
    assert_eq!(dan["category"], "in_sync");
    assert_eq!(dan["remote"]["primaryip"], PLESK_IP);

    PLESK.apply_all(env).await;

    assert_all_in_sync(env, "plesk1", 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_analyse_apply_analyse_in_sync() {
    let env = Env::new();
    let sim = plesk_sim(subs()).await;
    import_analyse_apply_analyse(&env, sim.addr.port()).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_or_an_error_in_200_is_one_clear_line() {
    let env = Env::new();
    let sim = plesk_sim(vec![sub(1, "ann")]).await;
    env.import(&plesk_doc(sim.addr.port(), "TOKEN", vec![]))
        .await;
    assert_faults_are_one_clear_line(
        &env,
        &sim,
        "plesk1",
        &[
            (Fault::BadAuth, "11003"),
            (Fault::ErrorIn200, "webspace get answered error 1023"),
        ],
        "TOKEN",
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn panel_sim_plesk_binary_import_analyse_apply_analyse() {
    let env = Env::new();
    let accounts_file = env.write_json("subscriptions.json", &Value::Array(subs()));
    let (_panel_sim, addr) = start_panel_sim(
        &["plesk", "--listen", "127.0.0.1:0", "--token", "TOKEN"],
        &accounts_file,
    );
    import_analyse_apply_analyse(&env, addr.port()).await;
}
