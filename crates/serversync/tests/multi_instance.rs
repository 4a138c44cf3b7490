//! Two real `serve` processes on one PostgreSQL database (issue 10, "Several instances on one
//! database"): a killed instance's server and sync job are taken over after the lease, two
//! instances starting one sync share one job, one apply posted to both is applied once, and
//! a password with URL characters works and is never printed.
//!
//! Each test makes its own database on the server SERVERSYNC_TEST_POSTGRES_URL names
//! (`scripts/pg-test.sh` starts one), owned by a role of its own whose password holds `@`,
//! `/` and `?`; every process gets the URL (percent-encoded) from SERVERSYNC_DATABASE_URL_FILE,
//! never from argv. Without the variable the tests skip, except with CI=true, where they fail.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use panel_sim::{Fault, SimHandle};
use serde_json::{json, Value};
use serversync_store::secrets::SecretKey;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The role's password: `@`, `/` and `?` all mean something in a URL.
const PASSWORD: &str = "s3@cr/et?x";
/// [`PASSWORD`] percent-encoded, as the URL carries it.
const ENCODED: &str = "s3%40cr%2Fet%3Fx";
/// The lease lifetime every instance runs with (`--lease-secs`).
const LEASE_SECS: u64 = 3;
/// How long beyond the lease a takeover may take (starting a job, listing, storing the run
/// on a machine shared with other builds): a liveness bound, generous on purpose.
const SLACK: Duration = Duration::from_secs(12);

fn server_url() -> Option<String> {
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
struct Db {
    dir: tempfile::TempDir,
    /// The role's URL (percent-encoded password): for the test's own checks only.
    url: String,
}

impl Db {
    /// A new database owned by a new role with [`PASSWORD`].
    async fn new() -> Option<Db> {
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

    fn command(&self, args: &[&str]) -> Command {
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
    async fn cli(&self, args: &[&str]) -> Out {
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

    async fn ok(&self, args: &[&str]) -> Out {
        let out = self.cli(args).await;
        assert_eq!(out.code, 0, "serversync {args:?}: {out:#?}");
        out
    }

    /// Imports server 7 `web7` on `sim` (clients and products of [`base_doc`]) and returns
    /// a new admin API token.
    async fn setup(&self, sim: &SimHandle) -> String {
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
    async fn serve(&self, log: Option<&str>) -> Instance {
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

    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }
}

fn rand_suffix() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// One running `serve`.
struct Instance {
    child: Child,
    addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Instance {
    /// One HTTP/1.1 request with the API token; the status and the body as JSON.
    async fn call(
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

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, v) = self.call("GET", path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Polls a job until it is no longer running (bounded).
    async fn finished_job(&self, id: u64, token: &str, within: Duration) -> Value {
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
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn output(&self) -> String {
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

async fn count(db: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

async fn two_accounts_sim() -> SimHandle {
    sim(vec![
        acct("ann", "ann.test", "basic").to_value(),
        acct("bob", "bob.test", "silver").to_value(),
    ])
    .await
}

/// (a) Instance A is SIGKILLed while it holds server 7's lease and runs its sync job (the
/// panel is slow); instance B then starts a sync of server 7 and finishes it within the
/// lease plus a few seconds, and shows A's job failed "instance stopped".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_frees_server_7_within_the_lease() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let mut a = db.serve(None).await;
    let b = db.serve(None).await;
    let mut conn = db.connect().await;

    sim.set_fault(Some(Fault::Slow(Duration::from_secs(120))));
    let (status, job_a) = a.call("POST", "/api/servers/7/runs", &token, None).await;
    assert_eq!(status, 202, "{job_a}");
    let a_id = job_a["id"].as_u64().expect("job id");
    // Wait (bounded) until A holds server 7's lease: its listing is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &mut conn,
        "SELECT COUNT(*) FROM server_locks WHERE server_id = 7",
    )
    .await
        == 0
    {
        assert!(Instant::now() < deadline, "A never took server 7's lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B sees A's job, and cannot start another one meanwhile.
    let seen = b.get(&format!("/api/jobs/{a_id}"), &token).await;
    assert_eq!(
        (seen["server_id"].as_i64(), seen["server_name"].as_str()),
        (Some(7), Some("web7"))
    );
    a.kill();
    let killed = Instant::now();
    sim.set_fault(None);

    // B retries "Sync accounts" until A's job lease ran out.
    let b_id = loop {
        let (status, v) = b.call("POST", "/api/servers/7/runs", &token, None).await;
        match status {
            202 => break v["id"].as_u64().expect("job id"),
            409 => {
                let e = v["error"].as_str().unwrap_or_default();
                assert!(
                    e.contains(&format!("sync job {a_id} is running")),
                    "refused for A's job: {v}"
                );
            }
            other => panic!("unexpected {other}: {v}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECS) + SLACK,
            "server 7 still blocked {:?} after A died",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(b_id, a_id);
    let done = b.finished_job(b_id, &token, SLACK).await;
    assert_eq!(done["state"], "done", "{done}");
    let took = killed.elapsed();
    eprintln!("B analysed server 7 {took:?} after A was killed (lease {LEASE_SECS} s)");
    assert!(
        took < Duration::from_secs(LEASE_SECS) + SLACK,
        "B analysed server 7 {took:?} after A was killed"
    );
    let run = b
        .get(&format!("/api/runs/{}", done["run_id"]), &token)
        .await;
    assert_eq!(run["counts"]["not_in_billing"], 2, "{run}");

    // A's job is shown failed, on B, and stored so.
    let stopped = b.get(&format!("/api/jobs/{a_id}"), &token).await;
    assert_eq!(stopped["state"], "failed", "{stopped}");
    assert!(
        stopped["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("instance stopped"),
        "{stopped}"
    );
    // Both jobs in the server's job history, newest first.
    let history = b.get("/api/servers/7/jobs", &token).await;
    let states: Vec<(u64, &str)> = history
        .as_array()
        .expect("array")
        .iter()
        .map(|j| (j["id"].as_u64().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(b_id, "done"), (a_id, "failed")], "{history}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM sync_jobs WHERE state = 'running'"
        )
        .await,
        0
    );
    // A stored nothing: the one run is B's.
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM sync_runs WHERE server_id = 7"
        )
        .await,
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM server_locks").await,
        0
    );
}

/// (b) Both instances get "Sync accounts" for server 7 at the same moment: one job runs, the
/// other instance refuses to start a second and names that job, and both show the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_syncs_on_two_instances_share_one_job() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let a = db.serve(None).await;
    let b = db.serve(None).await;
    // A slow panel keeps the job running while both answers arrive.
    sim.set_fault(Some(Fault::Slow(Duration::from_secs(2))));

    let (ra, rb) = tokio::join!(
        a.call("POST", "/api/servers/7/runs", &token, None),
        b.call("POST", "/api/servers/7/runs", &token, None)
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "A: {ra:?}, B: {rb:?}");
    let (started, refused, started_on, other) = if ra.0 == 202 {
        (ra.1, rb.1, &a, &b)
    } else {
        (rb.1, ra.1, &b, &a)
    };
    let id = started["id"].as_u64().expect("job id");
    assert_eq!(
        refused["error"],
        format!("server web7 is busy: sync job {id} is running (GET /api/jobs/{id})")
    );
    let on_other = other.get(&format!("/api/jobs/{id}"), &token).await;
    assert_eq!(
        (
            on_other["id"].as_u64(),
            on_other["server_id"].as_i64(),
            on_other["server_name"].as_str()
        ),
        (Some(id), Some(7), Some("web7")),
        "{on_other}"
    );
    sim.set_fault(None);
    let done_other = other
        .finished_job(id, &token, Duration::from_secs(60))
        .await;
    let done_started = started_on.get(&format!("/api/jobs/{id}"), &token).await;
    assert_eq!(done_other["state"], "done", "{done_other}");
    assert_eq!(done_other, done_started);
    assert_eq!(
        done_other["received"], 2,
        "progress written for all: {done_other}"
    );
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM sync_jobs").await, 1);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM sync_runs").await, 1);
}

/// (c) The same apply (import both accounts of one run, by name) posted to both instances at once:
/// applied once, the other refused with its reason; one set of audit events; both
/// instances then show the run applied, also a run applied by the CLI alone (the run cache
/// follows the data version, not a local call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_apply_posted_to_two_instances_is_applied_once() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let run_id = db.ok(&["analyse", "web7", "--json"]).await.json()["run_id"]
        .as_i64()
        .expect("run_id");
    let a = db.serve(None).await;
    let b = db.serve(None).await;
    let path = format!("/api/runs/{run_id}");
    // Both instances cache the run as not applied.
    for i in [&a, &b] {
        assert_eq!(i.get(&path, &token).await["applied_at"], Value::Null);
    }

    // The items by name, as the page posts them (an `"all"` selects only what is still open
    // when the apply runs, so the later one would have nothing to refuse).
    let body = json!({"import": ["ann.test", "bob.test"]});
    let apply = format!("{path}/apply");
    let (ra, rb) = tokio::join!(
        a.call("POST", &apply, &token, Some(&body)),
        b.call("POST", &apply, &token, Some(&body))
    );
    let applied = |r: &(u16, Value)| {
        r.0 == 200
            && r.1["results"]
                .as_array()
                .is_some_and(|v| v.len() == 2 && v.iter().all(|x| x["outcome"] == "applied"))
    };
    assert!(
        applied(&ra) ^ applied(&rb),
        "exactly one applies: A {ra:?}, B {rb:?}"
    );
    let other = if applied(&ra) { &rb } else { &ra };
    // Refused whole (the server is busy: the other apply holds it) or item by item (already
    // applied by the other): either way with the reason.
    match other.0 {
        409 => {
            let e = other.1["error"].as_str().unwrap_or_default();
            assert!(e.starts_with("server web7 is busy"), "{other:?}");
        }
        200 => {
            let results = other.1["results"].as_array().expect("results");
            assert_eq!(results.len(), 2, "{other:?}");
            for r in results {
                assert_eq!(r["outcome"], "refused", "{other:?}");
                assert!(
                    r["notes"][0]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with(&format!(
                            "{} was already applied (import) from run {run_id}: audit event ",
                            r["target"].as_str().unwrap_or_default()
                        )),
                    "{other:?}"
                );
            }
        }
        s => panic!("unexpected status {s}: {other:?}"),
    }
    let mut conn = db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'import'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM services WHERE server_id = 7"
        )
        .await,
        2
    );
    for i in [&a, &b] {
        let run = i.get(&path, &token).await;
        assert!(
            run["applied_at"].is_string(),
            "stale cache on one instance: {run}"
        );
    }

    // A run applied without either instance taking part (the CLI): both caches had it as
    // not applied, and both show it applied (they follow the data version, not a call).
    sim.set_accounts(vec![
        acct("ann", "ann.test", "basic").to_value(),
        acct("bob", "bob.test", "silver").to_value(),
        acct("cy", "cy.test", "basic").to_value(),
    ]);
    let run2 = db.ok(&["analyse", "web7", "--json"]).await.json()["run_id"]
        .as_i64()
        .expect("run_id");
    let path2 = format!("/api/runs/{run2}");
    for i in [&a, &b] {
        assert_eq!(i.get(&path2, &token).await["applied_at"], Value::Null);
    }
    db.ok(&[
        "apply",
        "web7",
        "--run",
        &run2.to_string(),
        "--import",
        "cy.test",
    ])
    .await;
    for i in [&a, &b] {
        let run = i.get(&path2, &token).await;
        assert!(
            run["applied_at"].is_string(),
            "stale cache on one instance: {run}"
        );
    }
}

/// (d) Every command, and two `serve` instances with debug logging, work with a password
/// holding `@`, `/` and `?` (percent-encoded in the URL file), and neither the password nor
/// its encoded form appears in anything they print; a wrong password is refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_url_characters_works_and_is_never_printed() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let mut printed = String::new();
    let token = db.setup(&sim).await;
    let a = db.serve(Some("debug")).await;
    let b = db.serve(Some("debug")).await;
    let (status, job) = a.call("POST", "/api/servers/7/runs", &token, None).await;
    assert_eq!(status, 202, "{job}");
    let done = b
        .finished_job(job["id"].as_u64().unwrap(), &token, Duration::from_secs(60))
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let servers = b.get("/api/servers", &token).await;
    assert_eq!(servers[0]["name"], "web7", "{servers}");
    for args in [
        &["servers", "list", "--json"][..],
        &["locks", "list"],
        &["apply", "web7", "--import", "all", "--json"],
        &["services", "list", "--json"],
    ] {
        let out = db.ok(args).await;
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
    }
    assert!(printed.contains("bob.test"), "{printed}");
    // A wrong password: refused, and the URL shown without it.
    let bad = db.url.replace(ENCODED, "wr%40ng%2Fpw%3F");
    std::fs::write(db.dir.path().join("bad-url"), format!("{bad}\n")).unwrap();
    let mut c = db.command(&["servers", "list"]);
    c.env("SERVERSYNC_DATABASE_URL_FILE", "bad-url");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(refused.contains("cannot open database"), "{refused}");
    printed.push_str(&refused);
    printed.push_str(&a.output());
    printed.push_str(&b.output());
    assert!(printed.contains("Web page: http://"), "{printed}");
    for secret in [PASSWORD, ENCODED, "cr/et", "cr%2Fet", "wr%40ng", "wr@ng"] {
        assert!(!printed.contains(secret), "{secret:?} printed: {printed}");
    }
}
