//! The JSON API, in-process: a temporary SQLite store, a cPanel simulator on loopback, the
//! web router served on loopback, driven with reqwest.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{acct, service, ApiWorld};
use panel_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use serversync_web::api::API_ROUTES;
use serversync_web::dto::requests::APPLY_FIELDS;

/// web1's 16 accounts: `ann`, `other`, `more` in sync, `bob` suspended (billing says
/// Active), `new01`…`new12` not in billing. Billing also has `gone.test` (Active, not on the
/// server). 17 items: 3 in_sync, 1 out_of_sync, 12 not_in_billing, 1 not_on_server.
fn accounts() -> Vec<Value> {
    let mut v = vec![
        acct("ann", "ann.test", "basic").into_value(),
        acct("bob", "bob.test", "basic")
            .suspended("Suspended for nonpayment.", 1_730_000_000)
            .into_value(),
        acct("other", "other.test", "basic").into_value(),
        acct("more", "more.test", "basic").into_value(),
    ];
    for i in 1..=12 {
        v.push(acct(&format!("new{i:02}"), &format!("new{i:02}.test"), "basic").into_value());
    }
    v
}

/// Billing's services of web1.
fn services() -> Vec<Value> {
    vec![
        service(1000, "ann.test", "ann", "Active"),
        service(1001, "bob.test", "bob", "Active"),
        service(1002, "gone.test", "gone", "Active"),
        service(1003, "other.test", "other", "Active"),
        service(1004, "more.test", "more", "Active"),
    ]
}

/// One test's world.
type World = ApiWorld;

impl World {
    async fn new() -> World {
        World::start(accounts(), services()).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer is not JSON ({e}): {text:?}"));
        (status, headers, v)
    }

    /// GET as the admin token, asserting 200.
    async fn get(&self, path: &str) -> Value {
        let (status, _, v) = self.call(Method::GET, path, Some(&self.admin), None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// POST as the admin token.
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, v) = self
            .call(Method::POST, path, Some(&self.admin), Some(body))
            .await;
        (status, v)
    }

    /// Starts a sync job of web1 and polls it until it is no longer running.
    async fn sync(&self) -> Value {
        let (status, headers, job) = self
            .call(
                Method::POST,
                "/api/servers/100/runs",
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("Location header")
            .to_string();
        assert_eq!(location, format!("/api/jobs/{}", job["id"]));
        assert_eq!(job["server_id"], 100);
        assert_eq!(job["server_name"], "web1");
        for _ in 0..500 {
            let job = self.get(&location).await;
            if job["state"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {location} still running after 10 s");
    }

    /// A sync job that must succeed; returns its run id.
    async fn run(&self) -> i64 {
        let job = self.sync().await;
        assert_eq!(job["state"], "done", "{job}");
        job["run_id"].as_i64().expect("run_id")
    }

    async fn service(&self, id: i64) -> Value {
        let services = self.get("/api/services?server=web1").await;
        services
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no service {id}"))
    }
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes() {
    let doc: Value =
        serde_json::from_str(serversync_web::dto::openapi::json()).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
            // Every path parameter is described.
            if path.contains("{id}") {
                let params: Vec<&Value> = ops["parameters"]
                    .as_array()
                    .into_iter()
                    .chain(op["parameters"].as_array())
                    .flatten()
                    .collect();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "id" && p["in"] == "path"),
                    "{method} {path}: path parameter id not documented"
                );
            }
        }
    }
    let routed: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routed.len(), API_ROUTES.len(), "API_ROUTES has duplicates");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi.json out of step with API_ROUTES: not documented {undocumented:?}, documented but not routed {unrouted:?}"
    );
    let apply = &doc["paths"]["/api/runs/{id}/apply"]["post"];
    assert_eq!(
        apply["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApplyRequest"
    );
    let schema = &doc["components"]["schemas"]["ApplyRequest"]["properties"];
    for field in APPLY_FIELDS {
        assert!(schema.get(field).is_some(), "ApplyRequest lacks {field}");
    }
}

#[tokio::test]
async fn every_listed_route_is_served_and_wants_a_token() {
    let w = World::new().await;
    for (method, path) in API_ROUTES {
        let path = path.replace("{id}", "1");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, _, v) = w.call(m, &path, None, None).await;
        if path == "/api/openapi.json" {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                v,
                serde_json::from_str::<Value>(serversync_web::dto::openapi::json()).unwrap()
            );
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {v}");
            assert!(!error_of(&v).is_empty());
        }
    }
    let (status, _, v) = w
        .call(Method::GET, "/api/nothing", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(error_of(&v).contains("no such API route"));
    let (status, _, v) = w
        .call(Method::DELETE, "/api/servers", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{v}");
}

#[tokio::test]
async fn tokens_are_checked() {
    let w = World::new().await;
    let (status, _, v) = w.call(Method::GET, "/api/servers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!error_of(&v).is_empty());
    let (status, _, _) = w
        .call(Method::GET, "/api/servers", Some("sst_not-a-token"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = w
        .http
        .get(format!("{}/api/servers", w.base))
        .basic_auth("deploy", Some(&w.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A read-only token reads everything …
    let run = w.run().await;
    for path in [
        "/api/servers".to_string(),
        "/api/servers/100/runs".into(),
        format!("/api/runs/{run}"),
        format!("/api/runs/{run}/items"),
        "/api/audit".into(),
        "/api/clients".into(),
        "/api/products".into(),
        "/api/services".into(),
    ] {
        let (status, _, v) = w.call(Method::GET, &path, Some(&w.readonly), None).await;
        assert_eq!(status, StatusCode::OK, "read-only GET {path}: {v}");
    }
    // … and changes nothing.
    let services_before = w.get("/api/services").await;
    let audit_before = w.get("/api/audit").await;
    let runs_before = w.get("/api/servers/100/runs").await;
    let (status, _, v) = w
        .call(
            Method::POST,
            &format!("/api/runs/{run}/apply"),
            Some(&w.readonly),
            Some(json!({"sync": "all", "import": "all"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(error_of(&v), "API token \"monitor\" is read-only");
    let (status, _, v) = w
        .call(
            Method::POST,
            "/api/servers/100/runs",
            Some(&w.readonly),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.get("/api/services").await, services_before);
    assert_eq!(w.get("/api/audit").await, audit_before);
    assert_eq!(w.get("/api/servers/100/runs").await, runs_before);
}

#[tokio::test]
async fn sync_job_run_summary_and_server_list() {
    let w = World::new().await;
    let servers = w.get("/api/servers").await;
    assert_eq!(servers[0]["name"], "web1");
    assert_eq!(servers[0]["live_services"], 5);
    assert_eq!(servers[0]["last_run"], Value::Null);
    assert!(servers[0].get("access_hash").is_none() && servers[0].get("password").is_none());
    assert!(!servers.to_string().contains("TOKEN"));

    let job = w.sync().await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["received"], 16);
    let run = job["run_id"].as_i64().unwrap();

    let servers = w.get("/api/servers").await;
    let last = &servers[0]["last_run"];
    assert_eq!(last["id"], run);
    assert_eq!(last["listing_status"], "complete");
    assert_eq!(last["accounts"], 16);
    assert_eq!(last["counts"]["not_in_billing"], 12);
    assert!(last["finished_at"].as_str().unwrap().ends_with('Z'));

    let history = w.get("/api/servers/web1/runs?limit=5").await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["id"], run);

    let summary = w.get(&format!("/api/runs/{run}")).await;
    assert_eq!(summary["id"], run);
    insta::assert_json_snapshot!("run_summary", summary, {
        ".id" => "[run id]",
        ".started_at" => "[time]",
        ".finished_at" => "[time]",
    });

    let (status, _, v) = w
        .call(Method::GET, "/api/runs/9999", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&v), "run 9999 not found");
    let (status, _, v) = w
        .call(Method::GET, "/api/runs/x", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).starts_with("run id"), "{v}");
    let (status, _, v) = w
        .call(Method::GET, "/api/jobs/9999", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&v), "job 9999 not found");
    let (status, _, v) = w
        .call(
            Method::POST,
            "/api/servers/nosuch/runs",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, _, v) = w
        .call(
            Method::GET,
            "/api/servers/100/runs?limit=0",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).starts_with("limit:"), "{v}");
}

#[tokio::test]
async fn items_paging_and_filters() {
    let w = World::new().await;
    let run = w.run().await;
    let items = |q: &str| format!("/api/runs/{run}/items{q}");

    let all = w.get(&items("")).await;
    assert_eq!(all["total"], 17);
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 100);
    assert_eq!(all["items"].as_array().unwrap().len(), 17);
    let indexes: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, (0..17).collect::<Vec<_>>());

    let page = w.get(&items("?per_page=4&page=5")).await;
    assert_eq!(page["total"], 17);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["index"], 16);
    let beyond = w.get(&items("?per_page=4&page=9")).await;
    assert_eq!(beyond["total"], 17);
    assert_eq!(beyond["items"], json!([]));

    let nib = w
        .get(&items("?category=not_in_billing&per_page=5&page=3"))
        .await;
    assert_eq!(nib["total"], 12);
    assert_eq!(nib["items"].as_array().unwrap().len(), 2);
    assert!(nib["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["category"] == "not_in_billing"));
    for (cat, n) in [
        ("in_sync", 3),
        ("out_of_sync", 1),
        ("not_on_server", 1),
        ("conflict", 0),
    ] {
        let v = w.get(&items(&format!("?category={cat}"))).await;
        assert_eq!(v["total"], n, "{cat}");
    }
    // The miss counter (issue 11): the first listing without the account counts 1 of 3;
    // other categories carry no count.
    let nos = w.get(&items("?category=not_on_server")).await;
    let it = &nos["items"][0];
    assert_eq!(
        (&it["misses"], &it["gone_after"], &it["gone"]),
        (&json!(1), &json!(3), &json!(false))
    );
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["category"] != "not_on_server")
        .all(|i| i.get("misses").is_none()));
    let found = w.get(&items("?q=NEW1")).await;
    assert_eq!(found["total"], 3, "{found}");
    let found = w.get(&items("?q=new1&category=out_of_sync")).await;
    assert_eq!(found["total"], 0);

    // One page: the out-of-sync item (diffs, offered action) and the first imports.
    let page = w.get(&items("?per_page=3&page=2")).await;
    insta::assert_json_snapshot!("items_page", page);

    for (q, field) in [
        ("?category=bogus", "category"),
        ("?per_page=1001", "per_page"),
        ("?per_page=0", "per_page"),
        ("?page=0", "page"),
        ("?page=two", "page"),
    ] {
        let (status, _, v) = w.call(Method::GET, &items(q), Some(&w.admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(
            error_of(&v).starts_with(&format!("{field}:")),
            "{q}: error should name {field}: {v}"
        );
    }
    let (_, _, v) = w
        .call(Method::GET, &items("?category=bogus"), Some(&w.admin), None)
        .await;
    assert!(error_of(&v).contains("\"bogus\""), "{v}");
}

#[tokio::test]
async fn apply_dry_run_then_real_then_refused() {
    let w = World::new().await;
    let run = w.run().await;
    let apply = format!("/api/runs/{run}/apply");
    let all = w.get(&format!("/api/runs/{run}/items")).await;
    let bob = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["unique_identifier"] == "bob.test")
        .expect("bob's item")
        .clone();
    assert_eq!(bob["category"], "out_of_sync");
    assert_eq!(bob["actions"], json!(["sync"]));
    let body = json!({
        "items": [{"item": bob["index"], "action": "sync"}],
        "import": ["new01.test"],
        "defaults": {"billing_cycle": "Monthly", "amount": "4.50", "next_due_date": "2030-01-01"},
    });

    // Dry run: would apply, writes nothing.
    let audit_before = w.get("/api/audit").await;
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let (status, report) = w.post(&apply, dry).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], true);
    let outcomes: Vec<(&str, &str, &str)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["target"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("import", "new01.test", "would_apply"),
            ("sync", "bob.test", "would_apply"),
        ],
        "{report}"
    );
    assert_eq!(w.service(1001).await["status"], "Active");
    assert_eq!(w.get("/api/audit").await, audit_before);
    assert_eq!(
        w.get(&format!("/api/runs/{run}")).await["applied_at"],
        Value::Null
    );

    // Real apply.
    let (status, report) = w.post(&apply, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["outcome"] == "applied"));
    insta::assert_json_snapshot!("apply_report", report, { ".run_id" => "[run id]" });
    let bob_service = w.service(1001).await;
    assert_eq!(bob_service["status"], "Suspended");
    assert_eq!(bob_service["version"], 2);
    let services = w.get("/api/services?server=100").await;
    let imported = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["domain"] == "new01.test")
        .expect("imported service");
    assert_eq!(imported["client_id"], 1);
    assert_eq!(imported["product_id"], 10);
    assert_eq!(imported["billing_cycle"], "Monthly");
    assert_eq!(imported["amount"], "4.50");
    assert_eq!(imported["next_due_date"], "2030-01-01");
    assert_eq!(imported["regdate"], "2024-01-31");
    let applied_at = w.get(&format!("/api/runs/{run}")).await["applied_at"].clone();
    assert!(
        applied_at.as_str().is_some_and(|t| t.ends_with('Z')),
        "{applied_at}"
    );

    // The audit log has both changes with before/after, by the API token.
    let audit = w.get(&format!("/api/audit?run={run}")).await;
    assert_eq!(audit["total"], 2, "{audit}");
    let events = audit["events"].as_array().unwrap();
    let sync = events
        .iter()
        .find(|e| e["action"] == "sync")
        .expect("sync event");
    let import = events
        .iter()
        .find(|e| e["action"] == "import")
        .expect("import event");
    assert_eq!(import["actor"], "api:deploy");
    assert_eq!(import["before"], Value::Null);
    assert_eq!(import["after"]["domain"], "new01.test");
    assert_eq!(sync["action"], "sync");
    assert_eq!(sync["actor"], "api:deploy");
    assert_eq!(sync["service_id"], 1001);
    assert_eq!(sync["before"]["status"], "Active");
    assert_eq!(sync["after"]["status"], "Suspended");
    insta::assert_json_snapshot!("audit_list", audit, {
        ".events[].at" => "[time]",
        ".events[].run_id" => "[run id]",
    });
    let by_service = w.get("/api/audit?service=1001&actor=api:deploy").await;
    assert_eq!(by_service["total"], 1);
    let by_other = w.get("/api/audit?actor=api:monitor").await;
    assert_eq!(by_other["total"], 0);
    let paged = w.get("/api/audit?server=web1&limit=1&offset=1").await;
    assert_eq!(paged["total"], 2);
    assert_eq!(paged["events"].as_array().unwrap().len(), 1);
    assert_eq!(paged["events"][0], audit["events"][1]);
    let everything = w.get("/api/audit").await;
    assert_eq!(
        everything["total"], 5,
        "records import, two tokens, sync, import: {everything}"
    );

    // The applied item cannot be chosen again: its state says applied.
    let (status, again) = w.post(&apply, body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        error_of(&again).contains("is applied: it cannot be selected again"),
        "{again}"
    );
    // The same targets by unique identifier: refused, with a reason, nothing written.
    let (status, again) = w
        .post(
            &apply,
            json!({"sync": ["bob.test"], "import": ["new01.test"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let events = w.get(&format!("/api/audit?run={run}")).await;
    let event_of = |action: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .map(|e| e["id"].clone())
            .unwrap()
    };
    let reasons: Vec<&Value> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["notes"][0])
        .collect();
    assert_eq!(
        reasons,
        [
            &json!(format!(
                "new01.test was already applied (import) from run {run}: audit event {}",
                event_of("import")
            )),
            &json!(format!(
                "bob.test was already applied (sync) from run {run}: audit event {}",
                event_of("sync")
            )),
        ],
        "{again}"
    );
    for r in again["results"].as_array().unwrap() {
        assert_eq!(r["outcome"], "refused", "{again}");
        assert!(
            r["notes"].as_array().is_some_and(|n| !n.is_empty()),
            "refusal without a reason: {again}"
        );
    }
    assert_eq!(w.get("/api/audit").await["total"], 5);
}

/// The items of `run` (all pages) by unique identifier.
async fn items_by_uid(w: &World, run: i64) -> std::collections::BTreeMap<String, Value> {
    w.get(&format!("/api/runs/{run}/items?per_page=1000")).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["unique_identifier"].as_str().unwrap_or("").to_string(),
                i.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn item_states_and_field_changes() {
    let w = World::new().await;
    let run = w.run().await;
    let apply = format!("/api/runs/{run}/apply");
    let items = items_by_uid(&w, run).await;
    assert!(items.values().all(|i| i["state"] == "open"), "{items:?}");

    // The dry run says what will be written, per item.
    let (status, dry) = w
        .post(
            &apply,
            json!({"sync": ["bob.test"], "import": ["new01.test"], "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    insta::assert_json_snapshot!("dry_run_changes", dry["results"]);

    // Apply the sync only: bob is applied (with its audit event), the rest stays open.
    let (status, report) = w.post(&apply, json!({"sync": ["bob.test"]})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let sync_event = w.get(&format!("/api/audit?run={run}")).await["events"][0]["id"].clone();
    let items = items_by_uid(&w, run).await;
    assert_eq!(items["bob.test"]["state"], "applied");
    assert_eq!(items["bob.test"]["state_action"], "sync");
    assert_eq!(items["bob.test"]["audit_event_ids"], json!([sync_event]));
    assert_eq!(items["new01.test"]["state"], "open");

    // A second run terminates gone.test: in the first run its item is now stale.
    let run2 = w.run().await;
    let (status, report) = w
        .post(
            &format!("/api/runs/{run2}/apply"),
            json!({"terminate": ["1002"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["results"][0]["outcome"], "applied", "{report}");
    let items = items_by_uid(&w, run).await;
    assert_eq!(items["gone.test"]["state"], "stale");
    let states: Vec<Value> = items
        .values()
        .filter(|i| i["category"] != "not_in_billing")
        .map(|i| {
            json!({"uid": i["unique_identifier"], "state": i["state"],
                   "state_action": i["state_action"], "state_reason": i["state_reason"]})
        })
        .collect();
    insta::assert_json_snapshot!("item_states", states);
    // A stale item cannot be chosen.
    let (status, err) = w
        .post(
            &apply,
            json!({"items": [{"item": items["gone.test"]["index"], "action": "terminate"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(error_of(&err).contains("is stale"), "{err}");
}

#[tokio::test]
async fn apply_input_is_checked() {
    let w = World::new().await;
    let run = w.run().await;
    let apply = format!("/api/runs/{run}/apply");
    for (body, field) in [
        (json!({"imprt": "all"}), "imprt"),
        (json!({}), "body"),
        (json!([1]), "body"),
        (json!({"import": "some"}), "import"),
        (json!({"terminate": [true]}), "terminate[0]"),
        (json!({"sync": "all", "dry_run": "yes"}), "dry_run"),
        (json!({"items": [{"item": 999, "action": "sync"}]}), "items"),
        (json!({"items": [{"item": 0, "action": "import"}]}), "items"),
        (json!({"items": [{"index": 0}]}), "items[0]"),
        (
            json!({"import": "all", "defaults": {"next_due_date": "31.12.2030"}}),
            "defaults.next_due_date",
        ),
        (
            json!({"import": "all", "defaults": {"amount": "free"}}),
            "defaults.amount",
        ),
        (
            json!({"import": "all", "defaults": {"unassigned_client": "x"}}),
            "defaults.unassigned_client",
        ),
    ] {
        let (status, v) = w.post(&apply, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            error_of(&v).starts_with(field),
            "{body}: error should name {field}: {v}"
        );
    }
    let resp = w
        .http
        .post(format!("{}{apply}", w.base))
        .bearer_auth(&w.admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert!(error_of(&v).starts_with("body:"), "{v}");

    // Service ids as numbers or strings; the termination guard (1 of 5 live = 20 %) passes.
    let (status, report) = w
        .post(&apply, json!({"terminate": [1002], "dry_run": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["results"][0]["target"], "1002");
    assert_eq!(report["results"][0]["outcome"], "would_apply", "{report}");
    let (status, report) = w
        .post(&apply, json!({"terminate": ["1002"], "dry_run": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["results"][0]["outcome"], "would_apply");
    assert_eq!(w.service(1002).await["status"], "Active");
}

#[tokio::test]
async fn failed_listing_fails_the_job_and_cannot_be_applied() {
    let w = World::new().await;
    w.sim.set_fault(Some(Fault::Http500));
    let job = w.sync().await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job.get("run_id").is_none(), "{job}");
    let error = job["error"].as_str().expect("error");
    assert!(
        error.contains("web1"),
        "error should name the server: {error}"
    );
    assert!(!error.contains("TOKEN"), "secret in {error}");

    let runs = w.get("/api/servers/100/runs").await;
    assert_eq!(runs[0]["listing_status"], "failed");
    assert!(runs[0]["error"].as_str().unwrap().contains("web1"));
    let failed = runs[0]["id"].as_i64().unwrap();
    let servers = w.get("/api/servers").await;
    assert_eq!(servers[0]["last_run"]["listing_status"], "failed");

    let run = w.get(&format!("/api/runs/{failed}")).await;
    assert_eq!(run["listing"]["complete"], false);
    assert!(run["listing"]["error"].as_str().unwrap().contains("web1"));

    let (status, v) = w
        .post(
            &format!("/api/runs/{failed}/apply"),
            json!({"terminate": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(error_of(&v).contains("listing failed"), "{v}");
}

#[tokio::test]
async fn one_sync_job_per_server() {
    let w = World::new().await;
    w.sim
        .set_fault(Some(Fault::Slow(Duration::from_millis(700))));
    let (status, _, first) = w
        .call(Method::POST, "/api/servers/web1/runs", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["state"], "running");
    let (status, _, v) = w
        .call(Method::POST, "/api/servers/100/runs", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(error_of(&v).contains("busy"), "{v}");
    let job = w.get(&format!("/api/jobs/{}", first["id"])).await;
    assert_eq!(job["state"], "running", "{job}");
    let mut job = job;
    for _ in 0..500 {
        if job["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        job = w.get(&format!("/api/jobs/{}", first["id"])).await;
    }
    assert_eq!(job["state"], "done", "{job}");
    // Once it is done, the next job starts.
    let again = w.sync().await;
    assert_eq!(again["state"], "done", "{again}");
    assert_ne!(again["id"], first["id"]);
}
