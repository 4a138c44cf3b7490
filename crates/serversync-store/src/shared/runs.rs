//! Shared by both backends: sync runs (stored with the remote list they saw, read back whole
//! or as summaries) and their retention. The remote list and the analysis are stored
//! compressed (`crate::compact`); runs stored before schema 10 (SQLite) / 9 (PostgreSQL)
//! keep their JSON columns and read back as before (`rows::run_from_row`).

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};

use super::rows::{
    check_doc, doc, fmt_ts, json, run_from_row, run_summary_from_row, RUN_SELECT,
    RUN_SUMMARY_SELECT,
};
use super::{begin_write, query, query_scalar, BackendStore};
use crate::compact::{compress, PreparedAccounts};
use crate::error::DbResult;
use crate::{NewRun, Result, Run, RunSummary, Runs, StoreError};

#[async_trait]
impl Runs for BackendStore {
    async fn insert_run(&self, run: &NewRun) -> Result<RunId> {
        // Compressed before the write lock is taken: tens of milliseconds for a big listing.
        let (accounts, analysis_zstd) = compressed_columns(run, None).await?;
        self.insert_compressed(run, accounts.count, accounts.zstd, analysis_zstd)
            .await
    }

    async fn insert_run_prepared(&self, run: &NewRun, accounts: PreparedAccounts) -> Result<RunId> {
        if !run.accounts.is_empty() {
            return Err(StoreError::Invalid(
                "a run with prepared accounts holds no accounts of its own".into(),
            ));
        }
        if accounts.has_nul && !super::DOCUMENTS_HOLD_NUL {
            return Err(StoreError::Invalid(
                "run accounts holds a NUL character (\\u0000), which this database cannot store"
                    .into(),
            ));
        }
        let (accounts, analysis_zstd) = compressed_columns(run, Some(accounts)).await?;
        self.insert_compressed(run, accounts.count, accounts.zstd, analysis_zstd)
            .await
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

/// The compressed `accounts_zstd` (`prepared`, else made of `run.accounts`) and
/// `analysis_zstd` of `run`, off the async workers and side by side (a big listing takes
/// tens of milliseconds, its document as much). The texts are checked as the JSON columns
/// were (a document with a NUL character is refused where the backend's JSON could not hold
/// it), so both backends still accept and refuse the same runs.
async fn compressed_columns(
    run: &NewRun,
    prepared: Option<PreparedAccounts>,
) -> Result<(PreparedAccounts, Option<Vec<u8>>)> {
    // A run's own list is checked and serialised here (where it is borrowed), compressed
    // below.
    let accounts = match prepared {
        Some(p) => Ok(p),
        None => Err(json("run accounts", &run.accounts)?.0),
    };
    let count = run.accounts.len();
    let analysis = run.analysis_json.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|s| {
            // The document is checked on this thread while it is compressed on another
            // (prepared accounts leave this one idle otherwise); it is stored only if both
            // succeed.
            let d = s.spawn(|| {
                analysis
                    .as_deref()
                    .map(|t| compress("run analysis_json", t))
                    .transpose()
            });
            let checked = analysis
                .as_deref()
                .map_or(Ok(()), |t| check_doc("run analysis_json", t));
            let a = match accounts {
                Ok(p) => Ok(p),
                Err(text) => compress("run accounts", &text).map(|zstd| PreparedAccounts {
                    count,
                    zstd,
                    // Already checked by `json` above, for this backend.
                    has_nul: false,
                }),
            };
            let d = d.join().map_err(|_| {
                StoreError::Invalid("compressing the run's analysis stopped".into())
            })?;
            checked?;
            Ok((a?, d?))
        })
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("compressing the run stopped: {e}")))?
}
