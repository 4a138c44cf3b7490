//! The pages with the built-in Plesk module: the servers form offers `plesk`, and the run
//! page of a Plesk server (simulated) shows its subscriptions, their status details and the
//! notes of the status-4 (backup) and custom subscriptions.

use std::sync::Arc;

use panel_sim::{plesk_subscription, spawn_plesk, PleskSimConfig};
use serde_json::json;
use serversync_app::App;
use serversync_modules::{ModuleOptions, ModuleRegistry, NoProgress};
use serversync_store::Role;
use serversync_web::{router, WebConfig, WebState};

const ADMIN_PW: &str = "admin password 1";

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plesk_is_offered_and_its_run_page_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut backup = plesk_subscription(1, "backup.test", "ann");
    backup["status"] = json!(4);
    let mut expired = plesk_subscription(2, "expired.test", "ann");
    expired["status"] = json!(272);
    expired["ftp_login"] = json!("ann_2");
    let mut custom = plesk_subscription(3, "custom.test", "ann");
    custom["plan"] = serde_json::Value::Null;
    custom["ftp_login"] = json!("ann_3");
    let sim = spawn_plesk(
        "127.0.0.1:0".parse().unwrap(),
        PleskSimConfig::with_accounts(vec![backup, expired, custom]),
    )
    .await
    .unwrap();
    let registry = ModuleRegistry::builtin(ModuleOptions::default());
    let store = serversync_store::open_with_default_key(&format!(
        "sqlite://{}",
        dir.path().join("t.db").display()
    ))
    .await
    .unwrap();
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 120, "name": "Plesk Basic", "module": "plesk", "config_options": {"configoption1": "Basic"}}],
        "servers": [{"id": 12, "name": "plesk1", "module": "plesk", "hostname": "127.0.0.1",
                     "ip_address": "192.0.2.12", "port": sim.addr.port(), "secure": false,
                     "username": "admin", "access_hash": "TOKEN"}],
    });
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let run_id = app
        .analyse_server("plesk1", &NoProgress)
        .await
        .unwrap()
        .run_id;
    app.add_user("admin", ADMIN_PW, Role::Admin).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let r = router(WebState::new(app, WebConfig::default()));
    tokio::spawn(async move { axum::serve(listener, r).await.unwrap() });

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = between(&login, "name=\"csrf\" value=\"", "\"").unwrap();
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PW),
            ("csrf", csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let form = http
        .get(format!("{base}/servers/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("<option value=\"plesk\">plesk</option>"),
        "{form}"
    );

    let page = http
        .get(format!("{base}/runs/{run_id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<th class=\"side-remote\">Domain</th>"),
        "{page}"
    );
    for text in [
        "backup.test",
        "expired.test",
        "custom.test",
        "status 4: under backup/restore (4): the subscription works, listed as Active",
        "no service plan (a custom subscription): the product is empty",
    ] {
        assert!(page.contains(text), "{text} missing from {page}");
    }
    sim.shutdown().await;
}
