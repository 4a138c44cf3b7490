//! The miss counter and the shrink guard through the real binary against a cPanel simulator
//! (issue 11, "Small inputs that must come out right"): `misses` on `not_on_server` items of
//! `analyse --json` and in the review, and a listing that drops from 1,000 to 10 accounts
//! offers no termination without `--force`.

mod common;

use common::{acct, base_doc, item, service, Env};
use serde_json::Value;

/// `n` accounts `u0000.test…` listed by the simulator.
fn accounts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| acct(&format!("u{i:04}"), &format!("u{i:04}.test"), "basic").into_value())
        .collect()
}

/// `n` live services, one per account of [`accounts`], ids 1000…
fn services(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            service(
                1000 + i as i64,
                1,
                10,
                100,
                &format!("u{i:04}.test"),
                &format!("u{i:04}"),
                "Active",
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_drops_from_1000_to_10_offers_no_termination_without_force() {
    let env = Env::new();
    let sim = common::sim(accounts(1000)).await;
    env.import(&base_doc(sim.addr.port(), services(1000))).await;
    let first = env.analyse("web1").await;
    assert_eq!(first["listing"]["accounts"], 1000);

    sim.set_accounts(accounts(10));
    let doc = env.analyse("web1").await;
    assert_eq!(doc["counts"]["not_on_server"], 990);
    let gone = item(&doc, "u0500.test");
    assert_eq!(
        (&gone["misses"], &gone["gone_after"], &gone["gone"]),
        (&Value::from(1), &Value::from(3), &Value::from(false))
    );
    let shrank =
        "the listing shrank from 1000 to 10 accounts (99% missing at once, above the 50% limit)";
    assert!(
        doc["warnings"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!(
                "{shrank}: no termination is offered without force"
            ))),
        "{:#}",
        doc["warnings"]
    );
    assert_eq!(first["warnings"], serde_json::json!([]));

    // The review (a dry run) refuses the termination with the sentence and the count.
    // Exit 1: an item was refused.
    let review = env
        .apply("web1", &["--terminate", "1500", "--dry-run"])
        .await;
    assert_eq!(review.code, 1, "{review:#?}");
    let r = review.json();
    let result = &r["results"][0];
    assert_eq!(
        (&result["action"], &result["outcome"], &result["service_id"]),
        (
            &Value::from("terminate"),
            &Value::from("refused"),
            &Value::from(1500)
        )
    );
    let notes: Vec<&str> = result["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        vec![
            format!("blocked: {shrank} (override the guards to go ahead)").as_str(),
            "missing in 1 of 3 listings"
        ]
    );

    // The real apply refuses it too, and writes nothing.
    let refused = env.apply("web1", &["--terminate", "1500"]).await;
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert_eq!(
        refused.json()["results"][0]["outcome"],
        "refused",
        "{refused:#?}"
    );
    assert_eq!(env.service(1500).await["status"], "Active");

    // The table review says it in words.
    let table = env
        .run(&["apply", "web1", "--terminate", "1500", "--dry-run"])
        .await;
    assert!(
        table.stdout.contains("the listing shrank from 1000 to 10"),
        "{table:#?}"
    );
    assert!(
        table.stdout.contains("missing in 1 of 3 listings"),
        "{table:#?}"
    );

    // With --force it goes ahead, the override audited in the report.
    let forced = env.apply("web1", &["--terminate", "1500", "--force"]).await;
    assert_eq!(forced.code, 0, "{forced:#?}");
    let f = forced.json();
    assert_eq!(f["results"][0]["outcome"], "applied", "{f:#}");
    assert_eq!(f["forced"], serde_json::json!([shrank]));
    assert_eq!(env.service(1500).await["status"], "Terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_apply_may_terminate_after_one_listing_and_shows_the_count() {
    let env = Env::new();
    let sim = common::sim(accounts(8)).await;
    env.import(&base_doc(sim.addr.port(), services(8))).await;
    env.analyse("web1").await;
    // u0003 goes missing; 7 of 8 listed is no shrink.
    let mut fewer = accounts(8);
    fewer.remove(3);
    sim.set_accounts(fewer);
    // The table of the analysis shows the count.
    let table = env.ok(&["analyse", "web1"]).await;
    assert!(
        table.stdout.contains("missing in 1 of 3 listings"),
        "{table:#?}"
    );

    // Not gone yet, but a person may terminate it (as WHMCS's tool does); the review and
    // the report say how many listings missed it.
    let review = env
        .run(&["apply", "web1", "--terminate", "1003", "--dry-run"])
        .await;
    assert_eq!(review.code, 0, "{review:#?}");
    assert!(
        review.stdout.contains("missing in 1 of 3 listings"),
        "{review:#?}"
    );
    let out = env.apply("web1", &["--terminate", "1003"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let r = out.json();
    assert_eq!(r["results"][0]["outcome"], "applied", "{r:#}");
    assert_eq!(
        r["results"][0]["notes"],
        serde_json::json!(["missing in 1 of 3 listings"])
    );
    assert_eq!(env.service(1003).await["status"], "Terminated");
}
