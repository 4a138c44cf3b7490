//! The alert delivery log page (issue 11): linked from the servers page, every attempt
//! newest first with its status or error, remote text escaped, sign-in required.

mod common;

use common::{between, serve, sign_in, sqlite_store};
use serde_json::json;
use serversync_app::App;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{Channel, NewDelivery, Role};

const PW: &str = "viewer password 1";
const XSS: &str = "<script>alert(1)</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_lists_attempts_newest_first_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let doc = json!({"clients": [], "products": [], "services": [],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
            "ip_address": "192.0.2.10", "port": 1, "secure": false, "tls_verify": true,
            "username": "root", "password": "", "access_hash": "TOKEN"}]});
    let app = App::new(store.clone(), "test");
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    app.add_user("viewer", PW, Role::ReadOnly).await.unwrap();
    let (token, _) = app.add_api_token("monitor", Role::ReadOnly).await.unwrap();
    for (attempt, status, error) in [(1, 500, Some(XSS)), (2, 200, None)] {
        store
            .record_delivery(&NewDelivery {
                event_id: "7-listing_failed".into(),
                kind: "listing_failed".into(),
                channel: Channel::Webhook,
                server_id: Some(100),
                target: "https://hooks.example.test/…".into(),
                attempt,
                status: Some(status),
                error: error.map(str::to_string),
                delivered: error.is_none(),
            })
            .await
            .unwrap();
    }
    let base = serve(app).await;

    // The JSON API: the same rows, newest first; a read-only token may read them.
    let anon = reqwest::Client::new();
    let api = |q: &'static str| {
        anon.get(format!("{base}/api/deliveries{q}"))
            .bearer_auth(&token)
            .send()
    };
    let r = api("").await.unwrap();
    assert_eq!(r.status(), 200);
    let rows: serde_json::Value = r.json().await.unwrap();
    let got: Vec<(u64, Option<u64>, bool)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["status"].as_u64(),
                d["delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(2, Some(200), true), (1, Some(500), false)]);
    assert_eq!(rows[1]["error"], XSS);
    assert_eq!(rows[1]["event_id"], "7-listing_failed");
    assert_eq!(rows[1]["kind"], "listing_failed");
    assert_eq!(rows[1]["channel"], "webhook");
    assert_eq!(rows[1]["server_id"], 100);
    assert_eq!(rows[1]["target"], "https://hooks.example.test/…");
    let r = api("?limit=1").await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = api("?limit=0").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "limit: must be between 1 and 1000, got 0");
    let r = anon
        .get(format!("{base}/api/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Signed out: the sign-in page.
    let r = anon.get(format!("{base}/deliveries")).send().await.unwrap();
    assert!(r.url().path().starts_with("/login"), "{}", r.url());

    let (http, r) = sign_in(&base, "viewer", PW).await;
    let servers = r.text().await.unwrap();
    assert!(
        servers.contains("<a href=\"/deliveries\" id=\"deliveries-link\">"),
        "{servers}"
    );

    let r = http.get(format!("{base}/deliveries")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let table = between(&page, "<table id=\"deliveries\">", "</table>").unwrap();
    let first = table.find("data-attempt=\"2\"").expect("attempt 2");
    let second = table.find("data-attempt=\"1\"").expect("attempt 1");
    assert!(first < second, "newest first: {table}");
    assert!(table.contains("data-delivered=\"true\""), "{table}");
    assert!(
        table.contains("<a href=\"/servers/100\">web1</a>"),
        "{table}"
    );
    assert!(table.contains("https://hooks.example.test/…"), "{table}");
    assert!(
        table.contains("<td>500</td>") && table.contains("<td>200</td>"),
        "{table}"
    );
    assert!(!page.contains(XSS), "remote text is escaped");
    assert!(
        page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_from_the_page_raises_its_alert_in_the_background() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig};
    use serversync_app::notify::{Notifier, NotifyOptions, WebhookTarget};

    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(vec![CpanelAccount::new("ann", "ann.test").into_value()]),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let doc = json!({"clients": [], "products": [], "services": [],
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
            "ip_address": "192.0.2.10", "port": sim.addr.port(), "secure": false,
            "tls_verify": true, "username": "root", "password": "", "access_hash": "TOKEN"}]});
    let app = App::new(store.clone(), "test");
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    app.add_user("admin", PW, Role::Admin).await.unwrap();

    // The webhook receiver.
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let shared = Arc::clone(&got);
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let shared = Arc::clone(&shared);
            async move {
                shared.lock().unwrap().push(body.to_vec());
                "ok"
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(hook_listener, hook).await.unwrap() });

    let (notifier, _task) = Notifier::start(
        &app,
        NotifyOptions {
            webhooks: vec![WebhookTarget {
                url: hook_url,
                secret: None,
            }],
            base_url: Some("https://sync.example.test".into()),
            ..NotifyOptions::default()
        },
    );
    let app = app.with_notifier(notifier.clone());
    let base = serve(app).await;

    let (http, r) = sign_in(&base, "admin", PW).await;
    let servers = r.text().await.unwrap();
    let csrf = between(&servers, "name=\"csrf\" value=\"", "\"").unwrap();
    let r = http
        .post(format!("{base}/servers/100/sync"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..300 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(notifier.flush(Duration::from_secs(60)).await);
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let b: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(b["kind"], "drift");
    assert_eq!(b["server"]["name"], "web1");
    assert_eq!(
        b["grew"],
        json!([{"category": "not_in_billing", "before": 0, "now": 1}])
    );
    let run_id = b["run_id"].as_i64().unwrap();
    assert_eq!(
        b["link"],
        format!("https://sync.example.test/runs/{run_id}")
    );

    let page = http
        .get(format!("{base}/deliveries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "data-event=\"{run_id}-drift\" data-attempt=\"1\" data-delivered=\"true\""
        )),
        "{page}"
    );
}
