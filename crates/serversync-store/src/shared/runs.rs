//! Shared by both backends: sync runs (stored with the remote list they saw, read back whole
//! or as summaries).

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId};

use super::rows::{
    doc, fmt_ts, json, opt_doc, run_from_row, run_summary_from_row, RUN_SELECT, RUN_SUMMARY_SELECT,
};
use super::{begin_write, query, query_scalar, BackendStore};
use crate::error::DbResult;
use crate::{NewRun, Result, Run, RunSummary, Runs, StoreError};

#[async_trait]
impl Runs for BackendStore {
    async fn insert_run(&self, run: &NewRun) -> Result<RunId> {
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
             accounts_count, accounts, skipped, analysis_json, counts_json, service_versions, \
             applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
        )
        .bind(run.server_id)
        .bind(fmt_ts(run.started_at)?)
        .bind(fmt_ts(run.finished_at)?)
        .bind(run.listing_status.as_str())
        .bind(run.error.as_deref())
        .bind(accounts_count)
        .bind(json("run accounts", &run.accounts)?)
        .bind(json("run skipped", &run.skipped)?)
        .bind(opt_doc("run analysis_json", run.analysis_json.as_deref())?)
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
}
