//! The fleet at a glance, for the servers page: every server with its latest runs (for the
//! last scan and the drift trend), whether its lease is held right now, and a summary line.
//!
//! A fixed number of reads whatever the fleet's size — the servers, the live service counts,
//! the newest runs of every server ([`serversync_store::Runs::recent_runs`], one query) and
//! the leases — so a 500-server page costs four queries, not 500.

use std::collections::HashMap;

use serversync_core::analysis::Category;
use serversync_core::model::Server;
use serversync_store::{ListingStatus, RunSummary};
use time::OffsetDateTime;

use crate::{App, Result};

/// The largest number of runs per server [`App::fleet`] reads.
pub const MAX_TREND_RUNS: i64 = 50;

/// Where a server stands by its last run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// The last listing was complete or incomplete (an analysis exists).
    Ok,
    /// The last listing failed.
    Failed,
    /// No run yet.
    Never,
}

/// One server of the fleet.
#[derive(Clone, Debug)]
pub struct FleetServer {
    pub server: Server,
    /// Live (`Active`, `Suspended`, `Pending`) services in billing.
    pub live_services: usize,
    /// Its newest runs, newest first (at most the `per_server` asked for).
    pub runs: Vec<RunSummary>,
    /// Its lease is held (an analysis or apply is running) and has not run out.
    pub busy: bool,
}

impl FleetServer {
    /// The state of its last run.
    pub fn state(&self) -> ServerState {
        match self.runs.first() {
            None => ServerState::Never,
            Some(r) if r.listing_status == ListingStatus::Failed => ServerState::Failed,
            Some(_) => ServerState::Ok,
        }
    }

    /// Drift items of its last run (0 when it failed or there is none).
    pub fn drift(&self) -> u64 {
        self.runs.first().map(run_drift).unwrap_or(0)
    }
}

/// The drift items (every category but `in_sync`) of a run, from its stored counts; 0 for
/// a failed run (stored as `{}`) or counts that do not parse.
pub fn run_drift(r: &RunSummary) -> u64 {
    // Read per category (a missing one counts 0), as the pages read stored counts.
    let counts: serde_json::Value = serde_json::from_str(&r.counts_json).unwrap_or_default();
    Category::ALL
        .iter()
        .filter(|c| c.is_drift())
        .filter_map(|c| counts.get(c.as_str()).and_then(serde_json::Value::as_u64))
        .fold(0u64, u64::saturating_add)
}

/// The fleet's summary line: how many servers are in each state, and the drift of all of
/// them at their last run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetSummary {
    pub servers: usize,
    /// Last run complete or incomplete.
    pub ok: usize,
    /// Last listing failed.
    pub failed: usize,
    /// Never analysed.
    pub never: usize,
    /// Lease held right now (counted besides their state).
    pub busy: usize,
    /// Disabled servers (counted besides their state).
    pub disabled: usize,
    /// Drift items of every server's last run, summed.
    pub drift: u64,
}

impl FleetSummary {
    /// The summary of `servers`.
    pub fn of(servers: &[FleetServer]) -> FleetSummary {
        let mut s = FleetSummary {
            servers: servers.len(),
            ..FleetSummary::default()
        };
        for f in servers {
            match f.state() {
                ServerState::Ok => s.ok += 1,
                ServerState::Failed => s.failed += 1,
                ServerState::Never => s.never += 1,
            }
            s.busy += usize::from(f.busy);
            s.disabled += usize::from(f.server.disabled);
            s.drift = s.drift.saturating_add(f.drift());
        }
        s
    }
}

impl App {
    /// Every server (by id) with its newest `per_server` runs (1..=[`MAX_TREND_RUNS`], out
    /// of range is clamped), its live services and whether it is busy; four reads in all.
    pub async fn fleet(&self, per_server: i64) -> Result<Vec<FleetServer>> {
        let per_server = per_server.clamp(1, MAX_TREND_RUNS);
        let servers = self.store.servers().await?;
        let live = self.live_services_by_server().await?;
        let mut runs: HashMap<i64, Vec<RunSummary>> = HashMap::new();
        for r in self.store.recent_runs(per_server).await? {
            runs.entry(r.server_id).or_default().push(r);
        }
        let now = OffsetDateTime::now_utc();
        let busy: std::collections::HashSet<i64> = self
            .store
            .locks()
            .await?
            .into_iter()
            .filter(|l| !l.expired_at(now))
            .map(|l| l.server_id)
            .collect();
        Ok(servers
            .into_iter()
            .map(|server| FleetServer {
                live_services: live.get(&server.id).copied().unwrap_or(0),
                runs: runs.remove(&server.id).unwrap_or_default(),
                busy: busy.contains(&server.id),
                server,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: ListingStatus, counts: &str) -> RunSummary {
        RunSummary {
            id: 1,
            server_id: 1,
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            listing_status: status,
            error: None,
            accounts: 0,
            counts_json: counts.into(),
            applied_at: None,
        }
    }

    #[test]
    fn drift_sums_every_category_but_in_sync() {
        let r = run(
            ListingStatus::Complete,
            r#"{"in_sync":7,"out_of_sync":2,"not_on_server":3}"#,
        );
        assert_eq!(run_drift(&r), 5);
        assert_eq!(run_drift(&run(ListingStatus::Failed, "{}")), 0);
        assert_eq!(run_drift(&run(ListingStatus::Complete, "not json")), 0);
    }

    #[test]
    fn the_summary_counts_states_busy_and_drift() {
        let server = |id: i64, disabled: bool| Server {
            id,
            name: format!("web{id}"),
            module: "cpanel".into(),
            hostname: "h".into(),
            ip_address: "192.0.2.1".into(),
            port: None,
            secure: true,
            tls_verify: true,
            username: "root".into(),
            password: Default::default(),
            access_hash: Default::default(),
            disabled,
        };
        let fleet = vec![
            FleetServer {
                server: server(1, false),
                live_services: 0,
                runs: vec![run(ListingStatus::Complete, r#"{"moved":4}"#)],
                busy: true,
            },
            FleetServer {
                server: server(2, true),
                live_services: 0,
                runs: vec![
                    run(ListingStatus::Failed, "{}"),
                    run(ListingStatus::Complete, r#"{"moved":9}"#),
                ],
                busy: false,
            },
            FleetServer {
                server: server(3, false),
                live_services: 0,
                runs: Vec::new(),
                busy: false,
            },
        ];
        assert_eq!(
            FleetSummary::of(&fleet),
            FleetSummary {
                servers: 3,
                ok: 1,
                failed: 1,
                never: 1,
                busy: 1,
                disabled: 1,
                drift: 4,
            }
        );
    }
}
