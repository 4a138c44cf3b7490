//! Reads for a fleet's servers page: the newest runs of every server from one query.

use serversync_store::{ListingStatus, NewRun, Store};

use crate::{load, new_run};

/// `recent_runs(n)`: at most the `n` newest runs of each server, ordered by server id and
/// then newest first, failed runs included; `n` ≤ 0 gives nothing.
pub async fn recent_runs_are_the_newest_per_server(store: &dyn Store) {
    let base = 35_000_000;
    load(store, base).await;
    let (a, b) = (base + 100, base + 101);
    let mut of_a = Vec::new();
    for i in 0..4 {
        let run = NewRun {
            counts_json: format!(r#"{{"in_sync":1,"not_in_billing":{i}}}"#),
            ..new_run(a, Vec::new())
        };
        of_a.push(store.insert_run(&run).await.unwrap());
    }
    let failed = NewRun {
        listing_status: ListingStatus::Failed,
        error: Some("timeout".into()),
        analysis_json: None,
        counts_json: "{}".into(),
        ..new_run(b, Vec::new())
    };
    let of_b = store.insert_run(&failed).await.unwrap();
    let mine = |runs: Vec<serversync_store::RunSummary>| -> Vec<(i64, i64)> {
        runs.into_iter()
            .filter(|r| r.server_id == a || r.server_id == b)
            .map(|r| (r.server_id, r.id))
            .collect()
    };
    assert_eq!(
        mine(store.recent_runs(3).await.unwrap()),
        vec![(a, of_a[3]), (a, of_a[2]), (a, of_a[1]), (b, of_b)]
    );
    assert_eq!(
        mine(store.recent_runs(1).await.unwrap()),
        vec![(a, of_a[3]), (b, of_b)]
    );
    assert!(store.recent_runs(0).await.unwrap().is_empty());
    let newest = store.recent_runs(1).await.unwrap();
    let last_a = newest.iter().find(|r| r.server_id == a).unwrap();
    // As JSON: PostgreSQL's jsonb spaces it its own way.
    assert_eq!(
        crate::json_of(Some(&last_a.counts_json)),
        Some(serde_json::json!({"in_sync": 1, "not_in_billing": 3}))
    );
    let last_b = newest.iter().find(|r| r.server_id == b).unwrap();
    assert_eq!(last_b.listing_status, ListingStatus::Failed);
    // Each server's runs come newest first, and servers by id, however many there are.
    let all = store.recent_runs(50).await.unwrap();
    assert!(
        all.windows(2)
            .all(|w| (w[0].server_id, std::cmp::Reverse(w[0].id))
                < (w[1].server_id, std::cmp::Reverse(w[1].id))),
        "order"
    );
}
