//! Shared by both backends: sync jobs as rows (`sync_jobs`, [`crate::jobs`]). Of concurrent
//! starters on any instances the partial unique index `sync_jobs_one_running` lets exactly
//! one insert (`ON CONFLICT … DO NOTHING`); the others read the job that won. Readers mark a running job whose expiry passed failed
//! ("instance stopped") before they show it.

use std::time::Duration;

use async_trait::async_trait;
use serversync_core::model::ServerId;
use time::OffsetDateTime;

use super::rows::{fmt_ts, Cols};
use super::{clock, query, query_scalar, BackendStore, DbConn, DbRow};
use crate::error::DbResult;
use crate::jobs::{
    JobEnd, JobId, JobStart, JobState, Jobs, SyncJob, JOB_STOPPED, KEPT_FINISHED_JOBS,
};
use crate::{Result, StoreError};

/// How often [`Jobs::start_job`] tries again when the running job it lost to ended before
/// it could be read.
const START_ROUNDS: usize = 5;

const JOB_SELECT: &str = "SELECT id, server_id, server_name, holder, state, received, total, \
                          run_id, error, started_at, updated_at, expires_at FROM sync_jobs";

fn count(what: &str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("job {what} {n} is out of range")))
}

fn job_from_row(row: &DbRow) -> Result<SyncJob> {
    let c = Cols::new(row, "sync_jobs")?;
    let state: String = c.get("state")?;
    let state = match state.as_str() {
        "running" => JobState::Running,
        "done" => JobState::Done {
            run_id: c
                .get::<Option<i64>>("run_id")?
                .ok_or_else(|| c.bad("run_id", "missing for a done job"))?,
        },
        "failed" => JobState::Failed {
            error: c.get::<Option<String>>("error")?.unwrap_or_default(),
        },
        other => return Err(c.bad("state", format!("unknown state {other:?}"))),
    };
    let unsigned = |col: &str, v: i64| u64::try_from(v).map_err(|e| c.bad(col, e));
    Ok(SyncJob {
        id: c.id,
        server_id: c.get("server_id")?,
        server_name: c.get("server_name")?,
        holder: c.get("holder")?,
        state,
        received: unsigned("received", c.get("received")?)?,
        total: c
            .get::<Option<i64>>("total")?
            .map(|t| unsigned("total", t))
            .transpose()?,
        started_at: c.ts("started_at")?,
        updated_at: c.ts("updated_at")?,
        expires_at: c.ts("expires_at")?,
    })
}

fn expiry(now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime> {
    time::Duration::try_from(ttl)
        .ok()
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| StoreError::Invalid(format!("job lease time {ttl:?} is out of range")))
}

/// Marks every running job (of one server, or all) whose expiry passed at `now` failed with
/// [`JOB_STOPPED`]; how many it marked.
async fn mark_stopped(
    conn: &mut DbConn,
    server_id: Option<ServerId>,
    now: OffsetDateTime,
) -> Result<u64> {
    let now = fmt_ts(now)?;
    let sql = format!(
        "UPDATE sync_jobs SET state = 'failed', error = ?, updated_at = ? \
         WHERE state = 'running' AND expires_at < ?{}",
        if server_id.is_some() {
            " AND server_id = ?"
        } else {
            ""
        }
    );
    let mut q = query(&sql).bind(JOB_STOPPED).bind(now).bind(now);
    if let Some(id) = server_id {
        q = q.bind(id);
    }
    Ok(q.execute(&mut *conn).await.db()?.rows_affected())
}

/// Before readers show `jobs`: when one of them is running past its expiry, marks the
/// stopped jobs (a write only then) and says so (`true`: read them again).
async fn settle(conn: &mut DbConn, server_id: Option<ServerId>, jobs: &[SyncJob]) -> Result<bool> {
    if !jobs.iter().any(|j| j.state == JobState::Running) {
        return Ok(false);
    }
    let now = clock(&mut *conn).await?;
    if !jobs
        .iter()
        .any(|j| j.state == JobState::Running && j.expires_at < now)
    {
        return Ok(false);
    }
    mark_stopped(&mut *conn, server_id, now).await?;
    Ok(true)
}

async fn running_of(conn: &mut DbConn, server_id: ServerId) -> Result<Option<SyncJob>> {
    query(&format!(
        "{JOB_SELECT} WHERE server_id = ? AND state = 'running'"
    ))
    .bind(server_id)
    .fetch_optional(&mut *conn)
    .await
    .db()?
    .as_ref()
    .map(job_from_row)
    .transpose()
}

async fn by_id(conn: &mut DbConn, id: JobId) -> Result<Vec<SyncJob>> {
    query(&format!("{JOB_SELECT} WHERE id = ?"))
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .db()?
        .iter()
        .map(job_from_row)
        .collect()
}

async fn recent(
    conn: &mut DbConn,
    server_id: Option<ServerId>,
    limit: i64,
) -> Result<Vec<SyncJob>> {
    let limit = if limit <= 0 { i64::MAX } else { limit };
    let rows = match server_id {
        Some(s) => query(&format!(
            "{JOB_SELECT} WHERE server_id = ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(s)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .db()?,
        None => query(&format!("{JOB_SELECT} ORDER BY id DESC LIMIT ?"))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await
            .db()?,
    };
    rows.iter().map(job_from_row).collect()
}

/// Deletes `server_id`'s finished jobs but the newest [`KEPT_FINISHED_JOBS`].
async fn prune_finished(conn: &mut DbConn, server_id: ServerId) -> Result<()> {
    query(
        "DELETE FROM sync_jobs WHERE server_id = ? AND state <> 'running' AND id NOT IN \
         (SELECT id FROM sync_jobs WHERE server_id = ? AND state <> 'running' \
         ORDER BY id DESC LIMIT ?)",
    )
    .bind(server_id)
    .bind(server_id)
    .bind(KEPT_FINISHED_JOBS)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

#[async_trait]
impl Jobs for BackendStore {
    async fn start_job(
        &self,
        server_id: ServerId,
        server_name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<JobStart> {
        // No write lock: the partial unique index decides between concurrent starters on
        // every instance, so a start never waits behind a long import or apply.
        let mut conn = self.pool.acquire().await.db()?;
        let exists: Option<i64> = query_scalar("SELECT id FROM servers WHERE id = ?")
            .bind(server_id)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("server {server_id}")));
        }
        // Between losing the insert and reading the winner, the winner may already have
        // ended; then start again (bounded: each round needs a whole job to come and go).
        for _ in 0..START_ROUNDS {
            let now = clock(&mut conn).await?;
            mark_stopped(&mut conn, Some(server_id), now).await?;
            let (at, until) = (fmt_ts(now)?, fmt_ts(expiry(now, ttl)?)?);
            let id: Option<i64> = query_scalar(
                "INSERT INTO sync_jobs (server_id, server_name, holder, state, received, \
                 total, run_id, error, started_at, updated_at, expires_at) \
                 VALUES (?, ?, ?, 'running', 0, NULL, NULL, NULL, ?, ?, ?) \
                 ON CONFLICT (server_id) WHERE state = 'running' DO NOTHING RETURNING id",
            )
            .bind(server_id)
            .bind(server_name)
            .bind(holder)
            .bind(at)
            .bind(at)
            .bind(until)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
            if let Some(id) = id {
                prune_finished(&mut conn, server_id).await?;
                let job = by_id(&mut conn, id)
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::NotFound(format!("sync job {id}")))?;
                return Ok(JobStart::Started(job));
            }
            if let Some(job) = running_of(&mut conn, server_id).await? {
                return Ok(JobStart::Running(job));
            }
        }
        Err(StoreError::Invalid(format!(
            "server {server_id}: sync jobs start and end faster than one can be started; try \
             again"
        )))
    }

    async fn job_progress(
        &self,
        id: JobId,
        holder: &str,
        received: u64,
        total: Option<u64>,
        ttl: Duration,
    ) -> Result<bool> {
        let mut conn = self.pool.acquire().await.db()?;
        let now = clock(&mut conn).await?;
        let done = query(
            "UPDATE sync_jobs SET received = ?, total = ?, updated_at = ?, expires_at = ? \
             WHERE id = ? AND holder = ? AND state = 'running'",
        )
        .bind(count("received", received)?)
        .bind(total.map(|t| count("total", t)).transpose()?)
        .bind(fmt_ts(now)?)
        .bind(fmt_ts(expiry(now, ttl)?)?)
        .bind(id)
        .bind(holder)
        .execute(&mut *conn)
        .await
        .db()?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(
        &self,
        id: JobId,
        holder: &str,
        end: &JobEnd,
        received: u64,
        total: Option<u64>,
    ) -> Result<bool> {
        let (state, run_id, error) = match end {
            JobEnd::Done { run_id } => ("done", Some(*run_id), None),
            JobEnd::Failed { error } => ("failed", None, Some(error.as_str())),
        };
        let mut conn = self.pool.acquire().await.db()?;
        let now = clock(&mut conn).await?;
        let done = query(
            "UPDATE sync_jobs SET state = ?, run_id = ?, error = ?, received = ?, total = ?, \
             updated_at = ? WHERE id = ? AND holder = ? \
             AND (state = 'running' OR (state = 'failed' AND error = ?))",
        )
        .bind(state)
        .bind(run_id)
        .bind(error)
        .bind(count("received", received)?)
        .bind(total.map(|t| count("total", t)).transpose()?)
        .bind(fmt_ts(now)?)
        .bind(id)
        .bind(holder)
        .bind(JOB_STOPPED)
        .execute(&mut *conn)
        .await
        .db()?;
        Ok(done.rows_affected() == 1)
    }

    async fn job(&self, id: JobId) -> Result<SyncJob> {
        let mut conn = self.pool.acquire().await.db()?;
        let mut jobs = by_id(&mut conn, id).await?;
        let server = jobs.first().map(|j| j.server_id);
        if settle(&mut conn, server, &jobs).await? {
            jobs = by_id(&mut conn, id).await?;
        }
        jobs.pop()
            .ok_or_else(|| StoreError::NotFound(format!("sync job {id}")))
    }

    async fn running_job(&self, server_id: ServerId) -> Result<Option<SyncJob>> {
        let mut conn = self.pool.acquire().await.db()?;
        let job = running_of(&mut conn, server_id).await?;
        let jobs: Vec<SyncJob> = job.into_iter().collect();
        if settle(&mut conn, Some(server_id), &jobs).await? {
            return running_of(&mut conn, server_id).await;
        }
        Ok(jobs.into_iter().next())
    }

    async fn recent_jobs(&self, server_id: Option<ServerId>, limit: i64) -> Result<Vec<SyncJob>> {
        let mut conn = self.pool.acquire().await.db()?;
        let jobs = recent(&mut conn, server_id, limit).await?;
        if settle(&mut conn, server_id, &jobs).await? {
            return recent(&mut conn, server_id, limit).await;
        }
        Ok(jobs)
    }
}
