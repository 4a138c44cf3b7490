//! Shared by both backends: sync runs (stored with the remote list they saw, read back whole
//! or as summaries) and their retention. The remote list and the analysis are stored
//! compressed (`crate::compact`); runs stored before schema 10 (SQLite) / 9 (PostgreSQL)
//! keep their JSON columns and read back as before (`rows::run_from_row`).

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};

use super::rows::{
    doc, fmt_ts, json, run_from_row, run_summary_from_row, storable_prepared, RUN_SELECT,
    RUN_SUMMARY_SELECT,
};
use super::{begin_write, query, query_scalar, BackendStore};
use crate::compact::{compress, PreparedAccounts, PreparedAnalysis};
use crate::error::DbResult;
use crate::{NewRun, Result, Run, RunSummary, Runs, StoreError};

#[async_trait]
impl Runs for BackendStore {
    async fn insert_run(&self, run: &NewRun) -> Result<RunId> {
        // Compressed before the write lock is taken: tens of milliseconds for a big listing.
        let (accounts, analysis) = compressed_columns(run).await?;
        self.insert_ready(run, accounts, analysis).await
    }

    async fn insert_run_prepared(
        &self,
        run: &NewRun,
        accounts: PreparedAccounts,
        analysis: Option<PreparedAnalysis>,
    ) -> Result<RunId> {
        if !run.accounts.is_empty() {
            return Err(StoreError::Invalid(
                "a run with prepared accounts holds no accounts of its own".into(),
            ));
        }
        if analysis.is_some() && run.analysis_json.is_some() {
            return Err(StoreError::Invalid(
                "a run with a prepared analysis holds no analysis_json of its own".into(),
            ));
        }
        // Refused in the order `insert_run` refuses: the list before the document.
        storable_prepared("run accounts", accounts.has_nul)?;
        let analysis = match (analysis, &run.analysis_json) {
            (Some(prepared), _) => Some(prepared),
            (None, None) => None,
            (None, Some(text)) => {
                let text = text.clone();
                Some(
                    tokio::task::spawn_blocking(move || PreparedAnalysis::of(text))
                        .await
                        .map_err(|e| {
                            StoreError::Invalid(format!("compressing the run stopped: {e}"))
                        })??,
                )
            }
        };
        self.insert_ready(run, accounts, analysis).await
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
    async fn prune_runs(
        &self,
        server_id: ServerId,
        keep: usize,
        keep_complete: usize,
    ) -> Result<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let keep_complete = i64::try_from(keep_complete.max(1)).unwrap_or(i64::MAX);
        let done = query(
            "DELETE FROM sync_runs WHERE server_id = ? AND applied_at IS NULL \
             AND id NOT IN (SELECT id FROM sync_runs WHERE server_id = ? \
                            ORDER BY id DESC LIMIT ?) \
             AND id NOT IN (SELECT id FROM sync_runs WHERE server_id = ? \
                            AND listing_status = 'complete' ORDER BY id DESC LIMIT ?)",
        )
        .bind(server_id)
        .bind(server_id)
        .bind(keep)
        .bind(server_id)
        .bind(keep_complete)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }
}

impl BackendStore {
    /// Stores `run` with its remote list and analysis document as they are stored
    /// (`run.accounts` and `run.analysis_json` are not read): refuses a document this
    /// backend cannot hold, then writes. The list was checked by the caller, before the
    /// document, in the order `insert_run` refuses them.
    async fn insert_ready(
        &self,
        run: &NewRun,
        accounts: PreparedAccounts,
        analysis: Option<PreparedAnalysis>,
    ) -> Result<RunId> {
        if let Some(a) = &analysis {
            storable_prepared("run analysis_json", a.has_nul)?;
        }
        self.insert_compressed(run, accounts.count, accounts.zstd, analysis.map(|a| a.zstd))
            .await
    }

    /// Stores `run` with its compressed columns (`count` accounts).
    async fn insert_compressed(
        &self,
        run: &NewRun,
        count: usize,
        accounts_zstd: Vec<u8>,
        analysis_zstd: Option<Vec<u8>>,
    ) -> Result<RunId> {
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
        let accounts_count =
            i64::try_from(count).map_err(|_| StoreError::Invalid("too many accounts".into()))?;
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
}

/// The remote list and analysis document of `run` as a run stores them, off the async
/// workers and side by side (a big listing takes tens of milliseconds, its document as
/// much). The texts are checked as the JSON columns were (a document with a NUL character
/// is refused where the backend's JSON could not hold it: the list here, the document by
/// [`BackendStore::insert_ready`]), so both backends still accept and refuse the same runs.
async fn compressed_columns(run: &NewRun) -> Result<(PreparedAccounts, Option<PreparedAnalysis>)> {
    // The run's own list is checked and serialised here (where it is borrowed), compressed
    // below.
    let accounts = json("run accounts", &run.accounts)?.0;
    let count = run.accounts.len();
    let analysis = run.analysis_json.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|s| {
            // The list is compressed on another thread while the document is checked and
            // compressed (`PreparedAnalysis::of`) on this one; stored only if both succeed.
            let a = s.spawn(|| {
                compress("run accounts", &accounts).map(|zstd| PreparedAccounts {
                    count,
                    zstd,
                    // Already checked by `json` above, for this backend.
                    has_nul: false,
                })
            });
            let d = analysis.map(PreparedAnalysis::of).transpose();
            let a = a.join().map_err(|_| {
                StoreError::Invalid("compressing the run's accounts stopped".into())
            })?;
            let d = d?;
            Ok((a?, d))
        })
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("compressing the run stopped: {e}")))?
}
