//! Kill tests through the real binary (issue 6 kinds 3, 4 and 8): `kill -9` at several
//! moments of an analysis of a 50,000-account server, of an apply of 50,000 imports and of a
//! records import of 50,000 services, and SIGINT at several moments of that apply. After
//! each: `PRAGMA integrity_check` is ok, the write is all or nothing (services and audit
//! events counted), what the process printed matches the database, and the next analysis of
//! the server starts at once (the dead holder's lock is taken over, no "busy").
//!
//! The moments are spread over the duration of an uninterrupted run measured first, so they
//! fall before, during and after the write on any machine; nothing is asserted about time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{acct, base_doc, Env, Out};
use panel_sim::{spawn_cpanel, CpanelSimConfig, SimHandle};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

const N: usize = 50_000;

/// A running `serversync`, its output read on threads (a big report must not block on a
/// full pipe).
struct Running {
    child: Child,
    started: Instant,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

fn spawn(db: &str, cwd: &Path, args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serversync"))
        .arg("--database")
        .arg(db)
        .args(args)
        .current_dir(cwd)
        .env_remove("SERVERSYNC_DATABASE_URL")
        .env_remove("SERVERSYNC_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serversync");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    Running {
        child,
        started: Instant::now(),
        stdout,
        stderr,
    }
}

/// How a signalled run ended.
struct Ended {
    out: Out,
    /// Ended by the signal itself (no exit code).
    by_signal: bool,
}

impl Running {
    /// Sends `sig` at `at` after the start (if still running), then waits for the end.
    fn signal_at(mut self, at: Duration, sig: nix::sys::signal::Signal) -> Ended {
        let left = at.saturating_sub(self.started.elapsed());
        std::thread::sleep(left);
        if self.child.try_wait().expect("try_wait").is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, sig);
        }
        self.wait()
    }

    fn wait(mut self) -> Ended {
        let status = self.child.wait().expect("wait");
        let out = Out {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&self.stdout.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr.join().unwrap()).into_owned(),
        };
        Ended {
            by_signal: status.code().is_none(),
            out,
        }
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// The database, opened directly (the binary is not running).
async fn pool(db: &str) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::from_str(db).unwrap())
        .await
        .expect("open the database")
}

async fn scalar(pool: &SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn integrity_ok(pool: &SqlitePool) {
    let r: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(r, "ok");
}

/// Copies the database files (the main file, any WAL, and the secret key file that opens its
/// server secrets) from one directory to another.
fn copy_db(from: &Path, to: &Path) {
    for name in ["t.db", "t.db-wal", "t.db-shm", "t.db.key"] {
        let f = from.join(name);
        if f.exists() {
            std::fs::copy(&f, to.join(name)).unwrap();
        }
    }
}

/// The next analysis of web1 starts at once: it is not refused as busy (and succeeds).
async fn next_analyse_is_not_busy(env: &Env) {
    let out = env.run(&["analyse", "web1", "--json"]).await;
    assert!(
        !out.stderr.contains("busy"),
        "the dead holder's lock blocked the server: {}",
        out.stderr
    );
    assert_eq!(out.code, 0, "{out:#?}");
}

/// Spread moments over `total`.
fn moments(total: Duration, shares: &[f64]) -> Vec<Duration> {
    shares.iter().map(|s| total.mul_f64(*s)).collect()
}

async fn big_sim(accounts: Vec<Value>) -> SimHandle {
    spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_analyse_of_a_big_server() {
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::generated(N, 11),
    )
    .await
    .unwrap();
    let env = Env::new();
    env.import(&base_doc(sim.addr.port(), vec![])).await;
    let t = Instant::now();
    env.analyse("web1").await;
    let full = t.elapsed();
    eprintln!("uninterrupted analyse of {N} accounts: {full:?}");
    let pool0 = pool(&env.db).await;
    let mut runs = scalar(&pool0, "SELECT COUNT(*) FROM sync_runs").await;
    pool0.close().await;
    for at in moments(full, &[0.1, 0.3, 0.5, 0.7, 0.9]) {
        let (db, cwd) = (env.db.clone(), env.dir.path().to_path_buf());
        let ended = run_blocking(move || {
            spawn(&db, &cwd, &["analyse", "web1", "--json"])
                .signal_at(at, nix::sys::signal::Signal::SIGKILL)
        })
        .await;
        let p = pool(&env.db).await;
        integrity_ok(&p).await;
        let now = scalar(&p, "SELECT COUNT(*) FROM sync_runs").await;
        // A run is stored whole or not at all.
        assert!(now == runs || now == runs + 1, "{runs} → {now}");
        let latest_accounts = scalar(
            &p,
            "SELECT accounts_count FROM sync_runs ORDER BY id DESC LIMIT 1",
        )
        .await;
        assert_eq!(latest_accounts, N as i64);
        if !ended.by_signal {
            assert_eq!(
                ended.out.code, 0,
                "finished before the kill: {:#?}",
                ended.out
            );
        }
        p.close().await;
        next_analyse_is_not_busy(&env).await;
        runs = now + 1;
    }
}

/// 50,000 accounts no service matches (all importable into client 1 and product 10).
fn import_accounts() -> Vec<Value> {
    (0..N)
        .map(|i| acct(&format!("u{i}"), &format!("d{i}.test"), "basic").into_value())
        .collect()
}

/// A database with web1 analysed (50,000 `not_in_billing` items), kept as a template.
async fn analysed_template(sim: &SimHandle) -> Env {
    let env = Env::new();
    env.import(&base_doc(sim.addr.port(), vec![])).await;
    let doc = env.analyse("web1").await;
    assert_eq!(doc["counts"]["not_in_billing"], N);
    env
}

/// A fresh copy of the template (its own directory and database).
fn copy_of(template: &Env) -> Env {
    let env = Env::new();
    copy_db(template.dir.path(), env.dir.path());
    env
}

/// Services and import events in the database, and whether the run was marked applied;
/// asserts they agree (all or nothing).
async fn apply_state(env: &Env) -> i64 {
    let p = pool(&env.db).await;
    integrity_ok(&p).await;
    let services = scalar(&p, "SELECT COUNT(*) FROM services").await;
    let events = scalar(
        &p,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'import'",
    )
    .await;
    let applied = scalar(
        &p,
        "SELECT COUNT(*) FROM sync_runs WHERE applied_at IS NOT NULL",
    )
    .await;
    p.close().await;
    assert!(
        (services, events, applied) == (0, 0, 0)
            || (services, events, applied) == (N as i64, N as i64, 1),
        "not all or nothing: {services} services, {events} import events, {applied} runs applied"
    );
    services
}

const APPLY: &[&str] = &["apply", "web1", "--import", "all", "--json"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_apply_of_50000_imports() {
    let sim = big_sim(import_accounts()).await;
    let template = analysed_template(&sim).await;
    let full_env = copy_of(&template);
    let t = Instant::now();
    let out = full_env.apply("web1", &["--import", "all"]).await;
    let full = t.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(apply_state(&full_env).await, N as i64);
    eprintln!("uninterrupted apply of {N} imports: {full:?}");
    for at in moments(full, &[0.15, 0.35, 0.55, 0.7, 0.85, 0.95]) {
        let env = copy_of(&template);
        let (db, cwd) = (env.db.clone(), env.dir.path().to_path_buf());
        let ended = run_blocking(move || {
            spawn(&db, &cwd, APPLY).signal_at(at, nix::sys::signal::Signal::SIGKILL)
        })
        .await;
        let services = apply_state(&env).await;
        if !ended.by_signal {
            // It finished before the kill: then it printed its report, and all was written.
            assert_eq!(ended.out.code, 0, "{}", ended.out.stderr);
            assert_eq!(services, N as i64);
        }
        eprintln!("kill -9 at {at:?}: {services} services");
        next_analyse_is_not_busy(&env).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_apply_prints_what_the_database_holds() {
    let sim = big_sim(import_accounts()).await;
    let template = analysed_template(&sim).await;
    let full_env = copy_of(&template);
    let t = Instant::now();
    assert_eq!(full_env.apply("web1", &["--import", "all"]).await.code, 0);
    let full = t.elapsed();
    for at in moments(full, &[0.1, 0.3, 0.5, 0.7, 0.85, 0.95]) {
        let env = copy_of(&template);
        let (db, cwd) = (env.db.clone(), env.dir.path().to_path_buf());
        let ended = run_blocking(move || {
            spawn(&db, &cwd, APPLY).signal_at(at, nix::sys::signal::Signal::SIGINT)
        })
        .await;
        let services = apply_state(&env).await;
        let out = &ended.out;
        let told = if ended.by_signal {
            // The signal came before serversync could handle it (still starting up).
            "killed while starting"
        } else if out.code == 2 {
            // Stopped before the write: it says so, and nothing was written.
            assert_eq!(out.stderr_lines().len(), 1, "{out:#?}");
            assert!(
                out.stderr.starts_with(
                    "serversync: error: interrupted before anything was written: the apply of \
                     server web1 was cancelled"
                ),
                "{out:#?}"
            );
            assert!(out.stdout.is_empty(), "{out:#?}");
            assert_eq!(
                services, 0,
                "said nothing was written, but {services} services are"
            );
            "stopped before the write"
        } else {
            // Finished (the write had started, or was done before the signal): the report
            // printed is what the database holds.
            assert_eq!(out.code, 0, "{out:#?}");
            let report = out.json();
            let applied = report["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["outcome"] == "applied")
                .count();
            assert_eq!(applied as i64, services, "printed {applied} applied");
            assert_eq!(services, N as i64);
            if out.stderr.contains("interrupted") {
                assert!(
                    out.stderr
                        .contains("interrupted after the write had started: it was completed"),
                    "{}",
                    out.stderr
                );
                "waited for the write"
            } else {
                "finished before the signal"
            }
        };
        assert!(
            !out.stderr.contains("nothing was applied") || services == 0,
            "{}",
            out.stderr
        );
        eprintln!("SIGINT at {at:?}: {told}, {services} services");
        next_analyse_is_not_busy(&env).await;
    }
}

/// A records document of 50,000 services of client 1 / product 10 on web1.
fn big_records(port: u16) -> Value {
    let services: Vec<Value> = (0..N as i64)
        .map(|i| {
            common::service(
                10_000 + i,
                1,
                10,
                100,
                &format!("r{i}.test"),
                &format!("r{i}"),
                "Active",
            )
        })
        .collect();
    base_doc(port, services)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_records_import_leaves_rows_and_audit_together() {
    let sim = big_sim(vec![]).await;
    let template = Env::new();
    // The document's references (client, product, server) first, so only services remain.
    template.import(&base_doc(sim.addr.port(), vec![])).await;
    let doc = big_records(sim.addr.port());
    let file: PathBuf = template.write_json("big.json", &doc);
    let state = |env: &Env| {
        let db = env.db.clone();
        async move {
            let p = pool(&db).await;
            integrity_ok(&p).await;
            let services = scalar(&p, "SELECT COUNT(*) FROM services").await;
            let events = scalar(
                &p,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'records_import'",
            )
            .await;
            p.close().await;
            // One event for the references' import, one more with the services.
            assert!(
                (services, events) == (0, 1) || (services, events) == (N as i64, 2),
                "rows and audit parted: {services} services, {events} records_import events"
            );
            services
        }
    };
    let full_env = copy_of(&template);
    let t = Instant::now();
    full_env
        .ok(&["records", "import", file.to_str().unwrap()])
        .await;
    let full = t.elapsed();
    assert_eq!(state(&full_env).await, N as i64);
    eprintln!("uninterrupted records import of {N} services: {full:?}");
    for at in moments(full, &[0.2, 0.4, 0.6, 0.75, 0.9]) {
        let env = copy_of(&template);
        let (db, cwd, f) = (
            env.db.clone(),
            env.dir.path().to_path_buf(),
            file.to_str().unwrap().to_string(),
        );
        let ended = run_blocking(move || {
            spawn(&db, &cwd, &["records", "import", &f])
                .signal_at(at, nix::sys::signal::Signal::SIGKILL)
        })
        .await;
        let services = state(&env).await;
        if !ended.by_signal {
            assert_eq!(ended.out.code, 0, "{}", ended.out.stderr);
            assert_eq!(services, N as i64);
        }
        eprintln!("kill -9 at {at:?}: {services} services");
    }
}
