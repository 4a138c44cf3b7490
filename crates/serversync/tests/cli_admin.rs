//! The binary's administrative edges: a database that cannot be opened is named with its
//! cause; `servers test NAME` reports one line; an apply that changes nothing says so;
//! `--lease-secs` out of range is refused.

mod common;

use common::*;

/// A database in a directory that does not exist: exit 2, one line naming the file and the
/// missing directory (not the key file, not a driver code).
#[tokio::test]
async fn a_database_in_a_missing_directory_is_named() {
    let env = Env::new();
    let missing = env.path("nope");
    let db = missing.join("x.db");
    let out = run_in(
        env.dir.path(),
        vec![
            "--database".into(),
            format!("sqlite://{}", db.display()),
            "servers".into(),
            "list".into(),
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stderr_lines(),
        vec![format!(
            "serversync: error: cannot open database {}: directory {} does not exist",
            db.display(),
            missing.display()
        )]
    );
    assert!(!missing.exists());
}

/// `--lease-secs` takes 1 to 3600 seconds: 0 (a lease that is always expired) is refused
/// before anything runs; a valid value is accepted by every command.
#[tokio::test]
async fn lease_secs_out_of_range_is_refused() {
    let env = Env::new();
    let out = env.run(&["--lease-secs", "0", "servers", "list"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("--lease-secs") && out.stderr.contains("0 is not in 1..=3600"),
        "{}",
        out.stderr
    );
    assert!(!env.path("t.db").exists(), "nothing was opened");
    let out = env
        .ok(&["--lease-secs", "4", "servers", "list", "--json"])
        .await;
    assert_eq!(out.stdout.trim(), "[]");
}
