//! The pages with an external command module (issue 7 §5): the servers form offers it, and
//! the run page heads the identifier column with the module's
//! `ListAccountsUniqueIdentifierDisplayName` and shows the notes of leniently read records.

use std::sync::Arc;

use serde_json::json;
use serversync_app::App;
use serversync_modules::{ModuleRegistry, NoProgress, RegistryConfig};
use serversync_store::Role;
use serversync_web::{router, WebConfig, WebState};

const ADMIN_PW: &str = "admin password 1";

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_page_uses_the_modules_identifier_heading() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("modules/sitepanel");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("module.toml"),
        "command = [\"python3\", \"list.py\"]\n[meta_data]\nDisplayName = \"Site Panel\"\n\
         ListAccountsUniqueIdentifierDisplayName = \"Site name\"\n\
         ListAccountsUniqueIdentifierField = \"username\"\n",
    )
    .unwrap();
    std::fs::write(
        module.join("list.py"),
        "import json, sys\njson.load(sys.stdin)\nprint(json.dumps({'success': True, 'accounts': [\
         {'uniqueIdentifier': 'alpha', 'username': 'alpha', 'status': 'active', 'product': 7}]}))\n",
    )
    .unwrap();
    let registry = ModuleRegistry::load(RegistryConfig {
        modules_dir: Some(dir.path().join("modules")),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = serversync_store::open_with_default_key(&format!(
        "sqlite://{}",
        dir.path().join("t.db").display()
    ))
    .await
    .unwrap();
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 10, "name": "Plan 7", "module": "sitepanel", "config_options": {"configoption1": "7"}}],
        "servers": [{"id": 100, "name": "site1", "module": "sitepanel", "hostname": "127.0.0.1",
                     "ip_address": "192.0.2.10", "secure": false, "username": "u", "access_hash": "T"}],
    });
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let run_id = app
        .analyse_server("site1", &NoProgress)
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
        form.contains("<option value=\"sitepanel\">sitepanel</option>"),
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
        page.contains("<th><span id=\"uid-heading\">Site name</span> / service"),
        "{page}"
    );
    assert!(
        page.contains("status &#34;active&#34; read as Active"),
        "{page}"
    );
    assert!(page.contains("product was the number 7"), "{page}");
}
