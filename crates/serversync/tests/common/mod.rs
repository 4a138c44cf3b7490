//! Shared helpers of the CLI integration tests: run the real `serversync` binary against a
//! temporary SQLite database, start cPanel simulators in-process, build records documents
//! and WHM accounts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, SimHandle};
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
