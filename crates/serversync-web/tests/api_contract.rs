//! The API's contract beyond single routes: the OpenAPI document derived from the DTOs
//! (pinned by a snapshot, so a changed request or response shape fails here), request ids,
//! and internal failures that show a client only "internal error, request id X" while the
//! log gets the cause under the same id.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, SimHandle};
use reqwest::StatusCode;
use serde_json::{json, Value};
use serversync_app::App;
use serversync_modules::NoProgress;
use serversync_store::Role;
use serversync_web::{router, WebConfig, WebState};

const ADMIN_PW: &str = "correct horse battery staple";

/// Everything logged by this test binary (one global subscriber, shared by the tests).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        log
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&log().0.lock().unwrap()).into_owned()
}

struct World {
    dir: tempfile::TempDir,
    _sim: SimHandle,
    base: String,
    token: String,
    run_id: i64,
}

impl World {
    /// One cPanel server with two accounts, analysed once (run `run_id`), and the web
    /// layer serving it.
    async fn new() -> World {
        log();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = serversync_store::open_with_default_key(&url)
            .await
            .expect("open store");
        let app = App::new(store, "test");
        let accounts = ["ann", "bob"]
            .iter()
            .map(|u| {
                let mut a = CpanelAccount::new(u, &format!("{u}.test"));
                a.plan = "basic".into();
                a.ip = "192.0.2.10".into();
                a.into_value()
            })
            .collect();
        let sim = spawn_cpanel(
            "127.0.0.1:0".parse().unwrap(),
            CpanelSimConfig::with_accounts(accounts),
        )
        .await
        .expect("cpanel simulator");
        let records = json!({
            "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann",
                         "last_name": "Lee", "company": "", "status": "Active"}],
            "products": [{"id": 10, "name": "Basic", "module": "cpanel",
                          "config_options": {"configoption1": "basic"}}],
            "servers": [{"id": 100, "name": "web1", "module": "cpanel",
                         "hostname": "127.0.0.1", "ip_address": "192.0.2.10",
                         "port": sim.addr.port(), "secure": false, "tls_verify": true,
                         "username": "root", "password": "", "access_hash": "TOKEN"}],
            "services": [],
        });
        app.import_records(&serde_json::to_vec(&records).unwrap())
            .await
            .expect("import records");
        let run_id = app
            .analyse_server("web1", &NoProgress)
            .await
            .expect("analysis")
            .run_id;
        let (token, _) = app.add_api_token("deploy", Role::Admin).await.unwrap();
        app.add_user("admin", ADMIN_PW, Role::Admin).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = WebState::new(app, WebConfig::default());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        World {
            dir,
            _sim: sim,
            base: format!("http://{addr}"),
            token,
            run_id,
        }
    }

    /// Damages run `run_id`'s stored analysis in the SQLite file itself, as a broken disk
    /// or a hand edit would: as a run stored before the compact columns (schema 10), whose
    /// analysis is the JSON column.
    async fn corrupt_run(&self) {
        use sqlx::Connection;
        let url = format!("sqlite://{}", self.dir.path().join("t.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
        let done = sqlx::query(
            "UPDATE sync_runs SET analysis_json = ?, analysis_zstd = NULL WHERE id = ?",
        )
        .bind(r#"{"listing": {"complete": tru"#)
        .bind(self.run_id)
        .execute(&mut db)
        .await
        .expect("update");
        assert_eq!(done.rows_affected(), 1);
    }

    async fn api_get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header")
        .to_string()
}

#[test]
fn openapi_document_snapshot() {
    insta::assert_snapshot!("openapi", serversync_web::dto::openapi::json());
}

#[tokio::test]
async fn openapi_schemas_come_from_the_dtos() {
    let doc: Value = serde_json::from_str(serversync_web::dto::openapi::json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // Response shapes: what the handlers serialise.
    let item = &schemas["Item"]["properties"];
    for field in [
        "index", "category", "remote", "billing", "diffs", "actions", "state",
    ] {
        assert!(item.get(field).is_some(), "Item lacks {field}");
    }
    assert_eq!(
        schemas["Item"]["properties"]["category"]["enum"][0],
        "in_sync"
    );
    assert!(schemas["RemoteDto"]["properties"]
        .get("uniqueIdentifier")
        .is_some());
    // Request shapes refuse unknown fields, as the parser does.
    assert_eq!(
        schemas["ApplyRequest"]["properties"]["move"]["oneOf"][1]["$ref"],
        "#/components/schemas/ServiceIdTargets"
    );
    let items = &doc["paths"]["/api/runs/{id}/items"]["get"]["parameters"];
    let names: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["id", "category", "q", "page", "per_page"]);
    // The document itself needs no token.
    assert_eq!(
        doc["paths"]["/api/openapi.json"]["get"]["security"],
        json!([])
    );
}

#[tokio::test]
async fn a_corrupt_stored_run_is_a_500_with_a_request_id() {
    let w = World::new().await;
    // Not read before (a read run is cached): listed, then damaged.
    let runs: Value = w
        .api_get("/api/servers/web1/runs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(runs[0]["id"], w.run_id);
    w.corrupt_run().await;

    let r = w.api_get(&format!("/api/runs/{}", w.run_id)).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": format!("internal error, request id {id}")})
    );
    // The cause is in the log, under the same id, and only there.
    let log = logged();
    let line = log
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("request id {id} not logged:\n{log}"));
    assert!(
        line.contains("analysis_json") && line.contains("stored analysis unreadable"),
        "{line}"
    );

    // The page says the same (HTML), with its own id.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/login", w.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf field")
        .to_string();
    let r = http
        .post(format!("{}/login", w.base))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PW),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(format!("{}/runs/{}", w.base, w.run_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = request_id(&r);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("internal error, request id {id}")),
        "{html}"
    );
    assert!(
        !html.contains("analysis_json") && !html.contains("unreadable"),
        "{html}"
    );
    assert!(logged()
        .lines()
        .any(|l| l.contains(&id) && l.contains("analysis_json")));
}

#[tokio::test]
async fn request_ids_are_echoed_when_plain_and_replaced_otherwise() {
    let w = World::new().await;
    let get = |id: &'static str| {
        let base = w.base.clone();
        let token = w.token.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/api/servers"))
                .bearer_auth(token)
                .header("x-request-id", id)
                .send()
                .await
                .unwrap()
        }
    };
    let r = get("trace-42.a_b").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(request_id(&r), "trace-42.a_b");
    let r = get("<script>alert(1)</script>").await;
    let id = request_id(&r);
    assert_ne!(id, "<script>alert(1)</script>");
    // A fresh UUID.
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.matches('-').count(), 4, "{id}");
    // Every answer has one, errors too.
    let r = w.api_get("/api/nothing").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(request_id(&r).len(), 36);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let w = World::new().await;
    for (path, start) in [
        (
            format!("/api/runs/{}/items?pg=2", w.run_id),
            "pg: unknown field `pg`",
        ),
        (
            "/api/audit?limit=10&sever=web1".to_string(),
            "sever: unknown field `sever`",
        ),
        (
            "/api/servers/web1/runs?limit=x".to_string(),
            "limit: expected a non-negative whole number, got \"x\"",
        ),
        (
            "/api/audit?offset=-1".to_string(),
            "offset: must not be negative, got -1",
        ),
        (
            "/api/services?server=web1&x=1".to_string(),
            "x: unknown field `x`",
        ),
    ] {
        let r = w.api_get(&path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let v: Value = r.json().await.unwrap();
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.starts_with(start), "{path}: {e}");
    }
    let r = w.api_get("/api/services?server=web1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
}
