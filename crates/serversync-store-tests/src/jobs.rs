//! Checks of [`serversync_store::Jobs`]: one running job per server whoever starts it,
//! progress and finish only by the holder, a job whose instance stopped shown (and stored)
//! failed "instance stopped" so that a new one may start, newest first listings.

use std::time::Duration;

use super::load;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{
    JobEnd, JobStart, JobState, Store, StoreError, JOB_STOPPED, KEPT_FINISHED_JOBS,
};

const MINUTE: Duration = Duration::from_secs(60);

fn started(s: JobStart) -> serversync_store::SyncJob {
    match s {
        JobStart::Started(j) => j,
        JobStart::Running(j) => panic!("expected a new job, got the running {j:?}"),
    }
}

pub async fn jobs_one_running_progress_finish(store: &dyn Store) {
    let base = 21_000_000;
    load(store, base).await;
    let server = base + 100;
    let name = format!("web{base}");
    let a = started(
        store
            .start_job(server, &name, "inst-a", MINUTE)
            .await
            .unwrap(),
    );
    assert_eq!(
        (a.server_id, a.server_name.as_str(), a.holder.as_str()),
        (server, name.as_str(), "inst-a")
    );
    assert_eq!(
        (a.state.clone(), a.received, a.total),
        (JobState::Running, 0, None)
    );
    assert!(a.expires_at > a.started_at);
    assert_eq!(a.updated_at, a.started_at);

    // Another instance asking for the same server gets the running job.
    match store
        .start_job(server, &name, "inst-b", MINUTE)
        .await
        .unwrap()
    {
        JobStart::Running(j) => assert_eq!((j.id, j.holder.as_str()), (a.id, "inst-a")),
        other => panic!("expected the running job, got {other:?}"),
    }
    // Only the holder writes progress.
    assert!(!store
        .job_progress(a.id, "inst-b", 5, Some(9), MINUTE)
        .await
        .unwrap());
    assert!(store
        .job_progress(a.id, "inst-a", 40, Some(120), MINUTE)
        .await
        .unwrap());
    let seen = store.job(a.id).await.unwrap();
    assert_eq!((seen.received, seen.total), (40, Some(120)));
    assert!(seen.updated_at >= a.updated_at);
    assert_eq!(store.running_job(server).await.unwrap(), Some(seen.clone()));

    // Only the holder finishes it; then no job runs and a new one may start.
    let end = JobEnd::Done { run_id: 77 };
    assert!(!store
        .finish_job(a.id, "inst-b", &end, 1, None)
        .await
        .unwrap());
    assert!(store
        .finish_job(a.id, "inst-a", &end, 120, Some(120))
        .await
        .unwrap());
    let done = store.job(a.id).await.unwrap();
    assert_eq!(
        (done.state, done.received, done.total),
        (JobState::Done { run_id: 77 }, 120, Some(120))
    );
    assert_eq!(store.running_job(server).await.unwrap(), None);
    // A finished job takes no more progress nor a second end.
    assert!(!store
        .job_progress(a.id, "inst-a", 1, None, MINUTE)
        .await
        .unwrap());
    assert!(!store
        .finish_job(
            a.id,
            "inst-a",
            &JobEnd::Failed { error: "x".into() },
            1,
            None
        )
        .await
        .unwrap());

    let b = started(
        store
            .start_job(server, &name, "inst-b", MINUTE)
            .await
            .unwrap(),
    );
    assert!(b.id > a.id);
    assert!(store
        .finish_job(
            b.id,
            "inst-b",
            &JobEnd::Failed {
                error: "server web: listing failed".into()
            },
            0,
            None
        )
        .await
        .unwrap());
    assert_eq!(
        store.job(b.id).await.unwrap().state,
        JobState::Failed {
            error: "server web: listing failed".into()
        }
    );
    let recent: Vec<i64> = store
        .recent_jobs(Some(server), 0)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(recent, vec![b.id, a.id]);
    let newest: Vec<i64> = store
        .recent_jobs(None, 1)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(newest, vec![b.id]);

    assert!(matches!(
        store.start_job(base + 999, "nope", "inst-a", MINUTE).await,
        Err(StoreError::NotFound(w)) if w == format!("server {}", base + 999)
    ));
    assert!(matches!(
        store.job(b.id + 1_000_000).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn jobs_of_a_stopped_instance_fail_and_free_the_server(store: &dyn Store) {
    let base = 22_000_000;
    load(store, base).await;
    let server = base + 100;
    let name = format!("web{base}");
    // A lease of zero: stopped as soon as the clock moves on (no renewal comes).
    let dead = started(
        store
            .start_job(server, &name, "inst-dead", Duration::ZERO)
            .await
            .unwrap(),
    );
    // Not a timing assertion: only makes sure the database clock has moved past the expiry.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let seen = store.job(dead.id).await.unwrap();
    assert_eq!(
        seen.state,
        JobState::Failed {
            error: JOB_STOPPED.into()
        }
    );
    assert!(JOB_STOPPED.starts_with("instance stopped"));
    // Marked in the database too: every later reader sees it failed.
    assert_eq!(
        store.recent_jobs(Some(server), 1).await.unwrap(),
        vec![seen]
    );
    assert_eq!(store.running_job(server).await.unwrap(), None);
    // Its renewal comes too late: refused.
    assert!(!store
        .job_progress(dead.id, "inst-dead", 3, None, MINUTE)
        .await
        .unwrap());

    // A new job starts; the stopped one is not in its way.
    let next = started(
        store
            .start_job(server, &name, "inst-b", MINUTE)
            .await
            .unwrap(),
    );
    assert_ne!(next.id, dead.id);

    // Another stopped job found by start itself (no reader came first).
    assert!(store
        .finish_job(next.id, "inst-b", &JobEnd::Done { run_id: 1 }, 0, None)
        .await
        .unwrap());
    let dead2 = started(
        store
            .start_job(server, &name, "inst-dead", Duration::ZERO)
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = started(
        store
            .start_job(server, &name, "inst-c", MINUTE)
            .await
            .unwrap(),
    );
    assert_eq!(
        store.job(dead2.id).await.unwrap().state,
        JobState::Failed {
            error: JOB_STOPPED.into()
        }
    );
    // A stopped job whose work did finish after all records its end.
    assert!(store
        .finish_job(
            dead2.id,
            "inst-dead",
            &JobEnd::Done { run_id: 5 },
            2,
            Some(2)
        )
        .await
        .unwrap());
    assert_eq!(
        store.job(dead2.id).await.unwrap().state,
        JobState::Done { run_id: 5 }
    );
    assert_eq!(
        store.running_job(server).await.unwrap().map(|j| j.id),
        Some(third.id)
    );
}

pub async fn jobs_concurrent_starts_make_one_job(store: &dyn Store) {
    let base = 23_000_000;
    load(store, base).await;
    let server = base + 100;
    let name = format!("web{base}");
    let start = |h: &'static str| store.start_job(server, &name, h, MINUTE);
    let all = tokio::join!(
        start("i1"),
        start("i2"),
        start("i3"),
        start("i4"),
        start("i5"),
        start("i6")
    );
    let all = [all.0, all.1, all.2, all.3, all.4, all.5].map(|r| r.unwrap());
    let winners: Vec<_> = all
        .iter()
        .filter(|s| matches!(s, JobStart::Started(_)))
        .collect();
    assert_eq!(winners.len(), 1, "{all:?}");
    let id = winners[0].job().id;
    assert!(all.iter().all(|s| s.job().id == id), "{all:?}");
    assert_eq!(store.recent_jobs(Some(server), 0).await.unwrap().len(), 1);
}

pub async fn jobs_finished_beyond_the_kept_number_are_pruned(store: &dyn Store) {
    let base = 29_000_000;
    load(store, base).await;
    let (server, other) = (base + 100, base + 101);
    let name = format!("web{base}");
    // A finished job of another server is never pruned by this server's starts.
    let kept_elsewhere = started(
        store
            .start_job(other, "other", "inst-a", MINUTE)
            .await
            .unwrap(),
    );
    let end = JobEnd::Failed {
        error: "listing failed".into(),
    };
    assert!(store
        .finish_job(kept_elsewhere.id, "inst-a", &end, 0, None)
        .await
        .unwrap());
    let total = KEPT_FINISHED_JOBS + 5;
    let mut ids = Vec::new();
    for i in 0..total {
        let j = started(
            store
                .start_job(server, &name, "inst-a", MINUTE)
                .await
                .unwrap(),
        );
        ids.push(j.id);
        let end = JobEnd::Done { run_id: i };
        assert!(store
            .finish_job(j.id, "inst-a", &end, 1, Some(1))
            .await
            .unwrap());
    }
    // The last start pruned down to the kept number, counting the job it started; the
    // job finished after it makes one more.
    let left: Vec<i64> = store
        .recent_jobs(Some(server), 0)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    let newest: Vec<i64> = ids.iter().rev().take(left.len()).copied().collect();
    assert_eq!(left.len() as i64, KEPT_FINISHED_JOBS + 1);
    assert_eq!(left, newest);
    assert!(matches!(
        store.job(ids[0]).await,
        Err(StoreError::NotFound(_))
    ));
    // A running job is never pruned.
    let running = started(
        store
            .start_job(server, &name, "inst-a", MINUTE)
            .await
            .unwrap(),
    );
    assert_eq!(
        store.running_job(server).await.unwrap().map(|j| j.id),
        Some(running.id)
    );
    assert_eq!(
        store.job(kept_elsewhere.id).await.unwrap().state,
        JobState::Failed {
            error: "listing failed".into()
        }
    );
}
