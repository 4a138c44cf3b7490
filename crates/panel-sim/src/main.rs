//! `panel-sim PANEL --listen ADDR ...`: run one panel simulator until interrupted.
//!
//! Prints exactly one line, `listening on HOST:PORT`, on stdout once it accepts connections.
//! Errors: one line on stderr, exit status 2.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use panel_sim::{
    load_accounts_file, load_directadmin_accounts_file, load_hestia_accounts_file,
    load_plesk_accounts_file, load_virtualmin_accounts_file, spawn_cpanel, spawn_directadmin,
    spawn_hestiacp, spawn_plesk, spawn_virtualmin, CpanelSimConfig, DirectAdminSimConfig, Fault,
    HestiaSimConfig, PleskSimConfig, VirtualminSimConfig,
};

/// Simulators of hosting panels' account-listing APIs, for serversync's demo, tests and
/// benchmarks.
#[derive(Debug, Parser)]
#[command(name = "panel-sim", version, about)]
struct Cli {
    /// Which panel's API to serve.
    #[arg(value_enum)]
    panel: Panel,

    /// Address to listen on, e.g. 127.0.0.1:2087; port 0 picks a free port (printed).
    #[arg(long, value_name = "ADDR")]
    listen: String,

    /// Number of generated accounts.
    #[arg(long, value_name = "N", default_value_t = 100)]
    accounts: usize,

    /// Seed of the deterministic account generator.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,

    /// The login whose credentials are accepted (cPanel: the WHM user of the API token,
    /// default root; DirectAdmin: the admin login, default admin; Virtualmin: the Webmin
    /// master admin, default root; Plesk: HTTP_AUTH_LOGIN, default admin; HestiaCP: the root
    /// user of `user`/`password`, default admin).
    #[arg(long, value_name = "U")]
    username: Option<String>,

    /// A password to accept (cPanel: HTTP Basic USER:PASSWORD too; default: none, only the
    /// token is accepted. DirectAdmin: the password; default: the --token value.
    /// Virtualmin: the Webmin password of HTTP Basic USER:PASSWORD, default PASSWORD;
    /// Plesk: HTTP_AUTH_PASSWD, default PASSWORD; HestiaCP: the root user's password,
    /// default PASSWORD).
    #[arg(long, value_name = "P")]
    password: Option<String>,

    /// The API token accepted (cPanel: `Authorization: whm USER:TOKEN`; DirectAdmin: a login
    /// key, accepted as the password; Plesk: the secret key of the `KEY` header; HestiaCP: the
    /// `hash`, an access key pair
    /// ACCESS_KEY:SECRET_KEY when the parts are 20 and 40 characters, else a legacy API
    /// key).
    #[arg(long, value_name = "T", default_value = "TOKEN")]
    token: String,

    /// Make every listing fail: error-in-200 (HTTP 200 with an error envelope), http-500,
    /// truncated (half the body, then the connection ends), slow (answer after --slow-secs),
    /// bad-auth (refuse every credential with 403). Hostile modes: huge-total (cPanel: a
    /// real page claiming 10^14 records), endless (a body that never ends), trickle (one
    /// byte every 2 s; trickle:MS sets the pause), oversized-field (cPanel: a 10 MB e-mail
    /// and a 10 MB plan name), wrong-envelope (cPanel: a top-level JSON array), gzip (the
    /// answer gzip-compressed, Content-Encoding: gzip, whatever was asked). endless,
    /// trickle and gzip work for every panel.
    #[arg(long, value_name = "MODE")]
    fault: Option<Fault>,

    /// Milliseconds every request waits before it is answered (panels with one request per
    /// account use it so benchmarks can show what concurrency buys; cPanel, DirectAdmin,
    /// Plesk, Virtualmin and HestiaCP apply it to every request).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay_ms: u64,

    /// Seconds the `slow` fault waits before answering.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    slow_secs: u64,

    /// Serve the accounts of this JSON file (a JSON array of the panel's account objects,
    /// cPanel: WHM listaccts `acct` objects; DirectAdmin: user.conf objects with a
    /// `username`; Virtualmin: list-domains objects `{"name", "values"}`; Plesk: subscription
    /// objects with `id` and `name`; HestiaCP: objects with `USER`, user.conf keys and
    /// `_web_domains`) instead of
    /// generated ones.
    #[arg(long, value_name = "F", conflicts_with_all = ["accounts", "seed"])]
    accounts_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Panel {
    /// cPanel & WHM: WHM API 1 `/json-api/listaccts` (also API 0, `accountsummary`, `version`).
    Cpanel,
    /// DirectAdmin: legacy `CMD_API_SHOW_ALL_USERS` and `CMD_API_SHOW_USER_CONFIG` (HTTP Basic).
    Directadmin,
    /// Virtualmin: remote API `/virtual-server/remote.cgi?program=list-domains&multiline=&json=1`
    /// (HTTP Basic auth).
    Virtualmin,
    /// Plesk: XML API `POST /enterprise/control/agent.php` (`KEY` = --token, or
    /// `HTTP_AUTH_LOGIN`/`HTTP_AUTH_PASSWD` = --username/--password, default admin/PASSWORD).
    Plesk,
    /// HestiaCP: `POST /api/` `v-list-users json` and `v-list-web-domains USER json`
    /// (access key or user/password, each with its HTTP status rules).
    Hestiacp,
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(anyhow::Error::new(e).context("cannot start the runtime")),
    };
    if let Err(e) = rt.block_on(run(cli)) {
        fail(e);
    }
}

fn fail(e: anyhow::Error) -> ! {
    eprintln!("panel-sim: error: {e:#}");
    std::process::exit(2);
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = tokio::net::lookup_host(&cli.listen)
        .await
        .with_context(|| format!("invalid --listen address {:?}", cli.listen))?
        .next()
        .with_context(|| format!("--listen address {:?} resolves to nothing", cli.listen))?;
    let fault = match cli.fault {
        Some(Fault::Slow(_)) => Some(Fault::Slow(Duration::from_secs(cli.slow_secs))),
        other => other,
    };
    // Read by the panels that take a per-request delay.
    let delay = Duration::from_millis(cli.delay_ms);
    let handle = match cli.panel {
        Panel::Cpanel => {
            let accounts = match &cli.accounts_file {
                Some(path) => load_accounts_file(path)?,
                None => panel_sim::generate_cpanel_accounts(cli.accounts, cli.seed),
            };
            let cfg = CpanelSimConfig {
                accounts,
                username: cli.username.unwrap_or_else(|| "root".into()),
                token: cli.token,
                password: cli.password,
                fault,
                delay,
            };
            spawn_cpanel(listen, cfg).await?
        }
        Panel::Directadmin => {
            let accounts = match &cli.accounts_file {
                Some(path) => load_directadmin_accounts_file(path)?,
                None => panel_sim::generate_directadmin_accounts(cli.accounts, cli.seed),
            };
            // A login key works as the password: without --password the token is the
            // password; with it, the token is accepted too.
            let (password, login_key) = match cli.password {
                Some(p) => (p, Some(cli.token)),
                None => (cli.token, None),
            };
            let cfg = DirectAdminSimConfig {
                accounts,
                username: cli.username.unwrap_or_else(|| "admin".into()),
                password,
                login_key,
                fault,
                delay,
            };
            spawn_directadmin(listen, cfg).await?
        }
        Panel::Virtualmin => {
            let accounts = match &cli.accounts_file {
                Some(path) => load_virtualmin_accounts_file(path)?,
                None => panel_sim::generate_virtualmin_accounts(cli.accounts, cli.seed),
            };
            let cfg = VirtualminSimConfig {
                accounts,
                username: cli.username.unwrap_or_else(|| "root".into()),
                password: cli.password.unwrap_or_else(|| "PASSWORD".to_string()),
                master_admin: true,
                fault,
                delay,
            };
            spawn_virtualmin(listen, cfg).await?
        }
        Panel::Plesk => {
            let accounts = match &cli.accounts_file {
                Some(path) => load_plesk_accounts_file(path)?,
                None => panel_sim::generate_plesk_accounts(cli.accounts, cli.seed),
            };
            let cfg = PleskSimConfig {
                accounts,
                login: cli.username.unwrap_or_else(|| "admin".into()),
                password: cli.password.unwrap_or_else(|| "PASSWORD".to_string()),
                secret_key: Some(cli.token),
                fault,
                delay,
            };
            spawn_plesk(listen, cfg).await?
        }
        Panel::Hestiacp => {
            let accounts = match &cli.accounts_file {
                Some(path) => load_hestia_accounts_file(path)?,
                None => panel_sim::generate_hestia_accounts(cli.accounts, cli.seed),
            };
            let cfg = HestiaSimConfig {
                accounts,
                username: cli.username.unwrap_or_else(|| "admin".into()),
                password: cli.password.unwrap_or_else(|| "PASSWORD".to_string()),
                token: cli.token,
                fault,
                delay,
            };
            spawn_hestiacp(listen, cfg).await?
        }
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", handle.addr).context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
