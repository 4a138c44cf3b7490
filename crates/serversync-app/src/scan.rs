//! Fleet scans (issue 11): one pass over chosen servers, each analysed exactly as
//! [`App::analyse_server_with`] does (its lease taken, its run stored), with bounded
//! concurrency and a per-server deadline. A scan never applies anything.
//!
//! The CLI's `scan` runs one pass; the scheduler of `serve` is meant to call the same
//! [`App::scan`] on its interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serversync_core::analysis::Counts;
use serversync_core::model::{RunId, Server, ServerId};
use serversync_modules::NoProgress;
use tokio::sync::Semaphore;

use crate::{App, AppError, Cancel, Result};

mod index;
pub(crate) use index::FleetIndex;

/// Which servers one scan lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTargets {
    /// Every enabled server, in the store's order.
    All,
    /// These servers (names or ids), in this order; each must exist and be enabled.
    Named(Vec<String>),
}

/// Bounds of one scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Servers listed at once (at least 1).
    pub concurrency: usize,
    /// Longest time one server's listing may take; past it the listing fails: a failed run
    /// is stored (and alerted, under `serve`) and the server is reported failed. A scan still
    /// running at twice the deadline (a hung analysis or store) is stopped before it writes.
    pub deadline: Duration,
    /// Deadlines of particular servers, by name, instead of `deadline`.
    pub deadlines: HashMap<String, Duration>,
}

/// How the scan of one server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Listed and analysed; a run was stored.
    Ok,
    /// The listing failed (a failed run was stored), the deadline passed, or another error.
    Failed,
    /// Another analysis or apply held the server's lease; nothing was done.
    Busy,
}

impl ScanResult {
    /// `ok`, `failed` or `busy`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Ok => "ok",
            ScanResult::Failed => "failed",
            ScanResult::Busy => "busy",
        }
    }
}

/// One server's line of a fleet scan.
#[derive(Debug, Clone, Serialize)]
pub struct ServerScan {
    pub server_id: ServerId,
    pub server: String,
    pub module: String,
    pub result: ScanResult,
    /// Why it failed or who holds it (`None` when ok). Panel text, unescaped: render it
    /// escaped.
    pub cause: Option<String>,
    /// The stored run (`None` when no run was stored, or the run is a failed listing's).
    pub run_id: Option<RunId>,
    /// Accounts listed (`None` unless ok).
    pub accounts: Option<usize>,
    /// Whether the listing was complete (`None` unless ok).
    pub complete: Option<bool>,
    /// Items per category (`None` unless ok).
    pub counts: Option<Counts>,
    /// Items that are drift (every category but `in_sync`); 0 unless ok.
    pub drift: usize,
    /// Wall time of this server's scan, seconds (waiting for a free slot not counted).
    pub seconds: f64,
}

/// The outcome of [`App::scan`]: one entry per chosen server, in the order chosen.
#[derive(Debug, Clone, Serialize)]
pub struct FleetScan {
    pub servers: Vec<ServerScan>,
    /// Wall time of the whole pass, seconds.
    pub seconds: f64,
}

impl FleetScan {
    /// Servers whose scan ended `r`.
    pub fn count(&self, r: ScanResult) -> usize {
        self.servers.iter().filter(|s| s.result == r).count()
    }

    /// Drift items over every server scanned.
    pub fn drift(&self) -> usize {
        self.servers.iter().map(|s| s.drift).sum()
    }
}

impl App {
    /// The servers `targets` chooses: every enabled one, or the named ones (an unknown or
    /// disabled name is an error naming it; a server named twice is scanned once).
    pub async fn scan_targets(&self, targets: &ScanTargets) -> Result<Vec<Server>> {
        match targets {
            ScanTargets::All => Ok(self
                .store
                .servers()
                .await?
                .into_iter()
                .filter(|s| !s.disabled)
                .collect()),
            ScanTargets::Named(names) => {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for n in names {
                    let s = self.store.server(n).await?;
                    if s.disabled {
                        return Err(AppError::Invalid(format!(
                            "server {} is disabled: fleet scans leave it out (enable it, or \
                             analyse it on its own)",
                            s.name
                        )));
                    }
                    if seen.insert(s.id) {
                        out.push(s);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Scans `servers` (from [`App::scan_targets`]): at most `opts.concurrency` at once, each
    /// within its deadline. A server's failure or busy lease is its line's result, never the
    /// scan's error. `cancel` stops every server's scan that has not started writing (those
    /// are reported failed, "interrupted"); servers not started by then are not started.
    pub async fn scan(
        &self,
        servers: Vec<Server>,
        opts: &ScanOptions,
        cancel: &Cancel,
    ) -> FleetScan {
        let started = Instant::now();
        for s in &servers {
            self.metrics.module_scanned(&s.module);
        }
        // One index of the fleet's services for the pass (worth it from two servers on);
        // without it each analysis loads its module's other servers whole.
        let mut this = self.clone();
        if servers.len() >= 2 {
            let mut modules: Vec<String> = servers.iter().map(|s| s.module.clone()).collect();
            modules.sort();
            modules.dedup();
            match FleetIndex::build(self, &modules).await {
                Ok(idx) => this.fleet = Some(Arc::new(idx)),
                Err(e) => tracing::warn!(error = %e, "fleet index not built; scanning without it"),
            }
        }
        let slots = Arc::new(Semaphore::new(opts.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let n = servers.len();
        for (i, server) in servers.into_iter().enumerate() {
            let app = this.clone();
            let slots = Arc::clone(&slots);
            let deadline = opts
                .deadlines
                .get(&server.name)
                .copied()
                .unwrap_or(opts.deadline);
            let outer = cancel.clone();
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring fails only if it were.
                let _slot = slots.acquire_owned().await;
                (i, app.scan_one(server, deadline, &outer).await)
            });
        }
        let mut lines: Vec<Option<ServerScan>> = vec![None; n];
        while let Some(joined) = tasks.join_next().await {
            // A panicking task is a bug; its server is then missing from the result.
            if let Ok((i, line)) = joined {
                lines[i] = Some(line);
            }
        }
        FleetScan {
            servers: lines.into_iter().flatten().collect(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// One server's scan: [`App::analyse_server_with`] under `deadline` and `outer`.
    async fn scan_one(&self, server: Server, deadline: Duration, outer: &Cancel) -> ServerScan {
        let started = Instant::now();
        let mut line = ServerScan {
            server_id: server.id,
            server: server.name.clone(),
            module: server.module.clone(),
            result: ScanResult::Failed,
            cause: None,
            run_id: None,
            accounts: None,
            complete: None,
            counts: None,
            drift: 0,
            seconds: 0.0,
        };
        if outer.is_cancelled() {
            line.cause = Some("interrupted before it started".into());
            return line;
        }
        let cancel = Cancel::new();
        let id = server.id.to_string();
        // The deadline bounds the listing: past it the listing fails (a failed run is
        // stored, and alerted, like any failed listing). The backstop stops an analysis or
        // store that hangs after the listing, before anything is written.
        let work = self.analyse_server_within(&id, &NoProgress, &cancel, Some(deadline));
        tokio::pin!(work);
        let mut past_deadline = false;
        let out = tokio::select! {
            r = &mut work => r,
            () = tokio::time::sleep(backstop(deadline)) => {
                past_deadline = true;
                cancel.cancel();
                work.await
            }
            () = outer.cancelled() => {
                cancel.cancel();
                work.await
            }
        };
        line.seconds = started.elapsed().as_secs_f64();
        match out {
            Ok(o) => {
                line.result = ScanResult::Ok;
                line.run_id = Some(o.run_id);
                line.accounts = Some(o.accounts);
                line.complete = Some(o.complete);
                line.drift = o.drift();
                line.counts = Some(o.counts);
            }
            Err(AppError::Busy { holder, until, .. }) => {
                line.result = ScanResult::Busy;
                line.cause = Some(format!("{holder} holds its lock until {until}"));
            }
            Err(AppError::Listing { source, .. }) => {
                line.cause = Some(format!("listing failed: {source}"));
            }
            Err(AppError::Interrupted(_)) if past_deadline => {
                line.cause = Some(format!(
                    "still not done {} s after the start (its listing deadline is {} s); \
                     stopped before anything was written",
                    backstop(deadline).as_secs(),
                    deadline.as_secs()
                ));
            }
            Err(AppError::Interrupted(_)) => {
                line.cause = Some("interrupted before anything was written".into());
            }
            Err(e) => line.cause = Some(e.to_string()),
        }
        line
    }
}

/// How long a scan may run in all before it is stopped: twice its listing deadline (the
/// listing itself ends at the deadline; what follows it — the analysis and the stored run —
/// gets as long again).
pub(crate) fn backstop(deadline: Duration) -> Duration {
    deadline.saturating_mul(2)
}
