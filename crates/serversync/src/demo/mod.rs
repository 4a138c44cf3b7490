//! `serversync demo`: simulated cPanel servers on loopback, demo records with drift of every
//! category, and each server's analysis.

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::{json, Value};
use serversync_modules::NoProgress;

use crate::{open_app, output};

mod directadmin;
mod external;
mod extra;
pub mod fleet;
mod hestiacp;
mod plesk;
mod virtualmin;
mod whmcs;

const DEMO_DB: &str = "sqlite://serversync-demo.db";
/// 2024-01-31 13:15:00 UTC.
const CREATED: i64 = 1_706_706_900;

fn acct(user: &str, domain: &str, plan: &str) -> CpanelAccount {
    let mut a = CpanelAccount::new(user, domain).created(CREATED);
    a.plan = plan.into();
    a.ip = "192.0.2.10".into();
    // The contact e-mail of the client billed for it, as a panel usually has it.
    a.email = match user {
        "shop" | "carol" => "carol@mail.test",
        "dave" | "mover" | "w2a" | "w2b" => "dave@mail.test",
        "ed" => "ed@mail.test",
        "w2new" | "r9new" => "new@mail.test",
        _ => "ann@mail.test",
    }
    .into();
    a
}

/// The accounts of web1: every category of the analysis appears once or more.
pub fn web1_accounts() -> Vec<Value> {
    let mut v = vec![
        acct("ann", "ann.test", "basic"),
        acct("example", "example.org", "basic"),
        acct("shop", "shop.test", "basic"),
        acct("munich", "xn--mnchen-3ya.test", "basic"),
        acct("bob7", "bob.test", "basic"),
        acct("carol", "carol.test", "basic").suspended("Suspended for nonpayment.", 1_730_000_000),
        {
            let mut a = acct("dave", "dave.test", "gold");
            a.ip = "192.0.2.55".into();
            a
        },
        {
            let mut a = acct("res9", "res9.test", "basic");
            a.owner = "res9".into();
            a
        },
        {
            let mut a = acct("r9shop", "r9shop.test", "res9_silver");
            a.owner = "res9".into();
            a
        },
        acct("pend", "pend.test", "basic"),
        acct("term", "term.test", "basic"),
        acct("dup", "dup.test", "basic"),
        acct("mover", "mover.test", "basic"),
        {
            let mut a = acct("newzed", "newzed.test", "silver");
            a.email = "zed@mail.test".into();
            a
        },
        {
            let mut a = acct("newzed2", "newzed2.test", "basic");
            a.email = "zed@mail.test".into();
            a
        },
        acct("ed", "ed.test", "basic"),
        {
            let mut a = acct("nomail", "nomail.test", "basic");
            a.email = "*unknown*".into();
            a
        },
        {
            let mut a = acct("r9new", "r9new.test", "res9_gold");
            a.owner = "res9".into();
            a
        },
        acct("broken", "", "basic"),
        acct("olddate", "olddate.test", "basic").created(0),
    ]
    .into_iter()
    .map(|a| a.to_value())
    .collect::<Vec<_>>();
    // Some WHM versions send numbers as strings; the module accepts both.
    if let Some(o) = v[5].as_object_mut() {
        o.insert("suspended".into(), json!("1"));
    }
    v
}

fn web2_accounts() -> Vec<Value> {
    ["w2a", "w2b", "w2new"]
        .iter()
        .map(|u| {
            let mut a = acct(u, &format!("{u}.test"), "basic");
            a.ip = "192.0.2.20".into();
            a.to_value()
        })
        .collect()
}

fn service(
    id: i64,
    client: i64,
    product: i64,
    server: i64,
    domain: &str,
    user: &str,
    status: &str,
) -> Value {
    json!({"id": id, "client_id": client, "product_id": product, "server_id": server,
           "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
           "status": status, "billing_cycle": "Monthly", "amount": "9.99",
           "next_due_date": "2026-12-31"})
}

/// The demo records document for simulators listening on `ports` (web1..web4).
pub fn demo_records(ports: [u16; 4]) -> Value {
    let server = |id: i64, name: &str, port: u16, ip: &str| {
        json!({"id": id, "name": name, "module": "cpanel", "hostname": "127.0.0.1",
               "ip_address": ip, "port": port, "secure": false, "tls_verify": true,
               "username": "root", "password": "", "access_hash": "TOKEN"})
    };
    let client = |id: i64, email: &str, first: &str, last: &str| json!({"id": id, "email": email, "first_name": first, "last_name": last, "company": "", "status": "Active"});
    let product = |id: i64, name: &str, pkg: &str| json!({"id": id, "name": name, "module": "cpanel", "config_options": {"configoption1": pkg}});
    let mut services = vec![
        service(1000, 1, 10, 1, "ann.test", "ann", "Active"),
        service(1001, 1, 10, 1, "Example.ORG.", "example", "Active"),
        service(1002, 3, 10, 1, "www.shop.test", "shop", "Active"),
        service(1003, 1, 10, 1, "münchen.test", "munich", "Active"),
        service(1004, 1, 10, 1, "bob.test", "Bob7", "Active"),
        service(1005, 3, 10, 1, "carol.test", "carol", "Active"),
        service(1006, 4, 11, 1, "dave.test", "dave", "Active"),
        service(1007, 1, 11, 1, "r9shop.test", "r9shop", "Active"),
        service(1008, 1, 10, 1, "pend.test", "pend", "Pending"),
        service(1009, 1, 10, 1, "term.test", "term", "Terminated"),
        service(1010, 1, 10, 1, "dup.test", "dup", "Active"),
        service(1011, 3, 10, 1, "dup.test", "dup2", "Active"),
        service(1012, 1, 10, 1, "olddate.test", "olddate", "Active"),
        service(1013, 1, 10, 1, "gone.test", "gone", "Active"),
        service(1014, 1, 10, 1, "later.test", "later", "Pending"),
        service(1015, 1, 10, 1, "closed.test", "closed", "Cancelled"),
        service(1016, 1, 10, 1, "res9.test", "res9", "Active"),
        service(1020, 4, 10, 2, "mover.test", "mover", "Active"),
        service(1021, 4, 10, 2, "w2a.test", "w2a", "Active"),
        service(1022, 4, 10, 2, "w2b.test", "w2b", "Active"),
        service(1030, 1, 10, 3, "w3a.test", "w3a", "Active"),
        service(1031, 1, 10, 3, "w3b.test", "w3b", "Active"),
    ];
    services[12]["regdate"] = json!("2019-03-01");
    for (i, d) in ["w4a", "w4b", "w4c", "w4d"].iter().enumerate() {
        services.push(service(
            1040 + i as i64,
            3,
            10,
            4,
            &format!("{d}.test"),
            d,
            "Active",
        ));
    }
    json!({
        "clients": [
            client(1, "ann@mail.test", "Ann", "Lee"),
            client(2, "Zed@Mail.test", "Zed", "Zimmer"),
            client(3, "carol@mail.test", "Carol", "King"),
            client(4, "dave@mail.test", "Dave", "Ray"),
            client(5, "unassigned@provider.test", "Unassigned", "Accounts"),
        ],
        "products": [product(10, "Basic Hosting", "basic"), product(11, "Silver Hosting", "silver"), product(12, "Gold Hosting", "gold")],
        "servers": [
            server(1, "web1", ports[0], "192.0.2.10"),
            server(2, "web2", ports[1], "192.0.2.20"),
            server(3, "web3", ports[2], "192.0.2.30"),
            server(4, "web4", ports[3], "192.0.2.40"),
        ],
        "services": services,
    })
}

/// Starts the simulators (web1, web2; web3 answers every listing with an error in HTTP 200;
/// web4 lists no account).
pub async fn start_sims() -> anyhow::Result<Vec<SimHandle>> {
    let any = "127.0.0.1:0".parse()?;
    let web3 = CpanelSimConfig {
        fault: Some(Fault::ErrorIn200),
        ..CpanelSimConfig::with_accounts(Vec::new())
    };
    Ok(vec![
        spawn_cpanel(any, CpanelSimConfig::with_accounts(web1_accounts())).await?,
        spawn_cpanel(any, CpanelSimConfig::with_accounts(web2_accounts())).await?,
        spawn_cpanel(any, web3).await?,
        spawn_cpanel(any, CpanelSimConfig::with_accounts(Vec::new())).await?,
    ])
}

/// The file whose exclusive `flock` marks a running demo in the working directory.
const DEMO_LOCK: &str = "serversync-demo.db.lock";

/// Takes [`DEMO_LOCK`] without waiting: an error naming the folder's running demo when
/// another process holds it. The lock goes with the process, however it ends (kill -9
/// included), so a stale lock file never blocks the next demo.
fn lock_demo_folder() -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(DEMO_LOCK)
        .map_err(|e| anyhow::anyhow!("cannot create {DEMO_LOCK} in the working directory: {e}"))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
        |(_, errno)| {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                anyhow::anyhow!(
                    "another serversync demo is running in this folder (serversync-demo.db is \
                     in use): stop it first, or start this one in another folder"
                )
            } else {
                anyhow::anyhow!("cannot lock {DEMO_LOCK}: {errno}")
            }
        },
    )
}

/// The demo's database: `db` when given, else [`DEMO_DB`], recreated, with the lock that
/// keeps a second demo in this folder from deleting it meanwhile (held until dropped).
pub(crate) fn fresh_database(
    db: Option<&str>,
) -> anyhow::Result<(Option<nix::fcntl::Flock<std::fs::File>>, String)> {
    let Some(db) = db else {
        let lock = lock_demo_folder()?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("serversync-demo.db{suffix}"));
        }
        return Ok((Some(lock), DEMO_DB.to_string()));
    };
    Ok((None, db.to_string()))
}

/// Never loads demo records over real ones: an explicit database (`db`) must be empty.
pub(crate) async fn refuse_a_database_with_records(
    app: &serversync_app::App,
    db: Option<&str>,
    url: &str,
) -> anyhow::Result<()> {
    if db.is_none() {
        return Ok(());
    }
    let r = app.records().await?;
    if !(r.clients.is_empty()
        && r.products.is_empty()
        && r.servers.is_empty()
        && r.services.is_empty())
    {
        anyhow::bail!(
            "the demo loads its records into an empty database, and {} already has records: leave out --database (and SERVERSYNC_DATABASE_URL) to use {DEMO_DB}",
            serversync_store::redact_url(url)
        );
    }
    Ok(())
}

pub async fn run(
    db: Option<&str>,
    margs: &crate::ModuleArgs,
    once: bool,
    listen: &str,
) -> anyhow::Result<u8> {
    let (_lock, url) = fresh_database(db)?;
    let url = url.as_str();
    let sims = start_sims().await?;
    // The demo's own module folders (external and WHMCS-style modules) go to a folder beside
    // its database, recreated each run; a --modules-dir given by the user is left alone.
    let margs = &extra::demo_module_args(margs)?;
    let extras = extra::start_all(margs).await?;
    let ports = [
        sims[0].addr.port(),
        sims[1].addr.port(),
        sims[2].addr.port(),
        sims[3].addr.port(),
    ];
    let app = open_app(Some(url), DEMO_DB, margs).await?;
    refuse_a_database_with_records(&app, db, url).await?;
    let mut doc = demo_records(ports);
    for x in &extras {
        extra::merge(&mut doc, &x.records);
    }
    let records = serde_json::to_vec(&doc)?;
    app.import_records(&records).await?;
    outln!("serversync demo: 4 simulated cPanel servers on 127.0.0.1 (ports {ports:?}), demo records loaded into {}", serversync_store::redact_url(url));
    for x in &extras {
        outln!("  {}: {}", x.name, x.about);
    }
    for note in extra::skipped_notes() {
        outln!("  {note}");
    }
    outln!();
    let names: Vec<String> = ["web1", "web2", "web3", "web4"]
        .iter()
        .map(|s| s.to_string())
        .chain(extras.iter().map(|x| x.name.clone()))
        .collect();
    for name in &names {
        match app.analyse_server(name, &NoProgress).await {
            Ok(out) => output::print_analysis(&out.document()),
            Err(e) => outln!("{name}: error: {e}"),
        }
        outln!();
    }
    let db_arg = if db.is_none() {
        format!(" --database {DEMO_DB}")
    } else {
        String::new()
    };
    // The demo's module folders (external and WHMCS PHP modules) are where `scan --all`
    // and `analyse` of those servers find them.
    let modules_arg = margs
        .modules_dir
        .as_ref()
        .map(|d| format!(" --modules-dir {}", output::clean(&d.display().to_string())))
        .unwrap_or_default();
    if once {
        outln!("With --once the simulators have stopped; start `serversync demo` (without --once) and try, in another terminal:");
    } else {
        outln!("Try, in another terminal while the simulators run:");
    }
    outln!("  serversync{db_arg} apply web1 --dry-run --sync all --import all");
    outln!("  serversync{db_arg} apply web1 --import all --unassigned-client 5");
    outln!("  serversync{db_arg} apply web1 --sync all --move all");
    outln!(
        "  serversync{db_arg} apply web4 --terminate all      # refused: web4 listed 0 accounts"
    );
    outln!("  serversync{db_arg} analyse web1");
    outln!("  serversync{db_arg}{modules_arg} scan --all     # every demo server, one table");
    if once {
        return Ok(0);
    }
    let password = serversync_app::auth::new_token("")[..16].to_string();
    app.clone()
        .with_actor("demo")
        .add_user("admin", &password, serversync_store::Role::Admin)
        .await?;
    outln!("\nThe simulators and the web page keep running until Ctrl-C.");
    crate::serve(app, listen, false, Some(("admin", &password)), None).await?;
    for s in sims {
        s.shutdown().await;
    }
    for x in extras {
        if let Some(sim) = x.sim {
            sim.shutdown().await;
        }
    }
    Ok(0)
}
