//! `serversync scan`: one fleet pass from the command line (cron-friendly), rendered as a
//! summary table or JSON. The work is [`serversync_app::App::scan`].

use std::time::Duration;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, ContentArrangement, Table};
use serversync_app::scan::{FleetScan, ScanOptions, ScanResult, ScanTargets};
use serversync_app::{App, Cancel};
use serversync_core::analysis::Category;

use crate::config::Config;
use crate::output;

/// Most characters of a failure's cause in the table (the JSON has it whole).
const MAX_CAUSE: usize = 160;

/// Exit codes of `scan`, as `analyse --exit-code`.
pub const EXIT_HELP: &str = "Exit codes: 0 every server listed and no drift; 1 drift found \
(and no failure); 2 a server failed or was busy, or the scan could not run.";

/// `scan [--all | SERVER…]`.
#[derive(Args)]
#[command(
    group(clap::ArgGroup::new("which").required(true).args(["all", "servers"])),
    after_help = EXIT_HELP
)]
pub struct ScanArgs {
    /// Scan every enabled server.
    #[arg(long)]
    pub all: bool,
    /// Servers to scan (names or ids); each must be enabled.
    #[arg(value_name = "SERVER")]
    pub servers: Vec<String>,
    /// Servers listed at once (default: `scan.concurrency` of the configuration, 16).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Seconds one server's scan may take; past it the server is stopped before writing
    /// and reported failed (default: `scan.deadline_secs`, 900; `[scan.servers.NAME]`
    /// `deadline_secs` overrides it per server unless this is given).
    #[arg(long, value_name = "SECS")]
    pub deadline_secs: Option<u64>,
    /// Print the scan as JSON (`servers`: one object per server with `server`, `module`,
    /// `result`, `cause`, `run_id`, `accounts`, `complete`, `counts`, `drift`, `seconds`;
    /// and `summary`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The exit code of a finished scan: 2 when a server failed or was busy, else 1 when there
/// is drift, else 0.
pub fn exit_code(scan: &FleetScan) -> u8 {
    if scan.count(ScanResult::Failed) + scan.count(ScanResult::Busy) > 0 {
        2
    } else if scan.drift() > 0 {
        1
    } else {
        0
    }
}

/// Runs the scan and prints it; returns the exit code.
pub async fn run(app: &App, args: ScanArgs, config: &Config) -> anyhow::Result<u8> {
    let targets = if args.all {
        ScanTargets::All
    } else {
        ScanTargets::Named(args.servers)
    };
    let servers = app.scan_targets(&targets).await?;
    let deadlines = if args.deadline_secs.is_some() {
        Default::default()
    } else {
        config
            .scan
            .servers
            .iter()
            .filter_map(|(name, s)| {
                s.deadline_secs
                    .map(|d| (name.clone(), Duration::from_secs(d)))
            })
            .collect()
    };
    // The configuration already holds --concurrency / --deadline-secs when given.
    let opts = ScanOptions {
        concurrency: config.scan.concurrency,
        deadline: Duration::from_secs(config.scan.deadline_secs),
        deadlines,
    };
    let cancel = Cancel::new();
    let work = app.scan(servers, &opts, &cancel);
    tokio::pin!(work);
    let scan = tokio::select! {
        s = &mut work => s,
        () = crate::interrupt() => {
            cancel.cancel();
            work.await
        }
    };
    let code = exit_code(&scan);
    if args.json {
        let doc = serde_json::json!({
            "servers": scan.servers,
            "summary": {
                "servers": scan.servers.len(),
                "ok": scan.count(ScanResult::Ok),
                "failed": scan.count(ScanResult::Failed),
                "busy": scan.count(ScanResult::Busy),
                "drift": scan.drift(),
                "seconds": scan.seconds,
                "exit_code": code,
            }
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&scan);
    }
    Ok(code)
}

/// The fleet summary table and one closing line.
pub(crate) fn print_table(scan: &FleetScan) {
    if scan.servers.is_empty() {
        outln!("no enabled server to scan");
        return;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(
            ["server", "module", "accounts", "drift", "result", "seconds"]
                .iter()
                .map(Cell::new),
        );
    for s in &scan.servers {
        let drift = match &s.counts {
            None => String::new(),
            Some(c) => {
                let parts: Vec<String> = Category::ALL
                    .iter()
                    .filter(|k| k.is_drift() && c.get(**k) > 0)
                    .map(|k| format!("{} {}", k.as_str(), c.get(*k)))
                    .collect();
                if parts.is_empty() {
                    "none".into()
                } else {
                    parts.join(", ")
                }
            }
        };
        let result = match (&s.result, &s.cause) {
            (ScanResult::Ok, _) if s.complete == Some(false) => "ok (incomplete listing)".into(),
            (r, Some(cause)) => format!("{}: {}", r.as_str(), bounded(cause)),
            (r, None) => r.as_str().to_string(),
        };
        t.add_row(vec![
            output::clean(&s.server).into_owned(),
            output::clean(&s.module).into_owned(),
            s.accounts.map(|a| a.to_string()).unwrap_or_default(),
            drift,
            result,
            format!("{:.1}", s.seconds),
        ]);
    }
    outln!("{t}");
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    outln!(
        "{}: {} ok, {} failed, {} busy; {}; {:.1} s",
        plural(scan.servers.len(), "server", "servers"),
        scan.count(ScanResult::Ok),
        scan.count(ScanResult::Failed),
        scan.count(ScanResult::Busy),
        plural(scan.drift(), "drift item", "drift items"),
        scan.seconds
    );
}

/// A cause for a table cell: control characters escaped, at most [`MAX_CAUSE`] characters.
fn bounded(cause: &str) -> String {
    let one_line = cause.replace('\n', " ");
    let clean = output::clean(&one_line);
    if clean.chars().count() <= MAX_CAUSE {
        clean.into_owned()
    } else {
        let mut s: String = clean.chars().take(MAX_CAUSE).collect();
        s.push('…');
        s
    }
}

/// The schedule of `serve`'s scan scheduler from `[scan]` and its `[scan.servers.NAME]`
/// overrides (seconds in the file, durations here).
pub fn schedule_options(
    c: &crate::config::ScanConfig,
) -> serversync_app::scheduler::ScheduleOptions {
    let per = |f: fn(&crate::config::ServerScanConfig) -> Option<u64>| {
        c.servers
            .iter()
            .filter_map(|(name, s)| f(s).map(|v| (name.clone(), Duration::from_secs(v))))
            .collect()
    };
    serversync_app::scheduler::ScheduleOptions {
        interval: Duration::from_secs(c.interval_secs),
        intervals: per(|s| s.interval_secs),
        jitter: Duration::from_secs(c.jitter_secs),
        concurrency: c.concurrency,
        deadline: Duration::from_secs(c.deadline_secs),
        deadlines: per(|s| s.deadline_secs),
        // New or disabled servers are noticed within a minute (or one interval if shorter).
        refresh: Duration::from_secs(c.interval_secs.clamp(1, 60)),
    }
}
