//! `serversync scan` through the real binary against cPanel simulators (issue 11): the
//! fleet summary table, `--json` values, exit codes (0 no drift, 1 drift, 2 a failure or a
//! busy server), disabled servers left out, and nothing applied.

mod common;

use std::time::Duration;

use common::{acct, client, product, server, service, Env, WEB1_IP};
use panel_sim::{Fault, SimHandle};
use serde_json::{json, Value};
use serversync_store::LockHolder;

/// web1: ann.test billed and listed, fresh.test listed but not billed (1 not_in_billing);
/// web2: bob.test billed and listed (no drift); web3: answers every listing with HTTP 500;
/// web4 (disabled): never listed.
struct Fleet {
    env: Env,
    _sims: Vec<SimHandle>,
}

async fn fleet() -> Fleet {
    let web1 = common::sim(vec![
        acct("ann", "ann.test", "basic").into_value(),
        acct("fresh", "fresh.test", "basic").into_value(),
    ])
    .await;
    let web2 = common::sim(vec![acct("bob", "bob.test", "basic").into_value()]).await;
    let web3 = common::sim(vec![acct("cat", "cat.test", "basic").into_value()]).await;
    web3.set_fault(Some(Fault::Http500));
    let web4 = common::sim(vec![]).await;
    let mut disabled = server(103, "web4", web4.addr.port(), WEB1_IP);
    disabled["disabled"] = json!(true);
    let env = Env::new();
    env.import(&json!({
        "clients": [client(1, "ann@mail.test")],
        "products": [product(10, "Basic Hosting", "basic")],
        "servers": [
            server(100, "web1", web1.addr.port(), WEB1_IP),
            server(101, "web2", web2.addr.port(), WEB1_IP),
            server(102, "web3", web3.addr.port(), WEB1_IP),
            disabled,
        ],
        "services": [
            service(1000, 1, 10, 100, "ann.test", "ann", "Active"),
            service(1001, 1, 10, 101, "bob.test", "bob", "Active"),
            service(1002, 1, 10, 102, "cat.test", "cat", "Active"),
        ],
    }))
    .await;
    Fleet {
        env,
        _sims: vec![web1, web2, web3, web4],
    }
}

/// The cells of the table row whose first cell is `server` (split on the box-drawing bars).
fn row(stdout: &str, server: &str) -> Vec<String> {
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            let cells: Vec<String> = l.split(['│', '┆']).map(|c| c.trim().to_string()).collect();
            // The outer bars leave an empty first and last piece.
            cells[1..cells.len() - 1].to_vec()
        })
        .filter(|cells| cells.first().map(String::as_str) == Some(server))
        .collect();
    assert_eq!(rows.len(), 1, "one row of {server} in:\n{stdout}");
    rows[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_all_prints_the_fleet_table_and_exits_2_on_a_failure() {
    let f = fleet().await;
    let out = f.env.run(&["scan", "--all"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    let web1 = row(&out.stdout, "web1");
    assert_eq!(web1[..5], ["web1", "cpanel", "2", "not_in_billing 1", "ok"]);
    let web2 = row(&out.stdout, "web2");
    assert_eq!(web2[..5], ["web2", "cpanel", "1", "none", "ok"]);
    let web3 = row(&out.stdout, "web3");
    // No accounts and no drift for a failed listing.
    assert_eq!(web3[..4], ["web3", "cpanel", "", ""]);
    assert!(
        web3[4].starts_with("failed: listing failed:") && web3[4].contains("500"),
        "{web3:?}"
    );
    assert!(
        !out.stdout.contains("web4"),
        "a disabled server is not scanned: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("3 servers: 2 ok, 1 failed, 0 busy; 1 drift item;"),
        "{}",
        out.stdout
    );
    // Each server got its run, as `analyse` stores them (web3's a failed one); nothing was
    // applied: billing is unchanged.
    let services = f.env.services().await;
    assert_eq!(services.len(), 3);
    assert!(services.iter().all(|s| s["status"] == "Active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_json_values_and_exit_codes_per_outcome() {
    let f = fleet().await;
    let out = f
        .env
        .run(&["scan", "--all", "--json", "--concurrency", "2"])
        .await;
    assert_eq!(out.code, 2, "{out:#?}");
    let doc = out.json();
    let servers = doc["servers"].as_array().expect("servers");
    let names: Vec<&str> = servers
        .iter()
        .map(|s| s["server"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web1", "web2", "web3"]);
    let (w1, w2, w3) = (&servers[0], &servers[1], &servers[2]);
    assert_eq!(w1["result"], "ok");
    assert_eq!(w1["module"], "cpanel");
    assert_eq!(w1["accounts"], 2);
    assert_eq!(w1["complete"], true);
    assert_eq!(w1["drift"], 1);
    assert_eq!(w1["counts"]["not_in_billing"], 1);
    assert_eq!(w1["counts"]["in_sync"], 1);
    assert_eq!(w1["cause"], Value::Null);
    assert!(w1["run_id"].as_i64().is_some());
    assert_eq!(w2["result"], "ok");
    assert_eq!(w2["accounts"], 1);
    assert_eq!(w2["drift"], 0);
    assert_eq!(w3["result"], "failed");
    assert_eq!(w3["accounts"], Value::Null);
    assert!(w3["cause"].as_str().unwrap().contains("500"), "{w3}");
    assert_eq!(
        doc["summary"],
        json!({"servers": 3, "ok": 2, "failed": 1, "busy": 0, "drift": 1,
               "seconds": doc["summary"]["seconds"], "exit_code": 2})
    );
    // The run scan stored for web1 is the latest run `apply` would use: the same document
    // `analyse` makes.
    let review = f.env.apply("web1", &["--import", "all", "--dry-run"]).await;
    assert_eq!(review.code, 0, "{review:#?}");
    assert_eq!(review.json()["run_id"], w1["run_id"]);

    // Only the servers named: drift and no failure → 1; no drift → 0.
    let drift = f.env.run(&["scan", "web1", "web2", "--json"]).await;
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert_eq!(drift.json()["summary"]["exit_code"], 1);
    let clean = f.env.run(&["scan", "web2"]).await;
    assert_eq!(clean.code, 0, "{clean:#?}");
    assert_eq!(row(&clean.stdout, "web2")[4], "ok");

    // A disabled server named, or an unknown one: exit 2 naming it, nothing scanned.
    let disabled = f.env.run(&["scan", "web4"]).await;
    assert_eq!(disabled.code, 2);
    assert!(
        disabled.stderr.contains("server web4 is disabled"),
        "{disabled:#?}"
    );
    let none = f.env.run(&["scan"]).await;
    assert_eq!(none.code, 2, "neither --all nor a server: {none:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_is_reported_busy_and_the_others_are_scanned() {
    let f = fleet().await;
    let store = serversync_store::open_with_default_key(&f.env.db)
        .await
        .unwrap();
    let holder = LockHolder::this_process("cli:holder", "scantest");
    store
        .lock_server(101, &holder, Duration::from_secs(600))
        .await
        .unwrap();
    let out = f.env.run(&["scan", "web1", "web2", "--json"]).await;
    assert_eq!(out.code, 2, "busy counts as not scanned: {out:#?}");
    let doc = out.json();
    assert_eq!(doc["servers"][0]["result"], "ok");
    let w2 = &doc["servers"][1];
    assert_eq!(w2["result"], "busy");
    assert!(
        w2["cause"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cli:holder (pid {}", std::process::id())),
        "{w2}"
    );
    assert_eq!(doc["summary"]["busy"], 1);
    // The holder keeps its lock: scan did not take it over or release it.
    let locks = f.env.ok(&["locks", "list", "--json"]).await.json();
    assert_eq!(locks.as_array().map(Vec::len), Some(1), "{locks}");
    assert_eq!(locks[0]["holder_id"], holder.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_past_its_deadline_fails_and_stores_a_failed_run() {
    let f = fleet().await;
    // web3 now answers after 120 s; its deadline is 1 s.
    f._sims[2].set_fault(Some(Fault::Slow(Duration::from_secs(120))));
    let out = f
        .env
        .run(&["scan", "web3", "web2", "--deadline-secs", "1", "--json"])
        .await;
    assert_eq!(out.code, 2, "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["servers"][0]["server"], "web3");
    assert_eq!(doc["servers"][0]["result"], "failed");
    assert_eq!(
        doc["servers"][0]["cause"],
        "listing failed: the listing did not finish within 1 s"
    );
    assert_eq!(doc["servers"][1]["result"], "ok");
    // The stopped server's lock was released.
    let locks = f.env.ok(&["locks", "list", "--json"]).await.json();
    assert_eq!(locks, json!([]));
    // Like any failed listing, it left a failed run: web3's latest run, never applicable.
    let apply = f.env.apply("web3", &["--dry-run", "--import", "all"]).await;
    assert_ne!(apply.code, 0, "{apply:#?}");
    assert!(
        apply.stderr.contains(
            "cannot be applied: its listing failed (server web3: listing failed: \
             the listing did not finish within 1 s)"
        ),
        "{apply:#?}"
    );
}

/// A scan finds the other servers' services through its fleet index: an account listed on
/// web2 whose service is billed on web1 is `moved` on web2, exactly as `analyse` finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_accounts_across_the_fleet_are_found_as_analyse_finds_them() {
    let web1 = common::sim(vec![acct("ann", "ann.test", "basic").into_value()]).await;
    let web2 = common::sim(vec![
        acct("bob", "bob.test", "basic").into_value(),
        acct("dan", "dan.test", "basic").into_value(),
    ])
    .await;
    let env = Env::new();
    env.import(&json!({
        "clients": [client(1, "ann@mail.test")],
        "products": [product(10, "Basic Hosting", "basic")],
        "servers": [
            server(100, "web1", web1.addr.port(), WEB1_IP),
            server(101, "web2", web2.addr.port(), WEB1_IP),
        ],
        "services": [
            service(1000, 1, 10, 100, "ann.test", "ann", "Active"),
            service(1001, 1, 10, 101, "bob.test", "bob", "Active"),
            // Billed on web1, living on web2.
            service(1003, 1, 10, 100, "dan.test", "dan", "Active"),
        ],
    }))
    .await;
    let out = env.run(&["scan", "--all", "--json"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    let doc = out.json();
    let w1 = &doc["servers"][0]["counts"];
    let w2 = &doc["servers"][1]["counts"];
    assert_eq!(
        (w1["in_sync"].as_u64(), w1["not_on_server"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (w2["in_sync"].as_u64(), w2["moved"].as_u64()),
        (Some(1), Some(1))
    );
    // The same counts as `analyse` of each server on its own (which loads billing whole).
    for (name, counts) in [("web1", w1), ("web2", w2)] {
        let analysed = env.analyse(name).await;
        assert_eq!(&analysed["counts"], counts, "{name}");
    }
    let analysed = env.analyse("web2").await;
    let moved: Vec<&Value> = common::items(&analysed)
        .iter()
        .filter(|i| i["category"] == "moved")
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["unique_identifier"], "dan.test");
}
