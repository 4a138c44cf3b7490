//! Sync jobs as rows: a listing + analysis started from the page or the API, shared by every
//! instance on the database (issue 10, "Sync jobs are rows, not in-process state").
//!
//! A job is one row of `sync_jobs` with the instance that runs it (`holder`) and an expiry a
//! few seconds ahead, renewed with its progress while it works. At most one job per server is
//! running across all instances (a partial unique index). A running job whose expiry passed
//! belongs to an instance that stopped: every reader shows it — and marks it in the database
//! — failed with [`JOB_STOPPED`], and a new job for its server may then start.

use std::time::Duration;

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};
use time::OffsetDateTime;

use crate::Result;
#[allow(unused_imports)] // named in the doc links
use crate::StoreError;

/// Id of a sync job (from the database).
pub type JobId = i64;

/// The error a job gets when its instance stopped renewing it before it finished.
pub const JOB_STOPPED: &str = "instance stopped: the serversync instance running this sync \
                               stopped before it finished (start the sync again)";

/// Finished (done or failed) jobs kept per server: starting a job deletes the server's older
/// finished ones, so the table stays small on a fleet scanned every hour.
pub const KEPT_FINISHED_JOBS: i64 = 100;

/// Where a job is (`state` column: `running`, `done`, `failed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    /// The run was stored.
    Done {
        run_id: RunId,
    },
    /// The listing or analysis failed, or the instance stopped ([`JOB_STOPPED`]).
    Failed {
        error: String,
    },
}

/// One stored sync job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncJob {
    pub id: JobId,
    pub server_id: ServerId,
    /// The server's name when the job started (for pages; the server may be renamed).
    pub server_name: String,
    /// The instance running it (a lease holder id, `<instance>:<pid>@<host>`).
    pub holder: String,
    pub state: JobState,
    /// Accounts received so far.
    pub received: u64,
    /// Accounts the panel announced, when it did.
    pub total: Option<u64>,
    pub started_at: OffsetDateTime,
    /// The last progress, renewal or state change.
    pub updated_at: OffsetDateTime,
    /// While running: the job counts as stopped after this unless renewed.
    pub expires_at: OffsetDateTime,
}

/// What [`Jobs::start_job`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStart {
    /// A new running job, the caller's to run, renew and finish.
    Started(SyncJob),
    /// The job already running for the server (on this or another instance).
    Running(SyncJob),
}

impl JobStart {
    /// The job either way.
    pub fn job(&self) -> &SyncJob {
        match self {
            JobStart::Started(j) | JobStart::Running(j) => j,
        }
    }
}

/// How a job ended ([`Jobs::finish_job`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Done { run_id: RunId },
    Failed { error: String },
}

/// Sync jobs: at most one running per server across every instance sharing the database.
/// Times are the database's clock (PostgreSQL's for every instance alike).
#[async_trait]
pub trait Jobs: Send + Sync {
    /// Starts a running job of `server_id` held by `holder`, expiring `ttl` from now — or,
    /// when one is running already (whoever holds it), returns that one
    /// ([`JobStart::Running`]). A running job of the server whose expiry passed is first
    /// marked failed ([`JOB_STOPPED`]). Atomic: of concurrent starters on any instances
    /// exactly one gets [`JobStart::Started`]. `NotFound("server 9")` for an unknown server.
    /// A start also deletes the server's finished jobs but the newest
    /// [`KEPT_FINISHED_JOBS`].
    async fn start_job(
        &self,
        server_id: ServerId,
        server_name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<JobStart>;
    /// Writes a running job's progress and moves its expiry to `ttl` from now (also when it
    /// had passed but no reader marked the job stopped yet). `false` (nothing written) when
    /// the job is not running or not `holder`'s.
    async fn job_progress(
        &self,
        id: JobId,
        holder: &str,
        received: u64,
        total: Option<u64>,
        ttl: Duration,
    ) -> Result<bool>;
    /// Ends `holder`'s job with `end` and its final progress. `false` (nothing written)
    /// when the job is not `holder`'s, or ended otherwise than stopped ([`JOB_STOPPED`] is
    /// overwritten: the work did finish after all).
    async fn finish_job(
        &self,
        id: JobId,
        holder: &str,
        end: &JobEnd,
        received: u64,
        total: Option<u64>,
    ) -> Result<bool>;
    /// The job with this id (a stopped one shown failed); `NotFound("sync job 9")`.
    async fn job(&self, id: JobId) -> Result<SyncJob>;
    /// The running job of a server, if any (a stopped one is marked failed: then `None`).
    async fn running_job(&self, server_id: ServerId) -> Result<Option<SyncJob>>;
    /// Jobs of one server or all (`None`), newest first; `limit` ≤ 0 means all.
    async fn recent_jobs(&self, server_id: Option<ServerId>, limit: i64) -> Result<Vec<SyncJob>>;
}
