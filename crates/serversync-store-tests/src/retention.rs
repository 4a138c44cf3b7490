//! Checks of run retention ([`serversync_store::Runs::prune_runs`]) and of compact runs
//! reading back whole (issue 11).

use super::{event, load, new_run, remote};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{ChangeSet, ListingStatus, NewRun, Store, StoreError};

/// Pruning to the newest `keep` runs of a server keeps every applied run and the newest
/// complete one, deletes the rest of that server's runs only, and is idempotent.
pub async fn runs_prune_keeps_applied_and_latest_complete(store: &dyn Store) {
    let base = 36_000_000;
    load(store, base).await;
    let (server, other) = (base + 100, base + 101);
    let with = |status: ListingStatus| NewRun {
        analysis_json: (status != ListingStatus::Failed).then(|| r#"{"items":[]}"#.into()),
        listing_status: status,
        ..new_run(server, vec![remote("ann", base)])
    };
    let mut ids = Vec::new();
    for status in [
        ListingStatus::Complete,   // 0: applied below
        ListingStatus::Complete,   // 1: the newest complete one
        ListingStatus::Failed,     // 2
        ListingStatus::Incomplete, // 3
        ListingStatus::Failed,     // 4
        ListingStatus::Failed,     // 5
        ListingStatus::Incomplete, // 6
    ] {
        ids.push(store.insert_run(&with(status)).await.unwrap());
    }
    let foreign = store
        .insert_run(&new_run(other, vec![remote("bob", base)]))
        .await
        .unwrap();
    store
        .apply(&ChangeSet {
            audit: vec![(None, event("sync", Some(server), Some(ids[0])))],
            mark_run_applied: Some(ids[0]),
            ..ChangeSet::default()
        })
        .await
        .unwrap();

    assert_eq!(store.prune_runs(server, 2, 1).await.unwrap(), 3);
    let left: Vec<i64> = store
        .runs(server, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![ids[6], ids[5], ids[1], ids[0]]);
    for gone in [ids[2], ids[3], ids[4]] {
        assert!(matches!(
            store.run(gone).await,
            Err(StoreError::NotFound(_))
        ));
    }
    // The kept runs read back whole; the other server's run is untouched.
    assert_eq!(
        store.run(ids[1]).await.unwrap().accounts,
        vec![remote("ann", base)]
    );
    assert_eq!(store.run(foreign).await.unwrap().id, foreign);
    assert_eq!(store.prune_runs(server, 2, 1).await.unwrap(), 0);

    // keep 0: only what is never pruned stays (the applied run and the newest complete one).
    assert_eq!(store.prune_runs(server, 0, 1).await.unwrap(), 2);
    let left: Vec<i64> = store
        .runs(server, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![ids[1], ids[0]]);
    assert_eq!(store.runs(other, 0).await.unwrap().len(), 1);
}

/// A server's run ids, newest first.
async fn run_ids(store: &dyn Store, server: i64) -> Vec<i64> {
    store
        .runs(server, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

/// The newest `keep_complete` complete runs stay whatever `keep` is: with failed listings
/// between them, a small `keep` would otherwise leave the shrink guard fewer complete
/// listings to compare a new one with. At least one stays, whatever `keep_complete` is.
pub async fn runs_prune_keeps_the_newest_complete_runs(store: &dyn Store) {
    let base = 39_000_000;
    load(store, base).await;
    let server = base + 100;
    let with = |status: ListingStatus| NewRun {
        analysis_json: (status != ListingStatus::Failed).then(|| r#"{"items":[]}"#.into()),
        listing_status: status,
        ..new_run(server, vec![remote("ann", base)])
    };
    let mut ids = Vec::new();
    // c: complete, f: failed.
    for status in "cccfccfcff".chars() {
        let status = match status {
            'c' => ListingStatus::Complete,
            _ => ListingStatus::Failed,
        };
        ids.push(store.insert_run(&with(status)).await.unwrap());
    }
    // The newest two, and the newest five complete ones (runs 7, 5, 4, 2, 1).
    assert_eq!(store.prune_runs(server, 2, 5).await.unwrap(), 3);
    assert_eq!(
        run_ids(store, server).await,
        vec![ids[9], ids[8], ids[7], ids[5], ids[4], ids[2], ids[1]]
    );
    assert_eq!(store.prune_runs(server, 2, 5).await.unwrap(), 0);
    // `keep_complete` 0 still keeps the newest complete run.
    assert_eq!(store.prune_runs(server, 2, 0).await.unwrap(), 4);
    assert_eq!(run_ids(store, server).await, vec![ids[9], ids[8], ids[7]]);
}

/// A big run (remote list and analysis) reads back exactly as it was stored.
pub async fn compact_runs_read_back_whole(store: &dyn Store) {
    let base = 37_000_000;
    load(store, base).await;
    let server = base + 100;
    let accounts: Vec<_> = (0..2_000)
        .map(|i| {
            let mut a = remote(&format!("u{i}"), base);
            a.status_detail = (i % 7 == 0).then(|| format!("reason ü {i}"));
            a
        })
        .collect();
    let analysis = serde_json::json!({
        "items": (0..500).map(|i| serde_json::json!({"category": "out_of_sync", "i": i}))
            .collect::<Vec<_>>(),
        "in_sync_rows": [[0, 1, 2]],
    })
    .to_string();
    let run = NewRun {
        analysis_json: Some(analysis.clone()),
        ..new_run(server, accounts.clone())
    };
    let id = store.insert_run(&run).await.unwrap();
    let got = store.run(id).await.unwrap();
    assert_eq!(got.accounts, accounts);
    assert_eq!(
        crate::json_of(got.analysis_json.as_deref()),
        crate::json_of(Some(&analysis))
    );
    let latest = store.latest_run(server).await.unwrap().expect("a run");
    assert_eq!((latest.id, latest.accounts.len()), (id, 2_000));
    let summary = &store.runs(server, 1).await.unwrap()[0];
    assert_eq!((summary.id, summary.accounts), (id, 2_000));
}
