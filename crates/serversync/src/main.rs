//! The `serversync` binary: CLI of CONTRACT.md, configuration and wiring.
//!
//! Exit codes: 0 success; 1 drift (`analyse --exit-code`) or refused items (`apply`);
//! 2 any error, with one line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serversync_app::{App, ApplyRequest, Cancel, ImportDefaults, Selection, Selector};

/// `println!` that ends quietly on a closed pipe (`serversync … | head`) and reports any other
/// write error as one line with exit code 2, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("serversync: error: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

/// `print!` with the same handling as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("serversync: error: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

mod config;
mod demo;
mod notify;
mod output;
mod progress;
mod scan;

/// Reconcile hosting servers' accounts (cPanel/WHM, …) with the billing records of the same
/// servers: list, analyse, then import, sync, terminate or move records.
#[derive(Parser)]
#[command(name = "serversync", version, about, long_about = None)]
struct Cli {
    /// Database URL: sqlite://FILE (default sqlite://serversync.db in the working directory)
    /// or postgres://USER:PASSWORD@HOST:PORT/DB[?sslmode=require]. Without it, the URL may be
    /// read from the file SERVERSYNC_DATABASE_URL_FILE names (a secret file: keeps the
    /// password out of the environment and argv).
    #[arg(long, global = true, env = "SERVERSYNC_DATABASE_URL")]
    database: Option<String>,
    /// Seconds to wait for a panel connection.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    connect_timeout: u64,
    /// Seconds to wait for the next bytes of a panel response.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS")]
    read_timeout: u64,
    /// Most bytes one listing may receive from a panel, all its responses together (also
    /// the cap of one response and of a module process's output). Past it the listing fails.
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_MAX_LISTING_BYTES",
        default_value_t = 1 << 30,
        value_name = "BYTES"
    )]
    max_listing_bytes: u64,
    /// Longest time one whole listing may take, every request included; past it the listing
    /// fails and the server is released.
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_LISTING_DEADLINE_SECS",
        default_value_t = 1800,
        value_name = "SECS"
    )]
    listing_deadline_secs: u64,
    /// Lifetime in seconds of a server lease and of a sync job's lease: renewed while the
    /// work runs (every third of it), so an instance that dies (or loses the database)
    /// blocks its servers at most this long and its sync jobs then show "instance stopped".
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_LEASE_SECS",
        default_value_t = serversync_app::DEFAULT_LEASE_TTL.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600),
        value_name = "SECS"
    )]
    lease_secs: u64,
    /// Modules directory: one folder per module (NAME/NAME.php, a WHMCS server module, or
    /// NAME/module.toml, an external module). Default: `modules` in the working directory
    /// when it exists.
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_MODULES_DIR",
        value_name = "DIR"
    )]
    modules_dir: Option<PathBuf>,
    /// The PHP binary that runs WHMCS server modules.
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_PHP",
        default_value = "php",
        value_name = "PATH"
    )]
    php: PathBuf,
    /// Key file of the server secrets (64 hex digits). Default: the database file's name
    /// with `.key` appended (`serversync.db.key`), created 0600 with a random key on first
    /// use; required for a database that is not an SQLite file.
    #[arg(
        long,
        global = true,
        env = "SERVERSYNC_SECRET_KEY_FILE",
        value_name = "FILE"
    )]
    secret_key_file: Option<PathBuf>,
    /// Configuration file (TOML; see `serversync config check`). Default: serversync.toml in
    /// the working directory when it exists. Settings: command line > SERVERSYNC_…
    /// environment variables > this file > defaults.
    #[arg(long, global = true, env = "SERVERSYNC_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant (apply's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Load or write a records document (clients, products, servers, services).
    Records {
        #[command(subcommand)]
        command: RecordsCommand,
    },
    /// List a server's accounts, analyse them against billing and store the run.
    Analyse(AnalyseArgs),
    /// Apply selected actions of a server's latest run (or --run ID) to the billing records.
    Apply(ApplyArgs),
    /// Billing services.
    Services {
        #[command(subcommand)]
        command: ServicesCommand,
    },
    /// Clients.
    Clients {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Products.
    Products {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Servers.
    Servers {
        #[command(subcommand)]
        command: ServersCommand,
    },
    /// Analyse many servers in one pass (never applies anything): every enabled server
    /// (--all) or the given ones, a few at once, and print a fleet summary table.
    Scan(scan::ScanArgs),
    /// The configuration (file, environment, command line).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Serve the web page and the JSON API.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Mark cookies Secure (when served behind HTTPS).
        #[arg(long)]
        secure_cookies: bool,
    },
    /// The modules this serversync can list servers with (built in and the modules
    /// directory).
    Modules {
        #[command(subcommand)]
        command: ModulesCommand,
    },
    /// Administrators of the web page.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API tokens of the JSON API.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Server locks: one analysis or apply per server at a time. A lock is a lease renewed
    /// while its work runs; a dead holder's is taken over by the next command.
    Locks {
        #[command(subcommand)]
        command: LocksCommand,
    },
    /// Stored runs: `prune` deletes each server's runs beyond `[runs] keep` (applied runs and
    /// the newest six complete runs stay), as every stored run does for its server.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Server secrets (passwords, access hashes), encrypted at rest.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Start simulated cPanel servers on loopback, load demo records with drift of every
    /// category into sqlite://serversync-demo.db (recreated), analyse every server and serve
    /// the web page (prints its URL and credentials).
    Demo {
        /// Exit after printing the analyses instead of serving the web page.
        #[arg(long)]
        once: bool,
        /// Address of the web page (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Instead of the four demo servers: a fleet of N simulated cPanel servers (20 ms a
        /// request, about 95 % of accounts billed) served with the scan scheduler on; with
        /// --once, one `scan --all` of it.
        #[arg(long, value_name = "N")]
        fleet: Option<usize>,
        /// Accounts on each fleet server (with --fleet).
        #[arg(long, value_name = "M", default_value_t = 200, requires = "fleet")]
        accounts: usize,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the merged configuration, one `key = value  # source` line per setting (source:
    /// default, file PATH, env NAME, command line FLAG), secrets redacted; exit 2 naming the
    /// key and its source when a setting is unknown or invalid.
    Check,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-encrypt every server secret with a new random key in one transaction (audited),
    /// then replace the key file atomically (0600). The old key opens nothing afterwards.
    RotateKey {
        /// Where to keep the new key (default: the current key file, replaced).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModulesCommand {
    /// Every module: name, kind (builtin, php, command, http), meta data, or why it is
    /// unusable.
    List {
        /// Print the modules as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one module and validate its meta data; exit 2 with the reason when unusable.
    Check {
        /// The module's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum RecordsCommand {
    /// Load a records document; ids in the file are kept; loading it twice changes nothing.
    Import { file: PathBuf },
    /// Write the store as a records document (secrets left out) to FILE or stdout.
    Export { file: Option<PathBuf> },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add an administrator. The password is read from --password-file, or from the first
    /// line of standard input.
    Add {
        username: String,
        /// `admin` (may apply) or `readonly` (may only look).
        #[arg(long, default_value = "admin")]
        role: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List administrators.
    List,
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create an API token; it is printed once and only its hash is stored.
    Add {
        name: String,
        /// `admin` or `readonly`.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// List API tokens (names and roles, never the tokens).
    List,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Prune every server's runs to `[runs] keep` now; prints `SERVER: N runs deleted`.
    Prune,
}

#[derive(Subcommand)]
enum LocksCommand {
    /// Every stored lock: server, holder, taken at, expires.
    List {
        /// Print the locks as a JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Remove a server's lock whoever holds it (audited as `lock_release`). A holder that
    /// still runs finds out before it writes and stops without writing.
    Release {
        /// Server name or id.
        server: String,
    },
}

#[derive(Subcommand)]
enum ServicesCommand {
    /// List services as records-document entries.
    List {
        /// Only this server's services (name or id).
        #[arg(long)]
        server: Option<String>,
        /// Print the services as a JSON array of records-document entries instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ListCommand {
    /// List them.
    List {
        /// Print them as a JSON array of records-document entries instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ServersCommand {
    /// List them.
    List {
        /// Print them as a JSON array of records-document entries instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Test a server's connection: one listing call to its panel, the result in one line
    /// (stdout when connected; stderr and exit 2 when not). Writes nothing.
    Test {
        /// The server's name or id.
        server: String,
    },
}

#[derive(Args)]
struct AnalyseArgs {
    /// Server name or id.
    server: String,
    /// Print the analysis document (JSON) instead of tables.
    #[arg(long)]
    json: bool,
    /// Exit 1 when there is drift.
    #[arg(long)]
    exit_code: bool,
}

#[derive(Args)]
struct ApplyArgs {
    /// Server name or id.
    server: String,
    /// Apply this run instead of the server's latest.
    #[arg(long)]
    run: Option<i64>,
    /// Import not_in_billing accounts: unique identifiers, or `all`.
    #[arg(long, num_args = 1.., value_name = "UID")]
    import: Option<Vec<String>>,
    /// Sync out_of_sync items: unique identifiers, or `all`.
    #[arg(long, num_args = 1.., value_name = "UID")]
    sync: Option<Vec<String>>,
    /// Reactivate terminated_in_billing services (live on the server): unique identifiers, or
    /// `all`. Never part of --sync.
    #[arg(long, num_args = 1.., value_name = "UID")]
    reactivate: Option<Vec<String>>,
    /// Terminate not_on_server / duplicate services: service ids, or `all`.
    #[arg(long, num_args = 1.., value_name = "SERVICE_ID")]
    terminate: Option<Vec<String>>,
    /// Move services of other servers to this one: service ids, or `all`.
    #[arg(long = "move", num_args = 1.., value_name = "SERVICE_ID")]
    moves: Option<Vec<String>>,
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override the guards (zero-account listing, termination share, incomplete listing); audited.
    #[arg(long)]
    force: bool,
    /// Print the apply report as JSON (per item: action, target, outcome, reason, changes)
    /// instead of tables.
    #[arg(long)]
    json: bool,
    /// Client for imported accounts without a usable e-mail (else they are refused).
    #[arg(long, value_name = "CLIENT_ID")]
    unassigned_client: Option<i64>,
    /// Billing cycle of imported services.
    #[arg(long, default_value = "Free Account")]
    billing_cycle: String,
    /// Recurring amount of imported services.
    #[arg(long, default_value = "0.00")]
    amount: String,
    /// Next due date of imported services (YYYY-MM-DD).
    #[arg(long)]
    next_due_date: Option<String>,
    /// Create a product for a package no product maps to.
    #[arg(long)]
    create_missing_products: bool,
    /// Largest share of live services one apply may terminate, in percent.
    #[arg(long, default_value_t = 25.0)]
    max_terminate_percent: f64,
    /// Largest share of the target server's live services one apply may move onto it, in
    /// percent.
    #[arg(long, default_value_t = 25.0)]
    max_move_percent: f64,
    /// Largest share of the previous complete listing's accounts that may be missing at once
    /// before terminations are refused without --force, in percent.
    #[arg(long, default_value_t = 50.0)]
    max_shrink_percent: f64,
}

fn main() -> ExitCode {
    // The matches are kept: they tell which values the command line itself gave, the top
    // layer of the configuration.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SERVERSYNC_LOG")
                // sqlx warns of every statement slower than a second; on a loaded machine
                // that would break the one-line error contract of the CLI. SERVERSYNC_LOG
                // turns it back on (e.g. `warn` or `sqlx=info`).
                .unwrap_or_else(|_| "warn,sqlx::query=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serversync: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli, &matches)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One clear line: the chain of causes, joined.
            let msg = e.chain().map(|c| c.to_string()).collect::<Vec<_>>();
            let mut line = String::new();
            for m in msg {
                if !line.contains(&m) {
                    if !line.is_empty() {
                        line.push_str(": ");
                    }
                    line.push_str(&m);
                }
            }
            // Causes quote panel and records text: control characters are shown escaped.
            eprintln!(
                "serversync: error: {}",
                output::clean(&line.replace('\n', " "))
            );
            ExitCode::from(2)
        }
    }
}

/// The actor recorded in the audit log for CLI actions.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The module settings of the command line (and the secret key file, which every command
/// opening the database needs alongside them).
pub(crate) struct ModuleArgs {
    pub secret_key_file: Option<PathBuf>,
    pub connect: u64,
    pub read: u64,
    /// `--max-listing-bytes`.
    pub max_listing_bytes: u64,
    /// `--listing-deadline-secs`.
    pub listing_deadline_secs: u64,
    /// `--lease-secs`: lifetime of server and sync job leases.
    pub lease_secs: u64,
    pub modules_dir: Option<PathBuf>,
    pub php: PathBuf,
    /// `gone_after`, `auto_apply` and the shrink limit of the configuration.
    pub policies: config::policies::Policies,
    /// `[runs] keep`: runs kept per server.
    pub keep_runs: usize,
}

impl ModuleArgs {
    /// The module registry: built-in modules plus the modules directory (given, else
    /// `modules` in the working directory when it exists).
    pub(crate) async fn registry(&self) -> anyhow::Result<serversync_modules::ModuleRegistry> {
        let options = serversync_modules::ModuleOptions {
            connect_timeout: Duration::from_secs(self.connect.max(1)),
            read_timeout: Duration::from_secs(self.read.max(1)),
            max_response_bytes: self.max_listing_bytes.max(1),
            max_listing_bytes: self.max_listing_bytes.max(1),
            listing_deadline: Duration::from_secs(self.listing_deadline_secs.max(1)),
            ..Default::default()
        };
        let modules_dir = self.modules_dir.clone().or_else(|| {
            let d = PathBuf::from("modules");
            d.is_dir().then_some(d)
        });
        Ok(
            serversync_modules::ModuleRegistry::load(serversync_modules::RegistryConfig {
                options,
                modules_dir,
                php: self.php.clone(),
            })
            .await?,
        )
    }
}

pub(crate) async fn open_app(
    cli_db: Option<&str>,
    default: &str,
    m: &ModuleArgs,
) -> anyhow::Result<App> {
    Ok(open_app_keyed(cli_db, default, m).await?.0)
}

/// [`open_app`], also giving the key the store was opened with and its file (`None` for an
/// in-memory database).
pub(crate) async fn open_app_keyed(
    cli_db: Option<&str>,
    default: &str,
    m: &ModuleArgs,
) -> anyhow::Result<(App, String, Option<PathBuf>)> {
    use serversync_store::secrets::{self, KeyOrigin};
    let url = cli_db.unwrap_or(default);
    let registry = std::sync::Arc::new(m.registry().await?);
    let (key, origin) = secrets::load_key(url, m.secret_key_file.as_deref())?;
    let key_file = match &origin {
        KeyOrigin::Ephemeral => None,
        _ => Some(PathBuf::from(key.source())),
    };
    if let KeyOrigin::Created(path) = &origin {
        eprintln!(
            "serversync: created the secret key file {} (server passwords and access hashes \
             are encrypted with it; keep it with the database, and back it up: without it \
             they cannot be read)",
            output::clean(&path.display().to_string())
        );
    }
    let key_id = key.id().to_string();
    let store = serversync_store::open(url, key)
        .await
        .with_context(|| format!("cannot open database {}", serversync_store::redact_url(url)))?;
    let mut app = App::with_registry(store, registry, actor());
    app.lease_ttl = Duration::from_secs(m.lease_secs.max(1));
    m.policies.apply_to(&mut app);
    app.keep_runs = m.keep_runs.max(1);
    Ok((app, key_id, key_file))
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    const DEFAULT_DB: &str = "sqlite://serversync.db";
    // Defaults < file < environment < command line (SERVERSYNC_DATABASE_URL_FILE included).
    let loaded = config::load(cli.config.as_deref(), matches)?;
    let cfg = &loaded.config;
    let db = cfg.database_url.as_deref();
    let margs = ModuleArgs {
        secret_key_file: cfg.secret_key_file.clone(),
        connect: cfg.connect_timeout_secs,
        read: cfg.read_timeout_secs,
        max_listing_bytes: cfg.max_listing_bytes,
        listing_deadline_secs: cfg.listing_deadline_secs,
        lease_secs: cfg.lease_secs,
        modules_dir: cfg.modules_dir.clone(),
        php: cfg.php.clone(),
        policies: config::policies::Policies::of(cfg),
        keep_runs: cfg.runs.keep,
    };
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            config::check::print(&loaded)?;
            Ok(0)
        }
        Command::Scan(a) => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            let (app, notifier) = notify::attach(app, &cfg.notify, false);
            let code = scan::run(&app, a, cfg).await;
            notify::flush(notifier).await;
            code
        }
        Command::Secrets {
            command: SecretsCommand::RotateKey { new_key_file },
        } => {
            let (app, old_id, key_file) = open_app_keyed(db, DEFAULT_DB, &margs).await?;
            let Some(current) = key_file else {
                anyhow::bail!(
                    "an in-memory database keeps no secrets across runs: nothing to rotate"
                );
            };
            let target = new_key_file.unwrap_or_else(|| current.clone());
            let r = app.rotate_secret_key(&target, &old_id).await?;
            outln!(
                "re-encrypted the secrets of {} servers with key {} (was {}), kept in {}",
                r.servers,
                r.new_key_id,
                r.old_key_id,
                output::clean(&r.key_file.display().to_string())
            );
            if target != current {
                outln!(
                    "the key in {} no longer opens them: give --secret-key-file {} (or \
                     SERVERSYNC_SECRET_KEY_FILE) from now on",
                    output::clean(&current.display().to_string()),
                    output::clean(&target.display().to_string())
                );
            }
            Ok(0)
        }
        Command::Demo {
            once,
            listen,
            fleet: Some(n),
            accounts,
        } => {
            let mut cfg = cfg.clone();
            cfg.listen = listen;
            demo::fleet::run(db, &margs, &cfg, n, accounts, once).await
        }
        Command::Demo {
            once,
            listen,
            fleet: None,
            ..
        } => demo::run(db, &margs, once, &listen).await,
        Command::Modules { command } => {
            let registry = margs.registry().await?;
            match command {
                ModulesCommand::List { json } => {
                    output::print_modules(&registry.modules(), json)?;
                    Ok(0)
                }
                ModulesCommand::Check { name } => {
                    let m = registry.get(&name)?;
                    let meta = m.meta();
                    outln!(
                        "module {name} ({}) is usable: {}, unique identifier {} ({}), product field {}",
                        m.kind(),
                        output::clean(&meta.display_name),
                        meta.unique_identifier_field.as_meta(),
                        output::clean(&meta.unique_identifier_display_name),
                        meta.product_field
                    );
                    Ok(0)
                }
            }
        }
        Command::Serve {
            listen: _,
            secure_cookies,
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            serve_with_scheduler(app, cfg, secure_cookies, None).await?;
            Ok(0)
        }
        Command::Users { command } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            match command {
                UsersCommand::Add {
                    username,
                    role,
                    password_file,
                } => {
                    let role = serversync_store::Role::parse(&role).ok_or_else(|| {
                        anyhow::anyhow!("--role {role:?} is not admin or readonly")
                    })?;
                    let password = match password_file {
                        Some(f) => std::fs::read_to_string(&f)
                            .with_context(|| format!("cannot read {}", f.display()))?,
                        None => {
                            let mut line = String::new();
                            std::io::stdin()
                                .read_line(&mut line)
                                .context("cannot read the password from standard input")?;
                            line
                        }
                    };
                    let password = password.lines().next().unwrap_or("").to_string();
                    let u = app.add_user(&username, &password, role).await?;
                    outln!(
                        "user {} added with the {} role",
                        output::clean(&u.username),
                        u.role.as_str()
                    );
                }
                UsersCommand::List => {
                    for u in app.users().await? {
                        outln!(
                            "{}\t{}{}",
                            output::clean(&u.username),
                            u.role.as_str(),
                            if u.disabled { "\tdisabled" } else { "" }
                        );
                    }
                }
            }
            Ok(0)
        }
        Command::Tokens { command } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            match command {
                TokensCommand::Add { name, role } => {
                    let role = serversync_store::Role::parse(&role).ok_or_else(|| {
                        anyhow::anyhow!("--role {role:?} is not admin or readonly")
                    })?;
                    let (token, t) = app.add_api_token(&name, role).await?;
                    eprintln!(
                        "API token {:?} ({}) created; it is shown once:",
                        t.name,
                        t.role.as_str()
                    );
                    outln!("{token}");
                }
                TokensCommand::List => {
                    for t in app.api_tokens().await? {
                        let used = t
                            .last_used_at
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "never used".into());
                        outln!("{}\t{}\t{}", output::clean(&t.name), t.role.as_str(), used);
                    }
                }
            }
            Ok(0)
        }
        Command::Runs {
            command: RunsCommand::Prune,
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            for p in app.prune_all_runs().await? {
                let noun = if p.deleted == 1 { "run" } else { "runs" };
                outln!(
                    "{}: {} {noun} deleted (keeping {})",
                    output::clean(&p.server),
                    p.deleted,
                    app.keep_runs
                );
            }
            Ok(0)
        }
        Command::Locks { command } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            match command {
                LocksCommand::List { json } => {
                    let locks = app.locks().await?;
                    if json {
                        outln!("{}", serde_json::to_string_pretty(&locks)?);
                    } else if locks.is_empty() {
                        outln!("no server is locked");
                    } else {
                        outln!("SERVER\tHOLDER\tTAKEN AT\tEXPIRES");
                        for l in locks {
                            let server = l
                                .server
                                .unwrap_or_else(|| format!("(server {})", l.server_id));
                            outln!(
                                "{}\t{}\t{}\t{}{}",
                                output::clean(&server),
                                output::clean(&l.holder),
                                l.taken_at,
                                l.expires_at,
                                if l.expired { " (ran out)" } else { "" }
                            );
                        }
                    }
                }
                LocksCommand::Release { server } => match app.release_lock(&server).await? {
                    Some(l) => outln!(
                        "released the lock of server {} held by {} (taken at {}, until {})",
                        output::clean(&server),
                        output::clean(&l.holder.describe()),
                        serversync_store::show_time(l.taken_at),
                        serversync_store::show_time(l.expires_at)
                    ),
                    None => outln!("server {} has no lock", output::clean(&server)),
                },
            }
            Ok(0)
        }
        Command::Records { command } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            match command {
                RecordsCommand::Import { file } => {
                    let bytes = std::fs::read(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let c = app
                        .import_records(&bytes)
                        .await
                        .with_context(|| format!("{}", file.display()))?;
                    outln!(
                        "{}: {} inserted, {} updated, {} unchanged",
                        output::clean(&file.display().to_string()),
                        c.inserted,
                        c.updated,
                        c.unchanged
                    );
                    Ok(0)
                }
                RecordsCommand::Export { file } => {
                    let doc = app.export_records().await?;
                    let text = serde_json::to_string_pretty(&doc)? + "\n";
                    match file {
                        Some(f) => std::fs::write(&f, text)
                            .with_context(|| format!("cannot write {}", f.display()))?,
                        None => out!("{text}"),
                    }
                    Ok(0)
                }
            }
        }
        Command::Analyse(a) => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            let bar = progress::Bar::new(&a.server);
            let (app_ref, bar_ref, server) = (&app, &bar, &a.server);
            let out = interruptible(|cancel| async move {
                app_ref.analyse_server_with(server, bar_ref, &cancel).await
            })
            .await;
            bar.finish();
            let out = out?;
            if a.json {
                outln!("{}", out.document_json);
            } else {
                output::print_analysis(&out.document());
            }
            Ok(if a.exit_code && out.drift() > 0 { 1 } else { 0 })
        }
        Command::Apply(mut a) => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            // The flags when given, else the configuration's [guards].
            a.max_terminate_percent = cfg.guards.max_terminate_percent;
            a.max_move_percent = cfg.guards.max_move_percent;
            a.max_shrink_percent = cfg.guards.max_shrink_percent;
            apply(app, a).await
        }
        Command::Services {
            command: ServicesCommand::List { server, json },
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            let sid = match server {
                Some(s) => Some(app.server_id(&s).await?),
                None => None,
            };
            let services = app.services_by_server_id(sid).await?;
            output::print_services(&services, json)?;
            Ok(0)
        }
        Command::Clients {
            command: ListCommand::List { json },
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            output::print_clients(&app.clients().await?, json)?;
            Ok(0)
        }
        Command::Products {
            command: ListCommand::List { json },
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            output::print_products(&app.products().await?, json)?;
            Ok(0)
        }
        Command::Servers {
            command: ServersCommand::List { json },
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            output::print_servers(&app, json).await?;
            Ok(0)
        }
        Command::Servers {
            command: ServersCommand::Test { server },
        } => {
            let app = open_app(db, DEFAULT_DB, &margs).await?;
            let test = app.test_connection(&server).await?;
            if test.connected {
                outln!("{}", test.line());
                Ok(0)
            } else {
                eprintln!("{}", test.line());
                Ok(2)
            }
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM. From then on those signals no longer
/// end the process: the work decides how it ends.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs work that locks a server (an analysis or an apply) to its end. On Ctrl-C or SIGTERM
/// the work is asked to stop: before its write starts it stops, writes nothing and releases
/// the server's lock ("interrupted before anything was written"); once its write has started
/// it runs to the end and its result is reported as usual, so that what is printed is what
/// the database holds. The lock is released by the work itself, after its transaction ended.
async fn interruptible<T, F>(work: impl FnOnce(Cancel) -> F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = serversync_app::Result<T>>,
{
    let cancel = Cancel::new();
    let fut = work(cancel.clone());
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return Ok(r?),
        () = interrupt() => {}
    }
    cancel.cancel();
    let out = fut.await?;
    eprintln!("serversync: interrupted after the write had started: it was completed, as reported");
    Ok(out)
}

/// Serves the web page until Ctrl-C. Prints the URL (and a one-time setup link while no
/// administrator exists, or the given demo credentials).
/// `serve`: the web page and API on `cfg.listen`, and the scan scheduler beside it when
/// `[scan] enabled` (off by default). When the web server stops, the scheduler is stopped and
/// its started scans finish or are interrupted before this returns.
pub(crate) async fn serve_with_scheduler(
    app: App,
    cfg: &config::Config,
    secure_cookies: bool,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    // Alerts of every stored run (scheduled scans and syncs from the page); the notifier
    // delivers in the background while it lives.
    let (app, _notifier) = notify::attach(app, &cfg.notify, true);
    let stop = Cancel::new();
    let scheduler = cfg.scan.enabled.then(|| {
        // Logged, not printed: serve's first line is its address.
        tracing::info!(
            interval_secs = cfg.scan.interval_secs,
            "scan scheduler started"
        );
        let (app, stop) = (app.clone(), stop.clone());
        let opts = scan::schedule_options(&cfg.scan);
        tokio::spawn(async move { app.run_scheduler(opts, stop).await })
    });
    let metrics_token = cfg.metrics.token.as_ref().map(|t| t.expose());
    let served = serve(app, &cfg.listen, secure_cookies, credentials, metrics_token).await;
    stop.cancel();
    if let Some(task) = scheduler {
        let _ = task.await;
    }
    served
}

pub(crate) async fn serve(
    app: App,
    listen: &str,
    secure_cookies: bool,
    credentials: Option<(&str, &str)>,
    metrics_token: Option<&str>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let state = serversync_web::WebState::new(
        app,
        serversync_web::WebConfig {
            secure_cookies,
            metrics: serversync_web::metrics::MetricsAccess::new(addr, metrics_token),
        },
    );
    let url = format!("http://{addr}");
    outln!("Web page: {url}/");
    if let Some((user, password)) = credentials {
        outln!("Sign in as {user} with password {password}");
    } else {
        use serversync_app::auth::SetupLink;
        match state.setup_link().await? {
            SetupLink::New(link) => {
                outln!("No administrator yet: create the first one at {url}{link}")
            }
            SetupLink::Offered { since } => outln!(
                "No administrator yet: a setup link was already printed (by a serversync serve on \
                 this database at {}); use that link (it works on any serve of this database), or \
                 add the first administrator with `serversync users add NAME`",
                serversync_store::show_time(since)
            ),
            SetupLink::NotNeeded => {}
        }
    }
    outln!("API: {url}/api/ (OpenAPI document at {url}/api/openapi.json)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    serversync_web::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("the web server stopped")?;
    Ok(())
}

async fn apply(mut app: App, a: ApplyArgs) -> anyhow::Result<u8> {
    if !(0.0..=100.0).contains(&a.max_terminate_percent) {
        anyhow::bail!(
            "--max-terminate-percent {} is not between 0 and 100",
            a.max_terminate_percent
        );
    }
    app.guards.max_termination_share = a.max_terminate_percent / 100.0;
    if !(0.0..=100.0).contains(&a.max_move_percent) {
        anyhow::bail!(
            "--max-move-percent {} is not between 0 and 100",
            a.max_move_percent
        );
    }
    app.guards.max_move_share = a.max_move_percent / 100.0;
    if !(0.0..=100.0).contains(&a.max_shrink_percent) {
        anyhow::bail!(
            "--max-shrink-percent {} is not between 0 and 100",
            a.max_shrink_percent
        );
    }
    app.guards.max_shrink_share = a.max_shrink_percent / 100.0;
    let selection = Selection {
        import: a.import.as_deref().map(Selector::from_args),
        sync: a.sync.as_deref().map(Selector::from_args),
        terminate: a.terminate.as_deref().map(Selector::from_args),
        moves: a.moves.as_deref().map(Selector::from_args),
        reactivate: a.reactivate.as_deref().map(Selector::from_args),
    };
    if selection.is_empty() {
        anyhow::bail!("nothing selected: give --import, --sync, --reactivate, --terminate or --move (UIDs, service ids or `all`)");
    }
    let next_due_date = match a.next_due_date.as_deref() {
        Some(d) => Some(
            serversync_core::model::parse_date(d)
                .map_err(|e| anyhow::anyhow!("--next-due-date: {e}"))?,
        ),
        None => None,
    };
    let req = ApplyRequest {
        server: a.server,
        run: a.run,
        selection,
        dry_run: a.dry_run,
        force: a.force,
        defaults: ImportDefaults {
            unassigned_client: a.unassigned_client,
            billing_cycle: a.billing_cycle,
            amount: a.amount,
            next_due_date,
            create_missing_products: a.create_missing_products,
        },
    };
    let report = interruptible(|cancel| app.apply_with(&req, cancel)).await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::print_apply(&report);
    }
    Ok(if report.count(serversync_app::ItemOutcome::Refused) > 0 {
        1
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag of every command says what it does in `--help` (issue 9: "every `--json`
    /// flag has help text").
    #[test]
    fn every_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_positional() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "serversync", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
