//! `serversync servers test NAME` against a cPanel simulator: one listing call, the result
//! in one line (stdout and exit 0 when the panel answered; stderr and exit 2 when not), and
//! nothing stored.

mod common;

use common::*;
use panel_sim::Fault;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn servers_test_lists_once_and_answers_in_one_line() {
    let env = Env::new();
    let accounts: Vec<Value> = ["ann", "bob", "cat"]
        .iter()
        .map(|u| acct(u, &format!("{u}.test"), "basic").to_value())
        .collect();
    let sim = sim(accounts).await;
    env.import(&base_doc(sim.addr.port(), vec![])).await;

    for name_or_id in ["web1", "100"] {
        let out = env.run(&["servers", "test", name_or_id]).await;
        assert_eq!(out.code, 0, "{out:#?}");
        assert_eq!(out.stderr, "", "{out:#?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{out:#?}");
        assert!(
            lines[0].starts_with("web1: connected, 3 accounts listed in ")
                && lines[0].ends_with(" s"),
            "{}",
            lines[0]
        );
    }
    // A test stores no run.
    let store = serversync_store::open_with_default_key(&env.db)
        .await
        .unwrap();
    assert!(store.runs(100, 10).await.unwrap().is_empty());
    drop(store);

    sim.set_fault(Some(Fault::BadAuth));
    let out = env.run(&["servers", "test", "web1"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stdout, "");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:#?}");
    assert!(lines[0].starts_with("web1: failed: "), "{}", lines[0]);
    assert!(
        lines[0].contains("refused the API token (HTTP 403)"),
        "{}",
        lines[0]
    );
    assert!(
        !lines[0].contains("TOKEN"),
        "a secret on stderr: {}",
        lines[0]
    );

    let out = env.run(&["servers", "test", "nosuch"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stderr_lines().len(), 1, "{out:#?}");
    assert!(out.stderr.contains("nosuch"), "{out:#?}");
}
