//! `serversync demo --fleet N`: N simulated cPanel servers on loopback (20 ms a request),
//! records that bill about 95 % of their accounts, and `serve` with the scan scheduler on —
//! the fleet as a provider runs it (issue 11). The fleet lives: every minute a few servers
//! gain an account nobody bills and lose one that is billed, one server's listing fails every
//! other minute, and after three minutes one server's listing shrinks to a handful of
//! accounts (the sign of a broken panel), so the servers page, the alerts and the metrics have
//! something to show.

use std::time::Duration;

use panel_sim::fleet::{fleet_server_name, spawn_cpanel_fleet, Fleet};
use panel_sim::Fault;
use serde_json::Value;
use serversync_app::scan::{ScanOptions, ScanTargets};
use serversync_app::Cancel;

use crate::config::Config;
use crate::open_app;

/// Panel latency of the fleet's simulators, as in the fleet benchmark.
const DELAY: Duration = Duration::from_millis(20);
/// Longest scan interval of the demo: a fleet scanned hourly shows little in a demo.
const DEMO_INTERVAL_SECS: u64 = 120;
/// Time between two changes of the simulated fleet.
const CHURN_EVERY: Duration = Duration::from_secs(60);
/// Most servers a fleet demo starts (each is a listening simulator in this process).
pub const MAX_FLEET: usize = 2000;

/// Runs the fleet demo, its web page on `cfg.listen`; returns the exit code.
pub async fn run(
    db: Option<&str>,
    margs: &crate::ModuleArgs,
    cfg: &Config,
    servers: usize,
    accounts: usize,
    once: bool,
) -> anyhow::Result<u8> {
    if !(1..=MAX_FLEET).contains(&servers) {
        anyhow::bail!("--fleet {servers}: a fleet demo has 1 to {MAX_FLEET} servers");
    }
    if !(1..=100_000).contains(&accounts) {
        anyhow::bail!("--accounts {accounts}: each fleet server has 1 to 100000 accounts");
    }
    let (_lock, url) = super::fresh_database(db)?;
    let fleet = spawn_cpanel_fleet(servers, accounts, DELAY).await?;
    let app = open_app(Some(&url), super::DEMO_DB, margs).await?;
    super::refuse_a_database_with_records(&app, db, &url).await?;
    app.import_records(&serde_json::to_vec(&fleet.records)?)
        .await?;
    let services = fleet.records["services"].as_array().map_or(0, Vec::len);
    outln!(
        "serversync demo: {servers} simulated cPanel servers on 127.0.0.1 ({accounts} accounts \
         each, {} ms a request), {services} services loaded into {}",
        DELAY.as_millis(),
        serversync_store::redact_url(&url)
    );
    if once {
        // One fleet pass, as `serversync scan --all` prints it.
        let targets = app.scan_targets(&ScanTargets::All).await?;
        let opts = ScanOptions {
            concurrency: cfg.scan.concurrency,
            deadline: Duration::from_secs(cfg.scan.deadline_secs),
            deadlines: Default::default(),
        };
        let scan = app.scan(targets, &opts, &Cancel::new()).await;
        crate::scan::print_table(&scan);
        fleet.shutdown().await;
        return Ok(0);
    }
    let mut cfg = cfg.clone();
    cfg.scan.enabled = true;
    cfg.scan.interval_secs = cfg.scan.interval_secs.min(DEMO_INTERVAL_SECS);
    cfg.scan.jitter_secs = cfg.scan.jitter_secs.min(cfg.scan.interval_secs / 2);
    outln!(
        "Every server is scanned every {} s ({} at once); the fleet changes every {} s.",
        cfg.scan.interval_secs,
        cfg.scan.concurrency,
        CHURN_EVERY.as_secs()
    );
    let password = serversync_app::auth::new_token("")[..16].to_string();
    app.clone()
        .with_actor("demo")
        .add_user("admin", &password, serversync_store::Role::Admin)
        .await?;
    let stop = Cancel::new();
    let churn = tokio::spawn(churn(fleet, accounts, stop.clone()));
    let db_arg = match db {
        None => format!(" --database {}", super::DEMO_DB),
        Some(_) => String::new(),
    };
    outln!("Try, in another terminal while the simulators run:");
    outln!("  serversync{db_arg} scan --all                 # one pass, the fleet table");
    outln!("  serversync{db_arg} analyse web013             # after 3 minutes: a shrunken listing");
    outln!("  serversync{db_arg} apply web013 --terminate all --dry-run   # refused: it shrank");
    outln!("The simulators and the web page keep running until Ctrl-C.");
    let served = crate::serve_with_scheduler(app, &cfg, false, Some(("admin", &password))).await;
    stop.cancel();
    if let Ok(fleet) = churn.await {
        fleet.shutdown().await;
    }
    served?;
    Ok(0)
}

/// Changes the fleet every [`CHURN_EVERY`] until `stop`; gives the fleet back.
async fn churn(fleet: Fleet, accounts: usize, stop: Cancel) -> Fleet {
    let n = fleet.sims.len();
    let mut round = 0usize;
    loop {
        tokio::select! {
            () = tokio::time::sleep(CHURN_EVERY) => {}
            () = stop.cancelled() => return fleet,
        }
        round += 1;
        let step = Step::of(round, n);
        for s in step.grow {
            let sim = &fleet.sims[s - 1];
            let mut list: Vec<Value> = sim.accounts().as_ref().clone();
            // A new account nobody bills (a hand-made one): from a generator seed no fleet
            // server uses, renamed to be unique.
            let mut extra = panel_sim::generate_cpanel_accounts(1, (n + round) as u64);
            if let Some(a) = extra.first_mut() {
                a["user"] = format!("new{round}x{s}").into();
                a["domain"] = format!("new{round}-{}.test", fleet_server_name(s)).into();
                list.push(a.clone());
            }
            sim.set_accounts(list);
        }
        for s in step.lose {
            let sim = &fleet.sims[s - 1];
            let mut list: Vec<Value> = sim.accounts().as_ref().clone();
            // A billed account gone from the panel (index 0 is always billed).
            if list.len() > 1 {
                list.remove(0);
            }
            sim.set_accounts(list);
        }
        if let Some((s, failing)) = step.flap {
            fleet.sims[s - 1].set_fault(failing.then_some(Fault::Http500));
        }
        if let Some(s) = step.shrink {
            let sim = &fleet.sims[s - 1];
            let keep = (accounts / 100).max(1);
            let list: Vec<Value> = sim.accounts().iter().take(keep).cloned().collect();
            sim.set_accounts(list);
        }
    }
}

/// What one churn round does to a fleet of `n` servers (1-based server numbers).
#[derive(Debug, PartialEq)]
struct Step {
    /// Servers that gain an unbilled account.
    grow: Vec<usize>,
    /// Servers that lose a billed account.
    lose: Vec<usize>,
    /// The flapping server and whether it fails this round.
    flap: Option<(usize, bool)>,
    /// The server whose listing shrinks this round.
    shrink: Option<usize>,
}

impl Step {
    fn of(round: usize, n: usize) -> Step {
        // About 2 % of the fleet (at least one server) changes each round, in turn.
        let per = (n / 50).max(1);
        let pick = |k: usize| (0..per).map(move |i| (k * per + i) % n + 1);
        Step {
            grow: pick(2 * round).collect(),
            lose: pick(2 * round + 1).collect(),
            flap: (n >= 7).then_some((7, round % 2 == 1)),
            shrink: (n >= 13 && round == 3).then_some(13),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_changes_two_percent_of_the_fleet_and_the_shrink_comes_once() {
        let s = Step::of(1, 500);
        assert_eq!(s.grow, (21..=30).collect::<Vec<_>>());
        assert_eq!(s.lose, (31..=40).collect::<Vec<_>>());
        assert_eq!((s.flap, s.shrink), (Some((7, true)), None));
        assert_eq!(Step::of(2, 500).flap, Some((7, false)));
        assert_eq!(Step::of(3, 500).shrink, Some(13));
        assert_eq!(Step::of(4, 500).shrink, None);
        // A tiny fleet wraps around and has no flapping or shrinking server.
        let t = Step::of(1, 3);
        assert_eq!(
            (t.grow, t.lose, t.flap, t.shrink),
            (vec![3], vec![1], None, None)
        );
    }
}
