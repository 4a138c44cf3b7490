//! The import race of issue 6 kind 5, through the real binary: a `records import` adding
//! services for domains while `apply --import all` imports the same accounts, repeated with
//! varied offsets. Whichever commits second re-checks the unique identifiers inside its
//! transaction and refuses (the apply: those items, with the reason; the records import: the
//! whole document, with the path) — never two live services for one account, and the apply's
//! report always matches the database.

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::{acct, base_doc, run_in, service, sim, Env};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

const ACCOUNTS: usize = 1_000;
/// Every tenth account gets a billing service from the records import.
const STEP: usize = 10;
const ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_import_racing_apply_import_never_leaves_two_live_services() {
    let accounts: Vec<Value> = (0..ACCOUNTS)
        .map(|i| acct(&format!("u{i}"), &format!("d{i}.test"), "basic").into_value())
        .collect();
    let sim = sim(accounts).await;
    let port = sim.addr.port();
    // The records document of the other writer: services for d0, d10, d20, … (new ids).
    let racing: Vec<Value> = (0..ACCOUNTS)
        .step_by(STEP)
        .map(|i| {
            service(
                50_000 + i as i64,
                1,
                10,
                100,
                &format!("D{i}.test"),
                &format!("u{i}"),
                "Active",
            )
        })
        .collect();
    let racing_doc = base_doc(port, racing);
    let mut tally = std::collections::BTreeMap::<&str, usize>::new();
    for round in 0..ROUNDS {
        let env = Env::new();
        env.import(&base_doc(port, vec![])).await;
        let doc = env.analyse("web1").await;
        assert_eq!(doc["counts"]["not_in_billing"], ACCOUNTS);
        let file = env.write_json("racing.json", &racing_doc);
        let args = |a: &[&str]| {
            let mut v = vec!["--database".to_string(), env.db.clone()];
            v.extend(a.iter().map(|s| s.to_string()));
            v
        };
        let apply = run_in(
            env.dir.path(),
            args(&["apply", "web1", "--import", "all", "--json"]),
        );
        let offset = Duration::from_millis((round % 6) as u64 * 20);
        let records = async {
            tokio::time::sleep(offset).await;
            run_in(
                env.dir.path(),
                args(&["records", "import", file.to_str().unwrap()]),
            )
            .await
        };
        let (apply, records) = tokio::join!(apply, records);

        let pool = SqlitePool::connect_with(SqliteConnectOptions::from_str(&env.db).unwrap())
            .await
            .unwrap();
        let doubled: Vec<(String, i64)> = sqlx::query_as(
            "SELECT lower(domain), COUNT(*) FROM services \
             WHERE status IN ('Active', 'Suspended', 'Pending') \
             GROUP BY lower(domain) HAVING COUNT(*) > 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(
            doubled.is_empty(),
            "round {round}: two live services for {doubled:?}\napply: {apply:#?}\nrecords: {records:#?}"
        );
        // The racing document's ids are 50000, 50010, …; the apply's are assigned after the
        // highest id at its commit (1.. or past 50990).
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services")
            .fetch_one(&pool)
            .await
            .unwrap();
        let from_records: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE id BETWEEN 50000 AND 50990")
                .fetch_one(&pool)
                .await
                .unwrap();
        let from_apply = total - from_records;
        let import_events: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'import'")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;

        // The apply's report is what the database holds.
        assert!(
            apply.code == 0 || apply.code == 1,
            "round {round}: {apply:#?}"
        );
        let report = apply.json();
        let results = report["results"].as_array().unwrap();
        let applied = results.iter().filter(|r| r["outcome"] == "applied").count() as i64;
        assert_eq!(applied, from_apply, "round {round}: report vs database");
        assert_eq!(
            import_events, from_apply,
            "round {round}: audit vs database"
        );
        let racing_n = (ACCOUNTS / STEP) as i64;
        let outcome = if records.code == 0 {
            // The records import won: every raced account is in billing once, by it; the
            // apply refused those imports with the reason, or it had analysed them away.
            assert_eq!(from_records, racing_n);
            assert_eq!(from_apply, ACCOUNTS as i64 - racing_n, "round {round}");
            let refused: Vec<&Value> = results
                .iter()
                .filter(|r| r["outcome"] == "refused")
                .collect();
            if refused.is_empty() {
                "records import first"
            } else {
                assert_eq!(refused.len() as i64, racing_n, "round {round}");
                for r in refused {
                    let note = r["notes"][0].as_str().unwrap();
                    assert!(
                        note.contains("was added to this server since run"),
                        "round {round}: {note}"
                    );
                }
                "apply refused the raced items"
            }
        } else {
            // The apply won: the records import was refused whole, naming the clash.
            assert_eq!(records.code, 2, "round {round}: {records:#?}");
            assert_eq!(records.stderr_lines().len(), 1, "{records:#?}");
            assert!(
                records.stderr.contains("already has live service")
                    && records.stderr.contains("services[0].domain"),
                "round {round}: {}",
                records.stderr
            );
            assert_eq!((from_records, from_apply), (0, ACCOUNTS as i64));
            "records import refused"
        };
        *tally.entry(outcome).or_default() += 1;
    }
    eprintln!("outcomes over {ROUNDS} rounds: {tally:?}");
}
