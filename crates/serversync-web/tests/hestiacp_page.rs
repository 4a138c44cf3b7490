//! The pages with the built-in HestiaCP module: the servers form offers it, and the run page
//! of a Hestia server lists its accounts under the `Domain` heading, shows the skipped record
//! of a user whose `NAME` broke the JSON, and shows the note of a user with several web
//! domains.

use std::sync::Arc;

use panel_sim::{
    hestia_admin, hestia_user, hestia_web_domain, spawn_hestiacp, HestiaSimConfig,
    HESTIA_SHARED_IP, HESTIA_TEST_ACCESS_KEY,
};
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
async fn hestiacp_on_the_server_form_and_its_run_page() {
    let mut ann = hestia_user("ann", "ann.test");
    ann["_web_domains"] = json!([
        hestia_web_domain("ann.test", HESTIA_SHARED_IP),
        hestia_web_domain("ann-shop.test", HESTIA_SHARED_IP)
    ]);
    let mut bob = hestia_user("bob", "bob.test");
    bob["_quirk"] = json!("quote");
    let secrets: Vec<String> = [&ann, &bob]
        .iter()
        .map(|u| u["RKEY"].as_str().unwrap().to_string())
        .collect();
    let users = vec![hestia_admin(), ann, bob, hestia_user("cid", "cid.test")];
    let sim = spawn_hestiacp(
        "127.0.0.1:0".parse().unwrap(),
        HestiaSimConfig::with_accounts(users),
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = serversync_store::open_with_default_key(&format!(
        "sqlite://{}",
        dir.path().join("t.db").display()
    ))
    .await
    .unwrap();
    let registry = ModuleRegistry::builtin(ModuleOptions::default());
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 140, "name": "Hestia Default", "module": "hestiacp",
                      "config_options": {"configoption1": "default"}}],
        "servers": [{"id": 14, "name": "hestia1", "module": "hestiacp", "hostname": "127.0.0.1",
                     "ip_address": HESTIA_SHARED_IP, "port": sim.addr.port(), "secure": false,
                     "username": "", "access_hash": HESTIA_TEST_ACCESS_KEY}],
    });
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let run_id = app
        .analyse_server("hestia1", &NoProgress)
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
        form.contains("<option value=\"hestiacp\">hestiacp</option>"),
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
    for d in ["ann.test", "cid.test"] {
        assert!(page.contains(d), "{d} missing: {page}");
    }
    // bob's record is reported, never silently dropped; the secret never shows.
    assert!(page.contains("bob"), "{page}");
    assert!(page.contains("is not valid JSON"), "{page}");
    assert!(page.contains("ann-shop.test"), "{page}");
    for s in &secrets {
        assert!(!page.contains(s.as_str()), "{s}: {page}");
    }
    sim.shutdown().await;
}
