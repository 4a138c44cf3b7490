//! Typed timestamps: stored times compare and order as time on every backend (PostgreSQL's
//! `timestamptz`; SQLite's fixed-width UTC text), read back as stored (UTC, whole
//! microseconds), and a lease expires by the backend's own clock.
//!
//! These checks need SQL on the store's database, which only the backend's test file has:
//! it passes a closure running that SQL.

use std::future::Future;
use std::time::Duration;

use serversync_store::{LockHolder, NewRun, Store, StoreError};
use time::macros::datetime;
use time::UtcOffset;

use crate::{load, new_run, stored_time};

/// Runs whose start times straddle a second boundary — written with fractions of every
/// width (none, 6 digits, 7 digits) and one in another offset — order as time in SQL
/// (`ORDER BY started_at`), compare as time against a stored time (`<`, `=`), and read back
/// as stored: UTC, cut to the microsecond (so `.9999999` equals `.999999`).
/// `ids_by_sql` runs a query (no placeholders) returning one `BIGINT` column, in order.
pub async fn run_times_order_as_time<F, Fut>(store: &dyn Store, ids_by_sql: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Vec<i64>>,
{
    let base = 21_000_000;
    load(store, base).await;
    let server = base + 100;
    let starts = [
        datetime!(2026-12-03 12:00:01.000001 UTC),  // a: the latest
        datetime!(2026-12-03 12:00:00.999999 UTC),  // b
        datetime!(2026-12-03 12:00:01 UTC),         // c: no fraction
        datetime!(2026-12-03 14:00:00.5 +02:00),    // d: 12:00:00.5 UTC, the earliest
        datetime!(2026-12-03 12:00:00.9999999 UTC), // e: stored as b
    ];
    let mut ids = Vec::new();
    for t in starts {
        let run = NewRun {
            started_at: t,
            finished_at: t + time::Duration::seconds(1),
            ..new_run(server, Vec::new())
        };
        ids.push(store.insert_run(&run).await.expect("insert run"));
    }
    let [a, b, c, d, e] = ids[..] else {
        panic!("five runs")
    };
    assert_eq!(
        ids_by_sql(format!(
            "SELECT id FROM sync_runs WHERE server_id = {server} ORDER BY started_at, id"
        ))
        .await,
        vec![d, b, e, c, a],
        "ordered by time"
    );
    assert_eq!(
        ids_by_sql(format!(
            "SELECT id FROM sync_runs WHERE server_id = {server} AND started_at < \
             (SELECT started_at FROM sync_runs WHERE id = {c}) ORDER BY id"
        ))
        .await,
        vec![b, d, e],
        "earlier than 12:00:01"
    );
    assert_eq!(
        ids_by_sql(format!(
            "SELECT id FROM sync_runs WHERE server_id = {server} AND started_at = \
             (SELECT started_at FROM sync_runs WHERE id = {b}) ORDER BY id"
        ))
        .await,
        vec![b, e],
        "equal to the microsecond"
    );
    let mut sums = store.runs(server, 0).await.expect("runs");
    sums.sort_by_key(|s| s.id);
    let got: Vec<_> = sums.iter().map(|s| s.started_at).collect();
    let want: Vec<_> = starts.iter().map(|t| stored_time(*t)).collect();
    assert_eq!(got, want);
    assert!(sums.iter().all(|s| s.started_at.offset() == UtcOffset::UTC));
    assert_eq!(
        sums[3].started_at,
        datetime!(2026-12-03 12:00:00.5 UTC),
        "the +02:00 start in UTC"
    );
    assert_eq!(
        sums[4].started_at,
        datetime!(2026-12-03 12:00:00.999999 UTC)
    );
    assert_eq!(
        sums[0].finished_at - sums[0].started_at,
        time::Duration::seconds(1)
    );
}

fn holder(id: &str) -> LockHolder {
    LockHolder {
        id: id.into(),
        actor: format!("cli:{id}"),
        host: "test-host".into(),
        process: None,
    }
}

/// A lease expires by the backend's clock: moved (in SQL, by `set_expiry(server, seconds)`:
/// the backend's "now" plus `seconds`) an hour ahead it keeps others out whatever the ttl
/// it was taken with; moved one second into the past it is taken over at once, and its old
/// holder can no longer renew it.
pub async fn lease_expiry_follows_the_backend_clock<F, Fut>(store: &dyn Store, set_expiry: F)
where
    F: Fn(i64, i64) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = 21_000_100;
    let short = Duration::from_millis(1);
    let first = store
        .lock_server(server, &holder("first"), short)
        .await
        .expect("lock");
    set_expiry(server, 3600).await;
    match store.lock_server(server, &holder("second"), short).await {
        Err(StoreError::Busy(l)) => {
            assert_eq!(l.holder.id, "first");
            assert!(
                l.expires_at - first.taken_at > time::Duration::minutes(59),
                "{l:?}"
            );
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    set_expiry(server, -1).await;
    let second = store
        .lock_server(server, &holder("second"), Duration::from_secs(600))
        .await
        .expect("an expired lease is taken over");
    assert_eq!(second.holder.id, "second");
    assert!(matches!(
        store.renew_lock(server, "first", Duration::from_secs(600)).await,
        Err(StoreError::LockLost(s)) if s == server
    ));
    let locks = store.locks().await.expect("locks");
    assert_eq!(locks.len(), 1);
    // Read back as returned, except for the takeover flag, which only the take reports.
    assert!(second.took_over);
    assert_eq!(
        locks[0],
        serversync_store::ServerLock {
            took_over: false,
            ..second
        }
    );
}

/// A panel account holding a NUL character (a hostile panel can send one in any field): a
/// backend whose documents can hold it (`holds_nul`: SQLite) stores the run and reads it
/// back unchanged; one that cannot (PostgreSQL's `jsonb`) refuses it as invalid input,
/// naming the document — never a driver error. A backslash followed by `u0000` is plain
/// text, stored by both.
pub async fn documents_with_a_nul_character(store: &dyn Store, holds_nul: bool) {
    let base = 22_000_000;
    load(store, base).await;
    let server = base + 100;
    let mut account = crate::remote("nul", base);
    account.domain = "nul\u{0}.test".into();
    let run = new_run(server, vec![account]);
    match store.insert_run(&run).await {
        Ok(id) if holds_nul => {
            let got = store.run(id).await.expect("read back");
            assert_eq!(got.accounts, run.accounts);
            assert_eq!(got.accounts[0].domain, "nul\u{0}.test");
        }
        Err(StoreError::Invalid(m)) if !holds_nul => {
            assert_eq!(
                m,
                "run accounts holds a NUL character (\\u0000), which this database cannot store"
            );
        }
        other => panic!("holds_nul={holds_nul}: unexpected {other:?}"),
    }
    // Prepared ahead, the same list is stored or refused alike.
    let prepared = serversync_store::PreparedAccounts::of(&run.accounts).expect("prepared");
    let bare = NewRun {
        accounts: Vec::new(),
        ..run.clone()
    };
    match store.insert_run_prepared(&bare, prepared, None).await {
        Ok(id) if holds_nul => {
            let got = store.run(id).await.expect("read back");
            assert_eq!(got.accounts, run.accounts);
        }
        Err(StoreError::Invalid(m)) if !holds_nul => {
            assert_eq!(
                m,
                "run accounts holds a NUL character (\\u0000), which this database cannot store"
            );
        }
        other => panic!("holds_nul={holds_nul}: prepared: unexpected {other:?}"),
    }
    // An analysis document holding one, stored with the run's own document or prepared
    // ahead, is stored or refused alike, naming the document.
    let nul_doc = r#"{"note":"a\u0000b"}"#;
    let with_doc = NewRun {
        analysis_json: Some(nul_doc.into()),
        ..new_run(server, Vec::new())
    };
    let prepared_doc = serversync_store::PreparedAnalysis::of(nul_doc.into()).expect("JSON");
    let empty = serversync_store::PreparedAccounts::of(&[]).expect("prepared");
    let bare_doc = NewRun {
        analysis_json: None,
        ..with_doc.clone()
    };
    for (how, stored) in [
        ("own", store.insert_run(&with_doc).await),
        (
            "prepared",
            store
                .insert_run_prepared(&bare_doc, empty, Some(prepared_doc))
                .await,
        ),
    ] {
        match stored {
            Ok(id) if holds_nul => {
                let got = store.run(id).await.expect("read back");
                assert_eq!(got.analysis_json.as_deref(), Some(nul_doc), "{how}");
            }
            Err(StoreError::Invalid(m)) if !holds_nul => assert_eq!(
                m,
                "run analysis_json holds a NUL character (\\u0000), which this database cannot \
                 store",
                "{how}"
            ),
            other => panic!("holds_nul={holds_nul}: {how} document: unexpected {other:?}"),
        }
    }
    let mut account = crate::remote("slash", base);
    account.domain = "slash\\u0000.test".into();
    let run = NewRun {
        analysis_json: Some(r#"{"note":"a\\u0000b"}"#.into()),
        ..new_run(server, vec![account])
    };
    let id = store.insert_run(&run).await.expect("plain text is stored");
    let got = store.run(id).await.expect("read back");
    assert_eq!(got.accounts[0].domain, "slash\\u0000.test");
    assert_eq!(
        crate::json_of(got.analysis_json.as_deref()),
        Some(serde_json::json!({"note": "a\\u0000b"}))
    );
}
