//! Sync jobs in the application (issue 10): two apps on one database (two instances) share
//! one job per server, a job is renewed while its listing runs (it outlives its lease time),
//! and a job whose renewals stopped shows failed "instance stopped" and frees the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::json;
use serversync_app::jobs::{JobSnapshot, JobStatus};
use serversync_app::App;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{JobStart, Store};

struct World {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn Store>,
    sim: SimHandle,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let mut fresh = CpanelAccount::new("fresh", "fresh.test").created(1_706_706_900);
    fresh.plan = "basic".into();
    fresh.email = "ann@mail.test".into();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(vec![fresh.into_value()]),
    )
    .await
    .unwrap();
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "A", "last_name": "L", "company": "", "status": "Active"}],
        "products": [{"id": 10, "name": "Basic", "module": "cpanel", "config_options": {"configoption1": "basic"}}],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1", "ip_address": "192.0.2.10",
                     "port": sim.addr.port(), "secure": false, "tls_verify": true, "username": "root", "password": "",
                     "access_hash": "TOKEN"}],
        "services": [],
    });
    App::new(store.clone(), "cli:tester")
        .import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        url,
        store,
        sim,
    }
}

/// An instance: its own store handle on the database, its own holder id.
async fn instance(w: &World, lease: Duration) -> App {
    let mut app = App::new(
        serversync_store::open_with_default_key(&w.url)
            .await
            .unwrap(),
        "web:admin",
    );
    app.lease_ttl = lease;
    app
}

/// Polls a job until it is no longer running (a generous liveness bound, not a timing check).
async fn finished(app: &App, id: u64) -> JobSnapshot {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = app.sync_job(id).await.unwrap();
        if s.status != JobStatus::Running {
            return s;
        }
        assert!(Instant::now() < deadline, "job {id} still running: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_job_and_its_outcome() {
    let w = world().await;
    let a = instance(&w, Duration::from_secs(15)).await;
    let b = instance(&w, Duration::from_secs(15)).await;
    let server = a.server("web1").await.unwrap();
    w.sim
        .set_fault(Some(Fault::Slow(Duration::from_millis(800))));
    let first = a.start_sync_job(&server).await.unwrap();
    assert!(first.started);
    assert_eq!(first.job.status, JobStatus::Running);
    let second = b.start_sync_job(&server).await.unwrap();
    assert!(!second.started, "B joined A's job");
    assert_eq!(second.job.id, first.job.id);
    assert_eq!(
        b.running_sync_job(server.id).await.unwrap().map(|j| j.id),
        Some(first.job.id)
    );

    let done = finished(&b, first.job.id).await;
    let JobStatus::Done { run_id } = done.status else {
        panic!("expected done, got {done:?}");
    };
    assert_eq!((done.received, done.server_name.as_str()), (1, "web1"));
    assert_eq!(a.sync_job(first.job.id).await.unwrap(), done);
    assert_eq!(w.store.run(run_id).await.unwrap().accounts.len(), 1);
    assert_eq!(b.running_sync_job(server.id).await.unwrap(), None);
    // The JSON of CONTRACT.md's job shape, unchanged.
    let v = serde_json::to_value(&done).unwrap();
    assert_eq!(
        v,
        json!({"id": first.job.id, "server_id": 100, "server_name": "web1", "received": 1,
               "total": v["total"].clone(), "state": "done", "run_id": run_id})
    );
}

/// A lease of 1.5 s and a listing of 4 s: the renewals keep the job running on the other
/// instance's view the whole time, and it ends done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_outlives_its_lease_time_while_renewed() {
    let w = world().await;
    let a = instance(&w, Duration::from_millis(1500)).await;
    let b = instance(&w, Duration::from_millis(1500)).await;
    let server = a.server("web1").await.unwrap();
    w.sim.set_fault(Some(Fault::Slow(Duration::from_secs(4))));
    let job = a.start_sync_job(&server).await.unwrap().job;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        b.sync_job(job.id).await.unwrap().status,
        JobStatus::Running,
        "renewed past its first expiry"
    );
    assert!(matches!(
        finished(&b, job.id).await.status,
        JobStatus::Done { .. }
    ));
}

/// A job whose instance stopped renewing it (here: started in the store by a holder that
/// never renews) shows failed "instance stopped" after its lease, and a new sync starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_by_a_stopped_instance_shows_stopped_and_frees_the_server() {
    let w = world().await;
    let b = instance(&w, Duration::from_secs(15)).await;
    let server = b.server("web1").await.unwrap();
    let JobStart::Started(dead) = w
        .store
        .start_job(
            server.id,
            "web1",
            "gone:1@elsewhere",
            Duration::from_millis(300),
        )
        .await
        .unwrap()
    else {
        panic!("expected a new job");
    };
    let id = u64::try_from(dead.id).unwrap();
    let joined = b.start_sync_job(&server).await.unwrap();
    assert!(!joined.started, "the job is still within its lease");
    assert_eq!(joined.job.id, id);
    // Past its expiry (not a timing assertion: only waits for the clock to pass it).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped = b.sync_job(id).await.unwrap();
    let JobStatus::Failed { error } = &stopped.status else {
        panic!("expected failed, got {stopped:?}");
    };
    assert!(error.starts_with("instance stopped"), "{error}");
    let next = b.start_sync_job(&server).await.unwrap();
    assert!(next.started);
    assert_ne!(next.job.id, id);
    assert!(matches!(
        finished(&b, next.job.id).await.status,
        JobStatus::Done { .. }
    ));
}

/// A module of the embedding program whose listing panics (a bug in a module, not a panel
/// answer): the job still ends, failed with a fixed sentence that holds none of the panic's
/// text, and the next sync of the server starts a new job.
struct PanickingModule(serversync_modules::MetaData);

#[async_trait::async_trait]
impl serversync_modules::Module for PanickingModule {
    fn name(&self) -> &str {
        "panicky"
    }
    fn meta(&self) -> &serversync_modules::MetaData {
        &self.0
    }
    async fn list_accounts(
        &self,
        _params: &serversync_modules::ServerParams,
        _progress: &dyn serversync_modules::ListingProgress,
    ) -> Result<serversync_modules::Listing, serversync_modules::ModuleError> {
        panic!("secret-ish internal detail 0xdeadbeef");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_module_ends_its_job_failed_without_the_panic_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let mut registry = serversync_modules::ModuleRegistry::builtin(Default::default());
    registry
        .register(Arc::new(PanickingModule(
            serversync_modules::cpanel::CpanelModule::meta_data(),
        )))
        .unwrap();
    let app = App::with_registry(store, Arc::new(registry), "web:admin");
    let doc = json!({
        "clients": [], "products": [], "services": [],
        "servers": [{"id": 7, "name": "odd1", "module": "panicky", "hostname": "127.0.0.1",
                     "ip_address": "192.0.2.7", "port": 1, "secure": false, "tls_verify": true,
                     "username": "root", "password": "", "access_hash": ""}],
    });
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let server = app.server("odd1").await.unwrap();
    let job = app.start_sync_job(&server).await.unwrap();
    assert!(job.started);
    let end = finished(&app, job.job.id).await;
    assert_eq!(
        end.status,
        JobStatus::Failed {
            error: "internal error: the sync stopped unexpectedly".into()
        }
    );
    assert!(!serde_json::to_string(&end).unwrap().contains("deadbeef"));
    let again = app.start_sync_job(&server).await.unwrap();
    assert!(again.started, "a new job starts after the panicked one");
    assert_ne!(again.job.id, job.job.id);
}
