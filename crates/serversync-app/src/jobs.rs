//! Background sync jobs: a listing + analysis runs as a task while the page (or an API
//! client) polls its progress. One job per server at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serversync_core::model::{RunId, Server, ServerId};
use serversync_modules::ListingProgress;
use time::OffsetDateTime;

use crate::App;

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    /// The run was stored.
    Done {
        run_id: RunId,
    },
    /// The listing (or the analysis) failed; the message names the server and the cause.
    Failed {
        error: String,
    },
}

/// One sync job.
#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub server_id: ServerId,
    pub server_name: String,
    pub started_at: OffsetDateTime,
    received: AtomicU64,
    /// 0 while unknown.
    total: AtomicU64,
    status: Mutex<JobStatus>,
    /// Set when the work panicked: the panic's text, for the log only (the status says
    /// just that the sync stopped unexpectedly).
    internal: Mutex<Option<String>>,
}

/// A job's state as shown to people and API clients:
/// `{"id", "server_id", "server_name", "received", "total", "state": "running"|"done"|"failed", "run_id"?, "error"?}`.
#[derive(Clone, Debug, Serialize)]
pub struct JobSnapshot {
    pub id: u64,
    pub server_id: ServerId,
    pub server_name: String,
    pub received: u64,
    pub total: Option<u64>,
    #[serde(flatten)]
    pub status: JobStatus,
}

impl Job {
    /// When the job's work panicked: what the panic said (for the log, never for a client).
    pub fn internal_failure(&self) -> Option<String> {
        self.internal.lock().ok().and_then(|i| i.clone())
    }

    pub fn snapshot(&self) -> JobSnapshot {
        let total = self.total.load(Ordering::Relaxed);
        JobSnapshot {
            id: self.id,
            server_id: self.server_id,
            server_name: self.server_name.clone(),
            received: self.received.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
            status: self
                .status
                .lock()
                .map(|s| s.clone())
                .unwrap_or(JobStatus::Running),
        }
    }
}

impl ListingProgress for Job {
    fn total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advanced(&self, received: u64) {
        self.received.store(received, Ordering::Relaxed);
    }
}

/// The jobs of this process.
#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
}

impl Jobs {
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.get(&id).cloned()
    }

    /// The running job of a server, if any.
    pub fn running_for(&self, server_id: ServerId) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().ok()?;
        jobs.values()
            .filter(|j| j.server_id == server_id && j.snapshot().status == JobStatus::Running)
            .max_by_key(|j| j.id)
            .cloned()
    }

    /// Starts listing + analysing `server` in the background, or returns the job already
    /// running for it. Must be called inside a Tokio runtime.
    pub fn start(self: &Arc<Self>, app: &App, server: &Server) -> Arc<Job> {
        let Ok(mut jobs) = self.jobs.lock() else {
            // A poisoned lock only follows a panic elsewhere; start untracked rather than fail.
            return Arc::new(Job::new(0, server));
        };
        if let Some(j) = jobs
            .values()
            .find(|j| j.server_id == server.id && j.snapshot().status == JobStatus::Running)
        {
            return j.clone();
        }
        // Keep the map small: forget finished jobs beyond the newest 200.
        if jobs.len() > 200 {
            let mut ids: Vec<u64> = jobs.keys().copied().collect();
            ids.sort_unstable();
            for id in ids.iter().take(jobs.len() - 200) {
                if jobs
                    .get(id)
                    .is_some_and(|j| j.snapshot().status != JobStatus::Running)
                {
                    jobs.remove(id);
                }
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job::new(id, server));
        jobs.insert(id, job.clone());
        drop(jobs);
        let app = app.clone();
        let name = server.name.clone();
        let name_for_log = name.clone();
        let j = job.clone();
        tokio::spawn(async move {
            // The work runs in its own task: should it panic, the job still ends (failed)
            // instead of showing "running" for ever.
            let work = {
                let j = j.clone();
                tokio::spawn(async move { app.analyse_server(&name, j.as_ref()).await })
            };
            let status = match work.await {
                Ok(Ok(out)) => JobStatus::Done { run_id: out.run_id },
                Ok(Err(e)) => JobStatus::Failed {
                    error: e.to_string(),
                },
                Err(e) => {
                    if let Ok(mut i) = j.internal.lock() {
                        *i = Some(format!("sync job {} of server {name_for_log}: {e}", j.id));
                    }
                    JobStatus::Failed {
                        error: "internal error: the sync stopped unexpectedly".into(),
                    }
                }
            };
            if let Ok(mut s) = j.status.lock() {
                *s = status;
            }
        });
        job
    }
}

impl Job {
    fn new(id: u64, server: &Server) -> Job {
        Job {
            id,
            server_id: server.id,
            server_name: server.name.clone(),
            started_at: OffsetDateTime::now_utc(),
            received: AtomicU64::new(0),
            total: AtomicU64::new(0),
            status: Mutex::new(JobStatus::Running),
            internal: Mutex::new(None),
        }
    }
}
