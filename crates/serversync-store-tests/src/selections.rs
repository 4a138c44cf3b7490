//! Checks of [`serversync_store::RunSelections`]: per run and user, add/remove in one update, bounds,
//! unknown run or user refused, cleared after use.

use super::{load, new_run, user_event, HASH_A};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{Role, Store, StoreError};

fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub async fn run_selection_per_run_and_user(store: &dyn Store) {
    let base = 17_000_000;
    load(store, base).await;
    let server = base + 100;
    let run = store
        .insert_run(&new_run(server, Vec::new()))
        .await
        .unwrap();
    let other_run = store
        .insert_run(&new_run(server, Vec::new()))
        .await
        .unwrap();
    let ann = store
        .create_user(&format!("ann-{base}"), HASH_A, Role::Admin, &user_event)
        .await
        .unwrap();
    let bob = store
        .create_user(&format!("bob-{base}"), HASH_A, Role::ReadOnly, &user_event)
        .await
        .unwrap();
    assert!(store.run_selection(run, ann.id).await.unwrap().is_empty());

    store
        .update_run_selection(run, ann.id, &keys(&["3:sync", "12:import"]), &[])
        .await
        .unwrap();
    store
        .update_run_selection(run, bob.id, &keys(&["1:terminate"]), &[])
        .await
        .unwrap();
    // A page change: one ticked again (no duplicate), one unticked, one added.
    store
        .update_run_selection(
            run,
            ann.id,
            &keys(&["3:sync", "40:sync"]),
            &keys(&["12:import", "99:move"]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.run_selection(run, ann.id).await.unwrap(),
        keys(&["3:sync", "40:sync"])
    );
    assert_eq!(
        store.run_selection(run, bob.id).await.unwrap(),
        keys(&["1:terminate"])
    );
    assert!(store
        .run_selection(other_run, ann.id)
        .await
        .unwrap()
        .is_empty());

    // Bad keys, an unknown run or user: refused, nothing changed.
    let long = "9".repeat(65);
    for bad in [String::new(), long] {
        let e = store
            .update_run_selection(run, ann.id, &[bad], &keys(&["3:sync"]))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    }
    let e = store
        .update_run_selection(run + 1_000_000, ann.id, &keys(&["1:sync"]), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::NotFound(ref m) if m.starts_with("run ")),
        "{e:?}"
    );
    let e = store
        .update_run_selection(run, bob.id + 1_000_000, &keys(&["1:sync"]), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::NotFound(ref m) if m.starts_with("admin user")),
        "{e:?}"
    );
    assert_eq!(
        store.run_selection(run, ann.id).await.unwrap(),
        keys(&["3:sync", "40:sync"])
    );

    // Past the bound: the whole update is rolled back.
    let many: Vec<String> = (0..=serversync_store::selections::MAX_SELECTION_KEYS)
        .map(|i| format!("{i}:sync"))
        .collect();
    let e = store
        .update_run_selection(run, ann.id, &many, &keys(&["3:sync"]))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    assert_eq!(
        store.run_selection(run, ann.id).await.unwrap(),
        keys(&["3:sync", "40:sync"])
    );

    store.clear_run_selection(run, ann.id).await.unwrap();
    assert!(store.run_selection(run, ann.id).await.unwrap().is_empty());
    assert_eq!(store.run_selection(run, bob.id).await.unwrap().len(), 1);
    store.clear_run_selection(run, ann.id).await.unwrap();
}
