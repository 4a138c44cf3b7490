//! Background sync jobs: a listing + analysis runs as a task while the page (or an API
//! client) polls its progress. Jobs are rows of the store ([`serversync_store::Jobs`]), so
//! every instance on the database shows the same job: one job per server at a time across
//! all of them, and a job whose instance died shows failed ("instance stopped") once its
//! lease ran out.
//!
//! The listing's progress callbacks only update counters in memory; a renewal task writes
//! them with a new expiry every second (or a third of the lease, when that is shorter), so a
//! big listing costs one small write per second, not one per account.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serversync_core::model::{RunId, Server, ServerId};
use serversync_modules::ListingProgress;
use serversync_store::{JobEnd, JobStart, JobState, Store, SyncJob};

use crate::{App, Result};

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    /// The run was stored.
    Done {
        run_id: RunId,
    },
    /// The listing (or the analysis) failed, or the instance running the job stopped; the
    /// message names the server and the cause.
    Failed {
        error: String,
    },
}

/// A job's state as shown to people and API clients:
/// `{"id", "server_id", "server_name", "received", "total", "state": "running"|"done"|"failed", "run_id"?, "error"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobSnapshot {
    pub id: u64,
    pub server_id: ServerId,
    pub server_name: String,
    pub received: u64,
    pub total: Option<u64>,
    #[serde(flatten)]
    pub status: JobStatus,
}

impl From<SyncJob> for JobSnapshot {
    fn from(j: SyncJob) -> Self {
        JobSnapshot {
            // Ids come from the database's identity: never negative.
            id: u64::try_from(j.id).unwrap_or_default(),
            server_id: j.server_id,
            server_name: j.server_name,
            received: j.received,
            total: j.total,
            status: match j.state {
                JobState::Running => JobStatus::Running,
                JobState::Done { run_id } => JobStatus::Done { run_id },
                JobState::Failed { error } => JobStatus::Failed { error },
            },
        }
    }
}

/// What [`App::start_sync_job`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStarted {
    pub job: JobSnapshot,
    /// `false`: the job was already running (started by this or another instance).
    pub started: bool,
}

/// The listing's progress as it arrives (written to the store by the renewal task).
#[derive(Default)]
struct Counter {
    received: AtomicU64,
    /// 0 while unknown.
    total: AtomicU64,
}

impl Counter {
    fn read(&self) -> (u64, Option<u64>) {
        let total = self.total.load(Ordering::Relaxed);
        (
            self.received.load(Ordering::Relaxed),
            (total > 0).then_some(total),
        )
    }
}

impl ListingProgress for Counter {
    fn total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advanced(&self, received: u64) {
        self.received.store(received, Ordering::Relaxed);
    }
}

/// The longest time between two progress writes of a running job.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl App {
    /// Starts listing + analysing `server` in the background, or returns the job already
    /// running for it on any instance (`started: false`). Must be called inside a Tokio
    /// runtime.
    pub async fn start_sync_job(&self, server: &Server) -> Result<JobStarted> {
        let holder = self.lock_holder().id;
        let ttl = self.job_ttl();
        let job = match self
            .store
            .start_job(server.id, &server.name, &holder, ttl)
            .await?
        {
            JobStart::Running(j) => {
                return Ok(JobStarted {
                    job: j.into(),
                    started: false,
                })
            }
            JobStart::Started(j) => j,
        };
        let id = job.id;
        let app = self.clone();
        let name = server.name.clone();
        let server_name = name.clone();
        tokio::spawn(async move {
            let counter = Arc::new(Counter::default());
            let renewer = tokio::spawn(renew(
                app.store.clone(),
                id,
                holder.clone(),
                counter.clone(),
                ttl,
            ));
            // The work runs in its own task: should it panic, the job still ends (failed)
            // instead of showing "running" until its lease runs out.
            let work = {
                let (app, counter) = (app.clone(), counter.clone());
                tokio::spawn(async move { app.analyse_server(&name, counter.as_ref()).await })
            };
            let end = match work.await {
                Ok(Ok(out)) => JobEnd::Done { run_id: out.run_id },
                Ok(Err(e)) => JobEnd::Failed {
                    error: e.to_string(),
                },
                Err(e) => {
                    // The panic's text goes to the log only; the job says just that it stopped.
                    tracing::error!(job = id, server = %server_name, error = %e, "sync job panicked");
                    JobEnd::Failed {
                        error: "internal error: the sync stopped unexpectedly".into(),
                    }
                }
            };
            renewer.abort();
            let (received, total) = counter.read();
            // A busy database gets a few tries; after them the job shows "instance stopped"
            // once its lease runs out (the run, if any, is stored either way).
            for attempt in 1..=3u64 {
                match app
                    .store
                    .finish_job(id, &holder, &end, received, total)
                    .await
                {
                    Ok(true) => return,
                    Ok(false) => {
                        tracing::warn!(job = id, "the sync job was no longer this instance's");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(job = id, error = %e, attempt, "cannot record the end of a sync job");
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                }
            }
        });
        Ok(JobStarted {
            job: job.into(),
            started: true,
        })
    }

    /// A sync job by id, from any instance; `NotFound("sync job 9")` when there is none.
    pub async fn sync_job(&self, id: u64) -> Result<JobSnapshot> {
        let id = i64::try_from(id)
            .map_err(|_| serversync_store::StoreError::NotFound(format!("sync job {id}")))?;
        Ok(self.store.job(id).await?.into())
    }

    /// The running sync job of a server (on any instance), if any.
    pub async fn running_sync_job(&self, server_id: ServerId) -> Result<Option<JobSnapshot>> {
        Ok(self.store.running_job(server_id).await?.map(Into::into))
    }

    /// Sync jobs of a server (by name or id) on every instance, newest first; `limit`
    /// 1..=1000, default 20. Stopped ones are shown failed.
    pub async fn sync_job_history(
        &self,
        server: &str,
        limit: Option<i64>,
    ) -> Result<Vec<JobSnapshot>> {
        let limit = crate::overview::history_limit(limit)?;
        let server = self.store.server(server).await?;
        Ok(self
            .store
            .recent_jobs(Some(server.id), limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The lifetime of a job's lease: that of the server leases.
    fn job_ttl(&self) -> Duration {
        self.lease_ttl.max(Duration::from_millis(300))
    }
}

/// Writes the job's progress and a new expiry every [`PROGRESS_EVERY`] (or third of `ttl`)
/// until aborted, or until the job is no longer this instance's.
async fn renew(
    store: Arc<dyn Store>,
    id: i64,
    holder: String,
    counter: Arc<Counter>,
    ttl: Duration,
) {
    let every = (ttl / 3).min(PROGRESS_EVERY);
    loop {
        tokio::time::sleep(every).await;
        let (received, total) = counter.read();
        match store.job_progress(id, &holder, received, total, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    job = id,
                    "the sync job was marked stopped (its lease ran out): progress no longer shown"
                );
                return;
            }
            // A busy database: the next period tries again (the lease has two more).
            Err(e) => tracing::warn!(job = id, error = %e, "sync job renewal failed"),
        }
    }
}
