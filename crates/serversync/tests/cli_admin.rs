//! The binary's administrative edges: a database that cannot be opened is named with its
//! cause; `servers test NAME` reports one line; an apply that changes nothing says so.

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
