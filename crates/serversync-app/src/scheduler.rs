//! The scan scheduler of `serve` (issue 11): every enabled server is analysed on its
//! interval, its first attempt delayed by a random jitter, at most `concurrency` at once,
//! each within its deadline. A scheduled scan applies nothing but what the server's
//! `auto_apply` list allows ([`crate::auto_apply`]), through the guarded apply.
//!
//! Several instances may run on one database: each attempt takes the server's lease first
//! (busy → this round is skipped) and only then asks the database whether the server is due
//! (its latest run's `started_at` at least one interval ago). Because the run is stored
//! before the lease is released, a second instance that gets the lease next sees that run
//! and skips, so a server is scanned once per interval however many instances run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serversync_core::model::{Server, ServerId};
use serversync_modules::NoProgress;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::scan::ScanTargets;
use crate::{AnalyseOutcome, App, AppError, Cancel, Result};

/// The actor of scheduled scans in logs and stored work.
pub const SCHEDULER_ACTOR: &str = "scheduler";

/// The schedule of [`App::run_scheduler`].
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Time between two scans of a server (at least 1 ms is used).
    pub interval: Duration,
    /// Intervals of particular servers, by name, instead of `interval`.
    pub intervals: HashMap<String, Duration>,
    /// Each server's first attempt waits a random time in `0..jitter`.
    pub jitter: Duration,
    /// Servers scanned at once (at least 1).
    pub concurrency: usize,
    /// Longest time one server's listing may take; past it the listing fails like any
    /// failed listing (a failed run is stored and alerted). A scan still running at twice
    /// the deadline is stopped before it writes and logged as failed.
    pub deadline: Duration,
    /// Deadlines of particular servers, by name, instead of `deadline`.
    pub deadlines: HashMap<String, Duration>,
    /// How often the list of enabled servers is read again (servers added, disabled or
    /// removed meanwhile are then scheduled or dropped).
    pub refresh: Duration,
}

/// What one scheduled attempt on a server did.
#[derive(Debug)]
pub enum DueScan {
    /// The server was due: analysed, its run stored.
    Scanned(Box<AnalyseOutcome>),
    /// Its latest run started less than an interval ago; it is due in this long.
    NotDue(Duration),
}

impl App {
    /// How long until `server_id` is due for a scan every `interval`, from the database:
    /// `None` when it is due now (no run yet, or the latest run started at least `interval`
    /// ago). A failed listing's run counts, so a failing server is retried next interval.
    pub async fn not_due_for(
        &self,
        server_id: ServerId,
        interval: Duration,
    ) -> Result<Option<Duration>> {
        let runs = self.store.runs(server_id, 1).await?;
        let Some(latest) = runs.first() else {
            return Ok(None);
        };
        let age = OffsetDateTime::now_utc() - latest.started_at;
        // A run started "in the future" (another host's clock) counts as just started.
        let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
        Ok(interval.checked_sub(age).filter(|d| !d.is_zero()))
    }

    /// One scheduled attempt: takes `server`'s lease ([`AppError::Busy`] when another
    /// holds it), then — holding it — analyses the server only if the database says it is
    /// due ([`App::not_due_for`]). Stores the run as [`App::analyse_server_with`] does.
    pub async fn scan_if_due(
        &self,
        server: &Server,
        interval: Duration,
        cancel: &Cancel,
    ) -> Result<DueScan> {
        self.scan_if_due_within(server, interval, cancel, None)
            .await
    }

    /// [`App::scan_if_due`] whose listing must end within `listing_deadline` too (see
    /// [`App::analyse_server_within`]: past it, a failed run is stored and alerted).
    pub async fn scan_if_due_within(
        &self,
        server: &Server,
        interval: Duration,
        cancel: &Cancel,
        listing_deadline: Option<Duration>,
    ) -> Result<DueScan> {
        let module = self.module_for(server)?;
        let lease = self.take_lease(server).await?;
        let out = async {
            if let Some(wait) = self.not_due_for(server.id, interval).await? {
                return Ok(DueScan::NotDue(wait));
            }
            self.analyse_locked(
                server,
                module.as_ref(),
                &NoProgress,
                &lease,
                cancel,
                listing_deadline,
            )
            .await
            .map(|o| DueScan::Scanned(Box::new(o)))
        }
        .await;
        let released = lease.release().await;
        let out = out?;
        released?;
        Ok(out)
    }

    /// Runs the schedule until `stop` is cancelled, then stops the scans that have not
    /// started writing and returns once every started scan has ended. Failures are logged
    /// (the server is tried again one interval later), never returned.
    pub async fn run_scheduler(&self, opts: ScheduleOptions, stop: Cancel) {
        let app = self.clone().with_actor(SCHEDULER_ACTOR);
        let slots = Arc::new(Semaphore::new(opts.concurrency.max(1)));
        // When each known server is next tried; `None` while an attempt runs.
        let mut next: HashMap<ServerId, Option<Instant>> = HashMap::new();
        let mut servers: Vec<Server> = Vec::new();
        let mut refreshed: Option<Instant> = None;
        let mut tasks = tokio::task::JoinSet::new();
        while !stop.is_cancelled() {
            let now = Instant::now();
            if refreshed.is_none_or(|t| now >= t + opts.refresh) {
                refreshed = Some(now);
                match app.scan_targets(&ScanTargets::All).await {
                    Ok(list) => {
                        for s in &list {
                            app.metrics.module_scanned(&s.module);
                        }
                        next.retain(|id, _| list.iter().any(|s| s.id == *id));
                        servers = list;
                    }
                    Err(e) => tracing::warn!(error = %e, "scheduler: servers not read"),
                }
            }
            for s in &servers {
                let at = *next
                    .entry(s.id)
                    .or_insert_with(|| Some(now + random_below(opts.jitter)));
                if at.is_none_or(|at| at > now) {
                    continue;
                }
                next.insert(s.id, None);
                let (app, slots, stop, server) =
                    (app.clone(), Arc::clone(&slots), stop.clone(), s.clone());
                let interval = pick(&opts.intervals, &s.name, opts.interval);
                let deadline = pick(&opts.deadlines, &s.name, opts.deadline);
                tasks.spawn(async move {
                    // The semaphore is never closed, so acquiring cannot fail.
                    let _slot = slots.acquire_owned().await;
                    let wait = app
                        .scheduled_attempt(&server, interval, deadline, &stop)
                        .await;
                    (server.id, wait)
                });
            }
            // Sleep until the earliest next attempt, the next refresh, an attempt ending
            // or the stop.
            let wake = next
                .values()
                .flatten()
                .copied()
                .chain(refreshed.map(|t| t + opts.refresh))
                .min()
                .unwrap_or(now + opts.refresh);
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                () = stop.cancelled() => {}
                Some(Ok((id, wait))) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Some(slot) = next.get_mut(&id) {
                        *slot = Some(Instant::now() + wait);
                    }
                }
            }
            while let Some(Ok((id, wait))) = tasks.try_join_next() {
                if let Some(slot) = next.get_mut(&id) {
                    *slot = Some(Instant::now() + wait);
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One attempt under `deadline`; returns how long to wait before the next one.
    async fn scheduled_attempt(
        &self,
        server: &Server,
        interval: Duration,
        deadline: Duration,
        stop: &Cancel,
    ) -> Duration {
        let cancel = Cancel::new();
        // The deadline bounds the listing (past it: a failed run, alerted); the backstop
        // stops an analysis or store that hangs after the listing (nothing is written).
        let work = self.scan_if_due_within(server, interval, &cancel, Some(deadline));
        tokio::pin!(work);
        let out = tokio::select! {
            r = &mut work => r,
            () = tokio::time::sleep(crate::scan::backstop(deadline)) => {
                cancel.cancel();
                tracing::warn!(server = %server.name, secs = crate::scan::backstop(deadline).as_secs(),
                    "scheduled scan past its deadline after the listing: stopped");
                work.await
            }
            () = stop.cancelled() => {
                cancel.cancel();
                work.await
            }
        };
        match out {
            Ok(DueScan::Scanned(o)) => {
                tracing::info!(server = %server.name, run = %o.run_id, accounts = o.accounts,
                    drift = o.drift(), "scheduled scan stored");
                self.log_auto_apply(server, &o).await;
                interval
            }
            // Asked again just after it becomes due (the other instance's run decides).
            Ok(DueScan::NotDue(wait)) => wait + Duration::from_millis(10),
            Err(AppError::Busy { holder, .. }) => {
                tracing::info!(server = %server.name, %holder, "scheduled scan skipped: busy");
                interval
            }
            Err(e) => {
                tracing::warn!(server = %server.name, error = %e,
                    "scheduled scan failed; tried again next interval");
                interval
            }
        }
    }
}

impl App {
    /// [`App::auto_apply_after_scan`] of a scheduled scan, its outcome logged (a failure
    /// is the next scan's business, like a failed scan).
    async fn log_auto_apply(&self, server: &Server, scan: &AnalyseOutcome) {
        use crate::ItemOutcome;
        match self.auto_apply_after_scan(server, scan).await {
            Ok(None) => {}
            Ok(Some(r)) => tracing::info!(server = %server.name, run = %r.run_id,
                applied = r.count(ItemOutcome::Applied), refused = r.count(ItemOutcome::Refused),
                "auto_apply"),
            Err(e) => tracing::warn!(server = %server.name, error = %e, "auto_apply failed"),
        }
    }
}

fn pick(m: &HashMap<String, Duration>, name: &str, default: Duration) -> Duration {
    m.get(name)
        .copied()
        .unwrap_or(default)
        .max(Duration::from_millis(1))
}

/// A random duration in `0..max` (zero when `max` is zero).
fn random_below(max: Duration) -> Duration {
    let ms = max.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::thread_rng().gen_range(0..ms))
}
