//! The harness of the multi-instance tests: a database of its own per test (owned by a role
//! whose password holds URL characters), `serversync` commands and `serve` processes on it
//! (the URL from SERVERSYNC_DATABASE_URL_FILE), and a minimal HTTP client for the API.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use panel_sim::SimHandle;
use serde_json::{json, Value};
use serversync_store::secrets::SecretKey;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The role's password: `@`, `/` and `?` all mean something in a URL.
pub const PASSWORD: &str = "s3@cr/et?x";
/// [`PASSWORD`] percent-encoded, as the URL carries it.
pub const ENCODED: &str = "s3%40cr%2Fet%3Fx";
/// The lease lifetime every instance runs with (`--lease-secs`).
pub const LEASE_SECS: u64 = 3;
/// How long beyond the lease a takeover may take (starting a job, listing, storing the run
/// on a machine shared with other builds): a liveness bound, generous on purpose.
pub const SLACK: Duration = Duration::from_secs(12);

pub fn server_url() -> Option<String> {
    match std::env::var("SERVERSYNC_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "SERVERSYNC_TEST_POSTGRES_URL is not set and CI=true: run the tests through \
             scripts/pg-test.sh"
        ),
        _ => {
            eprintln!("SERVERSYNC_TEST_POSTGRES_URL not set: PostgreSQL test skipped");
            None
        }
    }
}

/// One test's database, its role, the URL file and the secret key file (in `dir`, the
/// working directory of every process).
pub struct Db {
    pub dir: tempfile::TempDir,
    /// The role's URL (percent-encoded password): for the test's own checks only.
    pub url: String,
}

impl Db {
    /// A new database owned by a new role with [`PASSWORD`].
    pub async fn new() -> Option<Db> {
        static N: AtomicU32 = AtomicU32::new(0);
        let server = server_url()?;
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000;
        let name = format!(
            "multi_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let role = format!("{name}_r");
        let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect");
        for stmt in [
            format!("CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"),
            format!("CREATE DATABASE {name} OWNER {role}"),
        ] {
            sqlx::query(&stmt).execute(&mut admin).await.expect(&stmt);
        }
        admin.close().await.ok();
        let hostport = server
            .split_once('@')
            .and_then(|(_, rest)| rest.rsplit_once('/'))
            .map(|(hp, _)| hp.to_string())
            .expect("SERVERSYNC_TEST_POSTGRES_URL has user@host:port/db");
        let url = format!("postgres://{role}:{ENCODED}@{hostport}/{name}");
        let dir = tempfile::tempdir().unwrap();
        SecretKey::generate("key")
            .write_file(&dir.path().join("key"), false)
            .unwrap();
        std::fs::write(dir.path().join("db-url"), format!("{url}\n")).unwrap();
        Some(Db { dir, url })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_serversync"));
        c.args(["--secret-key-file", "key", "--lease-secs"])
            .arg(LEASE_SECS.to_string())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SERVERSYNC_DATABASE_URL")
            .env_remove("SERVERSYNC_LOG")
            .env("SERVERSYNC_DATABASE_URL_FILE", "db-url")
            .env("NO_COLOR", "1");
        c
    }

    /// Runs a command to its end.
    pub async fn cli(&self, args: &[&str]) -> Out {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || {
            let out = c.output().expect("run serversync");
            Out {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    pub async fn ok(&self, args: &[&str]) -> Out {
        let out = self.cli(args).await;
        assert_eq!(out.code, 0, "serversync {args:?}: {out:#?}");
        out
    }

    /// Imports server 7 `web7` on `sim` (clients and products of [`base_doc`]) and returns
    /// a new admin API token.
    pub async fn setup(&self, sim: &SimHandle) -> String {
        let mut doc = base_doc(sim.addr.port(), vec![]);
        doc["servers"] = json!([server(7, "web7", sim.addr.port(), WEB1_IP)]);
        let f = self.dir.path().join("records.json");
        std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
        self.ok(&["records", "import", f.to_str().unwrap()]).await;
        let token = self
            .ok(&["tokens", "add", &format!("t{}", rand_suffix())])
            .await
            .stdout;
        token.trim().to_string()
    }

    /// Starts `serversync serve` on a free port (`log`: the SERVERSYNC_LOG filter).
    pub async fn serve(&self, log: Option<&str>) -> Instance {
        let mut c = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        if let Some(l) = log {
            c.env("SERVERSYNC_LOG", l);
        }
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        // Keep reading both pipes: a closed pipe would end serve at its next line.
        let (first_tx, first_rx) = std::sync::mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = first_tx.send(line);
            }
        });
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let first =
            tokio::task::spawn_blocking(move || first_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap();
        let first = match first {
            Ok(l) => l,
            Err(_) => panic!(
                "serve printed no address; stderr: {}",
                stderr.lock().unwrap()
            ),
        };
        let addr = first
            .trim()
            .strip_prefix("Web page: http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        Instance {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }
}

pub fn rand_suffix() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// One running `serve`.
pub struct Instance {
    pub child: Child,
    pub addr: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Instance {
    /// One HTTP/1.1 request with the API token; the status and the body as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("connect to serve");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let json = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let (status, v) = self.call("GET", path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Polls a job until it is no longer running (bounded).
    pub async fn finished_job(&self, id: u64, token: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.get(&format!("/api/jobs/{id}"), token).await;
            if job["state"] != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} still running: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no chance to release anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn output(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn count(db: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

pub async fn two_accounts_sim() -> SimHandle {
    sim(vec![
        acct("ann", "ann.test", "basic").to_value(),
        acct("bob", "bob.test", "silver").to_value(),
    ])
    .await
}
