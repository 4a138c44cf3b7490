//! Shared by both backends: sync runs (stored with the remote list they saw, read back whole
//! or as summaries) and their retention. The remote list and the analysis are stored
//! compressed (`crate::compact`); runs stored before schema 10 (SQLite) / 9 (PostgreSQL)
//! keep their JSON columns and read back as before (`rows::run_from_row`).

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};

use super::rows::{
    doc, fmt_ts, json, opt_doc, run_from_row, run_summary_from_row, RUN_SELECT, RUN_SUMMARY_SELECT,
};
use super::{begin_write, query, query_scalar, BackendStore};
use crate::compact::compress;
use crate::error::DbResult;
use crate::{NewRun, Result, Run, RunSummary, Runs, StoreError};

#[async_trait]
impl Runs for BackendStore {
    async fn insert_run(&self, run: &NewRun) -> Result<RunId> {
        // Compressed before the write lock is taken: tens of milliseconds for a big listing.
        let (accounts_zstd, analysis_zstd) = compressed_columns(run).await?;
        // One transaction: the run and the miss counter it moves are stored together.
        let mut tx = begin_write(&self.pool).await?;
        let exists: Option<i64> = query_scalar("SELECT id FROM servers WHERE id = ?")
            .bind(run.server_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("server {}", run.server_id)));
        }
        let accounts_count = i64::try_from(run.accounts.len())
            .map_err(|_| StoreError::Invalid("too many accounts".into()))?;
        let id: i64 = query_scalar(
            "INSERT INTO sync_runs (server_id, started_at, finished_at, listing_status, error, \
             accounts_count, accounts, accounts_zstd, skipped, analysis_json, analysis_zstd, \
             counts_json, service_versions, applied_at) \
             VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, NULL, ?, ?, ?, NULL) RETURNING id",
        )
        .bind(run.server_id)
        .bind(fmt_ts(run.started_at)?)
        .bind(fmt_ts(run.finished_at)?)
        .bind(run.listing_status.as_str())
        .bind(run.error.as_deref())
        .bind(accounts_count)
        .bind(accounts_zstd)
        .bind(json("run skipped", &run.skipped)?)
        .bind(analysis_zstd)
        .bind(doc("run counts_json", &run.counts_json)?)
        .bind(json("run service_versions", &run.service_versions)?)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        super::misses::record(&mut tx, run, id).await?;
        tx.commit().await.db()?;
        Ok(id)
    }

    async fn run(&self, id: RunId) -> Result<Run> {
        let row = query(&format!("{RUN_SELECT} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::NotFound(format!("run {id}")))?;
        run_from_row(&row)
    }

    async fn latest_run(&self, server_id: ServerId) -> Result<Option<Run>> {
        let row = query(&format!(
            "{RUN_SELECT} WHERE server_id = ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(server_id)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(&self, server_id: ServerId, limit: i64) -> Result<Vec<RunSummary>> {
        let limit = if limit <= 0 { i64::MAX } else { limit };
        query(&format!(
            "{RUN_SUMMARY_SELECT} WHERE server_id = ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(server_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db()?
        .iter()
        .map(run_summary_from_row)
        .collect()
    }

    async fn recent_runs(&self, per_server: i64) -> Result<Vec<RunSummary>> {
        if per_server <= 0 {
            return Ok(Vec::new());
        }
        // Numbered per server, newest first, by one window over the runs (both backends
        // have ROW_NUMBER); the index on (server_id, id) serves the partitions.
        query(&format!(
            "{RUN_SUMMARY_SELECT} WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER \
             (PARTITION BY server_id ORDER BY id DESC) AS n FROM sync_runs) ranked \
             WHERE n <= ?) ORDER BY server_id, id DESC"
        ))
        .bind(per_server)
        .fetch_all(&self.pool)
        .await
        .db()?
        .iter()
        .map(run_summary_from_row)
        .collect()
    }
    async fn prune_runs(&self, server_id: ServerId, keep: usize) -> Result<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let done = query(
            "DELETE FROM sync_runs WHERE server_id = ? AND applied_at IS NULL \
             AND id NOT IN (SELECT id FROM sync_runs WHERE server_id = ? \
                            ORDER BY id DESC LIMIT ?) \
             AND id <> (SELECT COALESCE(MAX(id), 0) FROM sync_runs WHERE server_id = ? \
                       AND listing_status = 'complete')",
        )
        .bind(server_id)
        .bind(server_id)
        .bind(keep)
        .bind(server_id)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }
}

/// The compressed `accounts_zstd` and `analysis_zstd` of `run` (off the async workers: a big
/// listing takes tens of milliseconds). The texts are checked as the JSON columns were (a
/// document with a NUL character is refused where the backend's JSON could not hold it), so
/// both backends still accept and refuse the same runs.
async fn compressed_columns(run: &NewRun) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let accounts = json("run accounts", &run.accounts)?.0;
    let analysis = opt_doc("run analysis_json", run.analysis_json.as_deref())?.map(|d| d.0);
    tokio::task::spawn_blocking(move || {
        let a = compress("run accounts", &accounts)?;
        let d = analysis
            .map(|t| compress("run analysis_json", &t))
            .transpose()?;
        Ok((a, d))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("compressing the run stopped: {e}")))?
}
