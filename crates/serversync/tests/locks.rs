//! Server locks through the real binary (issue 6 kinds 3 and 10): `Busy` names the holder and
//! until when, a review (`apply --dry-run`) works while the server is locked, `locks list`
//! shows the lock, `locks release SERVER` removes it (audited as `lock_release` with the
//! holder), and the server is usable again at once.

mod common;

use std::time::Duration;

use common::{acct, base_doc, sim, Env};
use serversync_store::{LockHolder, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_list_release_and_a_review_while_locked() {
    let sim = sim(vec![acct("fresh", "fresh.test", "basic").into_value()]).await;
    let env = Env::new();
    env.import(&base_doc(sim.addr.port(), vec![])).await;
    env.analyse("web1").await;

    // Another holder — this test process, which is alive — holds web1.
    let store = serversync_store::open_with_default_key(&env.db)
        .await
        .unwrap();
    let holder = LockHolder::this_process("cli:holder", "lockstest");
    let lease = store
        .lock_server(100, &holder, Duration::from_secs(600))
        .await
        .unwrap();
    let until = serversync_store::show_time(lease.expires_at);
    let who = format!("cli:holder (pid {} on {})", std::process::id(), holder.host);

    for args in [
        &["analyse", "web1"][..],
        &["apply", "web1", "--import", "all"][..],
    ] {
        let out = env.run(args).await;
        assert_eq!(out.code, 2, "{out:#?}");
        assert_eq!(out.stderr_lines().len(), 1, "{out:#?}");
        assert!(
            out.stderr.starts_with(&format!(
                "serversync: error: server web1 is busy: {who} holds its lock until {until} "
            )),
            "{}",
            out.stderr
        );
    }
    // A review reads only: it takes no lock and works while web1 is locked.
    let review = env.apply("web1", &["--dry-run", "--import", "all"]).await;
    assert_eq!(review.code, 0, "{review:#?}");
    let report = review.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["results"][0]["outcome"], "would_apply");

    let list = env.ok(&["locks", "list"]).await;
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines[0], "SERVER\tHOLDER\tTAKEN AT\tEXPIRES");
    assert_eq!(
        lines[1],
        format!(
            "web1\t{who}\t{}\t{until}",
            serversync_store::show_time(lease.taken_at)
        )
    );
    let json = env.ok(&["locks", "list", "--json"]).await.json();
    assert_eq!(json[0]["server"], "web1");
    assert_eq!(json[0]["holder_id"], holder.id.as_str());
    assert_eq!(json[0]["expired"], false);

    let released = env.ok(&["locks", "release", "web1"]).await;
    assert!(
        released
            .stdout
            .starts_with(&format!("released the lock of server web1 held by {who}")),
        "{}",
        released.stdout
    );
    let ev = store.audit_events(Some(100), None, None, 1).await.unwrap();
    assert_eq!(ev[0].action, "lock_release");
    assert!(ev[0].actor.starts_with("cli:"));
    assert!(ev[0].before.as_deref().unwrap().contains(&holder.id));
    // The old holder lost it: its next renewal says so (and its writes would be refused).
    assert!(matches!(
        store
            .renew_lock(100, &holder.id, Duration::from_secs(600))
            .await,
        Err(StoreError::LockLost(100))
    ));
    assert_eq!(
        env.ok(&["locks", "release", "web1"]).await.stdout,
        "server web1 has no lock\n"
    );
    assert_eq!(
        env.ok(&["locks", "list"]).await.stdout,
        "no server is locked\n"
    );
    env.analyse("web1").await;
    let out = env.apply("web1", &["--import", "all"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
}
