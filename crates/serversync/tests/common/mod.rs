//! Shared helpers of the CLI integration tests: run the real `serversync` binary against a
//! temporary SQLite database, start cPanel simulators in-process, build records documents
//! and WHM accounts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::{json, Value};

/// 2024-01-31 13:15:00 UTC.
pub const CREATED: i64 = 1_706_706_900;
/// The IP of server `web1` in [`base_doc`] (also the simulator's shared IP).
pub const WEB1_IP: &str = "192.0.2.10";

/// What a finished `serversync` process left behind.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as JSON (panics with the whole output otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// One test's world: a temporary directory (also the working directory of every process)
/// holding the database `t.db`.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: String,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite://{}", dir.path().join("t.db").display());
        Env { dir, db }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `serversync --database <db> ARGS…` (global flags may come first in `args`).
    pub async fn run(&self, args: &[&str]) -> Out {
        let mut full = vec!["--database".to_string(), self.db.clone()];
        full.extend(args.iter().map(|s| s.to_string()));
        run_in(self.dir.path(), full).await
    }

    /// Like [`Env::run`], asserting exit 0.
    pub async fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "serversync {args:?} failed: {out:#?}");
        out
    }

    /// Writes `doc` to `name` in the temp dir and imports it (asserting success).
    pub async fn import(&self, doc: &Value) -> Out {
        let f = self.write_json("records.json", doc);
        self.ok(&["records", "import", f.to_str().unwrap()]).await
    }

    pub fn write_json(&self, name: &str, doc: &Value) -> PathBuf {
        let f = self.path(name);
        std::fs::write(&f, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        f
    }

    /// `analyse SERVER --json`, asserting exit 0 and an empty stderr.
    pub async fn analyse(&self, server: &str) -> Value {
        let out = self.ok(&["analyse", server, "--json"]).await;
        assert!(
            out.stderr.trim().is_empty(),
            "analyse wrote to stderr: {}",
            out.stderr
        );
        out.json()
    }

    /// `apply SERVER ARGS… --json`, returning the process output (not asserting its code).
    pub async fn apply(&self, server: &str, args: &[&str]) -> Out {
        let mut a = vec!["apply", server];
        a.extend_from_slice(args);
        a.push("--json");
        self.run(&a).await
    }

    pub async fn services(&self) -> Vec<Value> {
        let v = self.ok(&["services", "list", "--json"]).await.json();
        v.as_array()
            .expect("services list --json is an array")
            .clone()
    }

    pub async fn service(&self, id: i64) -> Value {
        self.services()
            .await
            .into_iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no service {id}"))
    }

    pub async fn clients(&self) -> Vec<Value> {
        let v = self.ok(&["clients", "list", "--json"]).await.json();
        v.as_array()
            .expect("clients list --json is an array")
            .clone()
    }
}

/// Runs the serversync binary with `args` in `cwd`, off the async runtime so in-process
/// simulators keep serving.
pub async fn run_in(cwd: &Path, args: Vec<String>) -> Out {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_serversync"))
            .args(&args)
            .current_dir(&cwd)
            .env_remove("SERVERSYNC_DATABASE_URL")
            .env_remove("SERVERSYNC_LOG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run serversync");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("serversync runner")
}

/// Starts a cPanel simulator on a free loopback port (user `root`, token `TOKEN`).
pub async fn sim(accounts: Vec<Value>) -> SimHandle {
    spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts),
    )
    .await
    .expect("spawn cpanel simulator")
}

/// An active root-owned WHM account on 192.0.2.10, created 2024-01-31 13:15:00 UTC, with
/// e-mail `ann@mail.test` (client 1 of [`base_doc`]).
pub fn acct(user: &str, domain: &str, plan: &str) -> CpanelAccount {
    let mut a = CpanelAccount::new(user, domain).created(CREATED);
    a.plan = plan.into();
    a.ip = WEB1_IP.into();
    a.email = "ann@mail.test".into();
    a
}

pub fn server(id: i64, name: &str, port: u16, ip: &str) -> Value {
    json!({"id": id, "name": name, "module": "cpanel", "hostname": "127.0.0.1",
           "ip_address": ip, "port": port, "secure": false, "tls_verify": true,
           "username": "root", "password": "", "access_hash": "TOKEN"})
}

pub fn client(id: i64, email: &str) -> Value {
    json!({"id": id, "email": email, "first_name": "F", "last_name": "L", "company": "", "status": "Active"})
}

pub fn product(id: i64, name: &str, pkg: &str) -> Value {
    json!({"id": id, "name": name, "module": "cpanel", "config_options": {"configoption1": pkg}})
}

/// An Active-or-`status` service registered 2024-01-31 on server `server`.
pub fn service(
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

/// Clients 1 (`ann@mail.test`) and 5 (`unassigned@provider.test`), products 10 (`basic`) and
/// 11 (`silver`), server 100 `web1` on `port`, and `services`.
pub fn base_doc(port: u16, services: Vec<Value>) -> Value {
    json!({
        "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
        "products": [product(10, "Basic Hosting", "basic"), product(11, "Silver Hosting", "silver")],
        "servers": [server(100, "web1", port, WEB1_IP)],
        "services": services,
    })
}

/// Today (UTC) as `YYYY-MM-DD`, the form of `termination_date`.
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The items of an analysis document.
pub fn items(doc: &Value) -> &Vec<Value> {
    doc["items"].as_array().expect("items")
}

/// The single item of `category` whose unique identifier is `uid`.
pub fn item<'a>(doc: &'a Value, uid: &str) -> &'a Value {
    let found: Vec<&Value> = items(doc)
        .iter()
        .filter(|i| i["unique_identifier"] == uid)
        .collect();
    assert_eq!(found.len(), 1, "expected one item {uid}, got {found:#?}");
    found[0]
}

/// The counts object with only the non-zero entries, as (category, n) pairs, sorted.
pub fn nonzero_counts(doc: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = doc["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .filter_map(|(k, n)| n.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect();
    v.sort();
    v
}

pub fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    v.sort();
    v
}

/// The apply report's results as (action, target, outcome).
pub fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["target"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `analyse SERVER --json --exit-code` exits 0 with all `n` items in sync.
pub async fn assert_all_in_sync(env: &Env, server: &str, n: u64) {
    let out = env.run(&["analyse", server, "--json", "--exit-code"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(nonzero_counts(&out.json()), counts(&[("in_sync", n)]));
}

/// With each fault in turn set on `sim`, `analyse SERVER` exits 2 with one stderr line that
/// names the server and `expect`, and never shows `secret`.
pub async fn assert_faults_are_one_clear_line(
    env: &Env,
    sim: &SimHandle,
    server: &str,
    faults: &[(Fault, &str)],
    secret: &str,
) {
    for &(fault, expect) in faults {
        sim.set_fault(Some(fault));
        let out = env.run(&["analyse", server, "--json"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains(server) && lines[0].contains(expect),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains(secret), "{}", lines[0]);
    }
}

/// Client 1's five Active services `first`…`first + 4`: ann, bob, dan, carol and gone (domains
/// `USER.test`), on product `product` of server `server`.
pub fn five_billed_services(first: i64, product: i64, server: i64) -> Vec<Value> {
    ["ann", "bob", "dan", "carol", "gone"]
        .iter()
        .zip(0..)
        .map(|(user, i)| {
            service(
                first + i,
                1,
                product,
                server,
                &format!("{user}.test"),
                user,
                "Active",
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One panel module end to end (the DirectAdmin, HestiaCP and Plesk tests).
// ---------------------------------------------------------------------------------------------

/// One panel's names and ids in the end-to-end fixture its tests share. Billing has client 1's
/// [`five_billed_services`] from `first_service` on product `products.0` of the server; the
/// server lists ann and dan as billed, bob suspended, carol on package `packages.1` and ed
/// (e-mail `ed@mail.test`, not billed), and not gone.test.
pub struct PanelCase {
    /// The server's name.
    pub server: &'static str,
    pub server_id: i64,
    pub module: &'static str,
    /// The ids of the products of `packages.0` (billed) and `packages.1` (carol's on the
    /// server).
    pub products: (i64, i64),
    pub product_names: (&'static str, &'static str),
    pub packages: (&'static str, &'static str),
    pub first_service: i64,
    /// The server's IP, the one its accounts are listed on.
    pub ip: &'static str,
    /// bob's creation time as the analysis shows it.
    pub created: &'static str,
}

impl PanelCase {
    /// The records document: clients 1 and 5, the two products, the server (user `admin`
    /// with `password` and `access_hash`) on `port`, and `services`.
    pub fn doc(&self, port: u16, password: &str, access_hash: &str, services: Vec<Value>) -> Value {
        let product = |id: i64, name: &str, pkg: &str| {
            json!({"id": id, "name": name, "module": self.module,
                   "config_options": {"configoption1": pkg}})
        };
        json!({
            "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
            "products": [
                product(self.products.0, self.product_names.0, self.packages.0),
                product(self.products.1, self.product_names.1, self.packages.1),
            ],
            "servers": [{"id": self.server_id, "name": self.server, "module": self.module,
                         "hostname": "127.0.0.1", "ip_address": self.ip, "port": port,
                         "secure": false, "tls_verify": true, "username": "admin",
                         "password": password, "access_hash": access_hash}],
            "services": services,
        })
    }

    /// The billed services of the fixture (see [`PanelCase`]).
    pub fn services(&self) -> Vec<Value> {
        five_billed_services(self.first_service, self.products.0, self.server_id)
    }

    /// Client 1's Active services `u1.test`…`u5.test` (ids `first_service + 1`…`+ 5`) and
    /// `gone.test` (`first_service + 9`).
    pub fn numbered_services(&self) -> Vec<Value> {
        let mut services: Vec<Value> = (1..=5)
            .map(|i| {
                service(
                    self.first_service + i,
                    1,
                    self.products.0,
                    self.server_id,
                    &format!("u{i}.test"),
                    &format!("u{i}"),
                    "Active",
                )
            })
            .collect();
        services.push(service(
            self.first_service + 9,
            1,
            self.products.0,
            self.server_id,
            "gone.test",
            "gone",
            "Active",
        ));
        services
    }

    /// Imports `doc` (asserting rows were inserted) and analyses the server, asserting what
    /// every panel's analysis of the fixture shows; returns the analysis for the panel's own
    /// checks.
    pub async fn import_and_analyse(&self, env: &Env, doc: &Value) -> Value {
        let out = env.import(doc).await;
        assert!(out.stdout.contains("inserted"), "{out:#?}");

        let an = env.analyse(self.server).await;
        assert_eq!(
            an["listing"],
            json!({"complete": true, "accounts": 5, "error": null, "skipped": []})
        );
        assert_eq!(
            an["server"],
            json!({"id": self.server_id, "name": self.server, "module": self.module})
        );
        assert_eq!(
            nonzero_counts(&an),
            counts(&[
                ("in_sync", 2),
                ("not_in_billing", 1),
                ("not_on_server", 1),
                ("out_of_sync", 2)
            ])
        );
        let bob = item(&an, "bob.test");
        assert_eq!(
            bob["diffs"],
            json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
        );
        assert_eq!(bob["remote"]["created"], self.created);
        assert_eq!(bob["remote"]["primaryip"], self.ip);
        assert_eq!(
            item(&an, "carol.test")["diffs"],
            json!([{"field": "product", "remote": self.packages.1, "billing": self.packages.0}])
        );
        assert_eq!(item(&an, "ed.test")["remote"]["email"], "ed@mail.test");
        an
    }

    /// `apply --sync all --import all --terminate all` on the analysed fixture: the four
    /// actions applied, bob Suspended, carol on product `products.1`, gone.test Terminated,
    /// ed.test imported on product `products.0`.
    pub async fn apply_all(&self, env: &Env) {
        let out = env
            .apply(
                self.server,
                &["--sync", "all", "--import", "all", "--terminate", "all"],
            )
            .await;
        assert_eq!(out.code, 0, "{out:#?}");
        let gone_id = self.first_service + 4;
        assert_eq!(
            outcomes(&out.json()),
            vec![
                ("import".into(), "ed.test".into(), "applied".into()),
                ("sync".into(), "bob.test".into(), "applied".into()),
                ("sync".into(), "carol.test".into(), "applied".into()),
                ("terminate".into(), gone_id.to_string(), "applied".into()),
            ]
        );
        assert_eq!(
            env.service(self.first_service + 1).await["status"],
            "Suspended"
        );
        assert_eq!(
            env.service(self.first_service + 3).await["product_id"],
            self.products.1
        );
        assert_eq!(env.service(gone_id).await["status"], "Terminated");
        let services = env.services().await;
        let ed = services
            .iter()
            .find(|s| s["domain"] == "ed.test")
            .expect("ed.test imported");
        assert_eq!(ed["username"], "ed");
        assert_eq!(ed["server_id"], self.server_id);
        assert_eq!(ed["product_id"], self.products.0);
        assert_eq!(ed["regdate"], "2024-01-31");
    }

    /// The fixture of [`PanelCase::numbered_services`] with `u3` not listed: neither
    /// `u3.test` nor `gone.test` may be terminated, and apply refuses.
    pub async fn assert_no_termination_offered(&self, env: &Env, an: &Value) {
        assert_eq!(
            nonzero_counts(an),
            counts(&[("in_sync", 4), ("not_on_server", 2)])
        );
        for uid in ["u3.test", "gone.test"] {
            let it = items(an)
                .iter()
                .find(|i| i["billing"]["domain"] == uid)
                .unwrap_or_else(|| panic!("no item for {uid}"));
            assert_eq!(it["category"], "not_on_server");
            assert_eq!(it["actions"], json!([]), "{it:#}");
        }
        let out = env.apply(self.server, &["--terminate", "all"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        assert!(out.stderr.contains("incomplete"), "{}", out.stderr);
        assert_eq!(
            env.service(self.first_service + 3).await["status"],
            "Active"
        );
        assert_eq!(
            env.service(self.first_service + 9).await["status"],
            "Active"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The `panel-sim` binary as a child process.
// ---------------------------------------------------------------------------------------------

/// Kills (by its own handle) and reaps the child on drop.
pub struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `panel-sim` binary next to `serversync`'s.
pub fn panel_sim_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_serversync"))
        .with_file_name(format!("panel-sim{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        // `cargo test -p serversync` builds only serversync's binaries: build the simulator.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "panel-sim", "--bin", "panel-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p panel-sim");
        assert!(status.success(), "cargo build -p panel-sim failed");
    }
    assert!(path.exists(), "no panel-sim binary at {}", path.display());
    path
}

/// Starts `panel-sim ARGS… --accounts-file FILE` and reads the address of its `listening on`
/// line (waiting 30 s at most); the process lives as long as the returned guard.
pub fn start_panel_sim(args: &[&str], accounts_file: &Path) -> (KillOnDrop, SocketAddr) {
    let mut child = Command::new(panel_sim_binary())
        .args(args)
        .arg("--accounts-file")
        .arg(accounts_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start panel-sim");
    let stdout = child.stdout.take().unwrap();
    let guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("panel-sim printed nothing within 30 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"));
    (guard, addr)
}
