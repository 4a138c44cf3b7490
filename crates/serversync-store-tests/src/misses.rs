//! Checks of [`serversync_store::Misses`] (issue 11, "Small inputs that must come out right"):
//! the counter moves only with complete listings, resets when the account is back, and is
//! stored with the run.

use super::{load, new_run};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{ListingStatus, MissUpdate, NewRun, ServiceMisses, Store};

/// A run of `server` whose listing (of `status`) missed `missing`.
fn listing(server: i64, status: ListingStatus, missing: &[i64]) -> NewRun {
    NewRun {
        listing_status: status,
        misses: Some(MissUpdate {
            missing: missing.to_vec(),
        }),
        ..new_run(server, Vec::new())
    }
}

/// `(service id, misses)` of a server.
async fn counts(store: &dyn Store, server: i64) -> Vec<(i64, u32)> {
    store
        .service_misses(server)
        .await
        .expect("read misses")
        .into_iter()
        .map(|m: ServiceMisses| (m.service_id, m.misses))
        .collect()
}

/// Present, absent (one complete listing), present: 1, then 0.
pub async fn misses_present_absent_present_count_1_then_0(store: &dyn Store) {
    let base = 31_000_000;
    load(store, base).await;
    let (server, bob) = (base + 101, base + 1001);
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![]);
    let absent = store
        .insert_run(&listing(server, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 1)]);
    let got = store.service_misses(server).await.unwrap();
    assert_eq!(got[0].last_run_id, absent);
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![], "back: reset to 0");
}

/// Absent from three complete listings: 3 (and another service of the same server absent
/// from the last two only: 2).
pub async fn misses_three_absent_count_3(store: &dyn Store) {
    let base = 32_000_000;
    load(store, base).await;
    let (server, bob, new) = (base + 101, base + 1001, base + 1004);
    for missing in [vec![bob], vec![bob, new], vec![bob, new]] {
        store
            .insert_run(&listing(server, ListingStatus::Complete, &missing))
            .await
            .unwrap();
    }
    assert_eq!(counts(store, server).await, vec![(bob, 3), (new, 2)]);
    // Another server's counts are its own.
    assert_eq!(counts(store, base + 100).await, vec![]);
}

/// A failed or an incomplete listing between two absent ones changes nothing: 1, 1, 1, 2.
pub async fn misses_failed_between_unchanged(store: &dyn Store) {
    let base = 33_000_000;
    load(store, base).await;
    let (server, bob) = (base + 101, base + 1001);
    let first = store
        .insert_run(&listing(server, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    let failed = NewRun {
        error: Some("Authentication failed".into()),
        accounts: Vec::new(),
        analysis_json: None,
        ..listing(server, ListingStatus::Failed, &[bob])
    };
    store.insert_run(&failed).await.unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 1)], "failed");
    // Even an incomplete listing that saw bob's account missing does not count.
    store
        .insert_run(&listing(server, ListingStatus::Incomplete, &[]))
        .await
        .unwrap();
    let got = store.service_misses(server).await.unwrap();
    assert_eq!(
        (got.len(), got[0].misses, got[0].last_run_id),
        (1, 1, first),
        "incomplete"
    );
    // A run without an update (e.g. stored by an older caller) leaves the counts too.
    store
        .insert_run(&NewRun {
            misses: None,
            ..listing(server, ListingStatus::Complete, &[])
        })
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 1)], "no update");
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 2)]);
}

/// A terminated service drops out of the reads even when a listing counted it.
pub async fn misses_of_terminated_services_drop_out(store: &dyn Store) {
    let base = 34_000_000;
    load(store, base).await;
    let (server, ann, old) = (base + 100, base + 1000, base + 1002);
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[ann, old]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(ann, 1)]);
}

/// A service counted on one server, then on another (it moved), keeps one row, the new
/// server's, counted from 1; counted again on the first server, it starts from 1 there.
pub async fn misses_of_a_service_counted_elsewhere_start_again(store: &dyn Store) {
    let base = 38_000_000;
    load(store, base).await;
    let (other, server, bob) = (base + 100, base + 101, base + 1001);
    for _ in 0..2 {
        store
            .insert_run(&listing(server, ListingStatus::Complete, &[bob, bob]))
            .await
            .unwrap();
    }
    assert_eq!(
        counts(store, server).await,
        vec![(bob, 2)],
        "a repeated id counts once"
    );
    store
        .insert_run(&listing(other, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    assert_eq!(
        counts(store, server).await,
        vec![],
        "the row is the other server's now"
    );
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 1)]);
    store
        .insert_run(&listing(server, ListingStatus::Complete, &[bob]))
        .await
        .unwrap();
    assert_eq!(counts(store, server).await, vec![(bob, 2)]);
}
